package io.turnpike.sandbox;


import io.turnpike.avro.Manifest;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A real broker, the topics, and a way to send sandbox commands as the runner does and collect the
 * answers by callId.
 */
final class SandboxHarness implements AutoCloseable {
  /** The workspace snapshot key of every service these tests start: instances must share one to restore each other's snapshots. */
  static final String SNAPSHOT_KEY = "test-snapshot-key-0123456789abcdef0123456789";
  final EmbeddedKafka kafka;
  private final io.turnpike.devkit.registry.DevSchemaRegistry registry;
  private final String registryUrl;
  private final KafkaProducer<String, byte[]> producer;
  private final Thread collector;
  private volatile boolean running = true;
  final Map<String, List<SandboxResult>> results = new ConcurrentHashMap<>();
  final List<SandboxResult> order = new CopyOnWriteArrayList<>();
  private final Map<String, Manifest> manifests = new ConcurrentHashMap<>();
  private final AtomicInteger seq = new AtomicInteger();
  final List<SandboxService> services = new ArrayList<>();

  SandboxHarness() {
    kafka = EmbeddedKafka.start();
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      TopicAdmin.ensureTopics(admin, 3, (short) 1);
    }
    // an HTTP registry: the resume-elsewhere test runs a sandbox service in a child process
    registry = io.turnpike.devkit.registry.DevSchemaRegistry.start(kafka.bootstrapServers());
    registryUrl = registry.url();
    Properties pp = new Properties();
    pp.put("bootstrap.servers", kafka.bootstrapServers());
    pp.put("linger.ms", "0");
    producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
    Properties cp = new Properties();
    cp.put("bootstrap.servers", kafka.bootstrapServers());
    KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer());
    List<TopicPartition> tps = consumer.partitionsFor(Topics.SANDBOX_RESULTS.name()).stream()
        .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
    consumer.assign(tps);
    consumer.seekToBeginning(tps);
    collector = Thread.ofPlatform().daemon().name("harness-results").start(() -> {
      try (consumer) {
        while (running) {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(20))) {
            SandboxResult res = serdes().sandboxResult().decode(r.value());
            results.computeIfAbsent(res.getCallId(), k -> new CopyOnWriteArrayList<>()).add(res);
            order.add(res);
          }
        }
      }
    });
  }

  String bootstrap() {
    return kafka.bootstrapServers();
  }

  String registryUrl() {
    return registryUrl;
  }

  io.turnpike.schema.TurnpikeSerdes serdes() {
    return io.turnpike.schema.TurnpikeSerdes.forUrl(registryUrl);
  }

  /** Settings of a service on this broker, with its own workspace root and short timeouts. */
  Map<String, String> settings(String backend, Map<String, String> extra) throws Exception {
    Map<String, String> s = new HashMap<>();
    s.put("turnpike.bootstrap.servers", bootstrap());
    s.put("turnpike.schema.registry.url", registryUrl());
    s.put("turnpike.sandbox.backend", backend);
    Path root = Files.createTempDirectory("sandbox-root");
    // the per-session users of the local backend must be able to traverse it
    Files.setPosixFilePermissions(root, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
    s.put("turnpike.sandbox.root", root.toString());
    s.put("turnpike.kafka.session-timeout", "6s");
    s.put(io.turnpike.sandbox.workspace.SnapshotKey.KEY, SNAPSHOT_KEY);
    s.putAll(extra);
    return s;
  }

  SandboxService startService(String backend, Map<String, String> extra) throws Exception {
    SandboxService s = SandboxService.start(Settings.of(settings(backend, extra)));
    services.add(s);
    return s;
  }

  void manifest(String session, Manifest m) {
    manifests.put(session, m);
  }

  String send(String session, String tool, String args) {
    return send(session, tool, args, session + ":c" + seq.incrementAndGet());
  }

  String send(String session, String tool, String args, String callId) {
    SandboxCommand cmd = SandboxCommand.newBuilder().setRunId(session).setCallId(callId).setSessionId(session)
        .setAgent("test-agent").setTool(tool).setArguments(args).setManifest(manifests.get(session))
        .setDeadline(Instant.now().plus(Duration.ofMinutes(5))).build();
    RecordHeaders h = new RecordHeaders();
    TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, "SandboxCommand");
    TurnpikeHeaders.put(h, TurnpikeHeaders.TRACE_ID, UUID.randomUUID().toString());
    TurnpikeHeaders.put(h, TurnpikeHeaders.CALL_ID, callId);
    producer.send(new ProducerRecord<>(Topics.SANDBOX_REQUESTS.name(), null, session,
        serdes().sandboxCommand().encode(cmd), h));
    producer.flush();
    return callId;
  }

  void sendRaw(String key, byte[] value) {
    producer.send(new ProducerRecord<>(Topics.SANDBOX_REQUESTS.name(), key, value));
    producer.flush();
  }

  SandboxResult await(String callId, Duration atMost) {
    org.awaitility.Awaitility.await().atMost(atMost).pollInterval(Duration.ofMillis(5)).until(() -> !results.getOrDefault(callId, List.of()).isEmpty());
    return results.get(callId).get(0);
  }

  SandboxResult call(String session, String tool, String args) {
    return await(send(session, tool, args), Duration.ofSeconds(60));
  }

  static String json(Object... kv) {
    var n = io.turnpike.sandbox.workspace.WorkspaceStore.json().createObjectNode();
    for (int i = 0; i < kv.length; i += 2) {
      n.set((String) kv[i], io.turnpike.sandbox.workspace.WorkspaceStore.json().valueToTree(kv[i + 1]));
    }
    return n.toString();
  }

  static Path tempDir(String prefix) throws Exception {
    return Files.createTempDirectory(prefix);
  }

  @Override
  public void close() {
    services.forEach(SandboxService::close);
    running = false;
    try {
      collector.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    producer.close();
    registry.close();
    kafka.close();
  }
}
