package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.Counter;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.DeadLetter;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeMetrics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Issue #10, "nothing stops a partition", on a real broker: input topics raised to 8 MiB carry 5 MB
 * records, undecodable or valid, and every run on the same partition still completes. Before the
 * fix, dead-lettering such a record failed the stream thread's transaction on every retry (the
 * producer's max.request.size is 1 MiB) and the partition stalled for good.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PoisonRecordsEndToEndTest {
  private static final int EIGHT_MIB = 8 * 1024 * 1024;
  private static final int FIVE_MB = 5 * 1024 * 1024;
  private static final String REPORTER = "reporter";

  private static Cluster cluster;
  private static Telemetry telemetry;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ToolWorker tools;
  private static KafkaProducer<String, byte[]> bigProducer;
  private static TopicTail results;
  private static TopicTail deadLetters;
  private static TopicTail toolRequests;

  /** The travel agent's script, and for "Report ..." runs: ask fetch_report, then repeat what it said. */
  static ScriptedReply script(ModelRequestView req) {
    String input = req.firstUserText() == null ? "" : req.firstUserText();
    if (input.startsWith("Report")) {
      return req.turn() == 0 ? ScriptedReply.toolCall("fetch_report", "{}") : ScriptedReply.text("Report: " + req.lastToolOutput());
    }
    return TravelScript.script().reply(req);
  }

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    // as an operator would for big tool outputs and big requests; everything else keeps Kafka's 1 MiB
    setMaxMessageBytes(Topics.TOOL_RESULTS.name(), String.valueOf(EIGHT_MIB));
    setMaxMessageBytes(Topics.RUN_REQUESTS.name(), String.valueOf(EIGHT_MIB));
    cluster.publishAgent(TravelScript.agent(TravelScript.AGENT, 6, 10_000));
    cluster.publishAgent(reporter());
    model = ScriptedModelServer.start(PoisonRecordsEndToEndTest::script);
    telemetry = Telemetry.builder("poison-records-test").jvmMetrics(false).build();
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "test-key",
        "turnpike.runner.application-id", "poison-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("runner-state").toString(),
        // a replaced stream thread's partitions move once its member times out
        "turnpike.kafka.session-timeout", "6s")), telemetry);
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("get_weather", inv -> "sunny in " + inv.args().get("city").asText())
        .tool("get_time", inv -> "14:05 in " + inv.args().get("city").asText())
        .build().start();
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, EIGHT_MIB);
    bigProducer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    deadLetters = new TopicTail(cluster.bootstrap(), Topics.DEAD_LETTERS.name());
    toolRequests = new TopicTail(cluster.bootstrap(), Topics.TOOL_REQUESTS.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, deadLetters, toolRequests, bigProducer, tools, runner, model,
        telemetry, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  private static AgentDefinition reporter() {
    return AgentDefinition.newBuilder(TravelScript.agent(REPORTER, 4, 30_000))
        .setTools(List.of(ToolSpec.newBuilder().setName("fetch_report").setDescription("Today's report")
            .setParametersJson("{\"type\":\"object\",\"properties\":{}}").build()))
        .build();
  }

  @Test
  void anUndecodableFiveMegabyteToolResultIsDeadLetteredCutAndItsPartitionGoesOn() throws Exception {
    byte[] poison = randomBytes(FIVE_MB, 1);
    int partition = partitionOf("poison-tool");
    produce(Topics.TOOL_RESULTS.name(), partition, "poison-tool", poison);

    String runId = runIdOn(partition, "run-after-tool-");
    cluster.submit(runId, TravelScript.AGENT, "Trip to Lima");
    RunResult result = awaitResult(runId);
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Answer: sunny in Lima | 14:05 in Lima");

    ConsumerRecord<String, byte[]> dl = awaitDeadLetter("poison-tool");
    assertCut(dl, poison);
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.TOOL_RESULTS.name());
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_PARTITION)).isEqualTo(String.valueOf(partition));
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_REASON)).contains("undecodable");
  }

  @Test
  void anUndecodableFiveMegabyteRunRequestIsDeadLetteredItsRunFailsAndItsPartitionGoesOn() throws Exception {
    byte[] poison = randomBytes(FIVE_MB, 2);
    int partition = partitionOf("poison-request");
    produce(Topics.RUN_REQUESTS.name(), partition, "poison-request", poison);

    String runId = runIdOn(partition, "run-after-request-");
    cluster.submit(runId, TravelScript.AGENT, "Trip to Quito");
    assertThat(awaitResult(runId).getStatus()).isEqualTo(RunStatus.COMPLETED);

    RunResult failed = awaitResult("poison-request");
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(failed.getError()).contains("undecodable");
    ConsumerRecord<String, byte[]> dl = awaitDeadLetter("poison-request");
    assertCut(dl, poison);
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.RUN_REQUESTS.name());
  }

  @Test
  void aFiveMegabyteRunRequestOnTheWrongPartitionIsMovedThenDeadLettered() throws Exception {
    // a librdkafka producer's CRC32 partitioner would put it elsewhere: the orchestrator moves it
    // unchanged to its run's partition, which needs a producer that can write what the topic accepts
    byte[] poison = randomBytes(FIVE_MB, 3);
    int right = partitionOf("poison-moved");
    produce(Topics.RUN_REQUESTS.name(), (right + 1) % Cluster.PARTITIONS, "poison-moved", poison);

    String runId = runIdOn(right, "run-after-moved-");
    cluster.submit(runId, TravelScript.AGENT, "Trip to Cusco");
    assertThat(awaitResult(runId).getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(awaitResult("poison-moved").getStatus()).isEqualTo(RunStatus.FAILED);
    ConsumerRecord<String, byte[]> dl = awaitDeadLetter("poison-moved");
    assertCut(dl, poison);
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_PARTITION)).isEqualTo(String.valueOf(right));
    assertThat(TurnpikeHeaders.get(dl.headers(), "turnpike.rerouted-from")).isNotNull();
  }

  @Test
  void aValidFiveMegabyteToolAnswerBecomesAnErrorTheModelSees() throws Exception {
    String runId = "run-report";
    cluster.submit(runId, REPORTER, "Report for today");
    await().atMost(Duration.ofSeconds(60)).until(() -> !toolRequests.forKey(runId).isEmpty());
    ToolCall call = cluster.serdes().toolCall().decode(toolRequests.forKey(runId).get(0).value());
    assertThat(call.getName()).isEqualTo("fetch_report");

    ToolResult huge = ToolResult.newBuilder().setRunId(runId).setCallId(call.getCallId()).setName("fetch_report")
        .setOutput("x".repeat(FIVE_MB)).setIsError(false).build();
    byte[] bytes = cluster.serdes().toolResult().encode(huge);
    produce(Topics.TOOL_RESULTS.name(), partitionOf(runId), runId, bytes);

    RunResult result = awaitResult(runId);
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput())
        .startsWith("Report: ")
        .contains("the answer of tool fetch_report was " + bytes.length + " bytes")
        .contains("the limit is 1048576 bytes");
    ConsumerRecord<String, byte[]> dl = awaitDeadLetter(runId);
    assertCut(dl, bytes);
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_REASON)).contains("too large");

    // and the partition goes on
    String next = runIdOn(partitionOf(runId), "run-after-report-");
    cluster.submit(next, TravelScript.AGENT, "Trip to Oruro");
    assertThat(awaitResult(next).getStatus()).isEqualTo(RunStatus.COMPLETED);
  }

  /**
   * Last: the orchestrator remembers what the dead-letter topic refused for a while (see SendFailures),
   * so for the rest of this runner's life dead letters of this size are skipped.
   */
  @Test
  @Order(Integer.MAX_VALUE)
  void aDeadLetterTheTopicRefusesIsSkippedWithAMetricAndThePartitionGoesOn() throws Exception {
    // a dead-letter topic that takes less than a cut body: the broker refuses the dead letter itself
    setMaxMessageBytes(Topics.DEAD_LETTERS.name(), String.valueOf(256 * 1024));
    try {
      byte[] poison = randomBytes(2 * 1024 * 1024, 4);
      int partition = partitionOf("poison-unwritable");
      produce(Topics.TOOL_RESULTS.name(), partition, "poison-unwritable", poison);

      String runId = runIdOn(partition, "run-after-unwritable-");
      cluster.submit(runId, TravelScript.AGENT, "Trip to Sucre");
      // The broker's refusal fails that transaction once (the stream thread is replaced): expected here.
      await().dontCatchUncaughtExceptions().atMost(Duration.ofSeconds(90)).until(() -> !results.forKey(runId).isEmpty());
      assertThat(awaitResult(runId).getStatus()).isEqualTo(RunStatus.COMPLETED);
      await().atMost(Duration.ofSeconds(10)).until(() -> dropped(Topics.TOOL_RESULTS.name()) >= 1);
      assertThat(deadLetters.forKey("poison-unwritable")).isEmpty();
    } finally {
      setMaxMessageBytes(Topics.DEAD_LETTERS.name(), null);
    }
  }

  // --- helpers --------------------------------------------------------------------------------

  private static double dropped(String topic) {
    Collection<Counter> counters = telemetry.registry().find(TurnpikeMetrics.DEAD_LETTERS_DROPPED)
        .tag(TurnpikeMetrics.TAG_TOPIC, topic).counters();
    return counters.stream().mapToDouble(Counter::count).sum();
  }

  private static void assertCut(ConsumerRecord<String, byte[]> dl, byte[] original) throws Exception {
    assertThat(dl.value()).hasSize(DeadLetter.MAX_BODY_BYTES);
    assertThat(dl.value()[1000]).isEqualTo(original[1000]);
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_TRUNCATED)).isEqualTo("true");
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_ORIGINAL_SIZE)).isEqualTo(String.valueOf(original.length));
    assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_SHA256))
        .isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(original)));
  }

  private static RunResult awaitResult(String runId) {
    await().atMost(Duration.ofSeconds(90)).until(() -> !results.forKey(runId).isEmpty());
    return cluster.serdes().runResult().decode(results.forKey(runId).get(0).value());
  }

  private static ConsumerRecord<String, byte[]> awaitDeadLetter(String key) {
    await().atMost(Duration.ofSeconds(30)).until(() -> !deadLetters.forKey(key).isEmpty());
    return deadLetters.forKey(key).get(0);
  }

  private static void produce(String topic, int partition, String key, byte[] value) throws Exception {
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, partition, key, value);
    rec.headers().add(TurnpikeHeaders.TYPE, "Poison".getBytes(StandardCharsets.UTF_8));
    bigProducer.send(rec).get();
  }

  private static byte[] randomBytes(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    b[0] = 0; // the wire format's magic byte, so the decoder gets as far as the schema id
    return b;
  }

  static int partitionOf(String key) {
    return BuiltInPartitioner.partitionForKey(key.getBytes(StandardCharsets.UTF_8), Cluster.PARTITIONS);
  }

  /** A fresh run id on {@code partition}: the run shares the partition, and so the stream task, with the poison. */
  private static String runIdOn(int partition, String prefix) {
    for (int i = 0; ; i++) {
      if (partitionOf(prefix + i) == partition) {
        return prefix + i;
      }
    }
  }

  private static void setMaxMessageBytes(String topic, String bytes) throws Exception {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap()))) {
      ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
      AlterConfigOp op = bytes == null
          ? new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE)
          : new AlterConfigOp(new ConfigEntry("max.message.bytes", bytes), AlterConfigOp.OpType.SET);
      admin.incrementalAlterConfigs(Map.of(resource, List.of(op))).all().get();
    }
  }
}
