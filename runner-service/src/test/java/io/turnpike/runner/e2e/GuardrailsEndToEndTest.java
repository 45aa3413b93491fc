package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailChecked;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.guardrail.GuardrailService;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Guardrails end to end: runner + guardrail-service + scripted model + tool worker on a real broker. */
class GuardrailsEndToEndTest {
  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static GuardrailService guardrails;
  private static ToolWorker tools;
  private static TopicTail results;
  private static TopicTail events;
  private static TopicTail states;
  private static TopicTail checks;

  static final String JUDGE = "JUDGE-MARKER: block anything about weapons.";

  static ScriptedReply script(ModelRequestView req) {
    if (req.instructions() != null && req.instructions().contains("JUDGE-MARKER")) {
      // the LLM guardrail's classifier call: far slower than its 1 s timeout
      return ScriptedReply.text("{\"verdict\":\"allow\",\"reason\":\"fine\"}").withDelay(Duration.ofSeconds(4));
    }
    String input = req.firstUserText() == null ? "" : req.firstUserText();
    if (input.contains("password")) {
      return ScriptedReply.text("The password is hunter2");
    }
    if (input.contains("contact")) {
      return ScriptedReply.text("Write to alice@example.com for details.");
    }
    if (input.contains("judge")) {
      return ScriptedReply.text("judged fine");
    }
    // the cleanup agent: tries rm -rf, is refused, recovers with ls
    String last = null;
    for (InputItem item : req.input()) {
      if (item instanceof InputItem.FunctionCallOutput o) {
        last = o.output();
      }
    }
    return switch (req.turn()) {
      case 0 -> ScriptedReply.toolCall("run_command", "{\"cmd\":\"rm -rf /\"}");
      case 1 -> ScriptedReply.toolCall("run_command", "{\"cmd\":\"ls\"}");
      default -> ScriptedReply.text("Recovered: " + last);
    };
  }

  static GuardrailSpec spec(String name, GuardrailStage stage, String type, GuardrailAction action, String config) {
    return GuardrailSpec.newBuilder().setName(name).setStage(stage).setType(type).setAction(action).setConfigJson(config).build();
  }

