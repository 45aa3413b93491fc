package io.turnpike.guardrail.spi;

import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.guardrail.text.NormalizedText;
import io.turnpike.guardrail.text.WorkLimitExceeded;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * What a guardrail judges: the content of one check, its stage, the tool (tool stages), the run, and
 * the deadline by which the verdict must be out. {@link #normalized()} is the content normalised for
 * matching (NFKC, invisible characters removed, look-alikes mapped; see
 * {@link io.turnpike.guardrail.text.TextNormalizer}); it is computed once per check and shared.
 */
public final class GuardrailContext {
  private final GuardrailSpec spec;
  private final GuardrailStage stage;
  private final String content;
  private final String toolName;
  private final String runId;
  private final String agent;
  private final String callId;
  private final long deadlineNanos;
  private final Instant deadline;
  private final Supplier<NormalizedText> normalized;

  public GuardrailContext(GuardrailSpec spec, GuardrailStage stage, String content, String toolName, String runId,
      String agent, String callId, Instant deadline, Supplier<NormalizedText> normalized) {
    this.spec = Objects.requireNonNull(spec, "spec");
    this.stage = Objects.requireNonNull(stage, "stage");
    this.content = Objects.requireNonNull(content, "content");
    this.toolName = toolName;
    this.runId = runId;
    this.agent = agent;
    this.callId = callId;
    this.deadline = Objects.requireNonNull(deadline, "deadline");
    long left = Duration.between(Instant.now(), deadline).toNanos();
    this.deadlineNanos = System.nanoTime() + Math.max(0, left);
    this.normalized = normalized;
  }

  /** A context for tests and benchmarks: no run, deadline in 10 s. */
  public static GuardrailContext of(GuardrailSpec spec, String content, String toolName) {
    return new GuardrailContext(spec, spec.getStage(), content, toolName, "test", "test", "test",
        Instant.now().plusSeconds(10), memo(content));
  }

  /** A memoising, thread-safe supplier of the normalised form of {@code content}. */
  public static Supplier<NormalizedText> memo(String content) {
    return new Supplier<>() {
      private volatile NormalizedText value;

      @Override
      public NormalizedText get() {
        NormalizedText v = value;
        if (v == null) {
          synchronized (this) {
            v = value;
            if (v == null) {
              v = io.turnpike.guardrail.text.TextNormalizer.normalize(content);
              value = v;
            }
          }
        }
        return v;
      }
    };
  }

  public GuardrailSpec spec() {
    return spec;
  }

  public GuardrailStage stage() {
    return stage;
  }

  /** The content as it was sent. Offsets of redaction spans refer to this string. */
  public String content() {
    return content;
  }

  /** The content normalised for matching, with a map back to offsets of {@link #content()}. */
  public NormalizedText normalized() {
    return normalized.get();
  }

  /** The tool (tool stages), if any. */
  public Optional<String> toolName() {
    return Optional.ofNullable(toolName);
  }

  public String runId() {
    return runId;
  }

  public String agent() {
    return agent;
  }

  public String callId() {
    return callId;
  }

  /** When the verdict must be out (already shortened by the service's safety margin). */
  public Instant deadline() {
    return deadline;
  }

  /** The deadline on the {@link System#nanoTime()} clock. */
  public long deadlineNanos() {
    return deadlineNanos;
  }

  /** Time left until the deadline (zero when it has passed). */
  public Duration remaining() {
    return Duration.ofNanos(Math.max(0, deadlineNanos - System.nanoTime()));
  }

  /** Throws {@link WorkLimitExceeded} when the deadline has passed. */
  public void checkDeadline() {
    if (System.nanoTime() > deadlineNanos) {
      throw new WorkLimitExceeded("the check's deadline passed");
    }
  }
}
