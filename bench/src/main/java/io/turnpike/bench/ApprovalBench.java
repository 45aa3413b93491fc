package io.turnpike.bench;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
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
 * Runs waiting for approval cost no heap: N runs are brought to INTERRUPTED, the heap (after GC) is
 * read at 10% and at 100% of them; then a sample is approved one at a time, timing approve-command
 * sent -> next model request received by the scripted model.
 *
 * <p>Usage: {@code ApprovalBench [runs=10000] [approveSample=200]}
 */
public final class ApprovalBench {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://bench");
  private static final Map<String, Long> SECOND_CALL_NANOS = new ConcurrentHashMap<>();

  private ApprovalBench() {}

  public static void main(String[] args) throws Exception {
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    int sample = args.length > 1 ? Integer.parseInt(args[1]) : 200;
    System.out.printf("ApprovalBench: %d runs waiting for approval, %d approvals timed; %s; %d cores; -Xmx %d MiB%n",
        runs, sample, Runtime.version(), Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20);
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
         ScriptedModelServer model = ScriptedModelServer.start(ApprovalBench::reply).recordLimit(0)) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        TopicAdmin.ensureTopics(admin, 6, (short) 1);
      }
      try (KafkaProducer<String, byte[]> producer = producer(kafka.bootstrapServers())) {
        AgentDefinition agent = AgentDefinition.newBuilder().setName("careful").setVersion(1).setModel("scripted")
            .setTools(List.of(ToolSpec.newBuilder().setName("deploy").setNeedsApproval(true).build())).setMaxTurns(5).build();
        producer.send(new ProducerRecord<>(Topics.AGENTS.name(), "careful", SERDES.agentDefinition().encode(agent))).get();
        try (RunnerService runner = RunnerService.start(Settings.of(Map.of(
                "turnpike.schema.registry.url", "mock://bench", "turnpike.bootstrap.servers", kafka.bootstrapServers(),
                "turnpike.model.base-url", model.baseUrl(),
                "turnpike.model.api-key", "bench",
                "turnpike.runner.state-dir", Files.createTempDirectory("approval-bench").toString())));
             ToolWorker worker = ToolWorker.builder(kafka.bootstrapServers(), "mock://bench").tool("deploy", inv -> "deployed").build().start();
             Watcher watcher = new Watcher(kafka.bootstrapServers())) {
          long heapStart = heapAfterGc();
          long t0 = System.nanoTime();
          long heapAtTenth = 0;
          for (int i = 0; i < runs; i++) {
            String runId = "wait-" + i;
            RunRequest req = RunRequest.newBuilder().setRunId(runId).setAgent("careful").setInput(runId)
                .setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
            producer.send(new ProducerRecord<>(Topics.RUN_REQUESTS.name(), runId, SERDES.runRequest().encode(req)));
            if (i + 1 == runs / 10) {
              producer.flush();
              waitFor(watcher, runs / 10);
              heapAtTenth = heapAfterGc();
              System.out.printf("  %6d runs INTERRUPTED: heap after GC %4d MiB%n", runs / 10, heapAtTenth >> 20);
            }
          }
          producer.flush();
          waitFor(watcher, runs);
          double secs = (System.nanoTime() - t0) / 1e9;
          long heapAll = heapAfterGc();
          System.out.printf("  %6d runs INTERRUPTED: heap after GC %4d MiB  (start %d MiB; %.1f s to interrupt them all, %.0f runs/s)%n",
              runs, heapAll >> 20, heapStart >> 20, secs, runs / secs);
          System.out.printf("  heap growth from %d to %d waiting runs: %+d MiB (%.1f KiB per extra waiting run)%n",
              runs / 10, runs, (heapAll - heapAtTenth) >> 20, (heapAll - heapAtTenth) / 1024.0 / (runs - runs / 10));

          List<Double> ms = new ArrayList<>();
          for (int i = 0; i < sample; i++) {
            String runId = "wait-" + (i * (runs / sample));
            RunCommand cmd = RunCommand.newBuilder().setRunId(runId).setCommandId("a" + i).setType(RunCommandType.APPROVE)
                .setCallId(runId + ":t1.1").setIssuedAt(Instant.now()).build();
            long sent = System.nanoTime();
            producer.send(new ProducerRecord<>(Topics.RUN_COMMANDS.name(), runId, SERDES.runCommand().encode(cmd))).get();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (!SECOND_CALL_NANOS.containsKey(runId)) {
              if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no model call after approving " + runId);
              }
              Thread.onSpinWait();
            }
            ms.add((SECOND_CALL_NANOS.get(runId) - sent) / 1e6);
          }
          ms.sort(null);
          System.out.printf("  approve -> next model call: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms (n=%d)%n",
              ms.get(ms.size() / 2), ms.get((int) (ms.size() * 0.9)), ms.get(Math.min(ms.size() - 1, (int) (ms.size() * 0.99))), ms.size());
        }
      }
    }
    System.exit(0);
  }

  private static ScriptedReply reply(ModelRequestView req) {
    if (req.turn() == 0) {
      return ScriptedReply.toolCall("deploy", "{}");
    }
    SECOND_CALL_NANOS.putIfAbsent(req.firstUserText(), System.nanoTime());
    return ScriptedReply.text("deployed");
  }

  private static void waitFor(Watcher w, int n) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
    while (w.interrupted.get() < n) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("only " + w.interrupted.get() + " of " + n + " runs interrupted");
      }
      Thread.sleep(50); // a benchmark's own pacing, not a test wait
    }
  }

  private static long heapAfterGc() {
    MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return mem.getHeapMemoryUsage().getUsed();
  }

  private static KafkaProducer<String, byte[]> producer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  /** Counts interim INTERRUPTED results. */
  static final class Watcher implements AutoCloseable {
    final AtomicInteger interrupted = new AtomicInteger();
    private volatile boolean running = true;
    private final Thread thread;

    Watcher(String bootstrap) {
      Properties p = new Properties();
      p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
      List<TopicPartition> parts = c.partitionsFor(Topics.RUN_RESULTS.name()).stream()
          .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
      c.assign(parts);
      c.seekToBeginning(parts);
      thread = Thread.ofPlatform().daemon().start(() -> {
        try (c) {
          while (running) {
            c.poll(Duration.ofMillis(100)).forEach(r -> {
              RunResult res = SERDES.runResult().decode(r.value());
              if (res.getStatus() == RunStatus.INTERRUPTED) {
                interrupted.incrementAndGet();
              }
            });
          }
        }
      });
    }

    @Override
    public void close() throws InterruptedException {
      running = false;
      thread.join(2000);
    }
  }
}
