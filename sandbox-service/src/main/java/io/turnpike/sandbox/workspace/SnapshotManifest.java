package io.turnpike.sandbox.workspace;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Objects;

/**
 * What one workspace snapshot holds: every file, directory and symbolic link of the workspace, the
 * content of files as references to content-addressed chunks ({@code chunk:<sha256>} records on
 * {@code turnpike.workspaces}, with the partition and offset where they were written), and the
 * results of the session's latest mutating commands (so a redelivered command is answered, not run
 * again). Stored as JSON under the key {@code session:<sessionId>}; compaction keeps the latest.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record SnapshotManifest(int format, String sessionId, long seq, String snapshotId, String createdAt,
    String backend, List<Entry> entries, List<RecordedResult> results) {

  public static final int FORMAT = 1;

  /** A file ({@code type} file), directory (dir) or symbolic link (link, with its {@code target}). */
  @JsonIgnoreProperties(ignoreUnknown = true)
  @JsonInclude(JsonInclude.Include.NON_NULL)
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
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record ChunkRef(String sha256, int size, int partition, long offset) {}

  /** The answer given to one command of the session. */
  @JsonIgnoreProperties(ignoreUnknown = true)
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record RecordedResult(String callId, String tool, String output, boolean isError, Integer exitCode,
      String snapshotId, long durationMs) {}

  public long totalBytes() {
    return entries.stream().mapToLong(Entry::size).sum();
  }

  public long fileCount() {
    return entries.stream().filter(Entry::isFile).count();
  }
}
