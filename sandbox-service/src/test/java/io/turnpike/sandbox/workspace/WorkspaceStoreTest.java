package io.turnpike.sandbox.workspace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.WorkspaceRecord;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.registry.DevSchemaRegistry;
import io.turnpike.schema.TopicAdmin;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code turnpike.workspaces} holds {@link WorkspaceRecord}s in the Confluent wire format against an HTTP
 * registry, decodable by a client that knows nothing but the registry (as Kafka UI), and a snapshot read
 * back by another store restores the same workspace.
 */
class WorkspaceStoreTest {
  private static final int CHUNK = 1024;
  private static EmbeddedKafka kafka;
  private static DevSchemaRegistry registry;

  @TempDir
  Path tmp;

  @BeforeAll
  static void start() {
    kafka = EmbeddedKafka.start();
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      TopicAdmin.ensureTopics(admin, 3, (short) 1);
    }
    registry = DevSchemaRegistry.start(kafka.bootstrapServers());
  }

  @AfterAll
  static void stop() {
    if (registry != null) {
      registry.close();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  private static final SnapshotKey KEY = SnapshotKey.random();

  private WorkspaceStore store() {
    return new WorkspaceStore(kafka.bootstrapServers(), registry.url(), Map.of(), CHUNK, KEY);
  }

  @Test
  void recordsAreInTheWireFormatAndASnapshotRoundTrips() throws Exception {
    Workspace ws = new Workspace(tmp.resolve("ws"), null, null);
    byte[] blob = new byte[3 * CHUNK + 100]; // four chunks, the last one short
    new Random(7).nextBytes(blob);
    ws.write("data/blob.bin", blob, false);
    ws.write("run.sh", "echo hi\n".getBytes(StandardCharsets.UTF_8), true);
    ws.createDirectories("empty");
    Files.createSymbolicLink(ws.root().resolve("link"), Path.of("run.sh"));
    List<SnapshotManifest.RecordedResult> answers = List.of(
        new SnapshotManifest.RecordedResult("c1", "shell", "ok\n", false, 0, null, 12));

    SnapshotManifest written;
    try (WorkspaceStore store = store()) {
      written = store.snapshot("wire", "local", ws, null, new WorkspaceStore.FileCache(), answers, true);
    }
    assertThat(written.fileCount()).isEqualTo(2);
    assertThat(written.results()).singleElement().extracting(SnapshotManifest.RecordedResult::snapshotId).isEqualTo("wire@1");

    Set<String> keys = new HashSet<>();
    keys.add(WorkspaceStore.sessionKey("wire"));
    written.entries().stream().filter(SnapshotManifest.Entry::isFile)
        .forEach(e -> e.chunks().forEach(c -> keys.add("chunk:" + c.sha256())));
    assertThat(keys).hasSize(6); // the manifest, blob's four chunks, run.sh's one
    Map<String, GenericRecord> byKey = readAsAnOutsiderWould(keys);
    assertThat(byKey.keySet()).isEqualTo(keys);
    for (Map.Entry<String, GenericRecord> e : byKey.entrySet()) {
      GenericRecord entry = (GenericRecord) e.getValue().get("entry");
      if (e.getKey().startsWith("chunk:")) {
        assertThat(entry.getSchema().getName()).isEqualTo("WorkspaceChunk");
        ByteBuffer data = (ByteBuffer) entry.get("data");
        byte[] b = new byte[data.remaining()];
        data.get(b);
        assertThat("chunk:" + WorkspaceStore.sha256(b)).isEqualTo(e.getKey());
      } else {
        assertThat(entry.getSchema().getName()).isEqualTo("WorkspaceManifest");
        assertThat(entry.get("snapshotId").toString()).isEqualTo("wire@1");
      }
    }

    // a new store (no chunk locations known) finds the same manifest and restores the same workspace
    Workspace elsewhere = new Workspace(tmp.resolve("elsewhere"), null, null);
    try (WorkspaceStore fresh = store()) {
      SnapshotManifest read = fresh.latest("wire").orElseThrow();
      assertThat(read).isEqualTo(written);
      fresh.restore(fresh.plan(read, "wire", RestorePlan.Limits.DEFAULT), elsewhere, new WorkspaceStore.FileCache());
    }
    assertThat(Files.readAllBytes(elsewhere.root().resolve("data/blob.bin"))).isEqualTo(blob);
    assertThat(elsewhere.root().resolve("run.sh")).isExecutable();
    assertThat(Files.readString(elsewhere.root().resolve("run.sh"))).isEqualTo("echo hi\n");
    assertThat(Files.readSymbolicLink(elsewhere.root().resolve("link"))).isEqualTo(Path.of("run.sh"));
    assertThat(elsewhere.root().resolve("empty")).isDirectory();
  }

  @Test
  void recordsWrittenBeforeTheTopicHeldAvroAreAClearError() throws Exception {
    try (WorkspaceStore store = store();
         KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers()),
             new StringSerializer(), new ByteArraySerializer())) {
      // a JSON manifest and a raw chunk, as the sandbox service wrote them before
      String key = WorkspaceStore.sessionKey("legacy");
      byte[] json = new ObjectMapper().writeValueAsBytes(Map.of("format", 1, "sessionId", "legacy", "entries", List.of()));
      producer.send(new ProducerRecord<>(WorkspaceStore.TOPIC, store.partitionOf(key), key, json)).get();
      byte[] raw = "raw chunk bytes\n".getBytes(StandardCharsets.UTF_8);
      String sha = WorkspaceStore.sha256(raw);
      RecordMetadata md = producer.send(new ProducerRecord<>(WorkspaceStore.TOPIC, store.partitionOf("chunk:" + sha),
          "chunk:" + sha, raw)).get();

      assertThatThrownBy(() -> store.latest("legacy"))
          .isInstanceOf(WorkspaceStore.UnreadableRecordException.class)
          .hasMessageContaining("session:legacy")
          .hasMessageContaining("not a readable WorkspaceRecord")
          .hasMessageContaining("not the Confluent wire format");
      assertThatThrownBy(() -> store.readChunks(List.of(new SnapshotManifest.ChunkRef(sha, raw.length, md.partition(), md.offset()))))
          .isInstanceOf(WorkspaceStore.UnreadableRecordException.class)
          .hasMessageContaining("chunk:" + sha)
          .hasMessageContaining("not a readable WorkspaceRecord");
    }
  }

  /** The records with these keys, decoded with nothing but the registry's answer for their schema id. */
  private static Map<String, GenericRecord> readAsAnOutsiderWould(Set<String> keys) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    Map<Integer, Schema> schemas = new HashMap<>();
    Map<String, GenericRecord> byKey = new HashMap<>();
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(Map.of("bootstrap.servers", kafka.bootstrapServers()),
        new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = new ArrayList<>();
      c.partitionsFor(WorkspaceStore.TOPIC).forEach(p -> tps.add(new TopicPartition(p.topic(), p.partition())));
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(1)).until(() -> {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
          if (!keys.contains(r.key())) {
            continue; // another test's records
          }
          byte[] v = r.value();
          assertThat(v[0]).as("magic byte of %s", r.key()).isZero();
          int id = ByteBuffer.wrap(v, 1, 4).getInt();
          Schema schema = schemas.get(id);
          if (schema == null) {
            HttpResponse<String> res = http.send(HttpRequest.newBuilder(URI.create(registry.url() + "/schemas/ids/" + id)).build(),
                HttpResponse.BodyHandlers.ofString());
            assertThat(res.statusCode()).as("GET /schemas/ids/%d: %s", id, res.body()).isEqualTo(200);
            schema = new Schema.Parser().parse(new ObjectMapper().readTree(res.body()).get("schema").asText());
            schemas.put(id, schema);
          }
          assertThat(schema).isEqualTo(WorkspaceRecord.getClassSchema());
          GenericRecord rec = new GenericDatumReader<GenericRecord>(schema)
              .read(null, DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, null));
          byKey.put(r.key(), rec);
        }
        return tps.stream().allMatch(tp -> c.position(tp) >= end.get(tp));
      });
    }
    return byKey;
  }
}
