package io.turnpike.schema;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.RunRequest;
import java.io.IOException;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.header.Headers;

/**
 * Run requests as plain JSON, for producers without Avro tooling (kcat, a shell script, any language's
 * Kafka client). A record whose {@code content-type} header is {@code application/json} is read with
 * this instead of the Avro serde:
 *
 * <pre>{"agent": "travel-assistant", "input": "Weather in Oslo?", "runId": "optional, else the key",
 *  "agentVersion": 2, "metadata": {"ticket": "T-1"}, "requestedAt": "2026-11-25T10:00:00Z", "stream": true}</pre>
 *
 * Only {@code agent} and {@code input} are required. Anything else is an {@link InvalidRunRequest} that
 * says exactly what is wrong, so the orchestrator can dead-letter the record with that reason.
 */
public final class RunRequestJson {
  public static final String CONTENT_TYPE_HEADER = "content-type";
  public static final String JSON = "application/json";
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final Set<String> FIELDS = Set.of("runId", "agent", "agentVersion", "input", "metadata", "requestedAt", "stream", "user");
  private static final int MAX_BYTES = 1 << 20;

  private RunRequestJson() {}

  /** Whether the record says its value is JSON (the header's media type, parameters such as charset ignored). */
  public static boolean isJson(Headers headers) {
    String type = TurnpikeHeaders.get(headers, CONTENT_TYPE_HEADER);
    return type != null && type.split(";", 2)[0].trim().equalsIgnoreCase(JSON);
  }

  /**
   * @param key       the record key, used as runId when the JSON has none
   * @param timestamp the record timestamp, used as requestedAt when the JSON has none
   */
  public static RunRequest parse(byte[] value, String key, Instant timestamp) {
    if (value == null || value.length == 0) {
      throw new InvalidRunRequest("empty JSON run request");
    }
    if (value.length > MAX_BYTES) {
      throw new InvalidRunRequest("JSON run request of " + value.length + " bytes is over the " + MAX_BYTES + " byte limit");
    }
    JsonNode node;
    try {
      node = MAPPER.readTree(value);
    } catch (JsonProcessingException e) {
      throw new InvalidRunRequest("not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new InvalidRunRequest("not valid JSON: " + e.getMessage());
    }
    if (node == null || !node.isObject()) {
      throw new InvalidRunRequest("a JSON run request must be an object, got " + (node == null ? "nothing" : node.getNodeType()));
    }
    for (var it = node.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!FIELDS.contains(f)) {
        throw new InvalidRunRequest("unknown field '" + f + "' (allowed: runId, agent, agentVersion, input, metadata, requestedAt, stream, user)");
      }
    }
    String runId = text(node, "runId", false);
    if (runId == null) {
      runId = key;
    }
    if (runId == null || runId.isBlank()) {
      throw new InvalidRunRequest("no runId: give one in the JSON or as the record key");
    }
    Integer version = null;
    JsonNode v = node.get("agentVersion");
    if (v != null && !v.isNull()) {
      if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 1) {
        throw new InvalidRunRequest("agentVersion must be a positive integer, got " + v);
      }
      version = v.asInt();
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    JsonNode m = node.get("metadata");
    if (m != null && !m.isNull()) {
      if (!m.isObject()) {
        throw new InvalidRunRequest("metadata must be an object of strings, got " + m.getNodeType());
      }
      for (var it = m.fields(); it.hasNext(); ) {
        var e = it.next();
        if (!e.getValue().isValueNode() || e.getValue().isNull()) {
          throw new InvalidRunRequest("metadata." + e.getKey() + " must be a string, number or boolean");
        }
        metadata.put(e.getKey(), e.getValue().asText());
      }
    }
    Instant requestedAt = timestamp;
    String at = text(node, "requestedAt", false);
    if (at != null) {
      try {
        requestedAt = Instant.parse(at);
      } catch (DateTimeParseException e) {
        throw new InvalidRunRequest("requestedAt must be an ISO-8601 instant like 2026-11-25T10:00:00Z, got '" + at + "'");
      }
    }
    JsonNode stream = node.get("stream");
    if (stream != null && !stream.isNull() && !stream.isBoolean()) {
      throw new InvalidRunRequest("stream must be true or false, got " + stream);
    }
    return RunRequest.newBuilder()
        .setStream(stream != null && stream.asBoolean(false))
        .setRunId(runId)
        .setAgent(text(node, "agent", true))
        .setAgentVersion(version)
        .setInput(text(node, "input", true))
        .setMetadata(metadata)
        .setUser(text(node, "user", false))
        .setRequestedAt(requestedAt == null ? Instant.now() : requestedAt)
        .build();
  }

  private static String text(JsonNode node, String field, boolean required) {
    JsonNode v = node.get(field);
    if (v == null || v.isNull()) {
      if (required) {
        throw new InvalidRunRequest("missing required field '" + field + "'");
      }
      return null;
    }
    if (!v.isTextual()) {
      throw new InvalidRunRequest("'" + field + "' must be a string, got " + v.getNodeType());
    }
    if (required && v.asText().isBlank()) {
      throw new InvalidRunRequest("'" + field + "' must not be empty");
    }
    return v.asText();
  }

  /** The JSON is not a valid run request; the message says why. */
  public static final class InvalidRunRequest extends RuntimeException {
    public InvalidRunRequest(String message) {
      super(message);
    }
  }
}
