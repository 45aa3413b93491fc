package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.MemoryScopeKind;
import io.turnpike.avro.ToolSpec;
import org.junit.jupiter.api.Test;

class AgentYamlMemoryTest {
  private static final String BASE = "name: helper\nversion: 1\nmodel: gpt-4.1-mini\n";

  private static AgentDefinition parse(String memory) {
    return AgentYaml.parse(BASE + memory, "helper.yaml");
  }

  @Test
  void aFullMemorySectionIsPublishedWithTheUpdateTool() {
    AgentDefinition d = parse("""
        memory:
          read: true
          write: true
          scope: user
          layout: {memoriesDir: mem, summaryFile: SUMMARY.md, notesDir: notes}
          generate:
            phaseOneModel: small
            phaseTwoModel: large
            consolidateAfter: {candidates: 5, age: 1h}
            maxRawMemoriesForConsolidation: 20
        """);
    var m = d.getMemory();
    assertThat(m.getRead()).isTrue();
    assertThat(m.getWrite()).isTrue();
    assertThat(m.getScope()).isEqualTo(MemoryScopeKind.USER);
    assertThat(m.getLayout().getMemoriesDir()).isEqualTo("mem");
    assertThat(m.getLayout().getSummaryFile()).isEqualTo("SUMMARY.md");
    assertThat(m.getGenerate().getPhaseOneModel()).isEqualTo("small");
    assertThat(m.getGenerate().getPhaseTwoModel()).isEqualTo("large");
    assertThat(m.getGenerate().getConsolidateAfterCandidates()).isEqualTo(5);
    assertThat(m.getGenerate().getConsolidateAfterAgeMs()).isEqualTo(3_600_000L);
    assertThat(m.getGenerate().getMaxRawMemoriesForConsolidation()).isEqualTo(20);
    assertThat(d.getTools()).extracting(ToolSpec::getName).containsExactly("memory_update");
    assertThat(d.getTools().get(0).getParametersJson()).contains("\"lineId\"").contains("\"reason\"");
  }

  @Test
  void readOnlyAgentsGetNoUpdateToolAndDefaultsApply() {
    AgentDefinition d = parse("memory: {read: true}\n");
    assertThat(d.getMemory().getWrite()).isFalse();
    assertThat(d.getMemory().getScope()).isEqualTo(MemoryScopeKind.AGENT);
    assertThat(d.getMemory().getLayout().getMemoriesDir()).isEqualTo("memory");
    assertThat(d.getMemory().getLayout().getSummaryFile()).isEqualTo("MEMORY.md");
    assertThat(d.getMemory().getGenerate().getConsolidateAfterCandidates()).isEqualTo(3);
    assertThat(d.getTools()).isEmpty();
    assertThat(parse("").getMemory()).isNull();
  }

  @Test
  void partialSectionsKeepTheOtherDefaults() {
    AgentDefinition d = parse("memory: {write: true, layout: {notesDir: n}, generate: {consolidateAfter: {candidates: 2}}}\n");
    assertThat(d.getMemory().getLayout().getMemoriesDir()).isEqualTo("memory");
    assertThat(d.getMemory().getLayout().getSummaryFile()).isEqualTo("MEMORY.md");
    assertThat(d.getMemory().getLayout().getNotesDir()).isEqualTo("n");
    assertThat(d.getMemory().getGenerate().getConsolidateAfterCandidates()).isEqualTo(2);
    assertThat(d.getMemory().getGenerate().getMaxRawMemoriesForConsolidation()).isEqualTo(64);
    assertThat(d.getMemory().getGenerate().getPhaseOneModel()).isNull();
  }

  @Test
  void mistakesAreNamed() {
    assertThatThrownBy(() -> parse("memory: {read: true, scope: team}\n"))
        .hasMessageContaining("memory.scope").hasMessageContaining("'team' is not a memory scope");
    assertThatThrownBy(() -> parse("memory: {}\n")).hasMessageContaining("memory").hasMessageContaining("neither read nor write");
    assertThatThrownBy(() -> parse("memory: {read: false, write: false}\n")).hasMessageContaining("remove the section");
    assertThatThrownBy(() -> parse("memory: {write: true, generate: {consolidateAfter: {candidate: 3}}}\n"))
        .hasMessageContaining("memory.generate.consolidateAfter.candidate").hasMessageContaining("did you mean 'candidates'");
    assertThatThrownBy(() -> parse("memory: {read: true, generate: {phaseOneModel: x}}\n"))
        .hasMessageContaining("memory.generate").hasMessageContaining("without write: true");
    assertThatThrownBy(() -> parse("memory: {write: true, generate: {consolidateAfter: {candidates: 10}, maxRawMemoriesForConsolidation: 5}}\n"))
        .hasMessageContaining("maxRawMemoriesForConsolidation").hasMessageContaining("could never take");
    assertThatThrownBy(() -> parse("memory: {read: true, layout: {memoriesDir: ../etc}}\n"))
        .hasMessageContaining("memory.layout.memoriesDir").hasMessageContaining("relative path");
    assertThatThrownBy(() -> parse("memory: {write: true, generate: {consolidateAfter: {age: soon}}}\n"))
        .hasMessageContaining("memory.generate.consolidateAfter.age");
    assertThatThrownBy(() -> AgentYaml.parse(BASE + "tools: [{name: memory_update}]\nmemory: {write: true}\n", "helper.yaml"))
        .hasMessageContaining("tools[0].name").hasMessageContaining("reserved");
  }
}
