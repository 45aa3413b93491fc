package io.turnpike.guardrail.spi;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.GuardrailSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Helpers for reading a {@link GuardrailSpec}'s type-specific settings ({@code configJson}). */
public final class GuardrailSpecs {
  private GuardrailSpecs() {}

  public static final ObjectMapper JSON = new ObjectMapper();

  /** {@code configJson} as a JSON object ({} when empty). Throws IllegalArgumentException if it is not one. */
  public static ObjectNode config(GuardrailSpec spec) {
    String raw = spec.getConfigJson();
    if (raw == null || raw.isBlank()) {
      return JSON.createObjectNode();
    }
    try {
      JsonNode node = JSON.readTree(raw);
      if (node == null || node.isNull() || node.isMissingNode()) {
        return JSON.createObjectNode();
      }
      if (!node.isObject()) {
        throw new IllegalArgumentException("configJson of guardrail '" + spec.getName() + "' must be a JSON object");
      }
      return (ObjectNode) node;
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("configJson of guardrail '" + spec.getName() + "' is not valid JSON: "
          + e.getOriginalMessage());
    }
  }

  /** A string or an array of strings under {@code key} (empty if absent). */
  public static List<String> strings(JsonNode config, String key) {
    JsonNode n = config.get(key);
    List<String> out = new ArrayList<>();
    if (n == null || n.isNull()) {
      return out;
    }
    if (n.isTextual()) {
      out.add(n.asText());
    } else if (n.isArray()) {
      for (JsonNode e : n) {
        if (!e.isTextual()) {
          throw new IllegalArgumentException("'" + key + "' must hold strings");
        }
        out.add(e.asText());
      }
    } else {
      throw new IllegalArgumentException("'" + key + "' must be a string or a list of strings");
    }
    return out;
  }

  public static boolean bool(JsonNode config, String key, boolean fallback) {
    JsonNode n = config.get(key);
    if (n == null || n.isNull()) {
      return fallback;
    }
    if (n.isBoolean()) {
      return n.asBoolean();
    }
    if (n.isTextual() && (n.asText().equalsIgnoreCase("true") || n.asText().equalsIgnoreCase("false"))) {
      return Boolean.parseBoolean(n.asText());
    }
    throw new IllegalArgumentException("'" + key + "' must be true or false");
  }

  public static long number(JsonNode config, String key, long fallback) {
    JsonNode n = config.get(key);
    if (n == null || n.isNull()) {
      return fallback;
    }
    if (n.canConvertToLong()) {
      return n.asLong();
    }
    if (n.isTextual()) {
      try {
        return Long.parseLong(n.asText().trim().replace("_", ""));
      } catch (NumberFormatException e) {
        // fall through
      }
    }
    throw new IllegalArgumentException("'" + key + "' must be a whole number");
  }

  public static double decimal(JsonNode config, String key, double fallback) {
    JsonNode n = config.get(key);
    if (n == null || n.isNull()) {
      return fallback;
    }
    if (n.isNumber()) {
      return n.asDouble();
    }
    throw new IllegalArgumentException("'" + key + "' must be a number");
  }

  public static String text(JsonNode config, String key, String fallback) {
    JsonNode n = config.get(key);
    if (n == null || n.isNull()) {
      return fallback;
    }
    if (!n.isValueNode()) {
      throw new IllegalArgumentException("'" + key + "' must be a string");
    }
    return n.asText();
  }

  /** A duration: a number of milliseconds, or a string like {@code 500ms}, {@code 5s}, {@code 2m}. */
  public static Duration duration(JsonNode config, String key, Duration fallback) {
    JsonNode n = config.get(key);
    if (n == null || n.isNull()) {
      return fallback;
    }
    if (n.canConvertToLong()) {
      return Duration.ofMillis(n.asLong());
    }
    String v = n.asText().trim();
    try {
      if (v.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2).trim()));
      }
      if (v.endsWith("s")) {
        return Duration.ofMillis(Math.round(Double.parseDouble(v.substring(0, v.length() - 1).trim()) * 1000));
      }
      if (v.endsWith("m")) {
        return Duration.ofSeconds(Long.parseLong(v.substring(0, v.length() - 1).trim()) * 60);
      }
      return Duration.ofMillis(Long.parseLong(v));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("'" + key + "' must be a duration like 500ms, 5s or 2m, got '" + v + "'");
    }
  }
}
