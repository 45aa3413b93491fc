package io.turnpike.client.agent;

import static io.turnpike.client.agent.AgentYamlGatesTest.HEAD;
import static io.turnpike.client.agent.AgentYamlGatesTest.assertError;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CompactionMode;
import org.junit.jupiter.api.Test;

/** The compaction capability in agent YAML (issue #14): listed, configured, and refused with advice. */
class AgentYamlCompactionTest {

  @Test
  void listedAloneItCompactsWithTheDefaults() {
    AgentDefinition d = AgentYaml.parse(HEAD + "capabilities: [compaction]\n", "a.yaml");
    assertThat(d.getCapabilities()).containsExactly("compaction");
    assertThat(d.getCompaction()).isNotNull();
    assertThat(d.getCompaction().getMode()).isEqualTo(CompactionMode.STATIC);
    assertThat(d.getCompaction().getThreshold()).isEqualTo(0.8);
    assertThat(d.getCompaction().getContextWindow()).isNull();
    assertThat(d.getCompaction().getKeepRecentItems()).isEqualTo(6);
    assertThat(d.getCompaction().getInstructions()).isNull();
  }

  @Test
  void itsSectionSetsThePolicy() {
    AgentDefinition d = AgentYaml.parse(HEAD + """
        capabilities: [filesystem, compaction]
        compaction:
          policy: dynamic
          threshold: 0.7
          contextWindow: 200000
          keepRecentItems: 10
          instructions: Summarize for a coding agent.
        """, "a.yaml");
    assertThat(d.getCompaction().getMode()).isEqualTo(CompactionMode.DYNAMIC);
    assertThat(d.getCompaction().getThreshold()).isEqualTo(0.7);
    assertThat(d.getCompaction().getContextWindow()).isEqualTo(200_000L);
    assertThat(d.getCompaction().getKeepRecentItems()).isEqualTo(10);
    assertThat(d.getCompaction().getInstructions()).isEqualTo("Summarize for a coding agent.");
  }

  @Test
  void withoutTheCapabilityThereIsNoCompaction() {
    assertThat(AgentYaml.parse(HEAD, "a.yaml").getCompaction()).isNull();
    assertError(HEAD + "compaction: {threshold: 0.5}\n", "compaction", "add compaction to capabilities");
  }

  @Test
  void badSettingsAreRefusedNamingTheField() {
    String head = HEAD + "capabilities: [compaction]\n";
    assertError(head + "compaction: {policy: sometimes}\n", "compaction.policy", "'sometimes' is not a compaction policy");
    assertError(head + "compaction: {threshold: 1.5}\n", "compaction.threshold", "must be between");
    assertError(head + "compaction: {contextWindow: 10}\n", "compaction.contextWindow", "at least 1024");
    assertError(head + "compaction: {keepRecentItems: 0}\n", "compaction.keepRecentItems", "at least 1");
    assertError(head + "compaction: {instructions: \" \"}\n", "compaction.instructions", "blank");
    assertError(head + "compaction: {window: 1000}\n", "compaction.window", "");
  }
}
