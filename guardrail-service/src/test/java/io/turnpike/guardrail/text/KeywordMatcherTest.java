package io.turnpike.guardrail.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class KeywordMatcherTest {

  @Test
  void findsOverlappingKeywords() {
    KeywordMatcher m = KeywordMatcher.of(List.of("he", "she", "his", "hers"));
    List<KeywordMatcher.Hit> hits = m.find("ushers", false, 100);
    assertThat(hits).extracting(h -> m.keyword(h.keyword())).containsExactlyInAnyOrder("she", "he", "hers");
    KeywordMatcher.Hit she = hits.stream().filter(h -> m.keyword(h.keyword()).equals("she")).findFirst().orElseThrow();
    assertThat(she.start()).isEqualTo(1);
    assertThat(she.end()).isEqualTo(4);
  }

  @Test
  void wholeWordsOnly() {
    KeywordMatcher m = KeywordMatcher.of(List.of("pass"));
    assertThat(m.find("password pass passé", true, 100)).extracting(KeywordMatcher.Hit::start).containsExactly(9);
    assertThat(m.find("password pass", false, 100)).hasSize(2);
  }

  @Test
  void whitespaceRunsMatchAnyWhitespace() {
    KeywordMatcher m = KeywordMatcher.of(List.of("drop   table"));
    String text = "then DROP\n\t  TABLE users".toLowerCase();
    List<KeywordMatcher.Hit> hits = m.find(text, true, 100);
    assertThat(hits).hasSize(1);
    assertThat(text.substring(hits.get(0).start(), hits.get(0).end())).isEqualTo("drop\n\t  table");
  }

  @Test
  void rejectsEmptyKeywords() {
    assertThatThrownBy(() -> KeywordMatcher.of(List.of("ok", "  "))).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void boundsHits() {
    KeywordMatcher m = KeywordMatcher.of(List.of("a"));
    assertThat(m.find("a ".repeat(1000), true, 10)).hasSize(10);
  }
}
