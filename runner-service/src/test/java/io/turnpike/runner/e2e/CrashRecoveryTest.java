package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.RecordedRequest;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ServiceChild;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerMain;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * kill -9 of the runner while a run waits for a tool result: a new runner instance, with an empty
 * state directory (as on another machine), restores the RunState from Kafka and finishes the run
 * exactly once.
 */
class CrashRecoveryTest {

  @Test
  void runCompletesExactlyOnceAfterTheRunnerIsKilled() throws Exception {
    try (Cluster cluster = new Cluster();
         ScriptedModelServer model = ScriptedModelServer.start(TravelScript.script());
         TopicTail results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
         TopicTail events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name())) {
      cluster.publishAgent(TravelScript.agent(TravelScript.AGENT, 6, 120_000));
      Map<String, String> settings = Map.of(
          "turnpike.schema.registry.url", cluster.registryUrl(),
          "turnpike.bootstrap.servers", cluster.bootstrap(),
          "turnpike.model.base-url", model.baseUrl(),
          "turnpike.model.api-key", "test-key",
          "turnpike.runner.application-id", "crash-runner",
          "turnpike.kafka.session-timeout", "6s",
          "turnpike.runner.state-dir", Files.createTempDirectory("state-a").toString());

      CountDownLatch release = new CountDownLatch(1);
      AtomicInteger weatherCalls = new AtomicInteger();
      try (ToolWorker worker = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
          .tool("get_weather", inv -> {
            weatherCalls.incrementAndGet();
            // Hold the answer until the runner is dead.
            if (!release.await(120, TimeUnit.SECONDS)) {
              throw new IllegalStateException("never released");
            }
            return "sunny in " + inv.args().get("city").asText();
          })
          .tool("get_time", inv -> "14:05 in " + inv.args().get("city").asText())
          .build().start()) {

        ServiceChild first = ServiceChild.start("runner-service", RunnerMain.class, settings);
        cluster.submit("run-crash", TravelScript.AGENT, "Trip to Lisbon soon");
        await().atMost(Duration.ofSeconds(60)).until(() -> weatherCalls.get() >= 1 && events.forKey("run-crash").stream()
            .anyMatch(r -> cluster.serdes().turnEvent().decode(r.value()).getStep() instanceof ToolCallRequested));

        first.kill();
        release.countDown();

        Map<String, String> elsewhere = new java.util.HashMap<>(settings);
        elsewhere.put("turnpike.runner.state-dir", Files.createTempDirectory("state-b").toString());
        try (ServiceChild second = ServiceChild.start("runner-service", RunnerMain.class, elsewhere)) {
          await().atMost(Duration.ofSeconds(120)).until(() -> !results.forKey("run-crash").isEmpty());
          RunResult result = cluster.serdes().runResult().decode(results.forKey("run-crash").get(0).value());
          assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
          assertThat(result.getFinalOutput()).isEqualTo("Answer: sunny in Lisbon | 14:05 in Lisbon");

          // Give any duplicate a chance to show up before counting.
          await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(10))
              .until(() -> results.forKey("run-crash").size() == 1);
          List<RecordedRequest> calls = model.requests().stream()
              .filter(r -> "Trip to Lisbon soon".equals(r.view().firstUserText())).toList();
          // the turn answered before the crash was not asked again
          assertThat(calls).extracting(r -> r.view().turn()).containsExactly(0, 1, 2);
          assertThat(weatherCalls.get()).isEqualTo(1);
        }
      }
    }
  }
}
