package io.turnpike.schema;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.TurnEvent;

/** One serde per value type. The serdes are stateless after construction and safe to share. */
public final class TurnpikeSerdes {
  private TurnpikeSerdes() {}

  public static final AvroSerde<AgentDefinition> AGENT_DEFINITION = AvroSerde.of(AgentDefinition.class);
  public static final AvroSerde<RunRequest> RUN_REQUEST = AvroSerde.of(RunRequest.class);
  public static final AvroSerde<RunCommand> RUN_COMMAND = AvroSerde.of(RunCommand.class);
  public static final AvroSerde<RunState> RUN_STATE = AvroSerde.of(RunState.class);
  public static final AvroSerde<TurnEvent> TURN_EVENT = AvroSerde.of(TurnEvent.class);
  public static final AvroSerde<RunResult> RUN_RESULT = AvroSerde.of(RunResult.class);
  public static final AvroSerde<ModelCall> MODEL_CALL = AvroSerde.of(ModelCall.class);
  public static final AvroSerde<ModelResult> MODEL_RESULT = AvroSerde.of(ModelResult.class);
  public static final AvroSerde<ToolCall> TOOL_CALL = AvroSerde.of(ToolCall.class);
  public static final AvroSerde<ToolResult> TOOL_RESULT = AvroSerde.of(ToolResult.class);
  public static final AvroSerde<SandboxCommand> SANDBOX_COMMAND = AvroSerde.of(SandboxCommand.class);
  public static final AvroSerde<SandboxResult> SANDBOX_RESULT = AvroSerde.of(SandboxResult.class);
  public static final AvroSerde<GuardrailCheck> GUARDRAIL_CHECK = AvroSerde.of(GuardrailCheck.class);
  public static final AvroSerde<GuardrailVerdict> GUARDRAIL_VERDICT = AvroSerde.of(GuardrailVerdict.class);
}
