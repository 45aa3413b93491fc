package io.turnpike.runner.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.Role;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Checks a final answer against the agent's outputType before the run takes it. A strict
 * json_schema format makes OpenAI's models follow the schema, but not every OpenAI-compatible server
 * honours it, and a refusal or a cut-off answer does not follow it either: an answer that does not is
 * a retryable model error ({@value #INVALID}), re-sent under the agent's model retry policy like a 5xx.
 * The same validator as the json_schema guardrail (networknt, draft 2020-12 unless the schema says
 * otherwise), so both judge a schema alike.
 */
final class OutputTypes {
  /** The error code of an answer that does not follow the outputType. */
  static final String INVALID = "model_output_invalid";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_CACHED = 256;
  private static final Map<String, Schema> SCHEMAS = new ConcurrentHashMap<>();

  private OutputTypes() {}

  /** The result as the run may take it: unchanged, or, when its final answer does not follow the call's outputType, an error. */
  static ModelResult checked(ModelCall call, ModelResult result) {
    OutputType type = call.getOutputType();
    // Calls to make (functions, or a hosted MCP call waiting for approval): not the final answer yet.
    if (type == null || result.getError() != null || result.getOutput().stream().anyMatch(o -> o instanceof FunctionCallItem
        || o instanceof io.turnpike.avro.HostedToolCallItem h && h.getType().equals("mcp_approval_request"))) {
      return result;
    }
    String answer = result.getOutput().stream()
        .filter(o -> o instanceof MessageItem m && m.getRole() == Role.ASSISTANT)
        .map(o -> ((MessageItem) o).getText())
        .collect(Collectors.joining("\n"));
    if (answer.isEmpty()) {
      return result;
    }
    return problem(type, answer)
        .map(p -> ModelResult.newBuilder(result).setOutput(List.of()).setError(ModelErrors.error(INVALID,
            "the final answer does not follow output type '" + type.getName() + "' (schema sha256 "
                + abbreviated(type.getSha256()) + "): " + p, true, ModelErrors.Redactor.NONE)).build())
        .orElse(result);
  }

  /** Why {@code answer} does not follow {@code type}'s schema, or empty when it does. */
  static Optional<String> problem(OutputType type, String answer) {
    JsonNode node;
    try {
      node = JSON.readTree(answer);
    } catch (JsonProcessingException e) {
      String where = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column "
          + e.getLocation().getColumnNr() + ")";
      return Optional.of("it is not JSON" + where);
    }
    if (node == null || node.isMissingNode()) {
      return Optional.of("it is empty, JSON expected");
    }
    List<Error> errors = schema(type).validate(node);
    if (errors.isEmpty()) {
      return Optional.empty();
    }
    String first = errors.stream().limit(3).map(OutputTypes::describe).collect(Collectors.joining("; "));
    return Optional.of(errors.size() + (errors.size() == 1 ? " violation: " : " violations: ") + first);
  }

  private static Schema schema(OutputType type) {
    String key = type.getSha256().isEmpty() ? type.getSchemaJson() : type.getSha256();
    Schema cached = SCHEMAS.get(key);
    if (cached != null) {
      return cached;
    }
    JsonNode node;
    try {
      node = JSON.readTree(type.getSchemaJson());
    } catch (JsonProcessingException e) {
      throw new MappingSupport.InvalidCallException("output type " + type.getName() + " has a schema that is not JSON: "
          + e.getOriginalMessage(), e);
    }
    Schema schema;
    try {
      schema = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(node);
      schema.initializeValidators();
    } catch (RuntimeException e) {
      throw new MappingSupport.InvalidCallException("output type " + type.getName() + " has an unusable JSON Schema: "
          + e.getMessage(), e);
    }
    if (SCHEMAS.size() >= MAX_CACHED) {
      SCHEMAS.clear(); // agents are few; a bound only against a runaway
    }
    SCHEMAS.put(key, schema);
    return schema;
  }

  private static String describe(Error e) {
    String at = String.valueOf(e.getInstanceLocation());
    String m = e.getMessage();
    String text = m == null ? at + ": " + e.getKeyword() : m.startsWith(at) ? m : at + ": " + m;
    return text.length() > 200 ? text.substring(0, 197) + "..." : text;
  }

  private static String abbreviated(String sha) {
    return sha.length() > 12 ? sha.substring(0, 12) : sha;
  }
}
