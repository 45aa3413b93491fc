package io.turnpike.runner.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.openai.core.ObjectMappers;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseInputItem;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseOutputMessage;
import com.openai.models.responses.Tool;
import com.openai.models.responses.ToolChoiceMcp;
import com.openai.models.responses.ToolChoiceTypes;
import io.turnpike.avro.Annotation;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.ToolSpec;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hosted tools on the Responses API: the tool entries offered (from {@link ToolSpec#getHostedJson()}),
 * the provider-run calls of an answer as {@link HostedToolCallItem}s, their replay as input items, and
 * the citations of output text. Everything goes through the items' JSON, so what the API returned is
 * what is replayed, fields this client does not model included.
 */
final class HostedItems {
  private HostedItems() {}

  private static final Logger log = LoggerFactory.getLogger(HostedItems.class);
  private static final ObjectMapper JSON = ObjectMappers.jsonMapper();

  /** Output item types of provider-run calls, each also an input item type of the same shape. */
  static final Set<String> TYPES = Set.of("web_search_call", "file_search_call", "code_interpreter_call",
      "image_generation_call", "mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response");

  /** A header value of a hosted MCP server: a reference to a variable of this invoker, after an optional scheme. */
  private static final Pattern HEADER_REFERENCE = Pattern.compile("^(?:([A-Za-z][A-Za-z0-9-]*) )?\\$\\{(TURNPIKE_MCP_[A-Z0-9_]+)\\}$");

  /**
   * Where header references are looked up: the invoker's environment, else a JVM system property of
   * the same name (how the in-process tests and the dev launcher set one).
   */
  static final UnaryOperator<String> ENVIRONMENT = name -> {
    String v = System.getenv(name);
    return v != null ? v : System.getProperty(name);
  };

  // ------------------------------------------------------------------------------------- tools

  /** The tool entry of a hosted ToolSpec, its MCP headers resolved; null (with a warning) for an unknown legacy one. */
  static Tool tool(ToolSpec spec, String agent, UnaryOperator<String> env) {
    String json = spec.getHostedJson();
    if (json == null) {
      // Published before hostedJson: the name is the type, without settings.
      json = MappingSupport.hostedToolJson(spec, agent);
      if (json == null) {
        return null;
      }
    }
    try {
      ObjectNode node = (ObjectNode) JSON.readTree(json);
      JsonNode headers = node.get("headers");
      if (headers != null && headers.isObject()) {
        ObjectNode resolved = JSON.createObjectNode();
        for (Iterator<Map.Entry<String, JsonNode>> it = headers.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> h = it.next();
          resolved.put(h.getKey(), resolve(spec, h.getKey(), h.getValue().asText(), env));
        }
        node.set("headers", resolved);
      }
      return JSON.treeToValue(node, Tool.class);
    } catch (MappingSupport.InvalidCallException e) {
      throw e;
    } catch (Exception e) {
      throw new MappingSupport.InvalidCallException("hosted tool " + spec.getName() + " has hostedJson the Responses API"
          + " cannot take: " + e.getMessage(), e);
    }
  }

  /** A header's value from this invoker's environment; its value is never put in a message. */
  private static String resolve(ToolSpec spec, String header, String reference, UnaryOperator<String> env) {
    Matcher m = HEADER_REFERENCE.matcher(reference);
    if (!m.matches()) {
      // Agent YAML allows nothing else; a definition written some other way must not smuggle a value through.
      throw new MappingSupport.InvalidCallException("hosted tool " + spec.getName() + ": header " + header
          + " is not a reference to a TURNPIKE_MCP_* variable of the model invoker");
    }
    String value = env.apply(m.group(2));
    if (value == null || value.isBlank()) {
      throw new MappingSupport.InvalidCallException("hosted tool " + spec.getName() + ": header " + header + " refers to "
          + m.group(2) + ", which is not set in the model invoker's environment");
    }
    return m.group(1) == null ? value : m.group(1) + " " + value;
  }

  /** The hosted tool a toolChoice names, as the API's hosted tool choice; empty when it names none. */
  static Optional<ResponseCreateParams.ToolChoice> toolChoice(List<ToolSpec> tools, String choice) {
    for (ToolSpec t : tools) {
      if (MappingSupport.isFunctionTool(t) || !t.getName().equals(choice)) {
        continue;
      }
      JsonNode json;
      try {
        json = t.getHostedJson() == null ? JSON.createObjectNode().put("type", t.getName()) : JSON.readTree(t.getHostedJson());
      } catch (Exception e) {
        return Optional.empty();
      }
      String type = json.path("type").asText();
      if (type.equals("mcp")) {
        return Optional.of(ResponseCreateParams.ToolChoice.ofMcp(ToolChoiceMcp.builder()
            .serverLabel(json.path("server_label").asText()).build()));
      }
      return Optional.of(ResponseCreateParams.ToolChoice.ofTypes(ToolChoiceTypes.builder()
          .type(ToolChoiceTypes.Type.of(type)).build()));
    }
    return Optional.empty();
  }

  // ----------------------------------------------------------------------------------- answers

  /** The answer's item as a HostedToolCallItem, or empty when it is not a provider-run call. */
  static Optional<HostedToolCallItem> fromOutput(ResponseOutputItem item, String agent) {
    if (!(item.isWebSearchCall() || item.isFileSearchCall() || item.isCodeInterpreterCall() || item.isImageGenerationCall()
        || item.isMcpCall() || item.isMcpListTools() || item.isMcpApprovalRequest() || item.isMcpApprovalResponse())) {
      return Optional.empty();
    }
    ObjectNode node = JSON.valueToTree(item);
    String type = node.path("type").asText();
    ImageContent image = null;
    if (type.equals("image_generation_call") && node.path("result").isTextual()) {
      // The image leaves the JSON: the run keeps its bytes once (RunState.images) and the item refers to them.
      byte[] bytes = Base64.getDecoder().decode(node.path("result").asText());
      image = ImageContent.newBuilder().setMimeType(mimeType(bytes, node)).setData(ByteBuffer.wrap(bytes))
          .setSha256(sha256(bytes)).setSize(bytes.length).build();
      node.putNull("result");
    }
    return Optional.of(HostedToolCallItem.newBuilder()
        .setItemId(node.path("id").asText(""))
        .setType(type)
        .setStatus(node.path("status").isTextual() ? node.path("status").asText() : null)
        .setJson(node.toString())
        .setSummary(summary(type, node, image))
        .setImage(image)
        .setAgent(agent)
        .build());
  }

  /**
   * The item as the input item of the same type, for the next call (store=false: the provider kept
   * nothing, so the conversation carries what its tools did). A generated image goes back as the
   * item's result when the run kept it; one it did not keep goes back with a null result, which the
   * API's schema allows (the call is still in the conversation, without its picture). An item whose
   * JSON the API's shape cannot take (written by hand, corrupted) is left out of the request only,
   * never out of the RunState.
   */
  static Optional<ResponseInputItem> toInput(HostedToolCallItem h) {
    try {
      ObjectNode node = (ObjectNode) JSON.readTree(h.getJson());
      if (h.getType().equals("image_generation_call") && h.getImage() != null && h.getImage().getData() != null) {
        node.put("result", Base64.getEncoder().encodeToString(bytes(h.getImage().getData())));
      }
      return Optional.of(JSON.treeToValue(node, ResponseInputItem.class));
    } catch (Exception e) {
      log.warn("hosted item {} ({}) cannot be replayed and is left out of this request: {}", h.getItemId(), h.getType(),
          e.getMessage());
      return Optional.empty();
    }
  }

  /** The citations of a message's text parts, their indexes moved to the joined text (parts are joined without separator). */
  static List<Annotation> annotations(ResponseOutputMessage message) {
    List<Annotation> out = new ArrayList<>();
    int offset = 0;
    for (ResponseOutputMessage.Content c : message.content()) {
      if (c.isOutputText()) {
        for (var a : c.asOutputText().annotations()) {
          JsonNode n = JSON.valueToTree(a);
          out.add(Annotation.newBuilder()
              .setType(n.path("type").asText())
              .setUrl(text(n, "url"))
              .setTitle(text(n, "title"))
              .setFileId(text(n, "file_id"))
              .setFilename(text(n, "filename"))
              .setContainerId(text(n, "container_id"))
              .setStartIndex(index(n, "start_index", offset))
              .setEndIndex(index(n, "end_index", offset))
              .setIndex(index(n, "index", offset))
              .build());
        }
        offset += c.asOutputText().text().length();
      } else if (c.isRefusal()) {
        offset += c.asRefusal().refusal().length();
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------ pieces

  /** One line about the call for people (cli, Kafka UI): what was searched, run or called. */
  static String summary(String type, JsonNode n, ImageContent image) {
    String s = switch (type) {
      case "web_search_call" -> {
        JsonNode a = n.path("action");
        yield switch (a.path("type").asText()) {
          case "search" -> "searched " + quoted(a.path("query").asText(""))
              + (a.path("sources").isArray() && !a.path("sources").isEmpty() ? ", " + a.path("sources").size() + " source"
              + (a.path("sources").size() == 1 ? "" : "s") : "");
          case "open_page" -> "opened " + a.path("url").asText("a page");
          case "find" -> "found " + quoted(a.path("pattern").asText("")) + " in " + a.path("url").asText("a page");
          default -> "searched the web";
        };
      }
      case "file_search_call" -> {
        List<String> queries = new ArrayList<>();
        n.path("queries").forEach(q -> queries.add(quoted(q.asText())));
        int results = n.path("results").isArray() ? n.path("results").size() : 0;
        yield "searched files for " + String.join(", ", queries) + ": " + results + " result" + (results == 1 ? "" : "s");
      }
      case "code_interpreter_call" -> {
        String code = n.path("code").asText("");
        int lines = code.isEmpty() ? 0 : code.split("\n", -1).length;
        StringBuilder out = new StringBuilder("ran " + lines + " line" + (lines == 1 ? "" : "s") + " of code");
        for (JsonNode o : n.path("outputs")) {
          if (o.path("type").asText().equals("logs")) {
            out.append(": ").append(o.path("logs").asText().strip().replace('\n', ' '));
          } else if (o.path("type").asText().equals("image")) {
            out.append(", an image");
          }
        }
        yield out.toString();
      }
      case "image_generation_call" -> image == null ? "generated no image" : "generated an image (" + image.getMimeType()
          + ", " + image.getSize() + " bytes, sha256 " + image.getSha256().substring(0, 12) + ")";
      case "mcp_call" -> n.path("server_label").asText() + "." + n.path("name").asText() + "(" + n.path("arguments").asText("")
          + ")" + (n.hasNonNull("error") ? " failed: " + errorText(n.get("error")) : n.hasNonNull("output")
          ? ": " + n.path("output").asText() : "");
      case "mcp_list_tools" -> {
        List<String> names = new ArrayList<>();
        n.path("tools").forEach(t -> names.add(t.path("name").asText()));
        yield n.path("server_label").asText() + " offers " + (names.isEmpty() ? "no tools" : String.join(", ", names));
      }
      case "mcp_approval_request" -> n.path("server_label").asText() + "." + n.path("name").asText()
          + " asks for approval (" + n.path("arguments").asText("") + ")";
      case "mcp_approval_response" -> (n.path("approve").asBoolean() ? "approved " : "rejected ")
          + n.path("approval_request_id").asText();
      default -> type;
    };
    return s.length() <= 300 ? s : s.substring(0, 297) + "...";
  }

  private static String errorText(JsonNode error) {
    return error.isTextual() ? error.asText() : error.path("message").asText(error.toString());
  }

  private static String quoted(String s) {
    return "\"" + s + "\"";
  }

  private static String text(JsonNode n, String field) {
    return n.path(field).isTextual() ? n.path(field).asText() : null;
  }

  private static Integer index(JsonNode n, String field, int offset) {
    return n.path(field).isIntegralNumber() ? n.path(field).asInt() + offset : null;
  }

  /** The image's type from its first bytes (the item does not say), else from the tool's output_format. */
  private static String mimeType(byte[] b, JsonNode node) {
    if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
      return "image/png";
    }
    if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8) {
      return "image/jpeg";
    }
    if (b.length >= 12 && b[0] == 'R' && b[1] == 'I' && b[8] == 'W' && b[9] == 'E' && b[10] == 'B' && b[11] == 'P') {
      return "image/webp";
    }
    String format = node.path("output_format").asText("png").toLowerCase(Locale.ROOT);
    return "image/" + format;
  }

  static byte[] bytes(ByteBuffer data) {
    ByteBuffer b = data.duplicate();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }
}
