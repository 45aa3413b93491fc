package io.turnpike.schema;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.McpToolList;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryCommand;
import io.turnpike.avro.MemoryConsolidation;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ModelStreamDelta;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.WorkspaceRecord;
import java.util.List;
import java.util.Map;

/**
 * The topic catalog. Names are part of Turnpike's public interface: users produce to
 * {@link #RUN_REQUESTS} and {@link #RUN_COMMANDS}, consume {@link #RUN_RESULTS} and
 * {@link #TURN_EVENTS}. Every topic keyed by runId must have the same partition count, because the
 * orchestrator joins them by key without repartitioning.
 */
public final class Topics {
  private Topics() {}

  private static final Map<String, String> LONG_RETENTION = Map.of("retention.ms", String.valueOf(30L * 24 * 3600 * 1000));

  public static final TopicSpec AGENTS = new TopicSpec("turnpike.agents", "agent name", AgentDefinition.getClassSchema(), true, Map.of());
  public static final TopicSpec RUN_REQUESTS = new TopicSpec("turnpike.run-requests", "runId", RunRequest.getClassSchema(), false, Map.of());
  public static final TopicSpec RUN_COMMANDS = new TopicSpec("turnpike.run-commands", "runId", RunCommand.getClassSchema(), false, Map.of());
  public static final TopicSpec RUN_STATE = new TopicSpec("turnpike.run-state", "runId", RunState.getClassSchema(), true, Map.of());
  public static final TopicSpec TURN_EVENTS = new TopicSpec("turnpike.turn-events", "runId", TurnEvent.getClassSchema(), false, LONG_RETENTION);
  public static final TopicSpec RUN_RESULTS = new TopicSpec("turnpike.run-results", "runId", RunResult.getClassSchema(), false, LONG_RETENTION);
  public static final TopicSpec MODEL_REQUESTS = new TopicSpec("turnpike.model.requests", "runId", ModelCall.getClassSchema(), false, Map.of());
  public static final TopicSpec MODEL_RESULTS = new TopicSpec("turnpike.model.results", "runId", ModelResult.getClassSchema(), false, Map.of());
  /**
   * Token deltas of streamed model calls, for live display only: kept an hour, never read by the
   * orchestrator (the ModelResult on {@link #MODEL_RESULTS} is the answer), so the audit topics stay lean.
   */
  public static final TopicSpec MODEL_STREAM = new TopicSpec("turnpike.model.stream", "runId", ModelStreamDelta.getClassSchema(), false,
      Map.of("retention.ms", String.valueOf(3600L * 1000)));
  public static final TopicSpec TOOL_REQUESTS = new TopicSpec("turnpike.tool.requests", "runId", ToolCall.getClassSchema(), false, Map.of());
  public static final TopicSpec TOOL_RESULTS = new TopicSpec("turnpike.tool.results", "runId", ToolResult.getClassSchema(), false, Map.of());
  public static final TopicSpec SANDBOX_REQUESTS = new TopicSpec("turnpike.sandbox.requests", "runId", SandboxCommand.getClassSchema(), false, Map.of());
  public static final TopicSpec SANDBOX_RESULTS = new TopicSpec("turnpike.sandbox.results", "runId", SandboxResult.getClassSchema(), false, Map.of());
  public static final TopicSpec GUARDRAIL_REQUESTS = new TopicSpec("turnpike.guardrail.requests", "runId", GuardrailCheck.getClassSchema(), false, Map.of());
  public static final TopicSpec GUARDRAIL_RESULTS = new TopicSpec("turnpike.guardrail.results", "runId", GuardrailVerdict.getClassSchema(), false, Map.of());
  /** Content-addressed workspace snapshot chunks and per-session snapshot manifests, one union type. */
  public static final TopicSpec WORKSPACES = new TopicSpec("turnpike.workspaces", "chunk:<sha256> or session:<sessionId>", WorkspaceRecord.getClassSchema(), true,
      Map.of("max.message.bytes", String.valueOf(2 * 1024 * 1024)));
  /** Phase 1 of memory: one record per finished run of an agent with memory.write (its candidate memories). */
  public static final TopicSpec MEMORY_CANDIDATES = new TopicSpec("turnpike.memory.candidates", "memory scope (<agent> or <agent>/<user>)",
      MemoryCandidates.getClassSchema(), false, LONG_RETENTION);
  /** Consolidated memory, every version; compaction keeps the latest per scope. Read by the runner. */
  public static final TopicSpec MEMORY = new TopicSpec("turnpike.memory", "memory scope", MemoryDocument.getClassSchema(), true, Map.of());
  /** Edits (memory_update) and forget tombstones (run or user), applied at once. */
  public static final TopicSpec MEMORY_COMMANDS = new TopicSpec("turnpike.memory.commands", "runId or scope (edits); run:<id> / user:<id> on every partition (forget)",
      MemoryCommand.getClassSchema(), false, LONG_RETENTION);
  public static final TopicSpec MEMORY_CONSOLIDATION_REQUESTS = new TopicSpec("turnpike.memory.consolidation.requests", "memory scope",
      MemoryConsolidation.getClassSchema(), false, Map.of());
  public static final TopicSpec MEMORY_CONSOLIDATION_RESULTS = new TopicSpec("turnpike.memory.consolidation.results", "memory scope",
      MemoryConsolidation.getClassSchema(), false, Map.of());
  /** MCP tools (issue #14): each MCP server's tool list as the MCP gateway last listed it; read by the runner. */
  public static final TopicSpec MCP_TOOLS = new TopicSpec("turnpike.mcp.tools", "MCP server name", McpToolList.getClassSchema(), true, Map.of());
  public static final TopicSpec DEAD_LETTERS = new TopicSpec("turnpike.dead-letters", "original key", null, false, LONG_RETENTION);

  /** Every topic Turnpike uses, in the order a reader meets them. */
  public static final List<TopicSpec> ALL = List.of(
      AGENTS, RUN_REQUESTS, RUN_COMMANDS, RUN_STATE, TURN_EVENTS, RUN_RESULTS,
      MODEL_REQUESTS, MODEL_RESULTS, MODEL_STREAM, TOOL_REQUESTS, TOOL_RESULTS,
      SANDBOX_REQUESTS, SANDBOX_RESULTS, GUARDRAIL_REQUESTS, GUARDRAIL_RESULTS, WORKSPACES,
      MEMORY_CANDIDATES, MEMORY, MEMORY_COMMANDS, MEMORY_CONSOLIDATION_REQUESTS, MEMORY_CONSOLIDATION_RESULTS, MCP_TOOLS, DEAD_LETTERS);

  public static TopicSpec byName(String name) {
    return ALL.stream().filter(t -> t.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("unknown topic " + name));
  }
}
