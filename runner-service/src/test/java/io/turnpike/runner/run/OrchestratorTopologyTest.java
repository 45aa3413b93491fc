package io.turnpike.runner.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.ModelCall;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.TurnEvent;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
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

class OrchestratorTopologyTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://topology-test");
  private TopologyTestDriver driver;
  private TestInputTopic<String, byte[]> agents;
  private TestInputTopic<String, byte[]> requests;
  private TestInputTopic<String, byte[]> commands;
  private TestInputTopic<String, byte[]> modelResults;
  private TestInputTopic<String, byte[]> toolResults;
  private TestOutputTopic<String, byte[]> modelRequests;
  private TestOutputTopic<String, byte[]> toolRequests;
  private TestOutputTopic<String, byte[]> turnEvents;
  private TestOutputTopic<String, byte[]> runResults;
  private TestOutputTopic<String, byte[]> runState;
  private TestOutputTopic<String, byte[]> deadLetters;

  @BeforeEach
  void setUp() {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "orchestrator-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "dummy:9092");
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    driver = new TopologyTestDriver(OrchestratorTopology.build(Duration.ofSeconds(1), SERDES), props, Fixtures.T0);
    StringSerializer ks = new StringSerializer();
    ByteArraySerializer vs = new ByteArraySerializer();
    agents = driver.createInputTopic(Topics.AGENTS.name(), ks, vs);
    requests = driver.createInputTopic(Topics.RUN_REQUESTS.name(), ks, vs);
    commands = driver.createInputTopic(Topics.RUN_COMMANDS.name(), ks, vs);
    modelResults = driver.createInputTopic(Topics.MODEL_RESULTS.name(), ks, vs);
    toolResults = driver.createInputTopic(Topics.TOOL_RESULTS.name(), ks, vs);
    StringDeserializer kd = new StringDeserializer();
    ByteArrayDeserializer vd = new ByteArrayDeserializer();
    modelRequests = driver.createOutputTopic(Topics.MODEL_REQUESTS.name(), kd, vd);
    toolRequests = driver.createOutputTopic(Topics.TOOL_REQUESTS.name(), kd, vd);
    turnEvents = driver.createOutputTopic(Topics.TURN_EVENTS.name(), kd, vd);
    runResults = driver.createOutputTopic(Topics.RUN_RESULTS.name(), kd, vd);
    runState = driver.createOutputTopic(Topics.RUN_STATE.name(), kd, vd);
    deadLetters = driver.createOutputTopic(Topics.DEAD_LETTERS.name(), kd, vd);
    agents.pipeInput("weather", SERDES.agentDefinition().encode(Fixtures.agent(5, "get_weather")));
  }

  @AfterEach
  void tearDown() {
    driver.close();
  }

  private void submit(String runId) {
    requests.pipeInput(new TestRecord<>(runId, SERDES.runRequest().encode(Fixtures.request(runId, "Weather in Oslo?")),
        new RecordHeaders().add(TurnpikeHeaders.TRACE_ID, "abc123".getBytes()), Fixtures.T0));
  }

  private RunState latestState(String runId) {
    return driver.<String, RunState>getKeyValueStore(OrchestratorTopology.RUN_STORE).get(runId);
  }

  @Test
  void aRunWithOneToolTurnCompletes() {
    submit("r1");
    TestRecord<String, byte[]> modelReq = modelRequests.readRecord();
    ModelCall call = SERDES.modelCall().decode(modelReq.value());
    assertThat(call.getCallId()).isEqualTo("r1:m1");
    assertThat(TurnpikeHeaders.get(modelReq.headers(), TurnpikeHeaders.TRACE_ID)).isEqualTo("abc123");
    assertThat(TurnpikeHeaders.get(modelReq.headers(), TurnpikeHeaders.CALL_ID)).isEqualTo("r1:m1");
    assertThat(TurnpikeHeaders.get(modelReq.headers(), TurnpikeHeaders.TYPE)).isEqualTo("ModelCall");

    modelResults.pipeInput("r1", SERDES.modelResult().encode(Fixtures.toolCalls("r1", "r1:m1", "get_weather", "{\"city\":\"Oslo\"}")));
    ToolCall tool = SERDES.toolCall().decode(toolRequests.readValue());
    assertThat(tool.getName()).isEqualTo("get_weather");

    toolResults.pipeInput("r1", SERDES.toolResult().encode(Fixtures.toolResult("r1", tool.getCallId(), "get_weather", "sunny")));
    List<ModelCall> calls = modelRequests.readValuesToList().stream().map(SERDES.modelCall()::decode).toList();
    assertThat(calls).extracting(ModelCall::getCallId).containsExactly("r1:m2");

    modelResults.pipeInput("r1", SERDES.modelResult().encode(Fixtures.text("r1", "r1:m2", "Sunny in Oslo.")));
    RunResult result = SERDES.runResult().decode(runResults.readValue());
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Sunny in Oslo.");
    assertThat(runResults.isEmpty()).isTrue();

    List<TurnEvent> events = turnEvents.readValuesToList().stream().map(SERDES.turnEvent()::decode).toList();
    assertThat(events).extracting(TurnEvent::getSeq).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);
    assertThat(events).extracting(e -> e.getStep().getClass().getSimpleName()).containsExactly(
        "RunStarted", "ModelCallRequested", "ModelResponded", "ToolCallRequested", "ToolCallCompleted",
        "ModelCallRequested", "ModelResponded", "RunFinished");

    List<RunState> states = runState.readValuesToList().stream().map(SERDES.runState()::decode).toList();
    assertThat(states).extracting(RunState::getVersion).containsExactly(2L, 4L, 6L, 8L);
    assertThat(states.get(3).getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(latestState("r1").getVersion()).isEqualTo(8L);
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void duplicateResultsEmitNoSecondCommand() {
    submit("r2");
    modelRequests.readValue();
    byte[] answer = SERDES.modelResult().encode(Fixtures.toolCalls("r2", "r2:m1", "get_weather", "{}"));
    modelResults.pipeInput("r2", answer);
    modelResults.pipeInput("r2", answer);
    assertThat(toolRequests.readValuesToList()).hasSize(1);
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void garbageRunRequestIsDeadLetteredAndTheRunFails() {
    byte[] garbage = {0x00, 0x13, 0x37, 0x42};
    requests.pipeInput("r3", garbage);
    TestRecord<String, byte[]> dlq = deadLetters.readRecord();
    assertThat(dlq.key()).isEqualTo("r3");
    assertThat(dlq.value()).isEqualTo(garbage);
    assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.RUN_REQUESTS.name());
    assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_REASON)).contains("undecodable");
    assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_OFFSET)).isEqualTo("0");
    RunResult failed = SERDES.runResult().decode(runResults.readValue());
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(failed.getError()).contains("undecodable");
    // and the stream keeps going
    submit("r4");
    assertThat(modelRequests.readValuesToList()).hasSize(1);
  }

  private void submitJson(String runId, String json) {
    requests.pipeInput(new TestRecord<>(runId, json.getBytes(java.nio.charset.StandardCharsets.UTF_8),
        new RecordHeaders().add("content-type", "application/json; charset=utf-8".getBytes()), Fixtures.T0));
  }

  @Test
  void aJsonRunRequestStartsARunLikeAnAvroOne() {
    String agent = Fixtures.request("x", "y").getAgent();
    submitJson("rj1", "{\"agent\": \"" + agent + "\", \"input\": \"Weather in Oslo?\", \"metadata\": {\"ticket\": 7}}");
    ModelCall call = SERDES.modelCall().decode(modelRequests.readValue());
    assertThat(call.getCallId()).isEqualTo("rj1:m1");
    assertThat(latestState("rj1").getStatus()).isEqualTo(RunStatus.RUNNING);
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void anInvalidJsonRunRequestIsDeadLetteredWithTheReasonAndTheRunFails() {
    submitJson("rj2", "{\"input\": \"no agent named\"}");
    TestRecord<String, byte[]> dlq = deadLetters.readRecord();
    assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_REASON)).contains("missing required field 'agent'");
    assertThat(SERDES.runResult().decode(runResults.readValue()).getStatus()).isEqualTo(RunStatus.FAILED);

    submitJson("rj3", "{not json");
    assertThat(TurnpikeHeaders.get(deadLetters.readRecord().headers(), TurnpikeHeaders.DLQ_REASON)).contains("not valid JSON");
    // and the stream keeps going
    submit("rj4");
    assertThat(modelRequests.readValuesToList()).hasSize(1);
  }

  @Test
  void unknownAgentIsDeadLetteredWithAFailedResult() {
    requests.pipeInput("r5", SERDES.runRequest().encode(
        io.turnpike.avro.RunRequest.newBuilder(Fixtures.request("r5", "hi")).setAgent("ghost").build()));
    assertThat(TurnpikeHeaders.get(deadLetters.readRecord().headers(), TurnpikeHeaders.DLQ_REASON)).contains("unknown agent 'ghost'");
    RunResult failed = SERDES.runResult().decode(runResults.readValue());
    assertThat(failed.getAgent()).isEqualTo("ghost");
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(latestState("r5")).isNull();
  }

  @Test
  void unavailableAgentVersionFailsClearly() {
    requests.pipeInput("r6", SERDES.runRequest().encode(
        io.turnpike.avro.RunRequest.newBuilder(Fixtures.request("r6", "hi")).setAgentVersion(1).build()));
    assertThat(SERDES.runResult().decode(runResults.readValue()).getError())
        .contains("version 1 is not available (current version is 3)");
  }

  @Test
  void keylessAndGarbageResultsAreDeadLetteredWithoutHurtingTheRun() {
    submit("r7");
    modelRequests.readValue();
    requests.pipeInput((String) null, SERDES.runRequest().encode(Fixtures.request("x", "hi")));
    modelResults.pipeInput("r7", new byte[] {1, 2, 3});
    assertThat(deadLetters.readRecordsToList()).extracting(r -> TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_REASON))
        .satisfiesExactly(
            r -> assertThat(r).contains("missing key"),
            r -> assertThat(r).contains("undecodable record on turnpike.model.results"));
    assertThat(runResults.isEmpty()).isTrue();
    assertThat(latestState("r7").getStatus()).isEqualTo(RunStatus.RUNNING);
    modelResults.pipeInput("r7", SERDES.modelResult().encode(Fixtures.text("r7", "r7:m1", "done")));
    assertThat(SERDES.runResult().decode(runResults.readValue()).getStatus()).isEqualTo(RunStatus.COMPLETED);
  }

  @Test
  void deadlinesAreCheckedOnWallClockAndRetriedThenFail() {
    submit("r8");
    modelRequests.readValue();
    driver.advanceWallClockTime(Duration.ofSeconds(29));
    assertThat(modelRequests.isEmpty()).isTrue();
    driver.advanceWallClockTime(Duration.ofSeconds(2));
    ModelCall retry = SERDES.modelCall().decode(modelRequests.readValue());
    assertThat(retry.getCallId()).isEqualTo("r8:m1");
    assertThat(retry.getAttempt()).isEqualTo(2);
    driver.advanceWallClockTime(Duration.ofSeconds(31));
    RunResult failed = SERDES.runResult().decode(runResults.readValue());
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(failed.getError()).contains("no answer after 2 attempt(s)");
    assertThat(driver.getKeyValueStore(OrchestratorTopology.TIMER_STORE).approximateNumEntries()).isZero();
  }

  @Test
  void answeredCallsLeaveNoTimers() {
    submit("r9");
    modelResults.pipeInput("r9", SERDES.modelResult().encode(Fixtures.text("r9", "r9:m1", "ok")));
    driver.advanceWallClockTime(Duration.ofMinutes(5));
    assertThat(modelRequests.readValuesToList()).hasSize(1);
    assertThat(runResults.readValuesToList()).hasSize(1);
    assertThat(driver.getKeyValueStore(OrchestratorTopology.TIMER_STORE).approximateNumEntries()).isZero();
  }

  @Test
  void cancelCommandEndsTheRun() {
    submit("r10");
    commands.pipeInput("r10", SERDES.runCommand().encode(Fixtures.command("r10", io.turnpike.avro.RunCommandType.CANCEL)));
    assertThat(SERDES.runResult().decode(runResults.readValue()).getStatus()).isEqualTo(RunStatus.CANCELLED);
    commands.pipeInput("r10", SERDES.runCommand().encode(Fixtures.command("r10", io.turnpike.avro.RunCommandType.APPROVE)));
    assertThat(TurnpikeHeaders.get(deadLetters.readRecord().headers(), TurnpikeHeaders.DLQ_REASON)).contains("nothing to approve");
  }

  @Test
  void nowComesFromTheWallClock() {
    driver.advanceWallClockTime(Duration.ofSeconds(100));
    submit("r11");
    ModelCall call = SERDES.modelCall().decode(modelRequests.readValue());
    assertThat(call.getDeadline()).isEqualTo(Fixtures.T0.plusSeconds(130));
    assertThat(latestState("r11").getCreatedAt()).isEqualTo(Instant.parse("2026-11-25T12:01:40Z"));
  }
}
