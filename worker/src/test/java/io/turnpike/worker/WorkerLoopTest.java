package io.turnpike.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.registry.SchemaRegistryException;
import io.turnpike.telemetry.Telemetry;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The one worker loop against a real in-process Kafka broker, with a plain-text worker: a request
 * is {@code callId|body}, an answer {@code callId|answer}. Each test has its own topics and group.
 */
class WorkerLoopTest {
  static EmbeddedKafka kafka;
  static Admin admin;

  String requests;
  String results;
  final List<AutoCloseable> open = new ArrayList<>();

  @BeforeAll
  static void startKafka() {
    kafka = EmbeddedKafka.start();
    admin = Admin.create(kafka.clientProperties());
    kafka.createTopics(List.of(new NewTopic(Topics.DEAD_LETTERS.name(), 1, (short) 1)));
  }

  @AfterAll
  static void stopKafka() {
    admin.close();
    kafka.close();
  }

  @BeforeEach
  void topics(TestInfo info) {
    String name = info.getTestMethod().orElseThrow().getName();
    requests = "req-" + name;
    results = "res-" + name;
    NewTopic req = new NewTopic(requests, 3, (short) 1)
        .configs(Map.of("max.message.bytes", String.valueOf(8 * 1024 * 1024)));
    kafka.createTopics(List.of(req, new NewTopic(results, 3, (short) 1)));
  }

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable c : open.reversed()) {
      c.close();
    }
  }

  // --------------------------------------------------------------------------------- the worker

  record Req(String runId, String callId, String body) {}

  /** Plain text requests; {@code garbage...} cannot be decoded; {@code registry-down} fails transiently N times. */
  static final class TextWorker implements Worker<Req, String> {
    final AtomicInteger transientFailures = new AtomicInteger();

    @Override
    public Req decode(ConsumerRecord<String, byte[]> record) {
      String s = new String(record.value(), StandardCharsets.UTF_8);
      if (s.startsWith("registry-down") && transientFailures.getAndDecrement() > 0) {
        throw new SchemaRegistryException("registry unreachable", new java.net.ConnectException("refused"));
      }
      int bar = s.indexOf('|');
      if (bar < 0) {
        throw new IllegalArgumentException("not a request: no '|'");
      }
      return new Req(record.key(), s.substring(0, bar), s.substring(bar + 1));
    }

    @Override
    public String skip(Req request) {
      return request.body().equals("expired") ? "its deadline has passed" : null;
    }

    @Override
    public String key(Req request) {
      return request.runId();
    }

    @Override
    public String callId(Req request) {
      return request.callId();
    }

    @Override
    public byte[] encode(Req request, String answer) {
      if (answer.equals("unencodable")) {
        throw new IllegalStateException("cannot encode this");
      }
      return (request.callId() + "|" + answer).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String replacement(Req request, String answer, String problem) {
      return answer.endsWith("replacement too") ? answer : "error: " + problem; // a hopeless one stays too large
    }
  }

  WorkerLoop<Req, String> loop(String group, Admission<Req, String> admission, TextWorker worker) {
    return loop(WorkerOptions.of("test-worker", kafka.bootstrapServers(), group, requests, results, "TestAnswer")
        .withConsumer(Map.of(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000, ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1000)),
        admission, worker);
  }

  WorkerLoop<Req, String> loop(WorkerOptions options, Admission<Req, String> admission, TextWorker worker) {
    WorkerLoop<Req, String> loop = new WorkerLoop<>(options, worker, admission, Telemetry.noop("test"));
    open.add(loop);
    return loop.start();
  }

  static Admission<Req, String> echo(int limit) {
    return Admission.concurrent("echo", limit, job -> job.answer("done " + job.request().body()));
  }

  /** A run id that Kafka's default partitioner puts on another of the 3 partitions than {@code key}. */
  static String keyOnAnotherPartition(String key) {
    int p = BuiltInPartitioner.partitionForKey(key.getBytes(StandardCharsets.UTF_8), 3);
    for (int i = 0; ; i++) {
      String other = "run-" + i;
      if (BuiltInPartitioner.partitionForKey(other.getBytes(StandardCharsets.UTF_8), 3) != p) {
        return other;
      }
    }
  }

  void send(String key, String value) {
    send(key, value == null ? null : value.getBytes(StandardCharsets.UTF_8));
  }

  void send(String key, byte[] value) {
    Map<String, Object> p = new HashMap<>(kafka.clientProperties());
    p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 8 * 1024 * 1024);
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      ProducerRecord<String, byte[]> r = new ProducerRecord<>(requests, key, value);
      TurnpikeHeaders.put(r.headers(), TurnpikeHeaders.TRACE_ID, "trace-" + key);
      producer.send(r).get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Every record of a topic so far, read_committed, from the beginning. */
  static List<ConsumerRecord<String, byte[]>> read(String topic) {
    Map<String, Object> p = new HashMap<>(kafka.clientProperties());
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> parts = c.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList();
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts);
      List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
      long deadline = System.currentTimeMillis() + 10_000;
      while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp)) && System.currentTimeMillis() < deadline) {
        c.poll(Duration.ofMillis(100)).forEach(out::add);
      }
      return out;
    }
  }

  List<String> answers() {
    return read(results).stream().map(r -> new String(r.value(), StandardCharsets.UTF_8)).toList();
  }

  List<ConsumerRecord<String, byte[]>> deadLetters() {
    return read(Topics.DEAD_LETTERS.name()).stream()
        .filter(r -> requests.equals(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_TOPIC))).toList();
  }

  long committed(String group) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group)
        .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
    return offsets.values().stream().filter(o -> o != null).mapToLong(OffsetAndMetadata::offset).sum();
  }

  // --------------------------------------------------------------------------------------- tests

  @Test
  void answersEveryRequestWithTheRunsKeyAndHeadersAndCommitsAfterTheAnswer() throws Exception {
    WorkerLoop<Req, String> w = loop("g-answers", echo(4), new TextWorker());
    for (int i = 0; i < 30; i++) {
      send("run-" + i, "c" + i + "|hello " + i);
    }

    await().atMost(Duration.ofSeconds(30)).until(() -> answers().size() == 30);
    await().atMost(Duration.ofSeconds(10)).until(() -> committed("g-answers") == 30);
    ConsumerRecord<String, byte[]> one = read(results).stream().filter(r -> r.key().equals("run-7")).findFirst().orElseThrow();
    assertThat(new String(one.value(), StandardCharsets.UTF_8)).isEqualTo("c7|done hello 7");
    assertThat(TurnpikeHeaders.get(one.headers(), TurnpikeHeaders.TYPE)).isEqualTo("TestAnswer");
    assertThat(TurnpikeHeaders.get(one.headers(), TurnpikeHeaders.CALL_ID)).isEqualTo("c7");
    assertThat(TurnpikeHeaders.get(one.headers(), TurnpikeHeaders.TRACE_ID)).isEqualTo("trace-run-7");
    assertThat(w.stats().answered()).isEqualTo(30);
    assertThat(w.isJoined()).isTrue();

    // A new instance of the group after a clean stop redoes nothing.
    w.close();
    loop("g-answers", echo(4), new TextWorker());
    send("run-x", "cx|after restart");
    await().atMost(Duration.ofSeconds(30)).until(() -> answers().size() == 31);
    assertThat(answers()).filteredOn(a -> a.startsWith("c7|")).hasSize(1);
  }

  @Test
  void aBusyAdmissionPausesConsumptionAndKeepsEachKeysOrderWithoutRefusingWork() {
    // One job at a time per key, at most two keys at once: BUSY for a running key, FULL past two.
    Map<String, Boolean> running = new ConcurrentHashMap<>();
    List<String> order = new CopyOnWriteArrayList<>();
    CountDownLatch release = new CountDownLatch(1);
    Admission<Req, String> perKey = new Admission<>() {
      final Admission<Req, String> inner = Admission.concurrent("per-key", 8, job -> {
        order.add(job.request().callId());
        if (job.request().body().equals("slow")) {
          release.await(30, TimeUnit.SECONDS);
        }
        running.remove(job.key());
        job.answer("ok");
      });

      @Override
      public Verdict offer(Job<Req, String> job) {
        if (running.containsKey(job.key())) {
          return Verdict.BUSY;
        }
        if (running.size() >= 2) {
          return Verdict.FULL;
        }
        running.put(job.key(), true);
        return inner.offer(job);
      }

      @Override
      public int inFlight() {
        return inner.inFlight();
      }

      @Override
      public void drain(Duration grace) {
        inner.drain(grace);
      }
    };
    WorkerLoop<Req, String> w = loop("g-busy", perKey, new TextWorker());
    String runA = "run-a";
    String runB = keyOnAnotherPartition(runA);
    send(runA, "a1|slow");
    for (int i = 2; i <= 5; i++) {
      send(runA, "a" + i + "|fast");
    }
    for (int i = 1; i <= 5; i++) {
      send(runB, "b" + i + "|fast");
    }

    // run-a waits behind its slow first job; run-b (here on another partition) goes on meanwhile.
    await().atMost(Duration.ofSeconds(30)).until(() -> order.containsAll(List.of("b1", "b2", "b3", "b4", "b5")));
    assertThat(order).containsExactly("a1", "b1", "b2", "b3", "b4", "b5");
    // run-a's later jobs wait in the backlog, or in Kafka behind its paused partition: never refused.
    assertThat(w.stats().backlog()).isBetween(1, 4);
    release.countDown();
    await().atMost(Duration.ofSeconds(30)).until(() -> answers().size() == 10);
    assertThat(order.stream().filter(c -> c.startsWith("a")).toList()).containsExactly("a1", "a2", "a3", "a4", "a5");
  }

  @Test
  void badRecordsOfAnySizeGoToDeadLettersAndTheLoopGoesOn() throws Exception {
    WorkerLoop<Req, String> w = loop("g-dlq", echo(4), new TextWorker());
    byte[] huge = new byte[5 * 1024 * 1024];
    new Random(3).nextBytes(huge);
    huge[0] = 'x'; // no '|' anywhere near the start is not guaranteed: make it undecodable for sure
    for (int i = 0; i < huge.length; i++) {
      if (huge[i] == '|') {
        huge[i] = '-';
      }
    }
    send("run-1", "garbage without a bar");
    send("run-2", (byte[]) null);
    send("run-3", huge);
    send("run-4", "c4|fine");

    await().atMost(Duration.ofSeconds(30)).until(() -> deadLetters().size() == 3 && answers().size() == 1);
    Map<String, ConsumerRecord<String, byte[]>> byKey = new HashMap<>();
    deadLetters().forEach(r -> byKey.put(r.key(), r));
    assertThat(TurnpikeHeaders.get(byKey.get("run-1").headers(), TurnpikeHeaders.DLQ_REASON))
        .contains("cannot decode the record: not a request").contains("test-worker");
    assertThat(TurnpikeHeaders.get(byKey.get("run-2").headers(), TurnpikeHeaders.DLQ_REASON)).contains("no value");
    ConsumerRecord<String, byte[]> big = byKey.get("run-3");
    assertThat(big.value().length).isLessThan(1024 * 1024);
    assertThat(TurnpikeHeaders.get(big.headers(), TurnpikeHeaders.DLQ_TRUNCATED)).isEqualTo("true");
    assertThat(TurnpikeHeaders.get(big.headers(), TurnpikeHeaders.DLQ_ORIGINAL_SIZE)).isEqualTo(String.valueOf(huge.length));
    assertThat(TurnpikeHeaders.get(big.headers(), TurnpikeHeaders.DLQ_SHA256))
        .isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(huge)));
    assertThat(answers()).containsExactly("c4|done fine");
    await().atMost(Duration.ofSeconds(10)).until(() -> committed("g-dlq") == 4);
    assertThat(w.stats().deadLettered()).isEqualTo(3);
  }

  @Test
  void aRegistryOutageIsNotThePoisonOfTheRecord() {
    TextWorker worker = new TextWorker();
    worker.transientFailures.set(2);
    WorkerLoop<Req, String> w = loop("g-registry", echo(4), worker);
    send("run-1", "registry-down|c1");

    await().atMost(Duration.ofSeconds(30)).until(() -> answers().size() == 1);
    assertThat(worker.transientFailures.get()).isLessThanOrEqualTo(0);
    assertThat(deadLetters()).isEmpty();
    assertThat(w.stats().deadLettered()).isZero();
  }

  @Test
  void anAnswerTooLargeForTheResultsTopicIsReplacedOnceThenDropped() throws Exception {
    String big = "x".repeat(2 * 1024 * 1024);
    TextWorker worker = new TextWorker();
    WorkerLoop<Req, String> w = loop("g-large", Admission.concurrent("large", 4, job -> {
      switch (job.request().body()) {
        case "big" -> job.answer(big);
        case "unencodable" -> job.answer("unencodable");
        case "hopeless" -> job.answer(big + "replacement too"); // its replacement is as big
        default -> job.answer("small");
      }
    }), worker);
    send("run-1", "c1|big");
    send("run-2", "c2|unencodable");
    send("run-3", "c3|hopeless");
    send("run-4", "c4|ok");

    await().atMost(Duration.ofSeconds(30)).until(() -> answers().size() == 3);
    await().atMost(Duration.ofSeconds(10)).until(() -> committed("g-large") == 4);
    assertThat(answers()).anySatisfy(a -> assertThat(a).startsWith("c1|error: the answer (").contains("is larger than " + results))
        .anySatisfy(a -> assertThat(a).startsWith("c2|error: the answer could not be encoded: cannot encode this"))
        .contains("c4|small");
    assertThat(w.stats().replaced()).isEqualTo(2);
    assertThat(w.stats().dropped()).isEqualTo(1);
  }

  @Test
  void aHandlerThatThrowsOrSkipsDoesNotHoldThePartitionBack() throws Exception {
    WorkerLoop<Req, String> w = loop("g-throw", Admission.concurrent("throw", 2, job -> {
      if (job.request().body().equals("boom")) {
        throw new IllegalStateException("boom");
      }
      if (job.request().body().equals("nothing")) {
        return;
      }
      job.answer("ok");
    }), new TextWorker());
    send("run-1", "c1|boom");
    send("run-1", "c2|nothing");
    send("run-1", "c3|expired");
    send("run-1", "c4|fine");

    await().atMost(Duration.ofSeconds(30)).until(() -> answers().size() == 1);
    await().atMost(Duration.ofSeconds(10)).until(() -> committed("g-throw") == 4);
    assertThat(answers()).containsExactly("c4|ok");
    assertThat(w.stats().skipped()).isEqualTo(3);
  }

  @Test
  void closeLetsJobsInFlightAnswerAndCommitsThem() throws Exception {
    CountDownLatch started = new CountDownLatch(1);
    WorkerLoop<Req, String> w = loop(WorkerOptions.of("drain", kafka.bootstrapServers(), "g-drain", requests, results, "T")
        .withCloseTimeout(Duration.ofSeconds(20)), Admission.concurrent("drain", 4, job -> {
          started.countDown();
          TimeUnit.MILLISECONDS.sleep(1500); // the work itself takes this long: close must wait for it
          job.answer("finished late");
        }), new TextWorker());
    send("run-1", "c1|slow");
    assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();

    w.close();

    assertThat(answers()).containsExactly("c1|finished late");
    assertThat(committed("g-drain")).isEqualTo(1);
  }

  @Test
  void aSecondInstanceTakesOverTheGroupsPartitions() throws Exception {
    AtomicInteger byFirst = new AtomicInteger();
    AtomicInteger bySecond = new AtomicInteger();
    WorkerLoop<Req, String> first = loop("g-two", Admission.concurrent("one", 4, job -> {
      byFirst.incrementAndGet();
      job.answer("one");
    }), new TextWorker());
    WorkerLoop<Req, String> second = loop("g-two", Admission.concurrent("two", 4, job -> {
      bySecond.incrementAndGet();
      job.answer("two");
    }), new TextWorker());
    await().atMost(Duration.ofSeconds(30)).until(() -> first.isJoined() && second.isJoined());
    first.close();
    for (int i = 0; i < 12; i++) {
      send("run-" + i, "c" + i + "|after");
    }

    await().atMost(Duration.ofSeconds(30)).until(() -> answers().size() == 12);
    assertThat(bySecond.get()).isEqualTo(12);
    assertThat(byFirst.get()).isZero();
  }

  @Test
  void aLoopThatDiesSaysSoOnLivenessAndCallsTheFatalHandler() {
    AtomicReference<Throwable> fatal = new AtomicReference<>();
    Telemetry telemetry = Telemetry.noop("dies");
    open.add(telemetry);
    Admission<Req, String> broken = new Admission<>() {
      @Override
      public Verdict offer(Job<Req, String> job) {
        return Verdict.FULL;
      }

      @Override
      public void tick() {
        throw new IllegalStateException("the admission broke");
      }

      @Override
      public int inFlight() {
        return 0;
      }

      @Override
      public void drain(Duration grace) {}
    };
    WorkerLoop<Req, String> w = new WorkerLoop<>(WorkerOptions.of("dies", kafka.bootstrapServers(), "g-dies", requests,
        results, "T").withOnFatal(fatal::set), new TextWorker(), broken, telemetry);
    open.add(w);
    assertThat(telemetry.liveness().live()).isTrue();
    w.start();

    await().atMost(Duration.ofSeconds(30)).until(() -> fatal.get() != null);
    assertThat(fatal.get()).hasMessage("the admission broke");
    assertThat(w.isRunning()).isFalse();
    assertThat(w.failure()).isSameAs(fatal.get());
    assertThat(telemetry.liveness().live()).isFalse();
    assertThat(telemetry.readiness().ready()).isFalse();
  }
}
