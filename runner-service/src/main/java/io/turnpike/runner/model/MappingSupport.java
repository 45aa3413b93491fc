package io.turnpike.runner.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.core.JsonValue;
import com.openai.core.ObjectMappers;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.Role;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.Usage;
import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Pieces shared by the Responses and Chat Completions mappings. */
final class MappingSupport {
  private MappingSupport() {}

  private static final Logger log = LoggerFactory.getLogger(MappingSupport.class);

  /** Hosted tools passed through to the Responses API, as the JSON the API expects. */
  static final Map<String, String> HOSTED_TOOLS = Map.of(
      "web_search", "{\"type\":\"web_search\"}",
      "web_search_preview", "{\"type\":\"web_search_preview\"}",
      "code_interpreter", "{\"type\":\"code_interpreter\",\"container\":{\"type\":\"auto\"}}",
      "image_generation", "{\"type\":\"image_generation\"}");

  static final Set<String> TOOL_CHOICE_OPTIONS = Set.of("auto", "none", "required");

  /** Thrown when a ModelCall cannot be turned into a request (for example a tool's schema is not JSON). */
  static final class InvalidCallException extends RuntimeException {
    InvalidCallException(String message, Throwable cause) {
      super(message, cause);
    }

    InvalidCallException(String message) {
      super(message);
    }
  }

  static String model(ModelCall call, String override) {
    if (override != null && !override.isBlank()) {
      return override;
    }
    if (call.getModel() == null || call.getModel().isBlank()) {
      throw new InvalidCallException("ModelCall " + call.getCallId() + " names no model");
    }
    return call.getModel();
  }

  static ModelSettings settings(ModelCall call) {
    return call.getSettings() == null ? ModelSettings.newBuilder().build() : call.getSettings();
  }

  /** A tool's JSON schema as openai-java JSON values, one per top-level property of the schema. */
  static Map<String, JsonValue> schema(ToolSpec tool) {
    String json = tool.getParametersJson();
    if (json == null || json.isBlank()) {
      json = "{\"type\":\"object\",\"properties\":{}}";
    }
    return schema(json, "tool " + tool.getName() + " has parametersJson");
  }

  /** The outputType's JSON schema as openai-java JSON values, one per top-level property. */
  static Map<String, JsonValue> schema(OutputType type) {
    return schema(type.getSchemaJson(), "output type " + type.getName() + " has a schema");
  }

  private static Map<String, JsonValue> schema(String json, String what) {
    JsonNode node;
    try {
      node = ObjectMappers.jsonMapper().readTree(json);
    } catch (Exception e) {
      throw new InvalidCallException(what + " that is not JSON: " + e.getMessage(), e);
    }
    if (node == null || !node.isObject()) {
      throw new InvalidCallException(what + " that is not a JSON object");
    }
    Map<String, JsonValue> out = new LinkedHashMap<>();
    node.fields().forEachRemaining(e -> out.put(e.getKey(), JsonValue.fromJsonNode(e.getValue())));
    return out;
  }

  /** An image as the data URL both APIs take in place of a link. */
  static String dataUrl(ImageContent image) {
    ByteBuffer data = image.getData().duplicate();
    byte[] bytes = new byte[data.remaining()];
    data.get(bytes);
    return "data:" + image.getMimeType() + ";base64," + Base64.getEncoder().encodeToString(bytes);
  }

  /** The images of a tool output the model can be shown (a reference to an image the run did not keep has no bytes). */
  static List<ImageContent> shown(FunctionCallOutputItem output) {
    return output.getImages().stream().filter(i -> i.getData() != null).toList();
  }

  /** True for tools the model sees as function tools: FUNCTION, SANDBOX and MCP. */
  static boolean isFunctionTool(ToolSpec tool) {
    return tool.getKind() != ToolKind.HOSTED;
  }

  /** The known hosted tool's JSON, or null (with a warning) when the name is not one we know. */
  static String hostedToolJson(ToolSpec tool, String agent) {
    String json = HOSTED_TOOLS.get(tool.getName().toLowerCase(Locale.ROOT));
    if (json == null) {
      log.warn("agent {}: hosted tool '{}' is not one this invoker knows ({}); not offered to the model",
          agent, tool.getName(), HOSTED_TOOLS.keySet());
    }
    return json;
  }

  static MessageItem assistantMessage(String text, ModelCall call) {
    return MessageItem.newBuilder().setRole(Role.ASSISTANT).setText(text).setAgent(call.getAgent()).build();
  }

  static FunctionCallItem functionCall(String callId, String name, String arguments, String itemId) {
    return FunctionCallItem.newBuilder()
        .setToolCallId(callId)
        .setName(name)
        .setArguments(arguments == null || arguments.isEmpty() ? "{}" : arguments)
        .setItemId(itemId)
        .build();
  }

  static Usage usage(long input, long output, long total) {
    return usage(input, output, total, 0, 0);
  }

  static Usage usage(long input, long output, long total, long cachedInput, long reasoning) {
    return Usage.newBuilder()
        .setInputTokens(input)
        .setOutputTokens(output)
        .setTotalTokens(total == 0 ? input + output : total)
        .setModelCalls(1)
        .setCachedInputTokens(cachedInput)
        .setReasoningTokens(reasoning)
        .build();
  }

  static Usage noUsage() {
    return usage(0, 0, 0);
  }

  static String typeOf(Object item) {
    return item == null ? "null" : item.getClass().getSimpleName();
  }

  static List<Object> input(ModelCall call) {
    return call.getInput() == null ? List.of() : call.getInput();
  }
}
