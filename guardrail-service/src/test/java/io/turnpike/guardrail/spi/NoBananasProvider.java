package io.turnpike.guardrail.spi;

import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.text.NormalizedText;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A custom guardrail as a team would write one, registered only through
 * {@code src/test/resources/META-INF/services/io.turnpike.guardrail.spi.GuardrailProvider}: it finds the
 * word "banana" (after normalisation, so look-alikes count) and can redact it.
 */
public final class NoBananasProvider implements GuardrailProvider {
  public static final AtomicInteger CREATED = new AtomicInteger();

  @Override
  public String type() {
    return "no_bananas";
  }

  @Override
  public Guardrail create(GuardrailSpec spec) {
    CREATED.incrementAndGet();
    String replacement = GuardrailSpecs.text(GuardrailSpecs.config(spec), "replacement", "[fruit]");
    return context -> {
      NormalizedText nt = context.normalized();
      String lower = nt.lower();
      List<GuardrailResult.Span> spans = new ArrayList<>();
      for (int i = lower.indexOf("banana"); i >= 0; i = lower.indexOf("banana", i + 6)) {
        spans.add(new GuardrailResult.Span(nt.originalStart(i), nt.originalEnd(i + 6), replacement));
      }
      return spans.isEmpty() ? GuardrailResult.pass()
          : GuardrailResult.hit("banana mentioned at " + spans.size() + " place(s)", "b*****", spans);
    };
  }
}
