package io.turnpike.client.tool;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.time.Instant;

/**
 * One call of a function tool, as the model asked for it.
 *
 * @param runId         the run that asked
 * @param callId        Turnpike's id of this command (unique per attempt; the result echoes it)
 * @param toolCallId    the model's call id
 * @param name          tool name
 * @param argumentsJson the arguments exactly as the model produced them (JSON text)
 * @param agent         the agent that asked (may be null when built by hand)
 * @param attempt       1 for the first attempt
 * @param deadline      when the run stops waiting for this answer (may be null when built by hand)
 * @param traceId       the run's trace id (may be null)
 */
public record ToolInvocation(String runId, String callId, String toolCallId, String name, String argumentsJson,
    String agent, int attempt, Instant deadline, String traceId) {

  static final ObjectMapper JSON = new ObjectMapper();

  /** For tests of handlers: an invocation without agent, deadline and trace id. */
  public ToolInvocation(String runId, String callId, String toolCallId, String name, String argumentsJson) {
    this(runId, callId, toolCallId, name, argumentsJson, null, 1, null, null);
  }

  /**
   * The arguments parsed as JSON (an empty object when there are none).
   *
   * @throws IllegalArgumentException if the model produced invalid JSON (the model is told so)
   */
  public JsonNode args() {
    if (argumentsJson == null || argumentsJson.isBlank()) {
      return JsonNodeFactory.instance.objectNode();
    }
    try {
      return JSON.readTree(argumentsJson);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("arguments of " + name + " are not valid JSON: " + e.getOriginalMessage());
    }
  }

  /** The arguments bound to a type, e.g. a record {@code record Args(String city) {}}. */
  public <T> T argsAs(Class<T> type) {
    try {
      return JSON.treeToValue(args(), type);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("arguments of " + name + " do not fit " + type.getSimpleName() + ": "
          + e.getOriginalMessage());
    }
  }

  /** A required string argument; fails with a message the model can act on when it is missing. */
  public String requireString(String field) {
    JsonNode v = args().get(field);
    if (v == null || v.isNull() || (v.isTextual() && v.asText().isBlank())) {
      throw new IllegalArgumentException("missing required argument '" + field + "' for " + name);
    }
    return v.asText();
  }
}
