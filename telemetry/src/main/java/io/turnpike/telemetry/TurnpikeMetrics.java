package io.turnpike.telemetry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Every Turnpike metric name and tag in one place, with a typed recorder per metric so that a
 * service cannot misspell a name or forget a tag. Prometheus spells {@code turnpike.runs.started}
 * as {@code turnpike_runs_started_total} and {@code turnpike.turn.latency} as
 * {@code turnpike_turn_latency_seconds_bucket|_count|_sum|_max}.
 *
 * <p>Tag values must come from small sets (agent-defined tool and guardrail names, model names,
 * statuses, categories), never from ids or free text: each distinct value is a new time series.
 */
public final class TurnpikeMetrics {
  /** Counter: runs the orchestrator accepted. */
  public static final String RUNS_STARTED = "turnpike.runs.started";
  /** Counter, tag {@code status}: runs that reached a terminal status, whatever it is. */
  public static final String RUNS_COMPLETED = "turnpike.runs.completed";
  /** Counter, tag {@code reason}: the subset of finished runs that failed, by failure category. */
  public static final String RUNS_FAILED = "turnpike.runs.failed";
  /** Timer with histogram buckets: one agent turn, from the model call being requested to its answer being applied. */
  public static final String TURN_LATENCY = "turnpike.turn.latency";
  /** Timer with histogram buckets, tags {@code model} and {@code outcome}: one model call as the model invoker saw it. */
  public static final String MODEL_LATENCY = "turnpike.model.latency";
  /** Counter, tags {@code model} and {@code kind} ({@code input}|{@code output}): tokens the model reported. */
  public static final String MODEL_TOKENS = "turnpike.model.tokens";
  /** Gauge, tag {@code backend}: live sandbox sessions. */
  public static final String SANDBOX_SESSIONS = "turnpike.sandbox.sessions";
  /**
   * Counter: workspace snapshots a sandbox service refused to restore (a tag that does not verify with
   * its snapshot key, or entries no service would write); each such session started from its manifest.
   */
  public static final String SANDBOX_SNAPSHOTS_REFUSED = "turnpike.sandbox.snapshots.refused";
  /** Counter, tags {@code guardrail} and {@code verdict}: guardrail decisions. */
  public static final String GUARDRAIL_VERDICTS = "turnpike.guardrail.verdicts";
  /** Counter, tags {@code tool} and {@code outcome}: tool calls a tool worker answered. */
  public static final String TOOL_CALLS = "turnpike.tool.calls";
  /**
   * Counter, tag {@code topic}: records the orchestrator could not dead-letter (the dead letter itself
   * could not be written) and skipped, so that they would not stop their partition.
   */
  public static final String DEAD_LETTERS_DROPPED = "turnpike.dead_letters.dropped";

  public static final String TAG_STATUS = "status";
  public static final String TAG_REASON = "reason";
  public static final String TAG_MODEL = "model";
  public static final String TAG_KIND = "kind";
  public static final String TAG_OUTCOME = "outcome";
  public static final String TAG_BACKEND = "backend";
  public static final String TAG_GUARDRAIL = "guardrail";
  public static final String TAG_VERDICT = "verdict";
  public static final String TAG_TOOL = "tool";
  public static final String TAG_TOPIC = "topic";

  /** Consumer lag as Micrometer's Kafka binders name it (a gauge per client, tag {@code client.id}). */
  public static final String KAFKA_CONSUMER_LAG_MAX = "kafka.consumer.fetch.manager.records.lag.max";

