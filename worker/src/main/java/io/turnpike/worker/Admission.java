package io.turnpike.worker;

import java.time.Duration;
import java.util.Collection;
import org.apache.kafka.common.TopicPartition;

/**
 * Who runs the jobs a {@link WorkerLoop} takes from Kafka, and how many at once. The loop offers
 * jobs in the order it read them and keeps what is refused in a backlog, pausing consumption until
 * the backlog is empty again: a busy worker never blocks its poll loop (and so never falls out of
 * its group) and never refuses work.
 *
 * <p>{@link #concurrent} fits workers whose jobs are independent (model calls, guardrail checks,
 * tool calls). Workers with an order to keep (the sandbox: one session's commands one at a time)
 * implement their own.
 */
public interface Admission<T, R> {

  /** The answer to an offer. */
  enum Verdict {
    /** The admission owns the job now and will finish it. */
    TAKEN,
    /** Not now, and not any later job with the same order key in this pass: it keeps its place. */
    BUSY,
    /** No capacity at all: the loop stops offering until something finishes. */
    FULL
  }

  Verdict offer(Job<T, R> job);

  /**
   * Jobs with the same key are offered in their read order: once one is refused BUSY, the rest of its
   * key wait behind it. Default: the request record's key (the run id).
   */
  default String orderKey(Job<T, R> job) {
    return null;
  }

  /** Called on every turn of the poll loop (idle housekeeping such as stopping idle sessions). */
  default void tick() {}

  /** Partitions moved to another instance; jobs already taken may still finish (a harmless duplicate). */
  default void revoked(Collection<TopicPartition> partitions) {}

  /** Jobs taken and not finished. */
  int inFlight();

  /**
   * Stops taking jobs and gives those taken up to {@code grace} to finish; what is still running
   * then is interrupted and stays uncommitted, so the partition's next owner does it again.
   */
  void drain(Duration grace);

  /** Runs each job on its own virtual thread, at most {@code limit} at once. */
  static <T, R> Admission<T, R> concurrent(String name, int limit, Handler<T, R> handler) {
    return new ConcurrentAdmission<>(name, limit, handler);
  }

  /** The work of one job: ends with {@link Job#answer} or {@link Job#skip}. */
  @FunctionalInterface
  interface Handler<T, R> {
    void handle(Job<T, R> job) throws Exception;
  }
}
