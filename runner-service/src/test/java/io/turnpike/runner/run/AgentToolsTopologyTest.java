package io.turnpike.runner.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.TurnEvent;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Agents as tools through the orchestrator's topology: the child's request, the child's answer to its
 * parent and the cancel of a child are records the orchestrator writes to its own inputs (the test
 * driver feeds them back, as the broker would), keyed by the other run.
 */
class AgentToolsTopologyTest {
  static final TurnpikeSerdes SERDES = OrchestratorTopologyTest.SERDES;
  static final String CHILD = "p1:t1.1/specialist";

  private TopologyTestDriver driver;
  private TestInputTopic<String, byte[]> agents;
  private TestInputTopic<String, byte[]> requests;
  private TestInputTopic<String, byte[]> commands;
  private TestInputTopic<String, byte[]> modelResults;
  private TestOutputTopic<String, byte[]> modelRequests;
  private TestOutputTopic<String, byte[]> runRequestsOut;
  private TestOutputTopic<String, byte[]> runCommandsOut;
  private TestOutputTopic<String, byte[]> toolResultsOut;
  private TestOutputTopic<String, byte[]> toolRequests;
  private TestOutputTopic<String, byte[]> turnEvents;
  private TestOutputTopic<String, byte[]> runResults;
  private TestOutputTopic<String, byte[]> deadLetters;

  @BeforeEach
  void setUp() {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "agent-tools-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "dummy:9092");
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    driver = new TopologyTestDriver(OrchestratorTopology.build(Duration.ofSeconds(1), SERDES), props, Fixtures.T0);
    StringSerializer ks = new StringSerializer();
    ByteArraySerializer vs = new ByteArraySerializer();
    agents = driver.createInputTopic(Topics.AGENTS.name(), ks, vs);
    requests = driver.createInputTopic(Topics.RUN_REQUESTS.name(), ks, vs);
    commands = driver.createInputTopic(Topics.RUN_COMMANDS.name(), ks, vs);
    modelResults = driver.createInputTopic(Topics.MODEL_RESULTS.name(), ks, vs);
    StringDeserializer kd = new StringDeserializer();
    ByteArrayDeserializer vd = new ByteArrayDeserializer();
    modelRequests = driver.createOutputTopic(Topics.MODEL_REQUESTS.name(), kd, vd);
    runRequestsOut = driver.createOutputTopic(Topics.RUN_REQUESTS.name(), kd, vd);
    runCommandsOut = driver.createOutputTopic(Topics.RUN_COMMANDS.name(), kd, vd);
    toolResultsOut = driver.createOutputTopic(Topics.TOOL_RESULTS.name(), kd, vd);
    toolRequests = driver.createOutputTopic(Topics.TOOL_REQUESTS.name(), kd, vd);
    turnEvents = driver.createOutputTopic(Topics.TURN_EVENTS.name(), kd, vd);
    runResults = driver.createOutputTopic(Topics.RUN_RESULTS.name(), kd, vd);
    deadLetters = driver.createOutputTopic(Topics.DEAD_LETTERS.name(), kd, vd);
    agents.pipeInput("boss", SERDES.agentDefinition().encode(AgentToolsTest.boss(AgentToolsTest.agentTool("ask_specialist", "specialist"))));
    agents.pipeInput("specialist", SERDES.agentDefinition().encode(AgentToolsTest.specialist()));
  }

  @AfterEach
  void tearDown() {
    driver.close();
  }

  private void submitParent() {
    requests.pipeInput("p1", SERDES.runRequest().encode(RunRequest.newBuilder(Fixtures.request("p1", "Plan my trip"))
        .setAgent("boss").build()));
    modelResults.pipeInput("p1", SERDES.modelResult().encode(
        Fixtures.toolCalls("p1", "p1:m1", "ask_specialist", AgentToolsTest.ARGS)));
  }

  private List<ModelCall> modelCalls() {
    return modelRequests.readValuesToList().stream().map(SERDES.modelCall()::decode).toList();
  }

  private RunState state(String runId) {
    return driver.<String, RunState>getKeyValueStore(OrchestratorTopology.RUN_STORE).get(runId);
  }

