package io.turnpike.bench;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.EventOffset;
import io.turnpike.avro.MemoryCandidate;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryGenerate;
import io.turnpike.avro.MemoryKind;
import io.turnpike.avro.MemoryProvenance;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.Usage;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.MemoryScript;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.Scripts;
import io.turnpike.memory.MemoryService;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The memory service's throughput and latency with an instant model (the scripted HTTP server's
 * {@link MemoryScript}), on an embedded broker, the service in the same JVM:
 *
 * <ol>
 *   <li>phase 1: N final RunStates of a writing agent written at once; runs (= candidates: one each) per
 *       second until the last MemoryCandidates record;
 *   <li>phase 2: M candidate batches over S scopes written at once, consolidated K at a time; candidates
 *       per second until every scope has taken all of its own;
 *   <li>latency: L runs one after another (consolidating after each), from the final RunState written
 *       (its RunFinished) to the MemoryDocument holding the run's line, p50 / p99;
 *   <li>the join at run start: the runner in the same JVM, RunRequest to the first model request, for an
 *       agent reading a 20-line memory and one without, alternating.
 * </ol>
 *
 * <p>Phase 1's runs are spread over 200 scopes that never consolidate, so phase 2 does no work during it.
 *
 * <p>Usage: {@code MemoryBench [runs=2000] [batches=4000] [scopes=20] [perConsolidation=10] [latencyRuns=200]}
 */
public final class MemoryBench {
  private static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://memory-bench");
  private static final MemorySerdes MEMORY = MemorySerdes.using(SERDES.registry());

  private MemoryBench() {}

