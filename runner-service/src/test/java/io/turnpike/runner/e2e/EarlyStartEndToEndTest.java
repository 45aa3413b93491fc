package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * With {@code turnpike.model.early-start}, the model invoker starts a call before the orchestrator's
 * transaction commits (read_uncommitted), so it also sees sends from transactions that are then aborted, as a killed orchestrator leaves them. Here
 * such a send is written for real (a transactional producer that aborts), with the callId of the call
 * the run waits on and another sentSeq: the invoker answers it, and the run must ignore that answer and
 * finish with the answer to the call it committed.
 */
class EarlyStartEndToEndTest {
  static final String AGENT = """
      name: early
      version: 1
      model: gpt-early
      instructions: Answer.
      """;

  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static TopicTail events;
  private static TopicTail results;
  private static final CountDownLatch release = new CountDownLatch(1);

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(AgentYaml.parse(AGENT, "early.yaml"));
    model = ScriptedModelServer.start(req -> {
      if (String.valueOf(req.firstUserText()).startsWith("aborted send")) {
        return ScriptedReply.text("the answer to a send that was never committed");
      }
      try {
        release.await(60, TimeUnit.SECONDS); // the committed call waits until the aborted one was answered
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return ScriptedReply.text("the answer to the committed call");
    });
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "test-key",
        "turnpike.model.early-start", "true",
        "turnpike.runner.application-id", "early-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("early-runner").toString())));
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
  }

  @AfterAll
  static void stop() {
    release.countDown();
    for (AutoCloseable c : new AutoCloseable[] {results, events, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  @Test
  void anAnswerToAnAbortedSendIsIgnoredAndTheCommittedCallIsAnswered() throws Exception {
    cluster.submit("early-1", "early", "What is the answer?");
    await().atMost(Duration.ofSeconds(60)).until(() -> model.modelRequests().stream()
        .anyMatch(r -> "What is the answer?".equals(r.firstUserText())));

    // what a killed orchestrator leaves behind: a send of the same call, other content, in an aborted transaction
    ModelCall aborted = ModelCall.newBuilder().setRunId("early-1").setCallId("early-1:m1").setAttempt(1).setSentSeq(999L)
        .setAgent("early").setModel("gpt-early").setInstructions("Answer.")
        .setInput(List.of(new MessageItem(Role.USER, "aborted send of the same call", null, List.of())))
        .setDeadline(Instant.now().plusSeconds(60)).build();
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap());
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "early-e2e-zombie");
    try (KafkaProducer<String, byte[]> zombie = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      zombie.initTransactions();
      zombie.beginTransaction();
      ProducerRecord<String, byte[]> rec = new ProducerRecord<>(Topics.MODEL_REQUESTS.name(), "early-1",
          cluster.serdes().modelCall().encode(aborted));
      rec.headers().add(TurnpikeHeaders.TYPE, "ModelCall".getBytes(StandardCharsets.UTF_8));
      zombie.send(rec).get();
      // the invoker reads before commit: it takes the call while the transaction is still open
      await().atMost(Duration.ofSeconds(30)).until(() -> model.modelRequests().stream()
          .anyMatch(r -> String.valueOf(r.firstUserText()).startsWith("aborted send")));
      zombie.abortTransaction();
    }

    // its answer reaches the run, which ignores it as the answer to a send it never committed
    await().atMost(Duration.ofSeconds(30)).until(() -> steps("early-1").stream().anyMatch(s -> s instanceof ResultIgnored r
        && r.getReason().toString().contains("not committed") && r.getReason().toString().contains("sentSeq 999")));
    assertThat(results.forKey("early-1")).isEmpty();

    release.countDown();
    await().atMost(Duration.ofSeconds(60)).until(() -> !results.forKey("early-1").isEmpty());
    RunResult result = cluster.serdes().runResult().decode(results.forKey("early-1").get(0).value());
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("the answer to the committed call");
  }

  private static List<Object> steps(String runId) {
    return events.forKey(runId).stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).map(TurnEvent::getStep)
        .map(Object.class::cast).toList();
  }
}