  static AgentDefinition agent(String name, GuardrailSpec... guards) {
    return AgentDefinition.newBuilder().setName(name).setVersion(1).setModel("scripted").setInstructions("Be helpful.")
        .setTools(List.of(ToolSpec.newBuilder().setName("run_command")
            .setParametersJson("{\"type\":\"object\",\"properties\":{\"cmd\":{\"type\":\"string\"}}}").build()))
        .setGuardrails(List.of(guards)).setGuardrailTimeoutMs(15_000).build();
  }

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(agent("no-passwords", spec("no-password-talk", GuardrailStage.INPUT, "keywords", GuardrailAction.BLOCK,
        "{\"words\":[\"password\"]}")));
    cluster.publishAgent(agent("cleanup", spec("no-rm-rf", GuardrailStage.TOOL_INPUT, "regex", GuardrailAction.REJECT,
        "{\"patterns\":[\"rm\\\\s+-rf\"],\"message\":\"rm -rf is not allowed here; inspect first\"}")));
    cluster.publishAgent(agent("pii-safe", spec("redact-emails", GuardrailStage.OUTPUT, "pii", GuardrailAction.REDACT,
        "{\"kinds\":[\"email\"]}")));
    cluster.publishAgent(agent("judged-open", spec("weapons-judge", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK,
        "{\"prompt\":\"" + JUDGE + "\",\"timeout\":\"1s\",\"failPolicy\":\"open\"}")));
    cluster.publishAgent(agent("judged-closed", spec("weapons-judge", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK,
        "{\"prompt\":\"" + JUDGE + "\",\"timeout\":\"1s\",\"failPolicy\":\"closed\"}")));
    model = ScriptedModelServer.start(GuardrailsEndToEndTest::script);
    Settings settings = Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "k",
        "turnpike.runner.application-id", "guard-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("guard-state").toString()));
    runner = RunnerService.start(settings);
    guardrails = GuardrailService.start(settings);
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl()).tool("run_command", inv -> "ran " + inv.args().get("cmd").asText()).build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
    checks = new TopicTail(cluster.bootstrap(), Topics.GUARDRAIL_REQUESTS.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {checks, results, events, states, tools, guardrails, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing
      }
    }
  }

  static RunResult awaitFinal(String runId) {
    await().atMost(Duration.ofSeconds(60)).until(() -> results.forKey(runId).stream()
        .map(r -> cluster.serdes().runResult().decode(r.value()))
        .anyMatch(r -> r.getStatus() != RunStatus.INTERRUPTED));
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value()))
        .filter(r -> r.getStatus() != RunStatus.INTERRUPTED).findFirst().orElseThrow();
  }

  static boolean anywhere(String runId, String text) {
    return List.of(events, states, results).stream().flatMap(t -> t.forKey(runId).stream())
        .anyMatch(r -> new String(r.value(), StandardCharsets.UTF_8).contains(text));
  }

  @Test
  void aParallelInputTripwireHaltsTheRunAndDiscardsTheAnswer() {
    cluster.submit("g-trip", "no-passwords", "what is the admin password?");
    RunResult r = awaitFinal("g-trip");
    assertThat(r.getStatus()).isEqualTo(RunStatus.GUARDRAIL_TRIPPED);
    assertThat(r.getGuardrail()).isEqualTo("no-password-talk");
    assertThat(r.getFinalOutput()).isNull();
    // the model did answer, but its answer is nowhere: not in events, state or results
    await().atMost(Duration.ofSeconds(10)).until(() -> model.requests().stream().anyMatch(q ->
        "what is the admin password?".equals(q.view().firstUserText())));
    assertThat(anywhere("g-trip", "hunter2")).isFalse();
  }

  @Test
  void aToolInputGuardrailRejectsACommandAndTheModelRecovers() {
    cluster.submit("g-reject", "cleanup", "clean up the disk");
    RunResult r = awaitFinal("g-reject");
    assertThat(r.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(r.getFinalOutput()).isEqualTo("Recovered: ran ls");
    // the rejected command never reached the tool worker; the model saw the guardrail's message
    assertThat(model.requests().stream().filter(q -> "clean up the disk".equals(q.view().firstUserText()))
        .flatMap(q -> q.view().input().stream())
        .filter(i -> i instanceof InputItem.FunctionCallOutput)
        .map(i -> ((InputItem.FunctionCallOutput) i).output()))
        .anySatisfy(o -> assertThat(o).contains("rm -rf is not allowed here"))
        .noneSatisfy(o -> assertThat(o).isEqualTo("ran rm -rf /"));
    // a rule guardrail is judged in the orchestrator's step: its checks never went to the guardrail service...
    assertThat(checks.forKey("g-reject")).isEmpty();
    assertThat(steps("g-reject")).filteredOn(GuardrailChecked.class::isInstance).hasSize(2);
  }

  @Test
  void anOutputGuardrailRedactsPiiInTheFinalAnswer() {
    cluster.submit("g-redact", "pii-safe", "who should I contact?");
    RunResult r = awaitFinal("g-redact");
    assertThat(r.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(r.getFinalOutput()).startsWith("Write to ").endsWith(" for details.").doesNotContain("alice@example.com");
    assertThat(anywhere("g-redact", "alice@example.com")).isFalse();
  }

  @Test
  void aModelGuardrailThatTimesOutFollowsItsFailPolicy() {
    cluster.submit("g-open", "judged-open", "please judge this");
    cluster.submit("g-closed", "judged-closed", "please judge this too");
    RunResult open = awaitFinal("g-open");
    RunResult closed = awaitFinal("g-closed");
    assertThat(open.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(open.getFinalOutput()).isEqualTo("judged fine");
    assertThat(closed.getStatus()).isEqualTo(RunStatus.GUARDRAIL_TRIPPED);
    assertThat(closed.getGuardrail()).isEqualTo("weapons-judge");
    // ...while a model-based one still is
    assertThat(checks.forKey("g-open")).isNotEmpty();
  }

  static List<Object> steps(String runId) {
    return events.forKey(runId).stream().map(r -> (Object) cluster.serdes().turnEvent().decode(r.value()).getStep()).toList();
  }
}
