package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRule;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Approvals, rejections, cancel and handoffs end to end: real broker, real runner, a scripted
 * OpenAI-compatible model and a real tool worker; humans speak through RunCommands.
 */
class HumanInTheLoopTest {
  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ToolWorker tools;
  private static TopicTail results;
  private static TopicTail events;
  private static TopicTail states;
  private static String stateDir;

  static final String CMD_ARGS = "{\"cmd\":\"rm -rf build\"}";

  /** The ops agent runs commands; the triage agent hands off to the specialist. */
  static ScriptedReply script(ModelRequestView req) {
    String input = req.firstUserText() == null ? "" : req.firstUserText();
    if (req.instructions() != null && req.instructions().contains("specialist")) {
      return ScriptedReply.text("Specialist here: I can help with '" + input + "'");
    }
    if (input.startsWith("triage")) {
      return ScriptedReply.toolCall("transfer_to_specialist", "{}");
    }
    if (input.startsWith("slow")) {
      return ScriptedReply.text("finally").withDelay(Duration.ofSeconds(3));
    }
    if (req.turn() == 0) {
      return input.startsWith("two")
          ? ScriptedReply.toolCalls(List.of(new ScriptedReply.ToolCallSpec("run_command", "{\"cmd\":\"rm a\"}"),
              new ScriptedReply.ToolCallSpec("run_command", "{\"cmd\":\"rm b\"}")))
          : ScriptedReply.toolCall("run_command", CMD_ARGS);
    }
    StringBuilder outs = new StringBuilder();
    for (InputItem item : req.input()) {
      if (item instanceof InputItem.FunctionCallOutput o) {
        outs.append(outs.isEmpty() ? "" : " | ").append(o.output());
      }
    }
    return ScriptedReply.text("Done: " + outs);
  }

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(AgentDefinition.newBuilder()
        .setName("ops").setVersion(1).setModel("scripted").setInstructions("You run commands.")
        .setTools(List.of(ToolSpec.newBuilder().setName("run_command")
            .setParametersJson("{\"type\":\"object\",\"properties\":{\"cmd\":{\"type\":\"string\"}}}").build()))
        .setApprovalRules(List.of(new ApprovalRule("run_command", "rm ")))
        .build());
    cluster.publishAgent(AgentDefinition.newBuilder().setName("triage").setVersion(1).setModel("scripted")
        .setInstructions("You route questions.").setHandoffs(List.of("specialist")).build());
    cluster.publishAgent(AgentDefinition.newBuilder().setName("specialist").setVersion(4).setModel("scripted")
        .setInstructions("You are the specialist.").build());
    model = ScriptedModelServer.start(HumanInTheLoopTest::script);
    stateDir = Files.createTempDirectory("hitl-state").toString();
    runner = startRunner(stateDir);
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("run_command", inv -> "ran " + inv.args().get("cmd").asText())
        .build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
  }

  static RunnerService startRunner(String dir) {
    return RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "k",
        "turnpike.runner.application-id", "hitl-runner",
        "turnpike.runner.state-dir", dir)));
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, events, states, tools, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing
      }
    }
  }

  static List<RunResult> resultsOf(String runId) {
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value())).toList();
  }

  static RunResult awaitStatus(String runId, RunStatus status) {
    await().atMost(Duration.ofSeconds(60)).until(() -> resultsOf(runId).stream().anyMatch(r -> r.getStatus() == status));
    return resultsOf(runId).stream().filter(r -> r.getStatus() == status).reduce((a, b) -> b).orElseThrow();
  }

  static RunState lastState(String runId) {
    List<ConsumerRecord<String, byte[]>> recs = states.forKey(runId);
    return recs.isEmpty() ? null : cluster.serdes().runState().decode(recs.get(recs.size() - 1).value());
  }

  static void command(String runId, RunCommandType type, String callId, boolean always, String message) {
    RunCommand cmd = RunCommand.newBuilder().setRunId(runId).setCommandId(UUID.randomUUID().toString()).setType(type)
        .setCallId(callId).setAlways(always).setMessage(message).setIssuedAt(Instant.now()).build();
    cluster.send(Topics.RUN_COMMANDS.name(), runId, cluster.serdes().runCommand().encode(cmd), "RunCommand");
  }

  @Test
  void aSensitiveCommandWaitsForApprovalThenCompletes() {
    cluster.submit("hitl-approve", "ops", "clean the build");
    RunResult interrupted = awaitStatus("hitl-approve", RunStatus.INTERRUPTED);
    assertThat(interrupted.getInterruptions()).singleElement().satisfies(a -> {
      assertThat(a.getTool()).isEqualTo("run_command");
      assertThat(a.getArguments()).isEqualTo(CMD_ARGS);
    });
    await().atMost(Duration.ofSeconds(10)).until(() -> lastState("hitl-approve").getStatus() == RunStatus.INTERRUPTED);
    assertThat(lastState("hitl-approve").getApprovals()).hasSize(1);

    command("hitl-approve", RunCommandType.APPROVE, interrupted.getInterruptions().get(0).getCallId(), false, null);
    RunResult done = awaitStatus("hitl-approve", RunStatus.COMPLETED);
    assertThat(done.getFinalOutput()).isEqualTo("Done: ran rm -rf build");
  }

  @Test
  void aRejectionMessageReachesTheModelWhichFinishesAnotherWay() {
    cluster.submit("hitl-reject", "ops", "clean the build please");
    RunResult interrupted = awaitStatus("hitl-reject", RunStatus.INTERRUPTED);
    command("hitl-reject", RunCommandType.REJECT, interrupted.getInterruptions().get(0).getCallId(), false, "not in production; list files instead");
    RunResult done = awaitStatus("hitl-reject", RunStatus.COMPLETED);
    assertThat(done.getFinalOutput()).contains("a human rejected this call").contains("not in production; list files instead");
  }

  @Test
  void twoPendingApprovalsAreResolvedOneByOne() {
    cluster.submit("hitl-two", "ops", "two removals");
    RunResult interrupted = awaitStatus("hitl-two", RunStatus.INTERRUPTED);
    await().atMost(Duration.ofSeconds(10)).until(() -> lastState("hitl-two").getApprovals().size() == 2);
    List<String> callIds = lastState("hitl-two").getApprovals().stream().map(a -> a.getCallId()).toList();
    assertThat(interrupted.getInterruptions()).hasSize(2);

    command("hitl-two", RunCommandType.APPROVE, callIds.get(0), false, null);
    await().atMost(Duration.ofSeconds(20)).until(() -> lastState("hitl-two").getApprovals().size() == 1
        && lastState("hitl-two").getToolCalls().size() == 1);
    assertThat(lastState("hitl-two").getStatus()).isEqualTo(RunStatus.INTERRUPTED);
    assertThat(resultsOf("hitl-two")).noneMatch(r -> r.getStatus() == RunStatus.COMPLETED);

    command("hitl-two", RunCommandType.APPROVE, callIds.get(1), false, null);
    assertThat(awaitStatus("hitl-two", RunStatus.COMPLETED).getFinalOutput()).isEqualTo("Done: ran rm a | ran rm b");
  }

  @Test
  void cancelDuringAPendingModelCall() {
    cluster.submit("hitl-cancel", "ops", "slow question");
    await().atMost(Duration.ofSeconds(20)).until(() -> events.forKey("hitl-cancel").size() >= 2);
    command("hitl-cancel", RunCommandType.CANCEL, null, false, "changed my mind");
    RunResult cancelled = awaitStatus("hitl-cancel", RunStatus.CANCELLED);
    assertThat(cancelled.getError()).isEqualTo("changed my mind");
    // the model's late answer arrives and is ignored; nothing else is published for the run
    await().atMost(Duration.ofSeconds(20)).until(() -> events.forKey("hitl-cancel").stream()
        .map(r -> cluster.serdes().turnEvent().decode(r.value()))
        .anyMatch(e -> e.getStep() instanceof io.turnpike.avro.ResultIgnored));
    assertThat(resultsOf("hitl-cancel")).hasSize(1);
  }

  @Test
  void aTriageAgentHandsOffToASpecialist() {
    cluster.submit("hitl-handoff", "triage", "triage: my invoice is wrong");
    RunResult done = awaitStatus("hitl-handoff", RunStatus.COMPLETED);
    assertThat(done.getFinalOutput()).isEqualTo("Specialist here: I can help with 'triage: my invoice is wrong'");
    assertThat(done.getAgent()).isEqualTo("specialist");
    assertThat(done.getAgentVersion()).isEqualTo(4);
    await().atMost(Duration.ofSeconds(10)).until(() -> lastState("hitl-handoff").getStatus() == RunStatus.COMPLETED);
    RunState state = lastState("hitl-handoff");
    assertThat(state.getHandoffs()).singleElement().satisfies(h -> {
      assertThat(h.getFromAgent()).isEqualTo("triage");
      assertThat(h.getToAgent()).isEqualTo("specialist");
    });
    List<TurnEvent> steps = events.forKey("hitl-handoff").stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
    assertThat(steps).anySatisfy(e -> assertThat(e.getStep()).isInstanceOf(io.turnpike.avro.HandoffOccurred.class));
  }

  @Test
  void anApprovalArrivingAfterARunnerRestartStillResumesTheRun() throws Exception {
    cluster.submit("hitl-restart", "ops", "clean the build after restart");
    RunResult interrupted = awaitStatus("hitl-restart", RunStatus.INTERRUPTED);
    runner.close();
    // a new instance with an empty state directory, as on another machine
    runner = startRunner(Files.createTempDirectory("hitl-state-2").toString());
    command("hitl-restart", RunCommandType.APPROVE, interrupted.getInterruptions().get(0).getCallId(), false, null);
    assertThat(awaitStatus("hitl-restart", RunStatus.COMPLETED).getFinalOutput()).isEqualTo("Done: ran rm -rf build");
  }
}
