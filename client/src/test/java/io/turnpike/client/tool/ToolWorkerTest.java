package io.turnpike.client.tool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.client.testing.KafkaTestSupport;
import io.turnpike.client.testing.KafkaTestSupport.Collector;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ToolWorkerTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl(KafkaTestSupport.REGISTRY);
  static EmbeddedKafka kafka;
  static String bootstrap;
  static KafkaProducer<String, byte[]> producer;

  Collector results;
  ToolWorker worker;

  @BeforeAll
  static void startKafka() {
    kafka = EmbeddedKafka.start();
    bootstrap = kafka.bootstrapServers();
    KafkaTestSupport.createTopics(bootstrap);
    producer = KafkaTestSupport.producer(bootstrap);
  }

  @AfterAll
  static void stopKafka() {
    producer.close();
    kafka.close();
  }

  @BeforeEach
  void openResults() {
    results = new Collector(bootstrap, Topics.TOOL_RESULTS.name());
  }

  @AfterEach
  void closeAll() {
    if (worker != null) {
      worker.close();
    }
    results.close();
  }

  @Test
  void answersACallWithHeadersCopiedFromTheRequest() {
    String tool = unique("get_weather");
    worker = ToolWorker.serve(bootstrap, KafkaTestSupport.REGISTRY, tool,
        inv -> "{\"city\":\"" + inv.requireString("city") + "\",\"temp_c\":21,\"run\":\"" + inv.runId() + "\"}");
    assertThat(worker.groupId()).isEqualTo("turnpike-tools-" + tool);

    ToolCall call = call("run-1", tool, "{\"city\":\"Lisbon\"}", Instant.now().plusSeconds(60));
    produce(call, "0af7651916cd43dd8448eb211c80319c");

    ConsumerRecord<String, byte[]> r = awaitResults(call.getCallId(), 1).get(0);
    ToolResult res = decode(r);
    assertThat(r.key()).isEqualTo("run-1");
    assertThat(res.getOutput()).isEqualTo("{\"city\":\"Lisbon\",\"temp_c\":21,\"run\":\"run-1\"}");
    assertThat(res.getIsError()).isFalse();
    assertThat(res.getName()).isEqualTo(tool);
    assertThat(res.getWorker()).isNotBlank();
    assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TYPE)).isEqualTo("ToolResult");
    assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TRACE_ID)).isEqualTo("0af7651916cd43dd8448eb211c80319c");
    assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID)).isEqualTo(call.getCallId());
  }

  @Test
  void aThrowingHandlerAnswersAnErrorTheModelCanRead() {
    String tool = unique("flaky");
    worker = ToolWorker.serve(bootstrap, KafkaTestSupport.REGISTRY, tool, inv -> {
      throw new IllegalStateException("weather service down for " + inv.args().path("city").asText());
    });
    ToolCall call = call("run-2", tool, "{\"city\":\"Oslo\"}", Instant.now().plusSeconds(60));
    produce(call, null);
    ToolResult res = decode(awaitResults(call.getCallId(), 1).get(0));
    assertThat(res.getIsError()).isTrue();
    assertThat(res.getOutput()).isEqualTo("weather service down for Oslo");

    ToolCall badJson = call("run-2", tool, "{not json", Instant.now().plusSeconds(60));
    produce(badJson, null);
    ToolResult res2 = decode(awaitResults(badJson.getCallId(), 1).get(0));
    assertThat(res2.getIsError()).isTrue();
    assertThat(res2.getOutput()).startsWith("arguments of " + tool + " are not valid JSON");
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(worker.stats().failed()).isEqualTo(2));
  }

  @Test
  void callsForOtherToolsAreIgnoredAndExpiredCallsSkipped() {
    String tool = unique("mine");
    AtomicInteger runs = new AtomicInteger();
    worker = ToolWorker.serve(bootstrap, KafkaTestSupport.REGISTRY, tool, inv -> "ran " + runs.incrementAndGet());
    // Same key, so same partition: the first two are handled before the third.
    ToolCall other = call("run-3", unique("someone_elses"), "{}", Instant.now().plusSeconds(60));
    ToolCall expired = call("run-3", tool, "{}", Instant.now().minusSeconds(1));
    ToolCall mine = call("run-3", tool, "{}", Instant.now().plusSeconds(60));
    produce(other, null);
    produce(expired, null);
    produce(mine, null);

    assertThat(decode(awaitResults(mine.getCallId(), 1).get(0)).getOutput()).isEqualTo("ran 1");
    assertThat(results.matching(r -> callId(r).equals(other.getCallId()))).isEmpty();
    assertThat(results.matching(r -> callId(r).equals(expired.getCallId()))).isEmpty();
    assertThat(runs.get()).isEqualTo(1);
    assertThat(worker.stats().ignored()).isGreaterThanOrEqualTo(1);
    assertThat(worker.stats().expired()).isEqualTo(1);
  }

  @Test
  void aDuplicateCallIsAnsweredAgainWithTheSameOutputWithoutRunningTwice() {
    String tool = unique("dice");
    AtomicInteger runs = new AtomicInteger();
    worker = ToolWorker.serve(bootstrap, KafkaTestSupport.REGISTRY, tool, inv -> {
      runs.incrementAndGet();
      return UUID.randomUUID().toString();
    });
    ToolCall call = call("run-4", tool, "{}", Instant.now().plusSeconds(60));
    produce(call, null);
    produce(call, null);
    List<ConsumerRecord<String, byte[]>> both = awaitResults(call.getCallId(), 2);
    assertThat(decode(both.get(0)).getOutput()).isEqualTo(decode(both.get(1)).getOutput());
    assertThat(runs.get()).isEqualTo(1);
    assertThat(worker.stats().duplicates()).isEqualTo(1);

    // Later (after it finished), the same call again: still the cached answer.
    produce(call, null);
    List<ConsumerRecord<String, byte[]>> three = awaitResults(call.getCallId(), 3);
    assertThat(decode(three.get(2)).getOutput()).isEqualTo(decode(both.get(0)).getOutput());
    assertThat(runs.get()).isEqualTo(1);
  }

  @Test
  void concurrencyBoundsRunningHandlers() throws Exception {
    String tool = unique("slow");
    AtomicInteger running = new AtomicInteger();
    AtomicInteger maxRunning = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    worker = ToolWorker.builder(bootstrap, KafkaTestSupport.REGISTRY).tool(tool, inv -> {
      maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        release.await(30, TimeUnit.SECONDS);
      } finally {
        running.decrementAndGet();
      }
      return "done";
    }).concurrency(2).build().start();

    List<ToolCall> calls = new java.util.ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ToolCall c = call("run-5-" + i, tool, "{}", Instant.now().plusSeconds(60));
      calls.add(c);
      produce(c, null);
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> running.get() == 2);
    // It stays at two while the handlers block.
    await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(5)).until(() -> running.get() <= 2);
    release.countDown();
    for (ToolCall c : calls) {
      awaitResults(c.getCallId(), 1);
    }
    assertThat(maxRunning.get()).isEqualTo(2);
  }

  @Test
  void offsetsAreCommittedSoARestartedWorkerDoesNotRunCallsAgain() throws Exception {
    String tool = unique("once");
    AtomicInteger runs = new AtomicInteger();
    String group = "turnpike-tools-test-" + UUID.randomUUID();
    worker = ToolWorker.builder(bootstrap, KafkaTestSupport.REGISTRY).groupId(group).tool(tool, inv -> "run " + runs.incrementAndGet()).build().start();
    ToolCall a = call("run-6", tool, "{}", Instant.now().plusSeconds(60));
    ToolCall b = call("run-6", tool, "{}", Instant.now().plusSeconds(60));
    produce(a, null);
    produce(b, null);
    awaitResults(a.getCallId(), 1);
    awaitResults(b.getCallId(), 1);

    // Every partition that holds calls gets its offset committed up to the end (all records finished).
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      Map<TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> latest = new java.util.HashMap<>();
      for (int p = 0; p < 3; p++) {
        latest.put(new TopicPartition(Topics.TOOL_REQUESTS.name(), p), org.apache.kafka.clients.admin.OffsetSpec.latest());
      }
      var end = admin.listOffsets(latest).all().get();
      await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
        Map<TopicPartition, OffsetAndMetadata> committed =
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        end.forEach((tp, info) -> {
          if (info.offset() > 0) {
            assertThat(committed.get(tp)).as("commit of " + tp).isNotNull();
            assertThat(committed.get(tp).offset()).as("committed offset of " + tp).isEqualTo(info.offset());
          }
        });
      });
    }
    worker.close();

    // A new instance of the same group starts after the committed offsets: nothing runs again.
    AtomicInteger runsAfterRestart = new AtomicInteger();
    worker = ToolWorker.builder(bootstrap, KafkaTestSupport.REGISTRY).groupId(group).tool(tool, inv -> "again " + runsAfterRestart.incrementAndGet())
        .build().start();
    ToolCall c = call("run-6", tool, "{}", Instant.now().plusSeconds(60));
    produce(c, null);
    assertThat(decode(awaitResults(c.getCallId(), 1).get(0)).getOutput()).isEqualTo("again 1");
    assertThat(runsAfterRestart.get()).isEqualTo(1);
    assertThat(results.matching(r -> callId(r).equals(a.getCallId()))).hasSize(1);
  }

  @Test
  void undecodableRecordsGoToDeadLettersAndTheWorkerGoesOn() {
    String tool = unique("sturdy");
    worker = ToolWorker.serve(bootstrap, KafkaTestSupport.REGISTRY, tool, inv -> "fine");
    try (Collector dead = new Collector(bootstrap, Topics.DEAD_LETTERS.name())) {
      byte[] garbage = "definitely not avro".getBytes();
      ProducerRecord<String, byte[]> bad = new ProducerRecord<>(Topics.TOOL_REQUESTS.name(), "run-7", garbage);
      TurnpikeHeaders.put(bad.headers(), TurnpikeHeaders.TRACE_ID, "trace-7");
      KafkaTestSupport.send(producer, bad);
      ToolCall good = call("run-7", tool, "{}", Instant.now().plusSeconds(60));
      produce(good, null);
      assertThat(decode(awaitResults(good.getCallId(), 1).get(0)).getOutput()).isEqualTo("fine");

      List<ConsumerRecord<String, byte[]>> dl = await().atMost(Duration.ofSeconds(20))
          .until(() -> dead.matching(r -> "run-7".equals(r.key())), l -> !l.isEmpty());
      ConsumerRecord<String, byte[]> d = dl.get(0);
      assertThat(d.value()).isEqualTo(garbage);
      assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.TOOL_REQUESTS.name());
      assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_OFFSET)).isNotNull();
      assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_PARTITION)).isNotNull();
      assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_REASON)).contains("cannot decode ToolCall");
      assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_REASON)).contains(worker.groupId());
      assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.TRACE_ID)).isEqualTo("trace-7");
    }
  }

  @Test
  void builderRejectsBadInput() {
    assertThatThrownBy(() -> ToolWorker.builder(bootstrap, KafkaTestSupport.REGISTRY).tool("bad name", inv -> "")).hasMessageContaining("invalid tool name");
    assertThatThrownBy(() -> ToolWorker.builder(bootstrap, KafkaTestSupport.REGISTRY).tool("a", inv -> "").tool("a", inv -> ""))
        .hasMessageContaining("already served");
    assertThatThrownBy(() -> ToolWorker.builder(bootstrap, KafkaTestSupport.REGISTRY).build()).hasMessageContaining("at least one tool");
    assertThatThrownBy(() -> ToolWorker.builder(bootstrap, KafkaTestSupport.REGISTRY).concurrency(0)).hasMessageContaining("at least 1");
    assertThat(ToolWorker.defaultGroupId(List.of("b", "a"))).isEqualTo("turnpike-tools-a+b");
  }

  // ------------------------------------------------------------------------------------------

  private List<ConsumerRecord<String, byte[]>> awaitResults(String callId, int count) {
    return await().atMost(Duration.ofSeconds(30))
        .until(() -> results.matching(r -> callId.equals(callId(r))), l -> l.size() >= count);
  }

  private static String callId(ConsumerRecord<String, byte[]> r) {
    return String.valueOf(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID));
  }

  private static ToolResult decode(ConsumerRecord<String, byte[]> r) {
    return SERDES.toolResult().deserialize(r.topic(), r.value());
  }

  private static ToolCall call(String runId, String tool, String args, Instant deadline) {
    return ToolCall.newBuilder()
        .setRunId(runId)
        .setCallId(UUID.randomUUID().toString())
        .setAgent("test-agent")
        .setToolCallId("call_" + UUID.randomUUID().toString().substring(0, 8))
        .setName(tool)
        .setArguments(args)
        .setDeadline(deadline)
        .build();
  }

  private static void produce(ToolCall call, String traceId) {
    ProducerRecord<String, byte[]> r = new ProducerRecord<>(Topics.TOOL_REQUESTS.name(), call.getRunId(),
        SERDES.toolCall().serialize(Topics.TOOL_REQUESTS.name(), call));
    TurnpikeHeaders.put(r.headers(), TurnpikeHeaders.TYPE, "ToolCall");
    TurnpikeHeaders.put(r.headers(), TurnpikeHeaders.TRACE_ID, traceId);
    KafkaTestSupport.send(producer, r);
  }

  private static String unique(String base) {
    return base + "_" + UUID.randomUUID().toString().substring(0, 8);
  }
}
