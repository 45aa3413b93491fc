package io.turnpike.guardrail.builtin;

import static io.turnpike.guardrail.TestSpecs.context;
import static io.turnpike.guardrail.TestSpecs.output;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.text.WorkLimitExceeded;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class RegexGuardrailTest {

  private static GuardrailResult run(String config, String content) {
    GuardrailSpec spec = output("secrets", "regex", GuardrailAction.REDACT, config);
    return RegexGuardrail.create(spec).evaluate(context(spec, content));
  }

  @Test
  void namedAndUnnamedPatterns() {
    String cfg = "{\"patterns\": [{\"name\": \"aws key\", \"pattern\": \"AKIA[0-9A-Z]{16}\"}, \"sk-[a-zA-Z0-9]{20,}\"]}";
    GuardrailResult r = run(cfg, "keys AKIAABCDEFGHIJKLMNOP and sk-abcdefghijklmnopqrstuvwx");
    assertThat(r.isHit()).isTrue();
    assertThat(r.reason()).isEqualTo("deny pattern 'aws key' at 1 place, 'pattern #2' at 1 place");
    assertThat(r.reason() + r.evidence()).doesNotContain("ABCDEFGHIJ").doesNotContain("abcdefghij");
    assertThat(r.evidence()).contains("A************ (20 chars)");
    assertThat(r.spans()).extracting(GuardrailResult.Span::replacement)
        .containsExactly("[REDACTED:aws key]", "[REDACTED:pattern #2]");
    assertThat(run(cfg, "nothing to see").isHit()).isFalse();
  }

  @Test
  void matchesLookAlikesUnlessNormalizeIsOff() {
    String content = "rm -rf /";
    String tricky = "r\u200Bm －rf ／"; // zero-width space, fullwidth hyphen and slash
    assertThat(run("{\"pattern\": \"rm\\\\s+-rf\\\\s+/\"}", content).isHit()).isTrue();
    GuardrailResult r = run("{\"pattern\": \"rm\\\\s+-rf\\\\s+/\"}", tricky);
    assertThat(r.isHit()).isTrue();
    assertThat(r.spans().get(0).start()).isZero();
    assertThat(r.spans().get(0).end()).isEqualTo(tricky.length()); // the whole original, invisible char included
    assertThat(run("{\"pattern\": \"rm\\\\s+-rf\\\\s+/\", \"normalize\": false}", tricky).isHit()).isFalse();
  }

  @Test
  void ignoreCase() {
    assertThat(run("{\"pattern\": \"secret\"}", "SECRET").isHit()).isFalse();
    assertThat(run("{\"pattern\": \"secret\", \"ignoreCase\": true}", "SeCrEt").isHit()).isTrue();
  }

  @Test
  void invalidConfigurationIsRejected() {
    assertThatThrownBy(() -> run("{\"pattern\": \"(unclosed\"}", "x")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("not a valid regular expression");
    assertThatThrownBy(() -> run("{}", "x")).hasMessageContaining("needs 'pattern'");
    assertThatThrownBy(() -> run("[1]", "x")).hasMessageContaining("must be a JSON object");
  }

  @Test
  void catastrophicPatternIsStoppedNotHung() {
    String input = "a".repeat(5_000);
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> run("{\"pattern\": \"(a+)+\\\\1b\"}", input)).isInstanceOf(WorkLimitExceeded.class);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
  }

  @Test
  void hugeInput() {
    String big = "harmless line of text 12345\n".repeat(200_000) + "AKIAABCDEFGHIJKLMNOP";
    long t0 = System.nanoTime();
    GuardrailResult r = run("{\"pattern\": \"AKIA[0-9A-Z]{16}\"}", big);
    assertThat(r.isHit()).isTrue();
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
  }
}
