package io.turnpike.console;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * Hands each new step from the stream thread to the SSE connections that follow its run. The stream thread
 * never waits: a follower whose queue is full is marked as lagging and its connection ends (the browser's
 * EventSource reconnects with Last-Event-ID and catches up from the store).
 */
final class LiveSteps implements BiConsumer<String, Timeline.Entry> {
  static final int QUEUE = 1024;

  private final Map<String, Set<Follower>> followers = new ConcurrentHashMap<>();

  /** One SSE connection's view of one run. */
  static final class Follower implements AutoCloseable {
    private final BlockingQueue<Timeline.Entry> queue = new ArrayBlockingQueue<>(QUEUE);
    private final Runnable onClose;
    private volatile boolean lagging;

    private Follower(Runnable onClose) {
      this.onClose = onClose;
    }

    /** The next step, or null when none came within the wait. */
    Timeline.Entry next(long millis) throws InterruptedException {
      return queue.poll(millis, TimeUnit.MILLISECONDS);
    }

    boolean lagging() {
      return lagging;
    }

    @Override
    public void close() {
      onClose.run();
    }
  }

  Follower follow(String runId) {
    Follower[] self = new Follower[1];
    self[0] = new Follower(() -> followers.computeIfPresent(runId, (k, set) -> {
      set.remove(self[0]);
      return set.isEmpty() ? null : set;
    }));
    followers.computeIfAbsent(runId, k -> ConcurrentHashMap.newKeySet()).add(self[0]);
    return self[0];
  }

  int following() {
    return followers.values().stream().mapToInt(Set::size).sum();
  }

  @Override
  public void accept(String runId, Timeline.Entry entry) {
    Set<Follower> set = followers.get(runId);
    if (set == null) {
      return;
    }
    for (Follower f : set) {
      if (!f.queue.offer(entry)) {
        f.lagging = true;
      }
    }
  }
}
