package io.turnpike.devkit;

import java.util.Iterator;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * What the real Responses API refuses in a request's hosted parts, refused the same way (HTTP 400,
 * {@code invalid_request_error}) by the scripted server: a hosted tool entry of an unknown type, with
 * an unknown or ill-typed setting or without a required one (file_search without vector stores, a
 * hosted MCP server without a label or URL), and a replayed hosted call item without the fields the
 * API needs to take it as input. A hosted MCP header that still holds a {@code ${...}} reference is
 * refused too: the model invoker must have resolved it, and a literal reference would reach the MCP
 * server as the credential. A client that builds these wrongly fails its tests here instead of against
 * the real API.
 */
final class HostedRequestCheck {
    private HostedRequestCheck() {}

    private static final Map<String, Set<String>> TOOL_KEYS = Map.of(
            "web_search", Set.of("type", "search_context_size", "user_location", "filters", "external_web_access"),
            "web_search_preview", Set.of("type", "search_context_size", "user_location"),
            "file_search", Set.of("type", "vector_store_ids", "max_num_results", "filters", "ranking_options"),
            "code_interpreter", Set.of("type", "container"),
            "image_generation", Set.of("type", "size", "quality", "background", "output_format", "output_compression",
                    "moderation", "model", "input_fidelity", "partial_images", "input_image_mask"),
            "mcp", Set.of("type", "server_label", "server_url", "connector_id", "authorization", "server_description",
                    "allowed_tools", "require_approval", "headers"));
    private static final Set<String> CONTEXT_SIZES = Set.of("low", "medium", "high");
    private static final Set<String> IMAGE_SIZES = Set.of("auto", "1024x1024", "1024x1536", "1536x1024");
    private static final Set<String> IMAGE_QUALITIES = Set.of("auto", "low", "medium", "high");
    private static final Set<String> IMAGE_BACKGROUNDS = Set.of("auto", "transparent", "opaque");
    private static final Set<String> IMAGE_FORMATS = Set.of("png", "webp", "jpeg");
    /** Fields each replayed hosted item must have (its value may be null where the API allows). */
    private static final Map<String, Set<String>> ITEM_FIELDS = Map.of(
            "web_search_call", Set.of("id", "status", "action"),
            "file_search_call", Set.of("id", "status", "queries"),
            "code_interpreter_call", Set.of("id", "status", "code", "container_id", "outputs"),
            "image_generation_call", Set.of("id", "status", "result"),
            "mcp_call", Set.of("id", "server_label", "name", "arguments"),
            "mcp_list_tools", Set.of("id", "server_label", "tools"),
            "mcp_approval_request", Set.of("id", "server_label", "name", "arguments"),
            "mcp_approval_response", Set.of("approval_request_id", "approve"));

    /** The first problem of a Responses request's hosted tools and replayed hosted items, or null. */
    static String problem(JsonNode raw) {
        JsonNode tools = raw.path("tools");
        for (int i = 0; i < tools.size(); i++) {
            JsonNode t = tools.get(i);
            String type = t.path("type").asText();
            if (type.equals("function") || type.equals("custom")) {
                continue;
            }
            String p = tool(type, t);
            if (p != null) {
                return "Invalid 'tools[" + i + "]': " + p;
            }
        }
        JsonNode input = raw.path("input");
        for (int i = 0; i < input.size(); i++) {
            JsonNode item = input.get(i);
            Set<String> fields = ITEM_FIELDS.get(item.path("type").asText());
            if (fields == null) {
                continue;
            }
            for (String f : fields) {
                if (!item.has(f)) {
                    return "Missing required parameter: 'input[" + i + "]." + f + "' (" + item.path("type").asText() + ").";
                }
            }
            if (item.path("type").asText().equals("web_search_call") && !item.path("action").path("type").isTextual()) {
                return "Invalid 'input[" + i + "].action': a web search action needs a type (search, open_page, find).";
            }
        }
        return null;
    }

    private static String tool(String type, JsonNode t) {
        Set<String> keys = TOOL_KEYS.get(type);
        if (keys == null) {
            return "unknown tool type '" + type + "'.";
        }
        for (Iterator<String> it = t.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!keys.contains(k)) {
                return "unknown parameter '" + k + "' for tool type '" + type + "'.";
            }
        }
        switch (type) {
            case "web_search", "web_search_preview" -> {
                if (t.has("search_context_size") && !CONTEXT_SIZES.contains(t.path("search_context_size").asText())) {
                    return "search_context_size must be low, medium or high.";
                }
                if (t.has("user_location") && !"approximate".equals(t.path("user_location").path("type").asText())) {
                    return "user_location.type must be 'approximate'.";
                }
                if (t.has("filters") && !t.path("filters").path("allowed_domains").isArray()) {
                    return "filters.allowed_domains must be an array of domains.";
                }
            }
            case "file_search" -> {
                JsonNode ids = t.path("vector_store_ids");
                if (!ids.isArray() || ids.isEmpty()) {
                    return "Missing required parameter: 'vector_store_ids'.";
                }
                int max = t.path("max_num_results").asInt(10);
                if (t.has("max_num_results") && (max < 1 || max > 50)) {
                    return "max_num_results must be between 1 and 50.";
                }
            }
            case "code_interpreter" -> {
                JsonNode c = t.get("container");
                if (c == null || !(c.isTextual() || "auto".equals(c.path("type").asText()))) {
                    return "Missing required parameter: 'container' (a container id or {\"type\": \"auto\"}).";
                }
            }
            case "image_generation" -> {
                if (t.has("size") && !IMAGE_SIZES.contains(t.path("size").asText())) {
                    return "size must be one of " + IMAGE_SIZES + ".";
                }
                if (t.has("quality") && !IMAGE_QUALITIES.contains(t.path("quality").asText())) {
                    return "quality must be one of " + IMAGE_QUALITIES + ".";
                }
                if (t.has("background") && !IMAGE_BACKGROUNDS.contains(t.path("background").asText())) {
                    return "background must be one of " + IMAGE_BACKGROUNDS + ".";
                }
                if (t.has("output_format") && !IMAGE_FORMATS.contains(t.path("output_format").asText())) {
                    return "output_format must be one of " + IMAGE_FORMATS + ".";
                }
            }
            default -> {
                if (!t.path("server_label").isTextual() || t.path("server_label").asText().isBlank()) {
                    return "Missing required parameter: 'server_label'.";
                }
                if (!t.path("server_url").isTextual() && !t.path("connector_id").isTextual()) {
                    return "one of 'server_url' or 'connector_id' is required.";
                }
                for (JsonNode h : t.path("headers")) {
                    if (!h.isTextual()) {
                        return "headers must map names to strings.";
                    }
                    if (h.asText().contains("${")) {
                        return "a header still holds an unresolved reference (the value would be sent to the MCP server"
                                + " as it is).";
                    }
                }
                JsonNode approval = t.get("require_approval");
                if (approval != null && approval.isTextual() && !Set.of("always", "never").contains(approval.asText())) {
                    return "require_approval must be 'always', 'never' or a filter.";
                }
            }
        }
        return null;
    }
}
