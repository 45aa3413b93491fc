package io.turnpike.guardrail.builtin;

import static io.turnpike.guardrail.TestSpecs.context;
import static io.turnpike.guardrail.TestSpecs.output;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.GuardrailResult;
import org.junit.jupiter.api.Test;

class MaxLengthGuardrailTest {

  private static GuardrailResult run(String config, String content) {
    GuardrailSpec spec = output("short", "max_length", GuardrailAction.REDACT, config);
    return MaxLengthGuardrail.create(spec).evaluate(context(spec, content));
  }

  @Test
  void countsCodePoints() {
    assertThat(run("{\"maxChars\": 5}", "hello").isHit()).isFalse();
    assertThat(run("{\"maxChars\": 5}", "𝐡𝐞𝐥𝐥𝐨").isHit()).as("5 code points, 10 chars").isFalse();
    GuardrailResult r = run("{\"maxChars\": 5}", "hello!");
    assertThat(r.reason()).isEqualTo("content is 6 characters, over the limit of 5");
    assertThat(r.rewrite().apply("hello!")).isEqualTo("hello\n[truncated by guardrail 'short']");
    assertThat(r.rewrite().apply("𝐡𝐞𝐥𝐥𝐨𝐨")).startsWith("𝐡𝐞𝐥𝐥𝐨\n"); // never splits a surrogate pair
  }

  @Test
  void hugeInput() {
    GuardrailResult r = run("{\"maxChars\": 1000}", "x".repeat(10_000_000));
    assertThat(r.reason()).isEqualTo("content is 10000000 characters, over the limit of 1000");
  }

  @Test
  void needsALimit() {
    assertThatThrownBy(() -> run("{}", "x")).hasMessageContaining("maxChars");
    assertThatThrownBy(() -> run("{\"maxChars\": \"many\"}", "x")).hasMessageContaining("whole number");
  }
}
