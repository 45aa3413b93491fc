package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.ChildRunStarted;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.ServiceChild;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerMain;
import io.turnpike.runner.model.ModelInvoker;
import io.turnpike.runner.model.ModelInvokerConfig;
import io.turnpike.runner.model.OpenAiModelClient;
import io.turnpike.schema.Topics;
import java.nio.file.Files;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * kill -9 of the runner while a child run (an agent called as a tool) waits for its model: a new
 * runner instance with an empty state directory restores the parent and the child from Kafka, the
 * child finishes and answers its parent, and the parent completes, each exactly once, with one child.
 */
class AgentToolCrashRecoveryTest {

  @Test
  void theParentCompletesOnceWithOneChildAfterTheRunnerIsKilled() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger childCalls = new AtomicInteger();
    try (Cluster cluster = new Cluster();
         ScriptedModelServer model = ScriptedModelServer.start(req -> {
           if ("gpt-weather".equals(req.model())) {
             childCalls.incrementAndGet();
             try {
               // Hold the child's answer until the runner is dead.
               if (!release.await(120, TimeUnit.SECONDS)) {
                 throw new IllegalStateException("never released");
               }
             } catch (InterruptedException e) {
               Thread.currentThread().interrupt();
               throw new IllegalStateException(e);
             }
             return ScriptedReply.text("Fog in London");
           }
           return req.turn() == 0 ? ScriptedReply.toolCall("ask_weather", "{\"input\":\"Weather in London?\"}")
               : ScriptedReply.text("Plan: " + req.lastToolOutput());
         });
         TopicTail results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
         TopicTail requests = new TopicTail(cluster.bootstrap(), Topics.RUN_REQUESTS.name());
         TopicTail events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name())) {
      cluster.publishAgent(AgentYaml.parse(AgentsAsToolsEndToEndTest.BOSS, "trip-boss.yaml"));
      cluster.publishAgent(AgentYaml.parse(AgentsAsToolsEndToEndTest.SPECIALIST, "weather-specialist.yaml"));
      Map<String, String> settings = Map.of(
          "turnpike.schema.registry.url", cluster.registryUrl(),
          "turnpike.bootstrap.servers", cluster.bootstrap(),
          "turnpike.runner.model-invoker.enabled", "false",
          "turnpike.runner.application-id", "agent-tool-crash-runner",
          "turnpike.kafka.session-timeout", "6s",
          "turnpike.runner.state-dir", Files.createTempDirectory("agent-crash-a").toString());
      ModelInvokerConfig config = ModelInvokerConfig.of(cluster.bootstrap(), cluster.registryUrl(), model.baseUrl(), "test-key")
          .withGroupId("agent-tool-crash-model-invoker");
      try (ModelInvoker invoker = new ModelInvoker(config, new OpenAiModelClient(config, true)).start()) {
        String child = "trip-london:t1.1/weather-specialist";
        ServiceChild first = ServiceChild.start("runner-service", RunnerMain.class, settings);
        cluster.submit("trip-london", "trip-boss", "Trip to London");
        await().atMost(Duration.ofSeconds(60)).until(() -> childCalls.get() >= 1);

        first.kill();
        release.countDown();

        Map<String, String> elsewhere = new HashMap<>(settings);
        elsewhere.put("turnpike.runner.state-dir", Files.createTempDirectory("agent-crash-b").toString());
        try (ServiceChild second = ServiceChild.start("runner-service", RunnerMain.class, elsewhere)) {
          await().atMost(Duration.ofSeconds(120)).until(() -> !results.forKey("trip-london").isEmpty());
          RunResult result = cluster.serdes().runResult().decode(results.forKey("trip-london").get(0).value());
          assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
          assertThat(result.getFinalOutput()).isEqualTo("Plan: Fog in London");
          // give any duplicate the time to show up before counting
          await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(10)).until(() ->
              results.forKey("trip-london").size() == 1 && results.forKey(child).size() == 1);
          assertThat(cluster.serdes().runResult().decode(results.forKey(child).get(0).value()).getStatus())
              .isEqualTo(RunStatus.COMPLETED);
          assertThat(requests.forKey(child)).as("the child was started once").hasSize(1);
          assertThat(events.forKey("trip-london").stream().map(r -> cluster.serdes().turnEvent().decode(r.value()).getStep())
              .filter(ChildRunStarted.class::isInstance)).hasSize(1);
          assertThat(childCalls.get()).isEqualTo(1);
          List<ModelRequestView> boss = model.modelRequests().stream().filter(r -> "gpt-boss".equals(r.model())).toList();
          assertThat(boss).extracting(ModelRequestView::turn).containsExactly(0, 1);
        }
      }
    }
  }
}
