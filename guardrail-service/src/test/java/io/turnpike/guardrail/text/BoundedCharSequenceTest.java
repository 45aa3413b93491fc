package io.turnpike.guardrail.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class BoundedCharSequenceTest {

  @Test
  void stopsCatastrophicBacktracking() {
    // JDK 9+ memoises simple nested loops such as (a+)+$; a backreference still defeats that.
    Pattern evil = Pattern.compile("(a+)+\\1b");
    String input = "a".repeat(40);
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> evil.matcher(new BoundedCharSequence(input, BoundedCharSequence.regexBudget(input.length()),
        System.nanoTime() + Duration.ofSeconds(30).toNanos())).find())
        .isInstanceOf(WorkLimitExceeded.class).hasMessageContaining("work budget");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
  }

  @Test
  void stopsAtTheDeadline() {
    Pattern evil = Pattern.compile("(a+)+\\1b");
    String input = "a".repeat(60);
    assertThatThrownBy(() -> evil.matcher(new BoundedCharSequence(input, Long.MAX_VALUE,
        System.nanoTime() + Duration.ofMillis(100).toNanos())).find())
        .isInstanceOf(WorkLimitExceeded.class).hasMessageContaining("deadline");
  }

  @Test
  void ordinaryMatchingIsUnaffected() {
    String text = "key AKIAABCDEFGHIJKLMNOP here";
    var m = Pattern.compile("AKIA[0-9A-Z]{16}").matcher(new BoundedCharSequence(text,
        BoundedCharSequence.regexBudget(text.length()), System.nanoTime() + 1_000_000_000L));
    assertThat(m.find()).isTrue();
    assertThat(m.group()).isEqualTo("AKIAABCDEFGHIJKLMNOP");
  }
}
