package io.turnpike.bench;

import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.sandbox.Limits;
import io.turnpike.sandbox.SandboxConfig;
import io.turnpike.sandbox.SandboxService;
import io.turnpike.sandbox.backend.Backend;
import io.turnpike.sandbox.backend.DockerBackend;
import io.turnpike.sandbox.backend.ExecRequest;
import io.turnpike.sandbox.backend.LocalBackend;
import io.turnpike.sandbox.workspace.RestorePlan;
import io.turnpike.sandbox.workspace.SnapshotKey;
import io.turnpike.sandbox.workspace.SnapshotManifest;
import io.turnpike.sandbox.workspace.Workspace;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Sandbox latencies (issue #3), on an embedded broker in this JVM:
 * <ol>
 *   <li>per command on a warm session, local and docker: the backend alone (one {@code sh -c true}),
 *       and through Kafka (SandboxCommand produced until SandboxResult consumed) for a read-only
 *       {@code read_file}, a {@code shell} that changes nothing, and a {@code write_file} (which
 *       snapshots);
 *   <li>session cold start: the first command of a new session, through Kafka;
 *   <li>snapshot and restore of a 10 MB, 1,000-file workspace (first snapshot, an incremental one
 *       after changing one file, and a restore into an empty folder by a new store).
 * </ol>
 * Usage: {@code SandboxBench [warm-commands=200] [cold-sessions=10] [snapshot-only]}. A backend that cannot run here is
 * reported as skipped.
 */
public final class SandboxBench {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://bench");
  private static final Map<String, CompletableFuture<SandboxResult>> waiting = new ConcurrentHashMap<>();

  public static void main(String[] args) throws Exception {
    int warm = args.length > 0 ? Integer.parseInt(args[0]) : 200;
    int cold = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    boolean snapshotOnly = args.length > 2 && args[2].equals("snapshot-only");
    System.out.printf("SandboxBench: %d warm commands, %d cold sessions; Java %s; %d cores%n", warm, cold,
        Runtime.version(), Runtime.getRuntime().availableProcessors());
    if (!snapshotOnly) {
      backendOnly(warm);
    }
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
        TopicAdmin.ensureTopics(admin, 6, (short) 1);
      }
      snapshotAndRestore(kafka.bootstrapServers(), "bench-warmup", 200, false); // JIT and client warm-up
      snapshotAndRestore(kafka.bootstrapServers(), "bench-snap", 1000, true);
      for (String backend : snapshotOnly ? List.<String>of() : List.of("local", "docker")) {
        throughKafka(kafka.bootstrapServers(), backend, warm, cold);
      }
      if (!snapshotOnly && System.getenv("BENCH_AGAIN") != null) {
        backendOnly(warm); // again, now with the broker and the cold sessions' containers around
      }
    }
    System.exit(0);
  }

  private static Path root(String prefix) throws Exception {
    Path root = Files.createTempDirectory(prefix);
    Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx--x--x"));
    return root;
  }

  private static void backendOnly(int n) throws Exception {
    Limits limits = new Limits(1, 10, 512, 128, 10_000, 32 * 1024, 100);
    List<Backend> backends = List.of(
        new LocalBackend(false, 300_000, root("bench-probe"), "auto"),
        new DockerBackend(SandboxConfig.DEFAULT_IMAGE, "1000:1000", "bench"));
    for (Backend b : backends) {
      if (b.unavailableReason() != null || b instanceof DockerBackend d && !d.hasImage(SandboxConfig.DEFAULT_IMAGE)) {
        System.out.printf("%-7s backend only: skipped (%s)%n", b.name(), b.unavailableReason() == null ? "no image" : b.unavailableReason());
        b.close();
        continue;
      }
      int[] owner = b.owner(0);
      Workspace ws = new Workspace(root("bench-ws").resolve("ws"), owner == null ? null : owner[0], owner == null ? null : owner[1]);
      try (Backend.BackendSession s = b.open("bench-" + b.name(), 0, ws, limits, Map.of(), null, false)) {
        long t0 = System.nanoTime();
        s.exec(new ExecRequest("true", 10_000, Map.of(), limits));
        long first = System.nanoTime() - t0;
        long[] t = new long[n];
        for (int i = 0; i < n; i++) {
          long a = System.nanoTime();
          if (s.exec(new ExecRequest("true", 10_000, Map.of(), limits)).exitCode() != 0) {
            throw new IllegalStateException("the command failed");
          }
          t[i] = System.nanoTime() - a;
        }
        System.out.printf("%-7s backend only  sh -c true     %s   (first command of the session %.1f ms)%n", b.name(), stats(t),
            first / 1e6);
      }
      b.close();
    }
  }

  private static void throughKafka(String bootstrap, String backend, int warm, int cold) throws Exception {
    try (SandboxService service = SandboxService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", "mock://bench", "turnpike.bootstrap.servers", bootstrap,
        "turnpike.sandbox.backend", backend,
        "turnpike.sandbox.group-id", "bench-" + backend,
        "turnpike.sandbox.max-sessions", "64",
        "turnpike.sandbox.root", root("bench-" + backend).toString())));
         Client client = new Client(bootstrap)) {
      // warm up group join and the session
      SandboxResult probe = client.call("warm-" + backend, "shell", "{\"command\":\"true\"}");
      if (probe.getIsError()) {
        System.out.printf("%-7s through Kafka: skipped (%s)%n", backend, probe.getOutput());
        return;
      }
      client.call("warm-" + backend, "write_file", "{\"path\":\"a.txt\",\"content\":\"hello\\n\"}");
      for (int i = 0; i < 20; i++) {
        client.call("warm-" + backend, "read_file", "{\"path\":\"a.txt\"}");
      }
      for (String[] c : List.of(
          new String[] {"read_file", "{\"path\":\"a.txt\"}"},
          new String[] {"shell", "{\"command\":\"cat a.txt\"}"},
          new String[] {"write_file", null})) {
        long[] t = new long[warm];
        for (int i = 0; i < warm; i++) {
          String a = c[1] != null ? c[1] : "{\"path\":\"w.txt\",\"content\":\"version " + i + "\\n\"}";
          long s = System.nanoTime();
          SandboxResult r = client.call("warm-" + backend, c[0], a);
          t[i] = System.nanoTime() - s;
          if (r.getIsError()) {
            throw new IllegalStateException(c[0] + " failed: " + r.getOutput());
          }
        }
        System.out.printf("%-7s via Kafka    %-14s %s%n", backend, c[0], stats(t));
      }
      long[] t = new long[cold];
      for (int i = 0; i < cold; i++) {
        long s = System.nanoTime();
        SandboxResult r = client.call("cold-" + backend + "-" + i + "-" + System.nanoTime(), "shell", "{\"command\":\"true\"}");
        t[i] = System.nanoTime() - s;
        if (r.getIsError()) {
          throw new IllegalStateException("cold start failed: " + r.getOutput());
        }
      }
      System.out.printf("%-7s cold start   first shell    %s%n", backend, stats(t));
    }
  }

  private static void snapshotAndRestore(String bootstrap, String session, int count, boolean print) throws Exception {
    Workspace ws = new Workspace(root(session).resolve("ws"), null, null);
    Random rnd = new Random(42);
    for (int i = 0; i < count; i++) {
      byte[] b = new byte[10 * 1024];
      rnd.nextBytes(b);
      ws.write("d" + (i % 20) + "/f" + i + ".bin", b, false);
    }
    // files modified within a second of a snapshot are rehashed at the next one ("racy" files): let
    // the workspace age first, as a real one has between commands
    Thread.sleep(1100);
    SnapshotKey key = SnapshotKey.random();
    try (WorkspaceStore store = new WorkspaceStore(bootstrap, "mock://bench", Map.of(), 1024 * 1024, key)) {
      WorkspaceStore.FileCache cache = new WorkspaceStore.FileCache();
      long t0 = System.nanoTime();
      SnapshotManifest first = store.snapshot(session, "local", ws, null, cache, List.of(), true);
      long firstMs = (System.nanoTime() - t0) / 1_000_000;
      byte[] b = new byte[10 * 1024];
      rnd.nextBytes(b);
      ws.write("d0/f0.bin", b, false);
      t0 = System.nanoTime();
      SnapshotManifest second = store.snapshot(session, "local", ws, first, cache, List.of(), false);
      long incrMs = (System.nanoTime() - t0) / 1_000_000;
      t0 = System.nanoTime();
      SnapshotManifest none = store.snapshot(session, "local", ws, second, cache, List.of(), false);
      long unchangedMs = (System.nanoTime() - t0) / 1_000_000;
      if (none != second) {
        throw new IllegalStateException("an unchanged workspace was snapshotted again");
      }
      if (print) System.out.printf("snapshot 1,000 files / %.1f MB: first %d ms, after changing one file %d ms, unchanged %d ms "
          + "(manifest %s)%n", first.totalBytes() / 1e6, firstMs, incrMs, unchangedMs, second.snapshotId());
    }
    Path original = ws.root();
    try (WorkspaceStore fresh = new WorkspaceStore(bootstrap, "mock://bench", Map.of(), 1024 * 1024, key)) {
      Workspace target = new Workspace(root("bench-restore").resolve("ws"), null, null);
      long t0 = System.nanoTime();
      SnapshotManifest latest = fresh.latest(session).orElseThrow();
      long lookupMs = (System.nanoTime() - t0) / 1_000_000;
      fresh.restore(fresh.plan(latest, session, RestorePlan.Limits.DEFAULT), target, new WorkspaceStore.FileCache());
      long totalMs = (System.nanoTime() - t0) / 1_000_000;
      long files;
      try (var s = Files.walk(target.root())) {
        files = s.filter(Files::isRegularFile).count();
      }
      if (files != count || !Arrays.equals(Files.readAllBytes(target.root().resolve("d0/f0.bin")),
          Files.readAllBytes(original.resolve("d0/f0.bin")))) {
        throw new IllegalStateException("restore incomplete: " + files + " files");
      }
      if (print) System.out.printf("restore 1,000 files / %.1f MB into an empty folder by a new instance: %d ms (manifest lookup %d ms)%n",
          latest.totalBytes() / 1e6, totalMs, lookupMs);
    }
  }

  private static String stats(long[] nanos) {
    long[] s = nanos.clone();
    Arrays.sort(s);
    return String.format("n=%d  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  max %6.2f ms", s.length, s[s.length / 2] / 1e6,
        s[(int) (s.length * 0.9)] / 1e6, s[Math.min(s.length - 1, (int) (s.length * 0.99))] / 1e6, s[s.length - 1] / 1e6);
  }

  /** Sends commands as the runner does and waits for their results. */
  static final class Client implements AutoCloseable {
    private final KafkaProducer<String, byte[]> producer;
    private final Thread reader;
    private volatile boolean running = true;
    private int seq;

    Client(String bootstrap) {
      Properties pp = new Properties();
      pp.put("bootstrap.servers", bootstrap);
      pp.put("linger.ms", "0");
      producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
      Properties cp = new Properties();
      cp.put("bootstrap.servers", bootstrap);
      cp.put("fetch.max.wait.ms", "5");
      KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer());
      List<TopicPartition> tps = c.partitionsFor(Topics.SANDBOX_RESULTS.name()).stream()
          .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
      c.assign(tps);
      c.seekToEnd(tps);
      tps.forEach(c::position);
      reader = Thread.ofPlatform().daemon().start(() -> {
        try (c) {
          while (running) {
            for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(10))) {
              SandboxResult res = SERDES.sandboxResult().decode(r.value());
              CompletableFuture<SandboxResult> f = waiting.remove(res.getCallId());
              if (f != null) {
                f.complete(res);
              }
            }
          }
        }
      });
    }

    SandboxResult call(String session, String tool, String args) throws Exception {
      String callId = session + ":b" + (++seq);
      CompletableFuture<SandboxResult> f = new CompletableFuture<>();
      waiting.put(callId, f);
      SandboxCommand cmd = SandboxCommand.newBuilder().setRunId(session).setCallId(callId).setSessionId(session)
          .setAgent("bench").setTool(tool).setArguments(args).setDeadline(Instant.now().plusSeconds(120)).build();
      producer.send(new ProducerRecord<>(Topics.SANDBOX_REQUESTS.name(), session, SERDES.sandboxCommand().encode(cmd)));
      return f.get(120, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
      running = false;
      producer.close();
    }
  }
}