  /**
   * The latency buckets (and +Inf): from a fast tool turn to a slow reasoning call. A fixed dozen per
   * series instead of Micrometer's percentile histogram (88 buckets from 1 ms to 10 min): every bucket is
   * a time series per tag combination, and quantiles between these bounds are still good enough to alert on.
   */
  static final Duration[] LATENCY_BUCKETS = {Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250),
      Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10),
      Duration.ofSeconds(30), Duration.ofMinutes(1), Duration.ofMinutes(2), Duration.ofMinutes(5)};

  private final MeterRegistry registry;

  TurnpikeMetrics(MeterRegistry registry) {
    this.registry = registry;
  }

  public void runStarted() {
    Counter.builder(RUNS_STARTED).description("Runs the orchestrator accepted").register(registry).increment();
  }

  /**
   * A run reached a terminal status. {@code failureReason} is a category such as {@code model_error}
   * or {@code timeout} (not the error text), and is given only when the run failed.
   */
  public void runFinished(String status, String failureReason) {
    Counter.builder(RUNS_COMPLETED).description("Runs that reached a terminal status")
        .tag(TAG_STATUS, category(status)).register(registry).increment();
    if (failureReason != null) {
      Counter.builder(RUNS_FAILED).description("Runs that failed, by failure category")
          .tag(TAG_REASON, category(failureReason)).register(registry).increment();
    }
  }

  public void turnLatency(Duration latency) {
    Timer.builder(TURN_LATENCY).description("One agent turn: model call requested to answer applied")
        .serviceLevelObjectives(LATENCY_BUCKETS)
        .register(registry)
        .record(latency);
  }

  /** One model call; tokens are what the model reported (0 when it did not). */
  public void modelCall(String model, Duration latency, boolean ok, long inputTokens, long outputTokens) {
    String m = name(model);
    Timer.builder(MODEL_LATENCY).description("Model call latency as seen by the model invoker")
        .tag(TAG_MODEL, m)
        .tag(TAG_OUTCOME, ok ? "ok" : "error")
        .serviceLevelObjectives(LATENCY_BUCKETS)
        .register(registry)
        .record(latency);
    tokens(m, "input", inputTokens);
    tokens(m, "output", outputTokens);
  }

  private void tokens(String model, String kind, long count) {
    Counter c = Counter.builder(MODEL_TOKENS).description("Tokens the model reported").baseUnit("tokens")
        .tag(TAG_MODEL, model).tag(TAG_KIND, kind).register(registry);
    if (count > 0) {
      c.increment(count);
    }
  }

  /**
   * Publishes the live session count of one sandbox backend; {@code sessions} is read at scrape time.
   * Close the returned handle when the backend goes away.
   */
  public AutoCloseable sandboxSessions(String backend, Supplier<Number> sessions) {
    Gauge gauge = Gauge.builder(SANDBOX_SESSIONS, sessions).description("Live sandbox sessions")
        .tag(TAG_BACKEND, category(backend)).register(registry);
    return () -> registry.remove(gauge);
  }

  /** Publishes the count of refused workspace snapshots, read at scrape time. Close the handle to remove it. */
  public AutoCloseable sandboxSnapshotsRefused(Supplier<Number> refused) {
    FunctionCounter counter = FunctionCounter.builder(SANDBOX_SNAPSHOTS_REFUSED, refused, r -> r.get().doubleValue())
        .description("Workspace snapshots refused on restore").register(registry);
    return () -> registry.remove(counter);
  }

  public void guardrailVerdict(String guardrail, String verdict) {
    Counter.builder(GUARDRAIL_VERDICTS).description("Guardrail decisions")
        .tag(TAG_GUARDRAIL, name(guardrail)).tag(TAG_VERDICT, category(verdict))
        .register(registry).increment();
  }

  public void toolCall(String tool, String outcome) {
    Counter.builder(TOOL_CALLS).description("Tool calls answered by a tool worker")
        .tag(TAG_TOOL, name(tool)).tag(TAG_OUTCOME, category(outcome))
        .register(registry).increment();
  }

  /** A record from {@code topic} (one of Turnpike's topics: a small set) was skipped without a dead letter. */
  public void deadLetterDropped(String topic) {
    Counter.builder(DEAD_LETTERS_DROPPED).description("Records skipped because their dead letter could not be written")
        .tag(TAG_TOPIC, name(topic)).register(registry).increment();
  }

  /** Enum-ish values read the same whatever their source spelled: {@code COMPLETED} and {@code completed} are one series. */
  static String category(String value) {
    return name(value).toLowerCase(Locale.ROOT);
  }

  /** Names (tools, guardrails, models) keep their spelling: they are matched against agent definitions. */
  static String name(String value) {
    return value == null || value.isBlank() ? "unknown" : value.trim();
  }
}
