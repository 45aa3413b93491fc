package io.turnpike.guardrail.spi;

/**
 * One configured guardrail: judges one piece of content. Implementations are built by a
 * {@link GuardrailProvider} from a {@link io.turnpike.avro.GuardrailSpec}, cached, and called from
 * many threads at once, so they must be thread-safe (immutable after construction is simplest).
 *
 * <p>What a hit does (trip the run, redact, reject a tool call) is not the guardrail's business: the
 * spec's {@code action} and the check's stage decide it. A guardrail only says whether it hit, why
 * (without repeating what it matched), what it saw (redacted), and, for redaction, where.
 */
public interface Guardrail {

  /**
   * Judges {@code context.content()}. Long work should call {@link GuardrailContext#checkDeadline()}
   * now and then. An exception is a failure of this guardrail, handled by its {@link #failPolicy()}.
   */
  GuardrailResult evaluate(GuardrailContext context) throws Exception;

  /**
   * True for guardrails that wait on something (a model, a remote service): the engine runs them on
   * their own virtual thread, alongside the others, and stops waiting at the check's deadline.
   */
  default boolean slow() {
    return false;
  }

  /**
   * What a failure or a timeout of this guardrail means; null means the service default
   * ({@code turnpike.guardrail.on-error}, fail closed unless configured otherwise).
   */
  default FailPolicy failPolicy() {
    return null;
  }
}
