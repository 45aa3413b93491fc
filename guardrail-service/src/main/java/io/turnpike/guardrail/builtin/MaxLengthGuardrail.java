package io.turnpike.guardrail.builtin;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.spi.GuardrailSpecs;

/**
 * {@code type: max_length} — content longer than {@code maxChars} characters (code points) hits. With
 * {@code action: REDACT} the content is cut to the limit and a marker appended.
 *
 * <pre>configJson: {"maxChars": 4000}</pre>
 */
public final class MaxLengthGuardrail implements Guardrail {
  private final long maxChars;
  private final String name;

  private MaxLengthGuardrail(long maxChars, String name) {
    this.maxChars = maxChars;
    this.name = name;
  }

  public static MaxLengthGuardrail create(GuardrailSpec spec) {
    ObjectNode c = GuardrailSpecs.config(spec);
    long max = GuardrailSpecs.number(c, "maxChars", GuardrailSpecs.number(c, "max", -1));
    if (max <= 0) {
      throw new IllegalArgumentException("a max_length guardrail needs 'maxChars' > 0");
    }
    return new MaxLengthGuardrail(max, spec.getName());
  }

  @Override
  public GuardrailResult evaluate(GuardrailContext context) {
    String s = context.content();
    if (s.length() <= maxChars) {
      return GuardrailResult.pass(); // code points <= chars
    }
    long n = s.codePointCount(0, s.length());
    if (n <= maxChars) {
      return GuardrailResult.pass();
    }
    return GuardrailResult.hitWithRewrite("content is " + n + " characters, over the limit of " + maxChars,
        n + " > " + maxChars, text -> truncate(text));
  }

  private String truncate(String text) {
    if (text.codePointCount(0, text.length()) <= maxChars) {
      return text;
    }
    int cut = text.offsetByCodePoints(0, (int) Math.min(maxChars, Integer.MAX_VALUE));
    return text.substring(0, cut) + "\n[truncated by guardrail '" + name + "']";
  }
}
