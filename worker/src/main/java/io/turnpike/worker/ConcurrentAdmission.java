package io.turnpike.worker;

import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@link Admission#concurrent}: a virtual thread per job, a semaphore for the limit. */
final class ConcurrentAdmission<T, R> implements Admission<T, R> {
  private static final Logger log = LoggerFactory.getLogger(ConcurrentAdmission.class);

  private final String name;
  private final int limit;
  private final Semaphore permits;
  private final Handler<T, R> handler;
  private final ExecutorService threads;

  ConcurrentAdmission(String name, int limit, Handler<T, R> handler) {
    if (limit < 1) {
      throw new IllegalArgumentException("concurrency must be at least 1, got " + limit);
    }
    this.name = name;
    this.limit = limit;
    this.permits = new Semaphore(limit);
    this.handler = handler;
    this.threads = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("turnpike-" + name + "-", 0).factory());
  }

  @Override
  public Verdict offer(Job<T, R> job) {
    if (!permits.tryAcquire()) {
      return Verdict.FULL;
    }
    try {
      threads.execute(() -> run(job));
      return Verdict.TAKEN;
    } catch (RejectedExecutionException e) {
      permits.release();
      return Verdict.FULL; // draining: the job stays uncommitted for the next owner
    }
  }

  private void run(Job<T, R> job) {
    try {
      handler.handle(job);
      if (!job.isDone()) {
        job.skip("the handler returned without an answer");
      }
    } catch (InterruptedException e) {
      // Drain ran out of time: leave the job unfinished, so it is done again after the restart.
      Thread.currentThread().interrupt();
    } catch (Exception | LinkageError | AssertionError e) {
      // A handler should turn its failures into answers; one that throws anyway must not leave the
      // partition's commit stuck behind this offset: the run's deadline and retry take over.
      log.error("{}: the handler of {} failed; no answer is sent", name, job, e);
      job.skip("the handler failed: " + e);
    } finally {
      permits.release();
    }
  }

  @Override
  public int inFlight() {
    return limit - permits.availablePermits();
  }

  @Override
  public void drain(Duration grace) {
    threads.shutdown();
    try {
      if (!threads.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn("{}: {} jobs still running after {}; they are done again after a restart", name, inFlight(), grace);
        threads.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      threads.shutdownNow();
    }
  }
}
