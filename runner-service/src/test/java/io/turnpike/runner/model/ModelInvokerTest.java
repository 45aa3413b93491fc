package io.turnpike.runner.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The invoker loop against a real in-process Kafka broker (a fresh one per test, so topics start
 * empty) and the scripted OpenAI-compatible server.
 */
class ModelInvokerTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://topology-test");
  static final int PARTITIONS = 3;
  static EmbeddedKafka kafka;
  static Admin admin;

  @BeforeEach
  void startKafka() {
    kafka = EmbeddedKafka.start();
    admin = Admin.create(kafka.clientProperties());
    TopicAdmin.ensureTopics(admin, PARTITIONS, (short) 1);
  }

  @AfterEach
  void stopKafka() {
    if (admin != null) {
      admin.close();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  static KafkaProducer<String, byte[]> producer() {
    Map<String, Object> p = new HashMap<>(kafka.clientProperties());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    // One batch in flight: if the broker is not yet leader of a brand-new partition, the first batch's
    // retry must not be overtaken by later ones (the broker then refuses it as out of order).
    p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1);
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  /** Reads a whole topic from the beginning, accumulating across calls. */
  static final class TopicReader implements AutoCloseable {
    final KafkaConsumer<String, byte[]> consumer;
    final List<ConsumerRecord<String, byte[]>> records = new ArrayList<>();

    TopicReader(String topic) {
      Map<String, Object> p = new HashMap<>(kafka.clientProperties());
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
      List<TopicPartition> parts = IntStream.range(0, PARTITIONS).mapToObj(i -> new TopicPartition(topic, i)).toList();
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
    }

    List<ConsumerRecord<String, byte[]>> poll() {
      consumer.poll(Duration.ofMillis(200)).forEach(records::add);
      return records;
    }

    @Override
    public void close() {
      consumer.close();
    }
  }

  static ModelCall call(int i, Instant deadline) {
    return TestCalls.call("run-" + i, "call-" + i, List.of(TestCalls.user("question " + i)))
        .setDeadline(deadline)
        .build();
  }

  static ProducerRecord<String, byte[]> record(ModelCall c, String traceId) {
    RecordHeaders h = new RecordHeaders();
    TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, "ModelCall");
    TurnpikeHeaders.put(h, TurnpikeHeaders.TRACE_ID, traceId);
    return new ProducerRecord<>(Topics.MODEL_REQUESTS.name(), null, c.getRunId(), SERDES.modelCall().encode(c), h);
  }

  @Test
  void answersFiftyCallsDeadLettersGarbageAndSkipsExpiredCalls() throws Exception {
    // Replies take 0-150 ms, so calls finish out of order.
    ScriptedModelServer server = ScriptedModelServer.start(req -> ScriptedReply
        .text("answer to " + req.lastUserText())
        .withDelay(Duration.ofMillis(ThreadLocalRandom.current().nextInt(150))));
    String group = "model-invoker-test-" + UUID.randomUUID();
    ModelInvokerConfig config = ModelInvokerConfig.of(kafka.bootstrapServers(), "mock://topology-test", server.baseUrl(), "sk-e2e")
        .withGroupId(group)
        .withConcurrency(8)
        .withTimeout(Duration.ofSeconds(10));
    OpenAiModelClient real = new OpenAiModelClient(config, true);
    AtomicInteger inFlight = new AtomicInteger();
    AtomicInteger maxInFlight = new AtomicInteger();
    ModelClient counting = new ModelClient() {
      @Override
      public ModelResult invoke(ModelCall c) {
        maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
        try {
          return real.invoke(c);
        } finally {
          inFlight.decrementAndGet();
        }
      }

      @Override
      public void close() {
        real.close();
      }
    };

    byte[] garbage = "definitely not avro".getBytes(StandardCharsets.UTF_8);
    Instant deadline = Instant.now().plus(Duration.ofMinutes(5));
    try (server; KafkaProducer<String, byte[]> producer = producer();
        TopicReader results = new TopicReader(Topics.MODEL_RESULTS.name());
        TopicReader dead = new TopicReader(Topics.DEAD_LETTERS.name())) {
      // Half the calls are waiting before the invoker starts, the rest arrive while it runs.
      for (int i = 0; i < 25; i++) {
        producer.send(record(call(i, deadline), "trace-" + i));
      }
      producer.send(new ProducerRecord<>(Topics.MODEL_REQUESTS.name(), "run-bad", garbage)).get();
      producer.send(record(call(999, Instant.now().minusSeconds(1)), "trace-expired")).get();

      ModelInvoker invoker = new ModelInvoker(config, counting).start();
      try {
        for (int i = 25; i < 50; i++) {
          producer.send(record(call(i, deadline), "trace-" + i));
        }
        producer.flush();

        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(results.poll()).hasSize(50));
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(dead.poll()).hasSize(1));
      } finally {
        invoker.close();
      }
      assertThat(invoker.failure()).isNull();
      assertThat(invoker.answered()).isEqualTo(50);
      assertThat(invoker.deadLettered()).isEqualTo(1);
      assertThat(invoker.expired()).isEqualTo(1);

      Map<String, ConsumerRecord<String, byte[]>> byCallId = new HashMap<>();
      for (ConsumerRecord<String, byte[]> r : results.records) {
        ModelResult result = SERDES.modelResult().decode(r.value());
        assertThat(byCallId.put(result.getCallId(), r)).as("one result per call").isNull();
        int i = Integer.parseInt(result.getCallId().substring("call-".length()));
        assertThat(r.key()).isEqualTo("run-" + i);
        assertThat(result.getRunId()).isEqualTo("run-" + i);
        assertThat(result.getError()).isNull();
        assertThat(((MessageItem) result.getOutput().getFirst()).getText()).isEqualTo("answer to question " + i);
        assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TYPE)).isEqualTo("ModelResult");
        assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TRACE_ID)).isEqualTo("trace-" + i);
        assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID)).isEqualTo("call-" + i);
      }
      assertThat(byCallId.keySet()).isEqualTo(
          IntStream.range(0, 50).mapToObj(i -> "call-" + i).collect(Collectors.toSet()));
      assertThat(server.requestCount()).as("the expired call never reached the model").isEqualTo(50);
      assertThat(maxInFlight.get()).as("calls ran concurrently, within the bound").isBetween(2, 8);

      ConsumerRecord<String, byte[]> dlq = dead.records.getFirst();
      assertThat(dlq.key()).isEqualTo("run-bad");
      assertThat(dlq.value()).isEqualTo(garbage);
      assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.MODEL_REQUESTS.name());
      assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_PARTITION)).matches("[0-9]+");
      assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_OFFSET)).matches("[0-9]+");
      assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_ERROR)).isNotBlank();
      assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_REASON)).contains("ModelCall");

      // A clean close committed everything it finished: nothing would be answered twice on restart.
      Map<TopicPartition, OffsetAndMetadata> committed =
          admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
      Map<TopicPartition, OffsetSpec> latest = IntStream.range(0, PARTITIONS).boxed()
          .collect(Collectors.toMap(p -> new TopicPartition(Topics.MODEL_REQUESTS.name(), p), p -> OffsetSpec.latest()));
      var ends = admin.listOffsets(latest).all().get();
      for (TopicPartition tp : latest.keySet()) {
        long end = ends.get(tp).offset();
        if (end > 0) {
          assertThat(committed.get(tp)).as("committed offset of %s", tp).isNotNull();
          assertThat(committed.get(tp).offset()).as("committed offset of %s", tp).isEqualTo(end);
        }
      }
    }
  }

  @Test
  void modelErrorsAreAnsweredAsErrorResults() throws Exception {
    ScriptedModelServer server = ScriptedModelServer.start(req -> ScriptedReply.httpError(400, "no such model"));
    String group = "model-invoker-test-" + UUID.randomUUID();
    ModelInvokerConfig config = ModelInvokerConfig.of(kafka.bootstrapServers(), "mock://topology-test", server.baseUrl(), "sk-e2e")
        .withGroupId(group);
    try (server; KafkaProducer<String, byte[]> producer = producer();
        TopicReader results = new TopicReader(Topics.MODEL_RESULTS.name());
        ModelInvoker invoker = new ModelInvoker(config, new OpenAiModelClient(config, true)).start()) {
      ModelCall c = TestCalls.call("run-err", "call-err", List.of(TestCalls.user("hi")))
          .setDeadline(Instant.now().plusSeconds(300)).build();
      producer.send(record(c, "trace-err")).get();

      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(results.poll())
          .anySatisfy(r -> assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID)).isEqualTo("call-err")));
      ModelResult result = results.records.stream()
          .filter(r -> "call-err".equals(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID)))
          .map(r -> SERDES.modelResult().decode(r.value()))
          .findFirst().orElseThrow();
      assertThat(result.getOutput()).isEmpty();
      assertThat(result.getError().getCode()).isEqualTo("model_http_400");
      assertThat(result.getError().getRetryable()).isFalse();
      assertThat(Set.of(result.getRunId())).containsExactly("run-err");
    }
  }

  @Test
  void aSaturatedInvokerKeepsPollingAndStaysInItsGroup() throws Exception {
    // One call at a time, each taking 1 s, with max.poll.interval.ms at 1.5 s: if waiting for a free
    // slot blocked the poll loop, the consumer would drop out of its group and be assigned again.
    ScriptedModelServer server = ScriptedModelServer.start(req -> ScriptedReply
        .text("slow answer to " + req.lastUserText()).withDelay(Duration.ofSeconds(1)));
    ModelInvokerConfig config = ModelInvokerConfig.of(kafka.bootstrapServers(), "mock://topology-test", server.baseUrl(), "sk-e2e")
        .withGroupId("model-invoker-test-" + UUID.randomUUID())
        .withConcurrency(1);
    OpenAiModelClient real = new OpenAiModelClient(config, true);
    AtomicInteger inFlight = new AtomicInteger();
    AtomicInteger maxInFlight = new AtomicInteger();
    ModelClient counting = c -> {
      maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      try {
        return real.invoke(c);
      } finally {
        inFlight.decrementAndGet();
      }
    };
    Instant deadline = Instant.now().plus(Duration.ofMinutes(5));
    try (server; real; KafkaProducer<String, byte[]> producer = producer();
        TopicReader results = new TopicReader(Topics.MODEL_RESULTS.name())) {
      for (int i = 0; i < 4; i++) {
        producer.send(record(call(i, deadline), "trace-" + i));
      }
      producer.flush();
      try (ModelInvoker invoker = new ModelInvoker(config, counting,
          Map.of(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "1500"), Map.of()).start()) {
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(results.poll()).hasSize(4));
        assertThat(invoker.assignments()).as("never left the group").isEqualTo(1);
        // counted once the send is acknowledged, which a consumer may see the record before
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(invoker.answered()).isEqualTo(4));
      }
      assertThat(maxInFlight.get()).isEqualTo(1);
      assertThat(results.records.stream().map(r -> TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID)))
          .containsExactlyInAnyOrder("call-0", "call-1", "call-2", "call-3");
    }
  }
}
