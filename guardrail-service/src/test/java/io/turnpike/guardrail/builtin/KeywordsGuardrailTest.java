package io.turnpike.guardrail.builtin;

import static io.turnpike.guardrail.TestSpecs.context;
import static io.turnpike.guardrail.TestSpecs.output;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.GuardrailResult;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class KeywordsGuardrailTest {

  private static GuardrailResult run(String config, String content) {
    GuardrailSpec spec = output("deny", "keywords", GuardrailAction.BLOCK, config);
    return KeywordsGuardrail.create(spec).evaluate(context(spec, content));
  }

  private static final String WORDS = "{\"words\": [\"password\", \"drop table\", \"Project Falcon\"]}";

  @Test
  void plainMatches() {
    GuardrailResult r = run(WORDS, "Tell me the PASSWORD for project falcon");
    assertThat(r.isHit()).isTrue();
    assertThat(r.reason()).isEqualTo("deny-listed keyword at 2 places (2 different)");
    assertThat(r.evidence()).isEqualTo("p******* (8 chars), p************ (14 chars)");
    assertThat(r.reason() + r.evidence()).doesNotContainIgnoringCase("password").doesNotContainIgnoringCase("falcon");
  }

  @Test
  void unicodeLookAlikesAndInvisibleCharactersStillMatch() {
    assertThat(run(WORDS, "the pаsswоrd is").isHit()).as("Cyrillic а and о").isTrue();
    assertThat(run(WORDS, "the ｐａｓｓｗｏｒｄ is").isHit()).as("fullwidth").isTrue();
    assertThat(run(WORDS, "the pass\u200Bword is").isHit()).as("zero-width space").isTrue();
    assertThat(run(WORDS, "the pa\u0301ssword is").isHit()).as("combining accent").isTrue();
    assertThat(run(WORDS, "the 𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝 is").isHit()).as("mathematical bold").isTrue();
    assertThat(run(WORDS, "DROP\n   TABLE users").isHit()).as("phrase across a line break").isTrue();
  }

  @Test
  void wholeWordsAndCase() {
    assertThat(run(WORDS, "passwords are long").isHit()).isFalse();
    assertThat(run("{\"words\": [\"pass\"], \"wholeWord\": false}", "passwords").isHit()).isTrue();
    assertThat(run("{\"words\": [\"Secret\"], \"ignoreCase\": false}", "secret").isHit()).isFalse();
    assertThat(run("{\"words\": [\"Secret\"], \"ignoreCase\": false}", "Secret").isHit()).isTrue();
  }

  @Test
  void redactionSpansCoverTheOriginalText() {
    String content = "my pаss\u200Bword!";
    GuardrailResult r = run(WORDS, content);
    GuardrailResult.Span s = r.spans().get(0);
    assertThat(content.substring(s.start(), s.end())).isEqualTo("pаss\u200Bword");
    assertThat(s.replacement()).isEqualTo("[REDACTED]");
  }

  @Test
  void needsWords() {
    assertThatThrownBy(() -> run("{}", "x")).hasMessageContaining("needs 'words'");
  }

  @Test
  void hugeInputAndManyWords() {
    StringBuilder cfg = new StringBuilder("{\"words\": [");
    for (int i = 0; i < 2000; i++) {
      cfg.append(i == 0 ? "" : ",").append("\"forbidden").append(i).append('"');
    }
    cfg.append("]}");
    String big = "an ordinary sentence without bad words. ".repeat(125_000) + " forbidden1999";
    long t0 = System.nanoTime();
    GuardrailResult r = run(cfg.toString(), big);
    assertThat(r.reason()).isEqualTo("deny-listed keyword at 1 place");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
  }
}
