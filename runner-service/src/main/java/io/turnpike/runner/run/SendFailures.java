package io.turnpike.runner.run;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * What the orchestrator has learned from writes that Kafka refused, shared by
 * {@link DeadLetterProductionHandler} (which hears of them) and {@link RunOrchestrator} (which acts on
 * them). Kafka Streams instantiates the handler itself, so the one instance travels in the Streams
 * configuration under {@link #CONFIG}; the processor finds it in {@code appConfigs()}.
 *
 * <p>Why a ledger and not just a handler answer: under exactly_once_v2 a refused write dooms the whole
 * transaction whatever the handler answers (Kafka 4.3.1's producer enters an abortable error state and
 * the commit fails), so the stream thread is replaced and the same input is processed again. This is
 * how that second attempt knows to do something else: write less (a topic's learned limit) or set the
 * input aside, and if even that is refused, skip it. Kept in memory: an instance that meets the record
 * for the first time (after a rebalance) learns the same way, at the cost of one more replaced thread.
 */
final class SendFailures {
  /** The Streams configuration key under which the shared instance travels. */
  static final String CONFIG = "turnpike.orchestrator.send-failures";
  private static final int MAX_TRACKED_SOURCES = 1000;

  /** The input record whose processing wrote what was refused. */
  record Source(String topic, int partition, long offset) {}

  /**
   * How often writes caused by one input were refused: {@code sizeOnly} while every refusal said "too
   * large" (the learned limits then steer the next attempt), {@code deadLetterRefused} once its dead
   * letter itself was refused.
   */
  record Refusals(int count, boolean sizeOnly, boolean deadLetterRefused, String lastError) {}

  /**
   * How long a learned limit holds: an operator may raise the topic's limit again, and a limit that
   * still holds then costs one more failed transaction per topic to learn again.
   */
  static final Duration LEARNED_LIMIT_TTL = Duration.ofMinutes(10);

  private record Learned(int bytes, long atNanos) {}

  private final Map<String, Learned> learnedLimits = new ConcurrentHashMap<>();
  private final LongSupplier nanoClock;
  private final Map<Source, Refusals> bySource = new LinkedHashMap<>(16, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Source, Refusals> eldest) {
      return size() > MAX_TRACKED_SOURCES;
    }
  };

  SendFailures() {
    this(System::nanoTime);
  }

  SendFailures(LongSupplier nanoClock) {
    this.nanoClock = nanoClock;
  }

  /** The instance the Streams configuration carries, or a fresh one (a test driver without it). */
  static SendFailures from(Map<String, ?> configs) {
    return configs != null && configs.get(CONFIG) instanceof SendFailures shared ? shared : new SendFailures();
  }

  /** {@code topic} refused a record of {@code estimatedBytes}: from now on it takes at most one byte less. */
  void tooLarge(String topic, int estimatedBytes) {
    Learned now = new Learned(Math.max(0, estimatedBytes - 1), nanoClock.getAsLong());
    learnedLimits.merge(topic, now,
        (old, learned) -> expired(old) ? learned : new Learned(Math.min(old.bytes(), learned.bytes()), learned.atNanos()));
  }

  /** {@code assumed}, or less when {@code topic} refused a smaller record (in the last {@link #LEARNED_LIMIT_TTL}). */
  int limit(String topic, int assumed) {
    Learned learned = learnedLimits.get(topic);
    return learned == null || expired(learned) ? assumed : Math.min(assumed, learned.bytes());
  }

  private boolean expired(Learned learned) {
    return nanoClock.getAsLong() - learned.atNanos() > LEARNED_LIMIT_TTL.toNanos();
  }

  synchronized void refused(Source source, boolean tooLarge, boolean deadLetter, String error) {
    Refusals before = bySource.get(source);
    bySource.put(source, before == null
        ? new Refusals(1, tooLarge, deadLetter, error)
        : new Refusals(before.count() + 1, before.sizeOnly() && tooLarge, before.deadLetterRefused() || deadLetter, error));
  }

  /** Refusals caused by {@code source}, or null when none. */
  synchronized Refusals of(Source source) {
    return bySource.get(source);
  }
}
