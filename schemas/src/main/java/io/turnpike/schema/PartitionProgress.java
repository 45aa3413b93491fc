package io.turnpike.schema;

import java.util.TreeSet;

/**
 * Which offsets of one partition are finished. Records may finish in any order; the committable
 * offset is the lowest unfinished one (or one past the highest received when all are finished), so a
 * commit never skips a record that is still being worked on. Offsets may have gaps (transaction
 * markers under read_committed). Not thread-safe: only a worker's poll thread uses it. Shared by every Turnpike worker loop (model
 * invoker, sandbox, guardrail service).
 */
public final class PartitionProgress {
  private final TreeSet<Long> open = new TreeSet<>();
  private long nextAfterReceived = -1;
  private long lastCommitted = -1;

  public void received(long offset) {
    open.add(offset);
    if (offset + 1 > nextAfterReceived) {
      nextAfterReceived = offset + 1;
    }
  }

  public void finished(long offset) {
    open.remove(offset);
  }

  /** The offset to commit (the next record to read), or -1 when nothing has been received. */
  public long committable() {
    return open.isEmpty() ? nextAfterReceived : open.first();
  }

  /** The committable offset if it moved past the last one committed, else -1. */
  public long advance() {
    long c = committable();
    return c > lastCommitted ? c : -1;
  }

  public void committed(long offset) {
    if (offset > lastCommitted) {
      lastCommitted = offset;
    }
  }

  public int openCount() {
    return open.size();
  }
}
