package io.turnpike.devkit;

import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A call of a hosted tool the provider ran, scripted into a Responses answer
 * ({@link ScriptedReply#withHostedCalls}): an output item in the real API's shape, before the reply's
 * text or function calls. {@code fields} is the item without {@code id} and {@code status}, which the
 * server adds (a fresh id, {@code completed}).
 */
public record HostedCall(String type, ObjectNode fields) {

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    /** The hosted output item types, each with the prefix of its ids. */
    static final List<String> TYPES = List.of("web_search_call", "file_search_call", "code_interpreter_call",
            "image_generation_call", "mcp_call", "mcp_list_tools", "mcp_approval_request");

    /** Types without a {@code status} field in the API. */
    private static final Set<String> NO_STATUS = Set.of("mcp_list_tools", "mcp_approval_request");

    public HostedCall {
        Objects.requireNonNull(type, "type");
        if (!TYPES.contains(type)) {
            throw new IllegalArgumentException("not a hosted call type: " + type + " (one of " + TYPES + ")");
        }
        fields = fields == null ? NODES.objectNode() : fields.deepCopy();
    }

    /** One hit of a file search: the file, its score and the text found. */
    public record FileHit(String fileId, String filename, double score, String text) {
    }

    /** A web search for {@code query} that looked at these pages. */
    public static HostedCall webSearch(String query, String... sourceUrls) {
        ObjectNode f = NODES.objectNode();
        ObjectNode action = f.putObject("action").put("type", "search").put("query", query);
        ArrayNode sources = action.putArray("sources");
        for (String url : sourceUrls) {
            sources.addObject().put("type", "url").put("url", url);
        }
        return new HostedCall("web_search_call", f);
    }

    /** A file search for {@code query} with its results (results are included, as with include file_search_call.results). */
    public static HostedCall fileSearch(String query, List<FileHit> hits) {
        ObjectNode f = NODES.objectNode();
        f.putArray("queries").add(query);
        ArrayNode results = f.putArray("results");
        for (FileHit h : hits) {
            results.addObject().put("file_id", h.fileId()).put("filename", h.filename()).put("score", h.score())
                    .put("text", h.text()).putObject("attributes");
        }
        return new HostedCall("file_search_call", f);
    }

    /** Code run in a container, with what it printed. */
    public static HostedCall codeInterpreter(String code, String logs) {
        ObjectNode f = NODES.objectNode();
        f.put("code", code);
        f.put("container_id", "cntr_scripted");
        f.putArray("outputs").addObject().put("type", "logs").put("logs", logs);
        return new HostedCall("code_interpreter_call", f);
    }

    /** An image generated: {@code result} is the image's base64, as the API returns it. */
    public static HostedCall imageGeneration(byte[] image) {
        ObjectNode f = NODES.objectNode();
        f.put("result", Base64.getEncoder().encodeToString(image));
        return new HostedCall("image_generation_call", f);
    }

    /** A tool of a remote MCP server called by the provider, and its output. */
    public static HostedCall mcpCall(String serverLabel, String name, String argumentsJson, String output) {
        ObjectNode f = NODES.objectNode();
        f.put("server_label", serverLabel).put("name", name).put("arguments", argumentsJson).put("output", output);
        f.putNull("error");
        return new HostedCall("mcp_call", f);
    }

    /** The tools a remote MCP server offers, as the provider listed them. */
    public static HostedCall mcpListTools(String serverLabel, String... toolNames) {
        ObjectNode f = NODES.objectNode();
        f.put("server_label", serverLabel);
        ArrayNode tools = f.putArray("tools");
        for (String t : toolNames) {
            tools.addObject().put("name", t).set("input_schema", NODES.objectNode().put("type", "object"));
        }
        return new HostedCall("mcp_list_tools", f);
    }

    /**
     * A hosted MCP server's tool the provider will call only once approved ({@code require_approval});
     * the answer ends with it, and the next request must carry an {@code mcp_approval_response}
     * (see {@link ModelRequestView#hostedCalls()}).
     */
    public static HostedCall mcpApprovalRequest(String serverLabel, String name, String argumentsJson) {
        ObjectNode f = NODES.objectNode();
        f.put("server_label", serverLabel).put("name", name).put("arguments", argumentsJson);
        return new HostedCall("mcp_approval_request", f);
    }

    /** The output item, with {@code id} (fresh, from the server) and {@code status}. */
    ObjectNode render(String id) {
        ObjectNode item = NODES.objectNode();
        item.put("type", type);
        item.put("id", id);
        if (!NO_STATUS.contains(type)) {
            item.put("status", "completed");
        }
        item.setAll(fields.deepCopy());
        return item;
    }

    /** The prefix of this type's item ids, as the API's. */
    String idPrefix() {
        return switch (type) {
            case "web_search_call" -> "ws_";
            case "file_search_call" -> "fs_";
            case "code_interpreter_call" -> "ci_";
            case "image_generation_call" -> "ig_";
            case "mcp_list_tools" -> "mcpl_";
            case "mcp_approval_request" -> "mcpr_";
            default -> "mcp_";
        };
    }

    /** True for a hosted call item (output or replayed input) of any type. */
    static boolean isHosted(JsonNode item) {
        String type = item.path("type").asText();
        return TYPES.contains(type) || type.equals("mcp_approval_response");
    }

    /**
     * A citation in the reply's text: {@code url_citation} (web search) over characters
     * {@code start..end}, or {@code file_citation} (file search) at {@code index}.
     */
    public record Citation(String type, String url, String title, String fileId, String filename, int start, int end,
                           int index) {

        public static Citation url(String url, String title, int start, int end) {
            return new Citation("url_citation", url, title, null, null, start, end, -1);
        }

        public static Citation file(String fileId, String filename, int index) {
            return new Citation("file_citation", null, null, fileId, filename, -1, -1, index);
        }

        ObjectNode render() {
            ObjectNode a = NODES.objectNode().put("type", type);
            if (type.equals("url_citation")) {
                a.put("url", url).put("title", title).put("start_index", start).put("end_index", end);
            } else {
                a.put("file_id", fileId).put("filename", filename).put("index", index);
            }
            return a;
        }
    }
}
