package io.turnpike.runner.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryKind;
import io.turnpike.avro.MemoryLine;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MemorySummaryTest {
  private static MemoryDocument doc(List<MemoryLine> lines) {
    return MemoryDocument.newBuilder().setScope("helper").setAgent("helper").setVersion(4).setLines(lines)
        .setUpdatedAt(Instant.EPOCH).build();
  }

  private static MemoryLine line(String id, MemoryKind kind, String text) {
    return MemoryLine.newBuilder().setId(id).setKind(kind).setText(text).setSources(List.of("run-1")).setUpdatedAt(Instant.EPOCH).build();
  }

  @Test
  void everyLineWithItsIdAndKind() {
    String s = MemorySummary.render(doc(List.of(line("L1", MemoryKind.PREFERENCE, "The user prefers aisle seats"),
        line("L2", MemoryKind.PITFALL, "The weather tool needs a city"))), true);
    assertThat(s).startsWith("## Memory (helper, version 4)")
        .contains("memory_update")
        .contains("- [L1] (preference) The user prefers aisle seats\n- [L2] (pitfall) The weather tool needs a city");
    assertThat(MemorySummary.render(doc(List.of(line("L1", MemoryKind.FACT, "x"))), false)).doesNotContain("memory_update");
    assertThat(MemorySummary.render(doc(List.of()), true)).isNull();
    assertThat(MemorySummary.render(null, true)).isNull();
  }

  @Test
  void aLargeMemoryIsCutAndSaysSo() {
    List<MemoryLine> lines = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      lines.add(line("L" + i, MemoryKind.FACT, "x".repeat(400)));
    }
    String s = MemorySummary.render(doc(lines), true);
    assertThat(s.length()).isLessThanOrEqualTo(MemorySummary.MAX_CHARS);
    assertThat(s).endsWith("more line(s) not shown)");
  }
}
