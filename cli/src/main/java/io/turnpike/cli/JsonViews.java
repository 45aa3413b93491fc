package io.turnpike.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.TurnEvent;
import io.turnpike.schema.RunStateJson;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@code -o json} prints. A run and a step have the shapes of the console's API ({@code GET /api/runs},
 * {@code /api/runs/{id}/history}), so a script reads both the same way; a RunState is Avro's JSON
 * encoding ({@link RunStateJson}), the form {@code runs export} writes.
 */
final class JsonViews {
  private JsonViews() {}

  /** One run, from its latest RunState. */
  static Map<String, Object> run(RunState s) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("runId", s.getRunId());
    m.put("agent", s.getAgent().getName());
    m.put("agentVersion", s.getAgent().getVersion());
    m.put("status", s.getStatus().name());
    m.put("turn", s.getTurn());
    m.put("createdAt", time(s.getCreatedAt()));
    m.put("updatedAt", time(s.getUpdatedAt()));
    m.put("error", s.getError());
    m.put("pendingApprovals", s.getApprovals().size());
    m.put("parentRunId", s.getParent() == null ? null : s.getParent().getRunId());
    m.put("rejected", false);
    return m;
  }

  /** A request refused at submission: known only by its FAILED result (it never had a RunState). */
  static Map<String, Object> rejected(RunResult r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("runId", r.getRunId());
    m.put("agent", r.getAgent());
    m.put("agentVersion", r.getAgentVersion());
    m.put("status", r.getStatus().name());
    m.put("turn", r.getTurns());
    m.put("createdAt", time(r.getFinishedAt()));
    m.put("updatedAt", time(r.getFinishedAt()));
    m.put("error", r.getError());
    m.put("pendingApprovals", 0);
    m.put("parentRunId", null);
    m.put("rejected", true);
    return m;
  }

  /** One run with its whole RunState under "state". */
  static Map<String, Object> runWithState(RunState s) {
    Map<String, Object> m = run(s);
    try {
      m.put("state", OutputOptions.JSON.readTree(RunStateJson.write(s, false)));
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
    return m;
  }

  static Map<String, Object> step(TurnEvent e, EventFormat fmt) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("seq", e.getSeq());
    m.put("type", e.getStep() == null ? "Unknown" : e.getStep().getClass().getSimpleName());
    m.put("at", time(e.getAt()));
    m.put("turn", e.getTurn());
    m.put("agent", e.getAgent());
    m.put("summary", fmt.summary(e));
    return m;
  }

  static Map<String, Object> approval(RunState s, PendingApproval a) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("runId", s.getRunId());
    m.put("callId", a.getCallId());
    m.put("agent", s.getAgent().getName());
    m.put("agentVersion", s.getAgent().getVersion());
    m.put("tool", a.getTool());
    m.put("arguments", a.getArguments());
    m.put("reason", a.getReason());
    m.put("requestedAt", time(a.getRequestedAt()));
    m.put("parentRunId", s.getParent() == null ? null : s.getParent().getRunId());
    return m;
  }

  static Map<String, Object> agent(AgentDefinition a) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", a.getName());
    m.put("version", a.getVersion());
    m.put("model", a.getModel());
    m.put("description", a.getDescription());
    m.put("tools", a.getTools().stream().map(ToolSpec::getName).toList());
    m.put("capabilities", a.getCapabilities());
    m.put("handoffs", a.getHandoffs());
    return m;
  }

  private static String time(Instant t) {
    return t == null ? null : t.toString();
  }
}
