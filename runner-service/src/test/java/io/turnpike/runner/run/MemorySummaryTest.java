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

  @Test
  void withASessionsDirEachSourceRunGetsAFileOfWhatItLeft() {
    MemoryLine a = MemoryLine.newBuilder().setId("L1").setKind(MemoryKind.FACT).setText("The office is in Oslo")
        .setSources(List.of("run-1", "run/2")).setUpdatedAt(Instant.EPOCH).build();
    MemoryLine b = MemoryLine.newBuilder().setId("L2").setKind(MemoryKind.PITFALL).setText("The weather tool needs a city")
        .setSources(List.of("run/2")).setUpdatedAt(Instant.EPOCH.plusSeconds(5)).build();
    io.turnpike.avro.AgentDefinition agent = io.turnpike.avro.AgentDefinition.newBuilder(Fixtures.agent(5))
        .setMemory(io.turnpike.avro.MemoryConfig.newBuilder().setRead(true)
            .setLayout(io.turnpike.avro.MemoryLayout.newBuilder().setSessionsDir("sessions").build()).build())
        .build();
    java.util.Map<String, String> files = RunMemories.files(doc(List.of(a, b)), agent);
    assertThat(files).containsKeys("memory/MEMORY.md", "memory/notes/fact.md", "memory/notes/pitfall.md",
        "memory/sessions/run-1.md", "memory/sessions/run_2.md"); // a runId's slash cannot make a folder
    assertThat(files.get("memory/sessions/run-1.md")).isEqualTo("# What run run-1 left in memory\n\n- [L1] (fact) The office is in Oslo\n");
    assertThat(files.get("memory/sessions/run_2.md")).contains("# What run run/2 left in memory")
        .contains("- [L2] (pitfall) The weather tool needs a city").contains("- [L1] (fact) The office is in Oslo");
    // without a sessionsDir (the default) there are none
    io.turnpike.avro.AgentDefinition plain = io.turnpike.avro.AgentDefinition.newBuilder(agent)
        .setMemory(io.turnpike.avro.MemoryConfig.newBuilder().setRead(true).build()).build();
    assertThat(RunMemories.files(doc(List.of(a, b)), plain).keySet()).noneMatch(k -> k.contains("sessions"));
  }
}
