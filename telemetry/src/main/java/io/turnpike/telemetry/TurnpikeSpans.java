package io.turnpike.telemetry;

import io.opentelemetry.api.common.AttributeKey;

/**
 * Span names and attribute keys, in one place like {@link TurnpikeMetrics}. A run is one trace: its
 * trace id is the run's {@code turnpike.trace-id}; {@link #RUN} and {@link #TURN} are recorded when
 * they end, with ids derived from the trace id so that spans made earlier could already name them as
 * parents (see {@link KafkaTracing}).
 */
public final class TurnpikeSpans {
  private TurnpikeSpans() {}

  /** The whole run, start to terminal status. Root of the trace. */
  public static final String RUN = "run";
  /** One agent turn: a model call and what it led to, up to the next model call or the end. */
  public static final String TURN = "turn";
  /** The orchestrator applying one input record to a run. */
  public static final String RUN_EVENT = "run.event";
  public static final String MODEL_CALL = "model.call";
  public static final String TOOL_CALL = "tool.call";
  public static final String SANDBOX_COMMAND = "sandbox.command";
  public static final String GUARDRAIL_CHECK = "guardrail.check";

  public static final AttributeKey<String> RUN_ID = AttributeKey.stringKey("turnpike.run.id");
  public static final AttributeKey<String> CALL_ID = AttributeKey.stringKey("turnpike.call.id");
  public static final AttributeKey<String> AGENT = AttributeKey.stringKey("turnpike.agent");
  public static final AttributeKey<Long> TURN_NUMBER = AttributeKey.longKey("turnpike.turn");
  public static final AttributeKey<String> RUN_STATUS = AttributeKey.stringKey("turnpike.run.status");
  public static final AttributeKey<String> EVENT = AttributeKey.stringKey("turnpike.event");
  public static final AttributeKey<String> TOOL = AttributeKey.stringKey("turnpike.tool");
  public static final AttributeKey<String> OUTCOME = AttributeKey.stringKey("turnpike.outcome");
  public static final AttributeKey<String> GUARDRAIL = AttributeKey.stringKey("turnpike.guardrail");
  public static final AttributeKey<String> GUARDRAIL_STAGE = AttributeKey.stringKey("turnpike.guardrail.stage");
  public static final AttributeKey<String> VERDICT = AttributeKey.stringKey("turnpike.verdict");
  public static final AttributeKey<String> SANDBOX_BACKEND = AttributeKey.stringKey("turnpike.sandbox.backend");
  public static final AttributeKey<String> SANDBOX_SESSION = AttributeKey.stringKey("turnpike.sandbox.session");
  public static final AttributeKey<String> SANDBOX_OPERATION = AttributeKey.stringKey("turnpike.sandbox.operation");

  /** OpenTelemetry semantic conventions where one fits. */
  public static final AttributeKey<String> MESSAGING_DESTINATION = AttributeKey.stringKey("messaging.destination.name");
  public static final AttributeKey<String> GEN_AI_REQUEST_MODEL = AttributeKey.stringKey("gen_ai.request.model");
  public static final AttributeKey<Long> GEN_AI_INPUT_TOKENS = AttributeKey.longKey("gen_ai.usage.input_tokens");
  public static final AttributeKey<Long> GEN_AI_OUTPUT_TOKENS = AttributeKey.longKey("gen_ai.usage.output_tokens");
  public static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error.type");
}