  @Test
  void theParentGetsTheChildsFinalOutputAsTheToolsOutput() {
    submitParent();
    List<TestRecord<String, byte[]>> started = runRequestsOut.readRecordsToList();
    assertThat(started).hasSize(1); // the test's own two inputs are not outputs
    assertThat(started.get(0).key()).isEqualTo(CHILD);
    RunRequest childRequest = SERDES.runRequest().decode(started.get(0).value());
    assertThat(childRequest.getParent().getCallId()).isEqualTo("p1:t1.1");
    assertThat(TurnpikeHeaders.get(started.get(0).headers(), TurnpikeHeaders.TYPE)).isEqualTo("RunRequest");
    assertThat(toolRequests.isEmpty()).as("no tool worker is asked").isTrue();

    // the child's request came back in: the child runs as a run of its own
    List<ModelCall> calls = modelCalls();
    assertThat(calls).extracting(ModelCall::getCallId).containsExactly("p1:m1", CHILD + ":m1");
    assertThat(calls.get(1).getAgent()).isEqualTo("specialist");
    assertThat(state(CHILD).getParent().getRunId()).isEqualTo("p1");

    modelResults.pipeInput(CHILD, SERDES.modelResult().encode(Fixtures.text(CHILD, CHILD + ":m1", "Sunny, 21C.")));
    RunResult childResult = SERDES.runResult().decode(runResults.readRecordsToList().stream()
        .filter(r -> r.key().equals(CHILD)).findFirst().orElseThrow().value());
    assertThat(childResult.getStatus()).isEqualTo(RunStatus.COMPLETED);

    TestRecord<String, byte[]> answer = toolResultsOut.readRecord();
    assertThat(answer.key()).isEqualTo("p1");
    assertThat(TurnpikeHeaders.get(answer.headers(), TurnpikeHeaders.CALL_ID)).isEqualTo("p1:t1.1");
    ToolResult r = SERDES.toolResult().decode(answer.value());
    assertThat(r.getChildRunId()).isEqualTo(CHILD);
    assertThat(r.getOutput()).isEqualTo("Sunny, 21C.");

    // ... which came back in too: the parent asks its model again with the child's output
    ModelCall next = modelCalls().get(0);
    assertThat(next.getCallId()).isEqualTo("p1:m2");
    assertThat(next.getInput().get(next.getInput().size() - 1)).isInstanceOfSatisfying(FunctionCallOutputItem.class,
        o -> assertThat(o.getOutput()).isEqualTo("Sunny, 21C."));
    modelResults.pipeInput("p1", SERDES.modelResult().encode(Fixtures.text("p1", "p1:m2", "Pack sunglasses.")));
    assertThat(state("p1").getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(state("p1").getChildren()).singleElement()
        .satisfies(c -> assertThat(c.getStatus()).isEqualTo(RunStatus.COMPLETED));

    List<String> parentSteps = turnEvents.readValuesToList().stream().map(SERDES.turnEvent()::decode)
        .filter(e -> e.getRunId().equals("p1")).map(e -> e.getStep().getClass().getSimpleName()).toList();
    assertThat(parentSteps).containsExactly("RunStarted", "ModelCallRequested", "ModelResponded", "ChildRunStarted",
        "ChildRunFinished", "ToolCallCompleted", "ModelCallRequested", "ModelResponded", "RunFinished");
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void aReplayedChildRequestStartsNoSecondChild() {
    submitParent();
    byte[] again = runRequestsOut.readRecord().value();
    assertThat(modelCalls()).hasSize(2);
    requests.pipeInput(CHILD, again); // as after a crash between the write and the commit
    assertThat(modelCalls()).isEmpty();
    assertThat(runRequestsOut.isEmpty()).isTrue();
    assertThat(deadLetters.isEmpty()).isTrue();
    assertThat(state(CHILD).getVersion()).isEqualTo(2L);
  }

  @Test
  void cancellingTheParentCancelsTheChildWhichAnswersNoOne() {
    submitParent();
    modelCalls();
    commands.pipeInput("p1", SERDES.runCommand().encode(Fixtures.command("p1", RunCommandType.CANCEL)));
    TestRecord<String, byte[]> cancel = runCommandsOut.readRecord();
    assertThat(cancel.key()).isEqualTo(CHILD);
    RunCommand cmd = SERDES.runCommand().decode(cancel.value());
    assertThat(cmd.getType()).isEqualTo(RunCommandType.CANCEL);
    assertThat(state(CHILD).getStatus()).isEqualTo(RunStatus.CANCELLED);
    assertThat(state(CHILD).getError()).isEqualTo("parent run p1 ended CANCELLED: cancelled by command cmd-1");
    // the child's outcome reached the parent, which had ended: ignored there
    assertThat(SERDES.toolResult().decode(toolResultsOut.readRecord().value()).getChildStatus()).isEqualTo(RunStatus.CANCELLED);
    List<TurnEvent> last = turnEvents.readValuesToList().stream().map(SERDES.turnEvent()::decode)
        .filter(e -> e.getRunId().equals("p1")).toList();
    assertThat(last.get(last.size() - 1).getStep().getClass().getSimpleName()).isEqualTo("ResultIgnored");
    assertThat(state("p1").getStatus()).isEqualTo(RunStatus.CANCELLED);
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void aChildOfAnUnknownAgentFailsAndItsParentIsTold() {
    AgentDefinition boss = AgentToolsTest.boss(AgentToolsTest.agentTool("ask_specialist", "nobody"));
    agents.pipeInput("boss", SERDES.agentDefinition().encode(boss));
    submitParent();
    String child = "p1:t1.1/nobody";
    RunResult failed = SERDES.runResult().decode(runResults.readRecordsToList().stream()
        .filter(r -> r.key().equals(child)).findFirst().orElseThrow().value());
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(failed.getError()).contains("unknown agent 'nobody'");
    assertThat(deadLetters.readRecord().key()).isEqualTo(child);
    // the parent got the failure as the tool's output and asked its model again
    ModelCall next = modelCalls().get(1);
    assertThat(next.getCallId()).isEqualTo("p1:m2");
    assertThat(next.getInput().get(next.getInput().size() - 1)).isInstanceOfSatisfying(FunctionCallOutputItem.class, o -> {
      assertThat(o.getIsError()).isTrue();
      assertThat(o.getOutput()).startsWith("error: agent 'nobody' (run " + child + ") ended FAILED: unknown agent 'nobody'");
    });
  }
}
