package io.turnpike.memory;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.EventOffset;
import io.turnpike.avro.MemoryCandidate;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryGenerate;
import io.turnpike.avro.MemoryKind;
import io.turnpike.avro.MemoryProvenance;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.Usage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Records for memory tests. */
final class Fixtures {
  private Fixtures() {}

  static MemoryConfig config(int candidates, Long ageMs, int maxRaw, boolean write) {
    return MemoryConfig.newBuilder().setRead(true).setWrite(write)
        .setGenerate(MemoryGenerate.newBuilder().setConsolidateAfterCandidates(candidates).setConsolidateAfterAgeMs(ageMs)
            .setMaxRawMemoriesForConsolidation(maxRaw).build())
        .build();
  }

  static AgentDefinition agent(String name, MemoryConfig memory) {
    return AgentDefinition.newBuilder().setName(name).setVersion(1).setModel("gpt-test").setMemory(memory).build();
  }

  static MemoryCandidates batch(String scope, String runId, MemoryConfig config, Instant at, String... texts) {
    List<MemoryCandidate> cs = new ArrayList<>();
    for (int i = 0; i < texts.length; i++) {
      cs.add(MemoryCandidate.newBuilder().setCandidateId(runId + "@5#" + i).setScope(scope)
          .setKind(texts[i].contains("prefers") ? MemoryKind.PREFERENCE : MemoryKind.FACT).setText(texts[i]).setConfidence(0.8)
          .setProvenance(MemoryProvenance.newBuilder().setRunId(runId).setUser(Scopes.userOf(scope)).setTurn(1).setItems(List.of(0))
              .setEvents(List.of(new EventOffset("turnpike.run-state", 0, 1L))).setModel("gpt-test").setScripted(true).build())
          .setCreatedAt(at).build());
    }
    return MemoryCandidates.newBuilder().setExtractionId(runId + "@5").setScope(scope).setAgent(Scopes.agentOf(scope))
        .setRunId(runId).setUser(Scopes.userOf(scope)).setCandidates(cs).setConfig(config).setAgentModel("gpt-test")
        .setExtractedAt(at).build();
  }

  static RunState finished(String runId, AgentDefinition agent, RunStatus status, String user, String input, String answer) {
    Instant now = Instant.now();
    List<Object> items = new ArrayList<>();
    items.add(MessageItem.newBuilder().setRole(Role.USER).setText(input).build());
    if (answer != null) {
      items.add(MessageItem.newBuilder().setRole(Role.ASSISTANT).setText(answer).build());
    }
    return RunState.newBuilder().setRunId(runId).setStatus(status).setAgent(agent).setInput(input).setUser(user)
        .setItems(items).setUsage(Usage.newBuilder().build()).setCreatedAt(now).setUpdatedAt(now).setVersion(5)
        .setFinalOutput(answer).build();
  }
}
