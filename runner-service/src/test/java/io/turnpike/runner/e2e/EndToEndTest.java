package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The spine, end to end: a real in-process KRaft broker, the runner (orchestrator + model invoker
 * with openai-java) against a scripted OpenAI-compatible HTTP server, and a real tool worker.
 */
class EndToEndTest {
  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ToolWorker tools;
  private static TopicTail results;
  private static TopicTail events;
  private static TopicTail states;
  private static TopicTail deadLetters;

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(TravelScript.agent(TravelScript.AGENT, 6, 10_000));
    model = ScriptedModelServer.start(TravelScript.script());
    Path state = Files.createTempDirectory("runner-state");
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "test-key",
        "turnpike.runner.application-id", "e2e-runner",
        "turnpike.runner.state-dir", state.toString())));
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("get_weather", inv -> "sunny in " + inv.args().get("city").asText())
        .tool("get_time", inv -> "14:05 in " + inv.args().get("city").asText())
        .build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
    deadLetters = new TopicTail(cluster.bootstrap(), Topics.DEAD_LETTERS.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, events, states, deadLetters, tools, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  private static RunResult awaitResult(String runId) {
    await().atMost(Duration.ofSeconds(60)).until(() -> !results.forKey(runId).isEmpty());
    return cluster.serdes().runResult().decode(results.forKey(runId).get(0).value());
  }

  @Test
  void aRequestOnTheWrongPartitionIsMovedAndTheRunCompletes() throws Exception {
    // as a librdkafka producer (kcat, Python, Go) with its default CRC32 partitioner would put it
    String runId = "run-misrouted";
    int right = org.apache.kafka.common.utils.Utils.toPositive(
        org.apache.kafka.common.utils.Utils.murmur2(runId.getBytes(java.nio.charset.StandardCharsets.UTF_8))) % Cluster.PARTITIONS;
    int wrong = (right + 1) % Cluster.PARTITIONS;
    io.turnpike.avro.RunRequest req = io.turnpike.avro.RunRequest.newBuilder().setRunId(runId).setAgent(TravelScript.AGENT)
        .setInput("Trip to Oslo tomorrow").setMetadata(java.util.Map.of()).setRequestedAt(java.time.Instant.now()).build();
    cluster.producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(Topics.RUN_REQUESTS.name(), wrong, runId,
        cluster.serdes().runRequest().encode(req))).get();
    RunResult result = awaitResult(runId);
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Answer: sunny in Oslo | 14:05 in Oslo");
  }

  @Test
  void aRunWithTwoFunctionToolTurnsCompletes() {
    cluster.submit("run-oslo", TravelScript.AGENT, "Trip to Oslo tomorrow");
    RunResult result = awaitResult("run-oslo");
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Answer: sunny in Oslo | 14:05 in Oslo");
    assertThat(result.getTurns()).isEqualTo(3);
    assertThat(result.getUsage().getModelCalls()).isEqualTo(3);

    // turn-events holds every step, in order
    await().atMost(Duration.ofSeconds(10)).until(() -> events.forKey("run-oslo").stream()
        .map(r -> cluster.serdes().turnEvent().decode(r.value()))
        .anyMatch(e -> e.getStep() instanceof io.turnpike.avro.RunFinished));
    List<TurnEvent> steps = events.forKey("run-oslo").stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
    assertThat(steps).extracting(TurnEvent::getSeq).containsExactly(
        java.util.stream.LongStream.rangeClosed(1, steps.size()).boxed().toArray(Long[]::new));
    assertThat(steps).extracting(e -> e.getStep().getClass().getSimpleName()).containsExactly(
        "RunStarted",
        "ModelCallRequested", "ModelResponded", "ToolCallRequested", "ToolCallCompleted",
        "ModelCallRequested", "ModelResponded", "ToolCallRequested", "ToolCallCompleted",
        "ModelCallRequested", "ModelResponded", "RunFinished");
    assertThat(events.forKey("run-oslo")).allSatisfy(r ->
        assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TRACE_ID)).isNotBlank());

    // turnpike.run-state holds the final RunState
    await().atMost(Duration.ofSeconds(10)).until(() -> lastState("run-oslo").getStatus() == RunStatus.COMPLETED);
    RunState last = lastState("run-oslo");
    assertThat(last.getFinalOutput()).isEqualTo(result.getFinalOutput());
    assertThat(last.getItems()).hasSize(6);
    assertThat(last.getPending()).isEmpty();
    assertThat(last.getVersion()).isEqualTo(steps.size());

    // the model saw the full conversation replayed on each turn, and three calls in all
    List<io.turnpike.devkit.RecordedRequest> calls = model.requests().stream()
        .filter(r -> "Trip to Oslo tomorrow".equals(r.view().firstUserText())).toList();
    assertThat(calls).extracting(r -> r.view().turn()).containsExactly(0, 1, 2);
    assertThat(calls.get(2).view().input()).hasSize(5);
    assertThat(calls.get(0).view().header("Authorization")).isEqualTo("Bearer test-key");
    // the API key never lands in an event or in the state
    assertThat(events.records()).noneSatisfy(r -> assertThat(new String(r.value())).contains("test-key"));
    assertThat(states.records()).noneSatisfy(r -> assertThat(new String(r.value())).contains("test-key"));
  }

  @Test
  void poisonRecordsGoToDeadLettersAndTheNextRunStillCompletes() {
    cluster.send(Topics.RUN_REQUESTS.name(), "run-garbage", new byte[] {(byte) 0xde, (byte) 0xad, (byte) 0xbe, (byte) 0xef}, "RunRequest");
    cluster.submit("run-ghost", "no-such-agent", "Trip to Paris");
    cluster.submit("run-rome", TravelScript.AGENT, "Trip to Rome in May");

    assertThat(awaitResult("run-rome").getStatus()).isEqualTo(RunStatus.COMPLETED);
    RunResult garbage = awaitResult("run-garbage");
    assertThat(garbage.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(garbage.getError()).contains("undecodable");
    RunResult ghost = awaitResult("run-ghost");
    assertThat(ghost.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(ghost.getError()).contains("unknown agent 'no-such-agent'");

    await().atMost(Duration.ofSeconds(10)).until(() -> deadLetters.forKey("run-garbage").size() == 1
        && deadLetters.forKey("run-ghost").size() == 1);
    ConsumerRecord<String, byte[]> dl = deadLetters.forKey("run-garbage").get(0);
    assertThat(dl.value()).containsExactly(0xde, 0xad, 0xbe, 0xef);
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.RUN_REQUESTS.name());
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_REASON)).contains("undecodable");
    assertThat(TurnpikeHeaders.get(deadLetters.forKey("run-ghost").get(0).headers(), TurnpikeHeaders.DLQ_REASON))
        .contains("unknown agent");
  }

  @Test
  void manyConcurrentRunsAllCompleteOnce() {
    int n = 20;
    for (int i = 0; i < n; i++) {
      cluster.submit("run-many-" + i, TravelScript.AGENT, "Trip to City" + i + " now");
    }
    await().atMost(Duration.ofSeconds(90)).until(() ->
        results.matching(r -> r.key().startsWith("run-many-")).size() >= n);
    assertThat(results.matching(r -> r.key().startsWith("run-many-"))).hasSize(n).allSatisfy(r -> {
      RunResult res = cluster.serdes().runResult().decode(r.value());
      assertThat(res.getStatus()).isEqualTo(RunStatus.COMPLETED);
      int i = Integer.parseInt(r.key().substring("run-many-".length()));
      assertThat(res.getFinalOutput()).isEqualTo("Answer: sunny in City" + i + " | 14:05 in City" + i);
    });
  }

  private static RunState lastState(String runId) {
    List<ConsumerRecord<String, byte[]>> recs = states.forKey(runId);
    return recs.isEmpty() ? null : cluster.serdes().runState().decode(recs.get(recs.size() - 1).value());
  }
}
