package io.turnpike.guardrail;

import java.util.TreeSet;

/**
 * Which offsets of one partition are finished. Records may finish in any order; the committable
 * offset is the lowest unfinished one (or one past the highest received when all are finished), so a
 * commit never skips a record that is still being worked on. Not thread-safe: only the poll thread
 * uses it. (Same as the runner's model invoker; services do not share packages.)
 */
final class PartitionProgress {
  private final TreeSet<Long> open = new TreeSet<>();
  private long nextAfterReceived = -1;
  private long lastCommitted = -1;

  void received(long offset) {
    open.add(offset);
    if (offset + 1 > nextAfterReceived) {
      nextAfterReceived = offset + 1;
    }
  }

  void finished(long offset) {
    open.remove(offset);
  }

  long committable() {
    return open.isEmpty() ? nextAfterReceived : open.first();
  }

  long advance() {
    long c = committable();
    return c > lastCommitted ? c : -1;
  }

  void committed(long offset) {
    if (offset > lastCommitted) {
      lastCommitted = offset;
    }
  }
}
