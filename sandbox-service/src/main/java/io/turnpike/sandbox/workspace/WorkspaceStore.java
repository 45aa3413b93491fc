package io.turnpike.sandbox.workspace;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.WorkspaceChunk;
import io.turnpike.avro.WorkspaceManifest;
import io.turnpike.avro.WorkspaceRecord;
import io.turnpike.schema.AvroSerde;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.schema.registry.SchemaRegistryException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Workspace snapshots on the compacted topic {@code turnpike.workspaces}. Every value is a
 * {@link WorkspaceRecord} in the Confluent wire format (subject {@code turnpike.workspaces-value}), whose
 * {@code entry} is a {@link WorkspaceChunk} or a {@link WorkspaceManifest}.
 * <ul>
 *   <li>File contents are cut into chunks of at most {@code chunkBytes}, each written once under the
 *       key {@code chunk:<sha256>} (content-addressed: a chunk already written, by this session or
 *       another, is referred to, not written again).
 *   <li>A snapshot's {@link SnapshotManifest} is written under {@code session:<sessionId>} after its
 *       chunks are acknowledged, so a manifest never refers to a chunk that is not on Kafka.
 *   <li>Records go to the partition of their key (murmur2, as Kafka's default partitioner), so a reader
 *       knows where to look. The latest manifest of a session is found by reading its partition
 *       backwards from the end in growing windows; chunks are read at the offsets the manifest recorded
 *       (or later: compaction only ever drops an older copy of a key).
 *   <li>Unchanged files are not read again: a file whose size, modification time and inode match the
 *       previous snapshot, and whose modification is older than one second before that snapshot, keeps
 *       its chunks.
 * </ul>
 * Thread-safe. The reading side (a consumer without a group) is shared and serialised.
 */
public final class WorkspaceStore implements AutoCloseable {
  public static final String TOPIC = Topics.WORKSPACES.name();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration READ_TIMEOUT = Duration.ofSeconds(60);

  private final Properties base;
  private final int chunkBytes;
  private final AvroSerde<WorkspaceRecord> serde;
  private volatile KafkaProducer<String, byte[]> producer;
  private KafkaConsumer<String, byte[]> reader;
  private final Object readLock = new Object();
  private volatile int partitions = -1;
  /** Chunks known to be on Kafka: sha256 to {partition, offset}. */
  private final Map<String, long[]> knownChunks = new ConcurrentHashMap<>();
  /** Tags the manifests written and checks those restored; null for a reader (the CLI), which can do neither. */
  private final SnapshotKey key;
  private final AtomicLong refused = new AtomicLong();

  /** Per-file state between snapshots of one session, to skip hashing unchanged files. */
  public static final class FileCache {
    private final Map<String, Cached> files = new HashMap<>();

    record Cached(long size, long mtimeMs, Object fileKey, long statMs, List<SnapshotManifest.ChunkRef> chunks) {}
  }

  /** A record on the topic that is not a readable {@link WorkspaceRecord} of the kind its key says. */
  public static final class UnreadableRecordException extends IllegalStateException {
    UnreadableRecordException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** A reader: lists and reads snapshots (as {@code turnpike runs files} does), cannot write or restore them. */
  public WorkspaceStore(String bootstrapServers, String schemaRegistryUrl, Map<String, ?> overrides, int chunkBytes) {
    this(bootstrapServers, schemaRegistryUrl, overrides, chunkBytes, null);
  }

  /** A store that writes snapshots tagged with {@code key} and restores only those that verify with it. */
  public WorkspaceStore(String bootstrapServers, String schemaRegistryUrl, Map<String, ?> overrides, int chunkBytes,
      SnapshotKey key) {
    this.key = key;
    this.base = new Properties();
    base.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    base.putAll(overrides);
    this.chunkBytes = chunkBytes;
    this.serde = TurnpikeSerdes.forUrl(schemaRegistryUrl).workspaceRecord();
  }

  private KafkaProducer<String, byte[]> producer() {
    KafkaProducer<String, byte[]> p = producer;
    if (p == null) {
      synchronized (this) {
        if (producer == null) {
          Properties pp = new Properties();
          pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, base.get(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG));
          pp.put(ProducerConfig.CLIENT_ID_CONFIG, "turnpike-workspaces-producer");
          // Not idempotent on purpose: chunks are content-addressed and each manifest waits for the
          // previous one, so a duplicate or reordered chunk is harmless; an idempotent producer can get
          // stuck on OUT_OF_ORDER_SEQUENCE retries when a burst of chunks meets a leader change.
          pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
          pp.put(ProducerConfig.ACKS_CONFIG, "all");
          pp.put(ProducerConfig.LINGER_MS_CONFIG, "2");
          pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
          pp.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(Math.max(2 * 1024 * 1024, chunkBytes + 64 * 1024)));
          pp.put(ProducerConfig.BATCH_SIZE_CONFIG, String.valueOf(1024 * 1024));
          pp.put(ProducerConfig.BUFFER_MEMORY_CONFIG, String.valueOf(64L * 1024 * 1024));
          base.forEach((k, v) -> {
            if (!k.toString().startsWith("consumer.")) {
              pp.putIfAbsent(k, v);
            }
          });
          producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
        }
      }
      p = producer;
    }
    return p;
  }

  private KafkaConsumer<String, byte[]> reader() {
    if (reader == null) {
      Properties cp = new Properties();
      cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, base.get(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG));
      cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "turnpike-workspaces-reader-" + Integer.toHexString(System.identityHashCode(this)));
      cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      cp.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, String.valueOf(8 * 1024 * 1024));
      cp.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, String.valueOf(16 * 1024 * 1024));
      cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "2000");
      // reads stop at the end offset: never let the broker hold a fetch open at the end of a partition
      cp.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "5");
      reader = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer());
    }
    return reader;
  }

  private int partitions() {
    if (partitions < 0) {
      List<PartitionInfo> info;
      synchronized (readLock) {
        info = reader().partitionsFor(TOPIC, READ_TIMEOUT);
      }
      if (info == null || info.isEmpty()) {
        throw new IllegalStateException("the topic " + TOPIC + " does not exist (create the topics: turnpike topics create)");
      }
      partitions = info.size();
    }
    return partitions;
  }

  /** The partition of a key, as Kafka's default partitioner would choose it. */
  public int partitionOf(String key) {
    return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions();
  }

  public static String sessionKey(String sessionId) {
    return "session:" + sessionId;
  }

  // ------------------------------------------------------------------ writing

  /**
   * Takes a snapshot of {@code ws}. Returns {@code previous} unchanged (nothing written) when the
   * workspace is the same as in it and there is no new result to record.
   */
  public SnapshotManifest snapshot(String sessionId, String backend, Workspace ws, SnapshotManifest previous,
      FileCache cache, List<SnapshotManifest.RecordedResult> results, boolean forceWrite) throws IOException {
    long now = System.currentTimeMillis();
    List<SnapshotManifest.Entry> entries = new ArrayList<>();
    Map<String, FileCache.Cached> seen = new HashMap<>();
    Map<String, Future<RecordMetadata>> sending = new LinkedHashMap<>();
    if (key == null) {
      throw new IllegalStateException("a workspace store without a snapshot key cannot write snapshots");
    }
    // Links are recorded as links and never followed; FIFOs, sockets and devices are not part of a
    // workspace; a file's content is read from its folder's open handle (see Workspace).
    ws.walk((node, content) -> {
      switch (node.kind()) {
        case DIR -> entries.add(new SnapshotManifest.Entry(node.path(), "dir", 0, false, null, null));
        case LINK -> entries.add(new SnapshotManifest.Entry(node.path(), "link", 0, false, node.target(), null));
        case FILE -> {
          FileCache.Cached c = cache.files.get(node.path());
          List<SnapshotManifest.ChunkRef> chunks;
          if (c != null && c.size() == node.size() && c.mtimeMs() == node.modifiedMs()
              && java.util.Objects.equals(c.fileKey(), node.fileKey()) && node.modifiedMs() < c.statMs() - 1000) {
            chunks = c.chunks();
          } else {
            try {
              chunks = writeChunks(content, sending);
            } catch (io.turnpike.sandbox.ToolException e) {
              return; // changed into something else while walked: not snapshotted
            }
          }
          seen.put(node.path(), new FileCache.Cached(node.size(), node.modifiedMs(), node.fileKey(), now, chunks));
          entries.add(new SnapshotManifest.Entry(node.path(), "file", node.size(), node.executable(), null, chunks));
        }
        default -> { } // fifos, sockets, devices: not part of a workspace
      }
    });
    // Wait for the chunks, then fill in where they went.
    Map<String, long[]> written = new HashMap<>();
    for (Map.Entry<String, Future<RecordMetadata>> e : sending.entrySet()) {
      RecordMetadata md = await(e.getValue(), "chunk " + e.getKey());
      long[] loc = {md.partition(), md.offset()};
      written.put(e.getKey(), loc);
      knownChunks.put(e.getKey(), loc);
    }
    List<SnapshotManifest.Entry> resolved = new ArrayList<>(entries.size());
    for (SnapshotManifest.Entry e : entries) {
      if (e.isFile() && e.chunks().stream().anyMatch(c -> c.offset() < 0)) {
        List<SnapshotManifest.ChunkRef> refs = e.chunks().stream().map(c -> {
          if (c.offset() >= 0) {
            return c;
          }
          long[] loc = written.getOrDefault(c.sha256(), knownChunks.get(c.sha256()));
          return new SnapshotManifest.ChunkRef(c.sha256(), c.size(), (int) loc[0], loc[1]);
        }).toList();
        e = new SnapshotManifest.Entry(e.path(), e.type(), e.size(), e.executable(), e.target(), refs);
        FileCache.Cached c = seen.get(e.path());
        seen.put(e.path(), new FileCache.Cached(c.size(), c.mtimeMs(), c.fileKey(), c.statMs(), refs));
      }
      resolved.add(e);
    }
    resolved.sort(Comparator.comparing(SnapshotManifest.Entry::path));
    cache.files.clear();
    cache.files.putAll(seen);
    if (!forceWrite && previous != null && sameEntries(previous.entries(), resolved)) {
      return previous;
    }
    long seq = previous == null ? 1 : previous.seq() + 1;
    String snapshotId = sessionId + "@" + seq;
    List<SnapshotManifest.RecordedResult> recorded = results.stream()
        .map(r -> r.snapshotId() == null ? new SnapshotManifest.RecordedResult(r.callId(), r.tool(), r.output(), r.isError(),
            r.exitCode(), snapshotId, r.durationMs()) : r)
        .toList();
    // millisecond precision, as the Avro timestamp keeps it: the manifest returned equals the one read back
    SnapshotManifest m = new SnapshotManifest(sessionId, seq, snapshotId, Instant.now().truncatedTo(ChronoUnit.MILLIS),
        backend, resolved, recorded).taggedWith(key);
    String key = sessionKey(sessionId);
    RecordHeaders h = new RecordHeaders();
    TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, "WorkspaceManifest");
    byte[] value = encode(m.toAvro(), "manifest " + snapshotId);
    await(producer().send(new ProducerRecord<>(TOPIC, partitionOf(key), key, value, h)), "manifest " + snapshotId);
    return m;
  }

  private static boolean sameEntries(List<SnapshotManifest.Entry> a, List<SnapshotManifest.Entry> b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (int i = 0; i < a.size(); i++) {
      if (!a.get(i).sameAs(b.get(i))) {
        return false;
      }
    }
    return true;
  }

  /** Hashes a file chunk by chunk and sends the chunks not known to be on Kafka yet (offset -1 until acknowledged). */
  private List<SnapshotManifest.ChunkRef> writeChunks(Workspace.Content file, Map<String, Future<RecordMetadata>> sending)
      throws IOException {
    List<SnapshotManifest.ChunkRef> refs = new ArrayList<>();
    try (InputStream in = file.open()) {
      byte[] buf = new byte[chunkBytes];
      while (true) {
        int n = in.readNBytes(buf, 0, chunkBytes);
        if (n <= 0) {
          break;
        }
        byte[] chunk = n == chunkBytes ? buf.clone() : Arrays.copyOf(buf, n);
        String sha = sha256(chunk);
        long[] known = knownChunks.get(sha);
        if (known != null) {
          refs.add(new SnapshotManifest.ChunkRef(sha, n, (int) known[0], known[1]));
        } else {
          if (!sending.containsKey(sha)) {
            String key = "chunk:" + sha;
            RecordHeaders h = new RecordHeaders();
            TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, "WorkspaceChunk");
            byte[] value = encode(new WorkspaceChunk(ByteBuffer.wrap(chunk)), "chunk " + sha);
            sending.put(sha, producer().send(new ProducerRecord<>(TOPIC, partitionOf(key), key, value, h)));
          }
          refs.add(new SnapshotManifest.ChunkRef(sha, n, -1, -1));
        }
        if (n < chunkBytes) {
          break;
        }
      }
    }
    return refs;
  }

  private byte[] encode(Object entry, String what) throws IOException {
    try {
      return serde.serialize(TOPIC, new WorkspaceRecord(entry));
    } catch (SerializationException | SchemaRegistryException e) {
      throw new IOException("cannot encode the " + what + " for " + TOPIC + ": " + e.getMessage(), e);
    }
  }

  /** The record's entry, which must be of {@code kind}; anything else is a clear error naming the record. */
  private <T> T decode(ConsumerRecord<String, byte[]> r, Class<T> kind) {
    String where = "the record " + r.key() + " at " + r.topic() + "-" + r.partition() + "@" + r.offset();
    WorkspaceRecord rec;
    try {
      rec = serde.deserialize(TOPIC, r.value());
    } catch (RuntimeException e) {
      // most likely written before the topic held Avro (raw chunk bytes, JSON manifests): there is no
      // migration, so say so rather than fail somewhere deeper
      throw new UnreadableRecordException(where + " is not a readable WorkspaceRecord (written by an older Turnpike?): "
          + e.getMessage(), e);
    }
    if (!kind.isInstance(rec.getEntry())) {
      throw new UnreadableRecordException(where + " holds a " + rec.getEntry().getClass().getSimpleName() + ", not a "
          + kind.getSimpleName(), null);
    }
    return kind.cast(rec.getEntry());
  }

  private static byte[] bytes(ByteBuffer b) {
    if (b.hasArray() && b.arrayOffset() == 0 && b.position() == 0 && b.remaining() == b.array().length) {
      return b.array();
    }
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static RecordMetadata await(Future<RecordMetadata> f, String what) throws IOException {
    try {
      return f.get(READ_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while writing the " + what, e);
    } catch (ExecutionException | TimeoutException e) {
      Throwable c = e instanceof ExecutionException ? e.getCause() : e;
      throw new IOException("cannot write the " + what + " to " + TOPIC + ": " + c, c);
    }
  }

  public static String sha256(byte[] b) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  // ------------------------------------------------------------------ reading

  /** The latest snapshot manifest of a session, if it has one. */
  public Optional<SnapshotManifest> latest(String sessionId) {
    String key = sessionKey(sessionId);
    TopicPartition tp = new TopicPartition(TOPIC, partitionOf(key));
    synchronized (readLock) {
      KafkaConsumer<String, byte[]> c = reader();
      c.assign(List.of(tp));
      long begin = c.beginningOffsets(List.of(tp), READ_TIMEOUT).get(tp);
      long end = c.endOffsets(List.of(tp), READ_TIMEOUT).get(tp);
      long window = 16; // the latest manifest is usually among the last records
      long hi = end;
      while (hi > begin) {
        long lo = Math.max(begin, hi - window);
        c.seek(tp, lo);
        ConsumerRecord<String, byte[]> found = null;
        long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
        while (c.position(tp) < hi) {
          for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
            if (r.offset() < hi && key.equals(r.key())) {
              found = r;
            }
          }
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("timed out reading " + tp);
          }
        }
        if (found != null) {
          if (found.value() == null) {
            return Optional.empty(); // deleted
          }
          SnapshotManifest m = SnapshotManifest.fromAvro(decode(found, WorkspaceManifest.class));
          for (SnapshotManifest.Entry e : m.entries()) {
            if (e.chunks() != null) {
              e.chunks().forEach(ch -> knownChunks.putIfAbsent(ch.sha256(), new long[] {ch.partition(), ch.offset()}));
            }
          }
          return Optional.of(m);
        }
        hi = lo;
        window *= 4;
      }
      return Optional.empty();
    }
  }

  /** Reads the given chunks (by sha256) from where the manifest says they are, or later in the same partition. */
  public Map<String, byte[]> readChunks(List<SnapshotManifest.ChunkRef> refs) {
    Map<Integer, Map<String, Long>> byPartition = new HashMap<>();
    for (SnapshotManifest.ChunkRef r : refs) {
      byPartition.computeIfAbsent(r.partition(), k -> new HashMap<>()).merge(r.sha256(), r.offset(), Math::min);
    }
    Map<String, byte[]> out = new HashMap<>();
    synchronized (readLock) {
      KafkaConsumer<String, byte[]> c = reader();
      for (Map.Entry<Integer, Map<String, Long>> pe : byPartition.entrySet()) {
        TopicPartition tp = new TopicPartition(TOPIC, pe.getKey());
        Map<String, Long> wanted = new HashMap<>(pe.getValue());
        c.assign(List.of(tp));
        long end = c.endOffsets(List.of(tp), READ_TIMEOUT).get(tp);
        long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
        c.seek(tp, wanted.values().stream().min(Long::compare).orElse(0L));
        while (!wanted.isEmpty() && c.position(tp) < end) {
          for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
            String k = r.key();
            if (k != null && k.startsWith("chunk:") && r.value() != null) {
              String sha = k.substring(6);
              if (wanted.remove(sha) != null) {
                byte[] data = bytes(decode(r, WorkspaceChunk.class).getData());
                if (!sha.equals(sha256(data))) {
                  throw new IllegalStateException("chunk " + sha + " at " + tp + "@" + r.offset() + " is corrupt");
                }
                out.put(sha, data);
                knownChunks.putIfAbsent(sha, new long[] {r.partition(), r.offset()});
              }
            }
          }
          if (!wanted.isEmpty()) {
            long next = wanted.values().stream().min(Long::compare).get();
            if (next > c.position(tp) + 2000) {
              c.seek(tp, next); // skip what lies between
            }
          }
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("timed out reading chunks from " + tp);
          }
        }
        if (!wanted.isEmpty()) {
          throw new IllegalStateException(wanted.size() + " chunks of the snapshot are missing from " + tp + ", e.g. "
              + wanted.keySet().iterator().next());
        }
      }
    }
    return out;
  }

  /** The content of one file of a snapshot. */
  public byte[] readFile(SnapshotManifest.Entry e) {
    if (!e.isFile()) {
      throw new IllegalArgumentException(e.path() + " is not a file");
    }
    Map<String, byte[]> chunks = readChunks(e.chunks());
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (SnapshotManifest.ChunkRef r : e.chunks()) {
      out.writeBytes(chunks.get(r.sha256()));
    }
    if (out.size() != e.size()) {
      // the chunks are what their hashes say; the manifest is not (a reader does not check its tag)
      throw new IllegalStateException("the chunks of " + e.path() + " hold " + out.size() + " bytes, not the " + e.size()
          + " its manifest says");
    }
    return out.toByteArray();
  }

  /**
   * The restore plan of a session's manifest: its tag verified with this store's key, its entries
   * validated. A refusal is counted ({@link #refusedSnapshots}) and nothing is written.
   */
  public RestorePlan plan(SnapshotManifest m, String sessionId, RestorePlan.Limits limits) throws SnapshotRefusedException {
    try {
      return RestorePlan.check(m, key, sessionId, limits);
    } catch (SnapshotRefusedException e) {
      refused.incrementAndGet();
      throw e;
    }
  }

  /** Manifests refused by {@link #plan} since this store was made. */
  public long refusedSnapshots() {
    return refused.get();
  }

  /**
   * Makes {@code ws} hold exactly the checked snapshot: everything else in it is deleted. Every chunk
   * is read and checked (its SHA-256, its size) before the workspace is touched; then folders are made
   * (parents first), files written and links made last, each through the workspace's own writer, which
   * follows no link on the way. Links are restored as links only.
   */
  public void restore(RestorePlan plan, Workspace ws, FileCache cache) throws IOException {
    List<SnapshotManifest.ChunkRef> refs = new ArrayList<>();
    Set<String> shas = new HashSet<>();
    for (SnapshotManifest.Entry e : plan.files()) {
      for (SnapshotManifest.ChunkRef r : e.chunks()) {
        if (shas.add(r.sha256())) {
          refs.add(r);
        }
      }
    }
    Map<String, byte[]> chunks = readChunks(refs);
    for (SnapshotManifest.Entry e : plan.files()) {
      for (SnapshotManifest.ChunkRef r : e.chunks()) {
        if (chunks.get(r.sha256()).length != r.size()) {
          throw new IOException("the chunk " + r.sha256() + " of " + e.path() + " has " + chunks.get(r.sha256()).length
              + " bytes, not the " + r.size() + " its snapshot says");
        }
      }
    }
    ws.clear();
    long now = System.currentTimeMillis();
    cache.files.clear();
    for (SnapshotManifest.Entry e : plan.dirs()) {
      ws.createDirectoryExact(e.path());
    }
    // an old modification time, so the next snapshot may trust the cache
    FileTime old = FileTime.fromMillis(now - 10_000);
    for (SnapshotManifest.Entry e : plan.files()) {
      List<byte[]> content = e.chunks().stream().map(r -> chunks.get(r.sha256())).toList();
      Workspace.Node n = ws.writeExact(e.path(), content, e.executable(), old);
      cache.files.put(e.path(), new FileCache.Cached(n.size(), n.modifiedMs(), n.fileKey(), now, e.chunks()));
    }
    for (SnapshotManifest.Entry e : plan.links()) {
      ws.createLinkExact(e.path(), e.target());
    }
  }

  @Override
  public void close() {
    if (producer != null) {
      producer.close(Duration.ofSeconds(10));
    }
    synchronized (readLock) {
      if (reader != null) {
        reader.close(Duration.ofSeconds(5));
        reader = null;
      }
    }
  }

  public static ObjectMapper json() {
    return JSON;
  }
}
