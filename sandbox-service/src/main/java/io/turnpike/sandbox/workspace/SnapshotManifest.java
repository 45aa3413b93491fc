package io.turnpike.sandbox.workspace;

import io.turnpike.avro.WorkspaceChunkRef;
import io.turnpike.avro.WorkspaceEntry;
import io.turnpike.avro.WorkspaceEntryType;
import io.turnpike.avro.WorkspaceManifest;
import io.turnpike.avro.WorkspaceRecordedResult;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * What one workspace snapshot holds: every file, directory and symbolic link of the workspace, the
 * content of files as references to content-addressed chunks ({@code chunk:<sha256>} records on
 * {@code turnpike.workspaces}, with the partition and offset where they were written), and the
 * results of the session's latest mutating commands (so a redelivered command is answered, not run
 * again). Stored as the {@link WorkspaceManifest} branch of a {@code WorkspaceRecord} under the key
 * {@code session:<sessionId>}; compaction keeps the latest. {@code tag} (hex) is the HMAC of everything
 * else with the sandbox services' {@link SnapshotKey}: a manifest is restored only when it verifies.
 */
public record SnapshotManifest(String sessionId, long seq, String snapshotId, Instant createdAt,
    String backend, List<Entry> entries, List<RecordedResult> results, String tag) {

  /** An untagged manifest (tag it with {@link #taggedWith}). */
  public SnapshotManifest(String sessionId, long seq, String snapshotId, Instant createdAt, String backend,
      List<Entry> entries, List<RecordedResult> results) {
    this(sessionId, seq, snapshotId, createdAt, backend, entries, results, null);
  }

  /** This manifest with the tag {@code key} gives it. */
  public SnapshotManifest taggedWith(SnapshotKey key) {
    SnapshotManifest untagged = new SnapshotManifest(sessionId, seq, snapshotId, createdAt, backend, entries, results, null);
    return new SnapshotManifest(sessionId, seq, snapshotId, createdAt, backend, entries, results, key.tag(untagged));
  }

  /** A file ({@code type} file), directory (dir) or symbolic link (link, with its {@code target}). */
  public record Entry(String path, String type, long size, boolean executable, String target, List<ChunkRef> chunks) {
    public boolean isFile() {
      return "file".equals(type);
    }

    public boolean isDir() {
      return "dir".equals(type);
    }

    /** Same content and kind (chunk locations aside). */
    boolean sameAs(Entry o) {
      return o != null && path.equals(o.path) && type.equals(o.type) && size == o.size && executable == o.executable
          && Objects.equals(target, o.target) && Objects.equals(hashes(), o.hashes());
    }

    List<String> hashes() {
      return chunks == null ? List.of() : chunks.stream().map(ChunkRef::sha256).toList();
    }
  }

  /** One chunk: its SHA-256, length, and where it was written. */
  public record ChunkRef(String sha256, int size, int partition, long offset) {}

  /** The answer given to one command of the session. */
  public record RecordedResult(String callId, String tool, String output, boolean isError, Integer exitCode,
      String snapshotId, long durationMs) {}

  public long totalBytes() {
    return entries.stream().mapToLong(Entry::size).sum();
  }

  public long fileCount() {
    return entries.stream().filter(Entry::isFile).count();
  }

  public WorkspaceManifest toAvro() {
    return WorkspaceManifest.newBuilder().setSessionId(sessionId).setSeq(seq).setSnapshotId(snapshotId)
        .setCreatedAt(createdAt).setBackend(backend)
        .setEntries(entries.stream().map(e -> WorkspaceEntry.newBuilder().setPath(e.path())
            .setType(WorkspaceEntryType.valueOf(e.type().toUpperCase(Locale.ROOT))).setSize(e.size())
            .setExecutable(e.executable()).setTarget(e.target())
            .setChunks(e.chunks() == null ? List.of() : e.chunks().stream().map(c -> WorkspaceChunkRef.newBuilder()
                .setSha256(c.sha256()).setSize(c.size()).setPartition(c.partition()).setOffset(c.offset()).build()).toList())
            .build()).toList())
        .setResults(results.stream().map(r -> WorkspaceRecordedResult.newBuilder().setCallId(r.callId()).setTool(r.tool())
            .setOutput(r.output()).setIsError(r.isError()).setExitCode(r.exitCode()).setSnapshotId(r.snapshotId())
            .setDurationMs(r.durationMs()).build()).toList())
        .setTag(tag == null ? null : ByteBuffer.wrap(HexFormat.of().parseHex(tag)))
        .build();
  }

  public static SnapshotManifest fromAvro(WorkspaceManifest m) {
    List<Entry> entries = m.getEntries().stream().map(e -> {
      String type = e.getType().name().toLowerCase(Locale.ROOT);
      // non-files carry no chunk list, as when the snapshot was taken
      List<ChunkRef> chunks = e.getType() != WorkspaceEntryType.FILE ? null : e.getChunks().stream()
          .map(c -> new ChunkRef(c.getSha256(), c.getSize(), c.getPartition(), c.getOffset())).toList();
      return new Entry(e.getPath(), type, e.getSize(), e.getExecutable(), e.getTarget(), chunks);
    }).toList();
    List<RecordedResult> results = m.getResults().stream().map(r -> new RecordedResult(r.getCallId(), r.getTool(),
        r.getOutput(), r.getIsError(), r.getExitCode(), r.getSnapshotId(), r.getDurationMs())).toList();
    String tag = null;
    if (m.getTag() != null) {
      ByteBuffer b = m.getTag().duplicate();
      byte[] raw = new byte[b.remaining()];
      b.get(raw);
      tag = HexFormat.of().formatHex(raw);
    }
    return new SnapshotManifest(m.getSessionId(), m.getSeq(), m.getSnapshotId(), m.getCreatedAt(), m.getBackend(),
        entries, results, tag);
  }
}
