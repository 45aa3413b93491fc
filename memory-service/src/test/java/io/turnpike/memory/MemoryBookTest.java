package io.turnpike.memory;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryScopeState;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Bounds of a scope's state: it is one changelog record, which Kafka must accept. */
class MemoryBookTest {
  private static final Instant T0 = Instant.parse("2026-12-03T10:00:00Z");

  @Test
  void pendingCandidatesAreBoundedDroppingTheOldest() {
    MemoryConfig never = Fixtures.config(10_000, null, 10_000, true);
    MemoryScopeState s = null;
    for (int i = 0; i < MemoryBook.MAX_PENDING + 25; i++) {
      MemoryCandidates b = Fixtures.batch("helper", "run-" + i, never, T0.plusSeconds(i), "fact " + i);
      MemoryBook.Outcome o = MemoryBook.candidates(s, b, c -> false, T0.plusSeconds(i));
      assertThat(o.request()).isNull();
      s = o.state();
    }
    assertThat(s.getPending()).hasSize(MemoryBook.MAX_PENDING);
    assertThat(s.getPending().get(0).getText()).isEqualTo("fact 25");
    assertThat(s.getPendingSince()).isEqualTo(T0.plusSeconds(25));
  }
}