  public static void main(String[] args) throws Exception {
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
    int batches = args.length > 1 ? Integer.parseInt(args[1]) : 4000;
    int scopes = args.length > 2 ? Integer.parseInt(args[2]) : 20;
    int per = args.length > 3 ? Integer.parseInt(args[3]) : 10;
    int latencyRuns = args.length > 4 ? Integer.parseInt(args[4]) : 200;
    System.out.printf("MemoryBench: %d runs (phase 1), %d candidates over %d scopes by %d (phase 2), %d timed runs; %s; %d cores%n",
        runs, batches, scopes, per, latencyRuns, Runtime.version(), Runtime.getRuntime().availableProcessors());
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
         ScriptedModelServer model = ScriptedModelServer.start(MemoryScript.around(Scripts.echo())).recordLimit(0)) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        TopicAdmin.ensureTopics(admin, 6, (short) 1);
      }
      Settings settings = Settings.of(Map.of(
          "turnpike.bootstrap.servers", kafka.bootstrapServers(),
          "turnpike.schema.registry.url", "mock://memory-bench",
          "turnpike.memory.model.base-url", model.baseUrl(),
          "turnpike.memory.model.api-key", "bench",
          "turnpike.memory.concurrency", "64",
          "turnpike.memory.state-dir", Files.createTempDirectory("memory-bench").toString()));
      Properties pp = new Properties();
      pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
      pp.put(ProducerConfig.LINGER_MS_CONFIG, 5);
      try (MemoryService service = MemoryService.start(settings);
           KafkaProducer<String, byte[]> producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
           Watch candidates = new Watch(kafka.bootstrapServers(), Topics.MEMORY_CANDIDATES.name());
           Watch documents = new Watch(kafka.bootstrapServers(), Topics.MEMORY.name())) {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!service.isReady() && System.nanoTime() < deadline) {
          Thread.sleep(100);
        }
        phaseOne(producer, candidates, runs);
        phaseTwo(producer, documents, batches, scopes, per);
        latency(producer, documents, latencyRuns);
        join(kafka.bootstrapServers(), producer, latencyRuns);
      }
    }
  }

  /** An agent consolidating exactly {@code consolidateAfter} candidates at a time. */
  static AgentDefinition agent(String name, int consolidateAfter) {
    return AgentDefinition.newBuilder().setName(name).setVersion(1).setModel("bench-model")
        .setMemory(MemoryConfig.newBuilder().setRead(true).setWrite(true).setGenerate(MemoryGenerate.newBuilder()
            .setConsolidateAfterCandidates(consolidateAfter).setMaxRawMemoriesForConsolidation(consolidateAfter)
            .build()).build())
        .build();
  }

  static byte[] finished(String runId, AgentDefinition agent, String input) {
    Instant now = Instant.now();
    RunState s = RunState.newBuilder().setRunId(runId).setStatus(RunStatus.COMPLETED).setAgent(agent).setInput(input)
        .setItems(List.of(MessageItem.newBuilder().setRole(Role.USER).setText(input).build(),
            MessageItem.newBuilder().setRole(Role.ASSISTANT).setText("noted").build()))
        .setUsage(Usage.newBuilder().build()).setCreatedAt(now).setUpdatedAt(now).setVersion(4).setFinalOutput("noted").build();
    return SERDES.runState().serialize(Topics.RUN_STATE.name(), s);
  }

  static void phaseOne(KafkaProducer<String, byte[]> producer, Watch candidates, int runs) throws Exception {
    // Spread over 200 agents (scopes) that never consolidate, so phase 2 does no work here.
    List<AgentDefinition> agents = new ArrayList<>();
    for (int a = 0; a < 200; a++) {
      agents.add(agent("bench-phase1-" + a, 100_000));
    }
    long t0 = System.nanoTime();
    for (int i = 0; i < runs; i++) {
      producer.send(new ProducerRecord<>(Topics.RUN_STATE.name(), "p1-" + i, finished("p1-" + i, agents.get(i % agents.size()),
          "Remember that fact number " + i + " holds")));
    }
    producer.flush();
    candidates.awaitCount(runs, Duration.ofMinutes(10));
    double s = (System.nanoTime() - t0) / 1e9;
    System.out.printf("phase 1: %d runs -> %d candidates in %.2f s: %.0f runs/s (= candidates/s)%n", runs, candidates.count(),
        s, runs / s);
  }

  static void phaseTwo(KafkaProducer<String, byte[]> producer, Watch documents, int batches, int scopes, int per)
      throws Exception {
    MemoryConfig config = agent("x", per).getMemory();
    int before = documents.count();
    long t0 = System.nanoTime();
    for (int i = 0; i < batches; i++) {
      String scope = "bench-p2-" + (i % scopes);
      String run = "p2-" + i;
      MemoryCandidate c = MemoryCandidate.newBuilder().setCandidateId(run + "@1#0").setScope(scope).setKind(MemoryKind.FACT)
          .setText("Fact " + i).setConfidence(0.9)
          .setProvenance(MemoryProvenance.newBuilder().setRunId(run).setTurn(1).setItems(List.of(0))
              .setEvents(List.of(new EventOffset(Topics.RUN_STATE.name(), 0, (long) i))).setModel("bench-model").setScripted(true).build())
          .setCreatedAt(Instant.now()).build();
      MemoryCandidates b = MemoryCandidates.newBuilder().setExtractionId(run + "@1").setScope(scope).setAgent(scope).setRunId(run)
          .setCandidates(List.of(c)).setConfig(config).setAgentModel("bench-model").setExtractedAt(Instant.now()).build();
      producer.send(new ProducerRecord<>(Topics.MEMORY_CANDIDATES.name(), scope, MEMORY.candidates().encode(b)));
    }
    producer.flush();
    int expectedDocs = batches / per; // every scope takes its candidates `per` at a time
    documents.awaitCount(before + expectedDocs, Duration.ofMinutes(10));
    double s = (System.nanoTime() - t0) / 1e9;
    System.out.printf("phase 2: %d candidates over %d scopes, %d consolidations of %d, in %.2f s: %.0f candidates/s, %.0f consolidations/s%n",
        batches, scopes, expectedDocs, per, s, batches / s, expectedDocs / s);
  }

  static void latency(KafkaProducer<String, byte[]> producer, Watch documents, int n) throws Exception {
    AgentDefinition agent = agent("bench-latency", 1);
    List<Double> ms = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String runId = "lat-" + i;
      long t0 = System.nanoTime();
      producer.send(new ProducerRecord<>(Topics.RUN_STATE.name(), runId, finished(runId, agent, "Remember that latency " + i
          + " is measured"))).get();
      documents.awaitRun(runId, Duration.ofSeconds(60));
      ms.add((System.nanoTime() - t0) / 1e6);
    }
    Collections.sort(ms);
    System.out.printf("RunFinished -> updated memory (consolidating after each run), %d runs one at a time: p50 %.1f ms  p99 %.1f ms  max %.1f ms%n",
        n, ms.get(n / 2), ms.get(Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)), ms.get(n - 1));
  }

  /**
   * What reading memory adds at run start: the runner in this JVM, the scripted model stamping the arrival
   * of each run's first model request; runs of an agent that reads a 20-line memory and of one without
   * memory, alternating, one at a time, from the RunRequest written to that first request.
   */
  static void join(String bootstrap, KafkaProducer<String, byte[]> producer, int n) throws Exception {
    Map<String, Long> firstCall = new ConcurrentHashMap<>();
    try (ScriptedModelServer model = ScriptedModelServer.start(req -> {
          String run = req.header("x-turnpike-run-id");
          if (run != null) {
            firstCall.putIfAbsent(run, System.nanoTime());
          }
          return io.turnpike.devkit.ScriptedReply.text("ok");
        }).recordLimit(0);
         io.turnpike.runner.RunnerService runner = io.turnpike.runner.RunnerService.start(Settings.of(Map.of(
             "turnpike.bootstrap.servers", bootstrap,
             "turnpike.schema.registry.url", "mock://memory-bench",
             "turnpike.model.base-url", model.baseUrl(),
             "turnpike.model.api-key", "bench",
             "turnpike.runner.state-dir", Files.createTempDirectory("memory-bench-runner").toString())))) {
      AgentDefinition with = AgentDefinition.newBuilder().setName("join-with").setVersion(1).setModel("bench-model")
          .setInstructions("You help.").setMemory(MemoryConfig.newBuilder().setRead(true).build()).build();
      AgentDefinition without = AgentDefinition.newBuilder().setName("join-without").setVersion(1).setModel("bench-model")
          .setInstructions("You help.").build();
      List<io.turnpike.avro.MemoryLine> lines = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        lines.add(io.turnpike.avro.MemoryLine.newBuilder().setId("L" + (i + 1)).setKind(MemoryKind.FACT)
            .setText("Remembered fact number " + i + " about the user and their trips").setSources(List.of("run-" + i))
            .setUpdatedAt(Instant.now()).build());
      }
      MemoryDocument doc = MemoryDocument.newBuilder().setScope("join-with").setAgent("join-with").setVersion(1).setLines(lines)
          .setUpdatedAt(Instant.now()).build();
      producer.send(new ProducerRecord<>(Topics.MEMORY.name(), "join-with", MEMORY.document().encode(doc))).get();
      for (AgentDefinition a : List.of(with, without)) {
        producer.send(new ProducerRecord<>(Topics.AGENTS.name(), a.getName(), SERDES.agentDefinition().encode(a))).get();
      }
      List<Double> withMs = new ArrayList<>();
      List<Double> withoutMs = new ArrayList<>();
      int warmUp = 20;
      for (int i = 0; i < warmUp + n; i++) {
        for (AgentDefinition a : List.of(with, without)) {
          String runId = "join-" + a.getName() + "-" + i;
          io.turnpike.avro.RunRequest req = io.turnpike.avro.RunRequest.newBuilder().setRunId(runId).setAgent(a.getName())
              .setInput("hello").setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
          long t0 = System.nanoTime();
          producer.send(new ProducerRecord<>(Topics.RUN_REQUESTS.name(), runId, SERDES.runRequest().encode(req))).get();
          long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
          while (!firstCall.containsKey(runId)) {
            if (System.nanoTime() > end) {
              throw new IllegalStateException("no model request for " + runId);
            }
            Thread.sleep(0, 200_000);
          }
          if (i >= warmUp) {
            (a == with ? withMs : withoutMs).add((firstCall.get(runId) - t0) / 1e6);
          }
        }
      }
      Collections.sort(withMs);
      Collections.sort(withoutMs);
      System.out.printf("run start -> first model request, %d runs each, alternating: with a 20-line memory p50 %.1f ms p99 %.1f ms;"
          + " without memory p50 %.1f ms p99 %.1f ms; added by the join: p50 %+.1f ms%n", n,
          withMs.get(n / 2), withMs.get(Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)),
          withoutMs.get(n / 2), withoutMs.get(Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)),
          withMs.get(n / 2) - withoutMs.get(n / 2));
    }
  }

  /** Counts a topic's records, and which runs the memory documents rest on. */
  static final class Watch implements AutoCloseable {
    private final KafkaConsumer<String, byte[]> consumer;
    private final Thread thread;
    private final AtomicInteger count = new AtomicInteger();
    private final Map<String, Boolean> runs = new ConcurrentHashMap<>();
    private final boolean documents;
    private volatile boolean running = true;

    Watch(String bootstrap, String topic) {
      documents = topic.equals(Topics.MEMORY.name());
      Properties p = new Properties();
      p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
      consumer.assign(consumer.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList());
      consumer.seekToBeginning(consumer.assignment());
      thread = Thread.ofPlatform().daemon().start(() -> {
        while (running) {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(20))) {
            count.incrementAndGet();
            if (documents) {
              MemoryDocument d = MEMORY.document().decode(r.value());
              d.getLines().forEach(l -> l.getSources().forEach(src -> runs.put(src, true)));
            }
          }
        }
        consumer.close();
      });
    }

    int count() {
      return count.get();
    }

    void awaitCount(int n, Duration max) throws InterruptedException {
      long end = System.nanoTime() + max.toNanos();
      while (count.get() < n) {
        if (System.nanoTime() > end) {
          throw new IllegalStateException("only " + count.get() + " of " + n + " records within " + max);
        }
        Thread.sleep(5);
      }
    }

    void awaitRun(String runId, Duration max) throws InterruptedException {
      long end = System.nanoTime() + max.toNanos();
      while (!runs.containsKey(runId)) {
        if (System.nanoTime() > end) {
          throw new IllegalStateException("no memory line of " + runId + " within " + max);
        }
        Thread.onSpinWait();
        Thread.sleep(0, 200_000);
      }
    }

    @Override
    public void close() throws InterruptedException {
      running = false;
      thread.join(5000);
    }
  }
}
