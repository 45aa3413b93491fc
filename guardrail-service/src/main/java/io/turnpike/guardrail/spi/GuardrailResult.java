package io.turnpike.guardrail.spi;

import java.util.List;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * What one guardrail concluded about one piece of content: nothing ({@link #pass()}), a hit
 * ({@link #hit}), or a note that is not a hit but belongs in the audit trail ({@link #note}).
 *
 * <p>{@code reason} names the kind of thing that matched and never repeats it ("credit card number
 * (Luhn-valid) at 1 place"); {@code evidence} shows what was seen, redacted ("****-****-****-1111").
 *
 * <p>For redaction a hit may carry {@link Span}s (ranges of the original content and what replaces
 * them) or a rewrite of the whole content (applied to the content as redacted so far). A hit with
 * neither is redacted by replacing the whole content with a marker.
 */
public final class GuardrailResult {

  public enum Kind { PASS, HIT, NOTE }

  /** A range {@code [start, end)} of the original content and its replacement. */
  public record Span(int start, int end, String replacement) {
    public Span {
      if (start < 0 || end < start) {
        throw new IllegalArgumentException("bad span [" + start + ", " + end + ")");
      }
      Objects.requireNonNull(replacement, "replacement");
    }
  }

  private static final GuardrailResult PASS = new GuardrailResult(Kind.PASS, null, null, List.of(), null);

  private final Kind kind;
  private final String reason;
  private final String evidence;
  private final List<Span> spans;
  private final UnaryOperator<String> rewrite;

  private GuardrailResult(Kind kind, String reason, String evidence, List<Span> spans, UnaryOperator<String> rewrite) {
    this.kind = kind;
    this.reason = reason;
    this.evidence = evidence;
    this.spans = spans;
    this.rewrite = rewrite;
  }

  public static GuardrailResult pass() {
    return PASS;
  }

  /** A hit; if redacted, the whole content is replaced by a marker. */
  public static GuardrailResult hit(String reason, String evidence) {
    return new GuardrailResult(Kind.HIT, requireReason(reason), evidence, List.of(), null);
  }

  /** A hit that knows where: each span is replaced when the action is REDACT. */
  public static GuardrailResult hit(String reason, String evidence, List<Span> spans) {
    return new GuardrailResult(Kind.HIT, requireReason(reason), evidence, List.copyOf(spans), null);
  }

  /** A hit whose redaction rewrites the content (e.g. truncation). */
  public static GuardrailResult hitWithRewrite(String reason, String evidence, UnaryOperator<String> rewrite) {
    return new GuardrailResult(Kind.HIT, requireReason(reason), evidence, List.of(), Objects.requireNonNull(rewrite));
  }

  /** Not a hit, but worth an ALLOW finding in the verdict (e.g. a fail-open timeout). */
  public static GuardrailResult note(String reason, String evidence) {
    return new GuardrailResult(Kind.NOTE, requireReason(reason), evidence, List.of(), null);
  }

  private static String requireReason(String reason) {
    if (reason == null || reason.isBlank()) {
      throw new IllegalArgumentException("a hit needs a reason");
    }
    return reason;
  }

  public Kind kind() {
    return kind;
  }

  public boolean isHit() {
    return kind == Kind.HIT;
  }

  public String reason() {
    return reason;
  }

  public String evidence() {
    return evidence;
  }

  public List<Span> spans() {
    return spans;
  }

  /** The rewrite, or null. */
  public UnaryOperator<String> rewrite() {
    return rewrite;
  }

  @Override
  public String toString() {
    return kind == Kind.PASS ? "pass" : kind.name().toLowerCase() + "[" + reason + (evidence == null ? "" : "; " + evidence)
        + (spans.isEmpty() ? "" : "; " + spans.size() + " spans") + "]";
  }
}
