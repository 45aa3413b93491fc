package io.turnpike.schema;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ModelStreamDelta;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.WorkspaceRecord;
import io.turnpike.schema.registry.SchemaRegistries;
import io.turnpike.schema.registry.SchemaRegistry;
import java.util.List;

/**
 * One wire-format serde per value type, all bound to one schema registry. Each type has a home topic (its
 * subject when encoded without a topic). Serdes are thread-safe and cache registry ids, so share one
 * instance per process and registry: {@link #forUrl}.
 */
public record TurnpikeSerdes(
    SchemaRegistry registry,
    AvroSerde<AgentDefinition> agentDefinition,
    AvroSerde<RunRequest> runRequest,
    AvroSerde<RunCommand> runCommand,
    AvroSerde<RunState> runState,
    AvroSerde<TurnEvent> turnEvent,
    AvroSerde<RunResult> runResult,
    AvroSerde<ModelCall> modelCall,
    AvroSerde<ModelResult> modelResult,
    AvroSerde<ToolCall> toolCall,
    AvroSerde<ToolResult> toolResult,
    AvroSerde<SandboxCommand> sandboxCommand,
    AvroSerde<SandboxResult> sandboxResult,
    AvroSerde<GuardrailCheck> guardrailCheck,
    AvroSerde<GuardrailVerdict> guardrailVerdict,
    AvroSerde<WorkspaceRecord> workspaceRecord,
    AvroSerde<ModelStreamDelta> modelStreamDelta) {

  private static final java.util.Map<SchemaRegistry, TurnpikeSerdes> SHARED = new java.util.concurrent.ConcurrentHashMap<>();

  public static TurnpikeSerdes using(SchemaRegistry registry) {
    return SHARED.computeIfAbsent(registry, r -> new TurnpikeSerdes(r,
        AvroSerde.of(AgentDefinition.class, r, Topics.AGENTS.name()),
        AvroSerde.of(RunRequest.class, r, Topics.RUN_REQUESTS.name()),
        AvroSerde.of(RunCommand.class, r, Topics.RUN_COMMANDS.name()),
        AvroSerde.of(RunState.class, r, Topics.RUN_STATE.name()),
        AvroSerde.of(TurnEvent.class, r, Topics.TURN_EVENTS.name()),
        AvroSerde.of(RunResult.class, r, Topics.RUN_RESULTS.name()),
        AvroSerde.of(ModelCall.class, r, Topics.MODEL_REQUESTS.name()),
        AvroSerde.of(ModelResult.class, r, Topics.MODEL_RESULTS.name()),
        AvroSerde.of(ToolCall.class, r, Topics.TOOL_REQUESTS.name()),
        AvroSerde.of(ToolResult.class, r, Topics.TOOL_RESULTS.name()),
        AvroSerde.of(SandboxCommand.class, r, Topics.SANDBOX_REQUESTS.name()),
        AvroSerde.of(SandboxResult.class, r, Topics.SANDBOX_RESULTS.name()),
        AvroSerde.of(GuardrailCheck.class, r, Topics.GUARDRAIL_REQUESTS.name()),
        AvroSerde.of(GuardrailVerdict.class, r, Topics.GUARDRAIL_RESULTS.name()),
        AvroSerde.of(WorkspaceRecord.class, r, Topics.WORKSPACES.name()),
        AvroSerde.of(ModelStreamDelta.class, r, Topics.MODEL_STREAM.name())));
  }

  /** The shared serdes for the registry at {@code url} ({@code http(s)://...} or {@code mock://scope}). */
  public static TurnpikeSerdes forUrl(String url) {
    return using(SchemaRegistries.forUrl(url));
  }

  public List<AvroSerde<?>> all() {
    return List.of(agentDefinition, runRequest, runCommand, runState, turnEvent, runResult, modelCall, modelResult,
        toolCall, toolResult, sandboxCommand, sandboxResult, guardrailCheck, guardrailVerdict, workspaceRecord,
        modelStreamDelta);
  }
}
