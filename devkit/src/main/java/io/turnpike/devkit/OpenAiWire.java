package io.turnpike.devkit;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Parses OpenAI requests into {@link ModelRequestView}s and renders {@link ScriptedReply}s in the
 * exact shapes the real Responses and Chat Completions APIs return.
 */
final class OpenAiWire {

    static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

    private final String nonce;
    private final AtomicLong counter = new AtomicLong();

    OpenAiWire() {
        SecureRandom random = new SecureRandom();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            sb.append(ALPHABET.charAt(random.nextInt(ALPHABET.length())));
        }
        this.nonce = sb.toString();
    }

    /** A new id, unique for this server's lifetime: {@code prefix} + nonce + counter. */
    String newId(String prefix) {
        String n = Long.toString(counter.incrementAndGet(), 36);
        return prefix + nonce + "0".repeat(Math.max(0, 8 - n.length())) + n;
    }

    // ---------------------------------------------------------------------------------- parsing

    static ModelRequestView parseResponses(JsonNode raw, Map<String, List<String>> headers) {
        List<InputItem> input = new ArrayList<>();
        JsonNode in = raw.path("input");
        if (in.isTextual()) {
            input.add(new InputItem.Message("user", in.asText()));
        } else if (in.isArray()) {
            for (JsonNode item : in) {
                InputItem parsed = parseResponsesItem(item);
                if (parsed != null) {
                    input.add(parsed);
                }
            }
        }
        List<String> tools = new ArrayList<>();
        for (JsonNode tool : raw.path("tools")) {
            tools.add(textOr(tool.get("name"), textOr(tool.path("function").get("name"), textOr(tool.get("type"), "?"))));
        }
        JsonNode instructions = raw.get("instructions");
        String instructionText = instructions == null || instructions.isNull() ? null
                : instructions.isTextual() ? instructions.asText() : contentText(instructions);
        return new ModelRequestView(ModelRequestView.RESPONSES, textOr(raw.get("model"), null), instructionText,
                input, tools, raw, headers);
    }

    private static InputItem parseResponsesItem(JsonNode item) {
        String type = textOr(item.get("type"), null);
        if (type == null && item.has("role")) {
            type = "message";
        }
        if (type == null) {
            return null;
        }
        return switch (type) {
            case "message" -> new InputItem.Message(textOr(item.get("role"), "user"), contentText(item.get("content")));
            case "function_call" -> new InputItem.FunctionCall(textOr(item.get("call_id"), null),
                    textOr(item.get("name"), null), argumentsText(item.get("arguments")));
            case "function_call_output" -> new InputItem.FunctionCallOutput(textOr(item.get("call_id"), null),
                    contentText(item.get("output")));
            case "web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call", "mcp_call",
                 "mcp_list_tools", "mcp_approval_request", "mcp_approval_response" ->
                    new InputItem.Hosted(type, textOr(item.get("id"), null), item);
            case "reasoning" -> {
                List<String> summary = new ArrayList<>();
                for (JsonNode part : item.path("summary")) {
                    summary.add(part.path("text").asText());
                }
                yield new InputItem.Reasoning(textOr(item.get("id"), null), textOr(item.get("encrypted_content"), null),
                        summary);
            }
            default -> null;
        };
    }

    static ModelRequestView parseChat(JsonNode raw, Map<String, List<String>> headers) {
        List<InputItem> input = new ArrayList<>();
        List<String> instructions = new ArrayList<>();
        for (JsonNode msg : raw.path("messages")) {
            String role = textOr(msg.get("role"), "user");
            switch (role) {
                case "system", "developer" -> instructions.add(contentText(msg.get("content")));
                case "tool", "function" -> input.add(new InputItem.FunctionCallOutput(
                        textOr(msg.get("tool_call_id"), textOr(msg.get("name"), null)), contentText(msg.get("content"))));
                case "assistant" -> {
                    String text = contentText(msg.get("content"));
                    if (!text.isEmpty()) {
                        input.add(new InputItem.Message("assistant", text));
                    }
                    for (JsonNode call : msg.path("tool_calls")) {
                        JsonNode fn = call.path("function");
                        input.add(new InputItem.FunctionCall(textOr(call.get("id"), null),
                                textOr(fn.get("name"), null), argumentsText(fn.get("arguments"))));
                    }
                    JsonNode legacy = msg.get("function_call");
                    if (legacy != null && legacy.isObject()) {
                        input.add(new InputItem.FunctionCall(null, textOr(legacy.get("name"), null),
                                argumentsText(legacy.get("arguments"))));
                    }
                }
                default -> input.add(new InputItem.Message(role, contentText(msg.get("content"))));
            }
        }
        List<String> tools = new ArrayList<>();
        for (JsonNode tool : raw.path("tools")) {
            tools.add(textOr(tool.path("function").get("name"), textOr(tool.get("name"), textOr(tool.get("type"), "?"))));
        }
        return new ModelRequestView(ModelRequestView.CHAT, textOr(raw.get("model"), null),
                instructions.isEmpty() ? null : String.join("\n\n", instructions), input, tools, raw, headers);
    }

    /** A string, or the text parts of a content array joined by newlines. */
    private static String contentText(JsonNode content) {
        if (content == null || content.isNull() || content.isMissingNode()) {
            return "";
        }
        if (content.isTextual()) {
            return content.asText();
        }
        if (content.isArray()) {
            List<String> parts = new ArrayList<>();
            for (JsonNode part : content) {
                if (part.isTextual()) {
                    parts.add(part.asText());
                } else if (part.has("text")) {
                    parts.add(part.path("text").asText());
                } else if (part.has("refusal")) {
                    parts.add(part.path("refusal").asText());
                }
            }
            return String.join("\n", parts);
        }
        return content.toString();
    }

    private static String argumentsText(JsonNode args) {
        if (args == null || args.isNull() || args.isMissingNode()) {
            return "{}";
        }
        return args.isTextual() ? args.asText() : args.toString();
    }

    private static String textOr(JsonNode node, String fallback) {
        return node != null && node.isTextual() ? node.asText() : fallback;
    }

    // -------------------------------------------------------------------------------- rendering

    /** Token counts: scripted, or about four characters per token; cached and reasoning counts as scripted. */
    record Usage(long input, long output, long cached, long reasoning) {
        Usage(long input, long output) {
            this(input, output, 0, 0);
        }

        long total() {
            return input + output;
        }

        static Usage of(ScriptedReply reply, String requestBody) {
            Usage u = estimate(reply, requestBody);
            return new Usage(u.input(), u.output(), reply.cachedTokens(), reply.reasoningTokens());
        }

        private static Usage estimate(ScriptedReply reply, String requestBody) {
            long out = switch (reply.kind()) {
                case TEXT -> reply.text().length();
                case TOOL_CALLS -> reply.toolCalls().stream()
                        .mapToLong(c -> c.name().length() + c.argumentsJson().length()).sum();
                case HTTP_ERROR -> 0;
            };
            return new Usage(reply.inputTokens().orElse(Math.max(1, requestBody.length() / 4)),
                    reply.outputTokens().orElse(Math.max(1, (out + 3) / 4)));
        }
    }

    /** The output items of a Responses reply; ids are fixed here so streaming and the final object agree. */
    List<ObjectNode> responsesOutput(ScriptedReply reply) {
        return responsesOutput(reply, null);
    }

    /**
     * As above; a reasoning item carries its encrypted content only when {@code request} includes
     * {@code reasoning.encrypted_content}, as with the real API.
     */
    List<ObjectNode> responsesOutput(ScriptedReply reply, ModelRequestView request) {
        List<ObjectNode> items = new ArrayList<>();
        if (reply.reasoning() != null) {
            ObjectNode r = NODES.objectNode();
            r.put("type", "reasoning");
            r.put("id", newId("rs_"));
            r.putArray("summary").addObject().put("type", "summary_text").put("text", reply.reasoning());
            boolean encrypted = false;
            if (request != null && request.raw() != null) {
                for (JsonNode include : request.raw().path("include")) {
                    encrypted |= "reasoning.encrypted_content".equals(include.asText());
                }
            }
            if (encrypted) {
                r.put("encrypted_content", "enc:" + java.util.Base64.getEncoder().encodeToString(
                        reply.reasoning().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            } else {
                r.putNull("encrypted_content");
            }
            items.add(r);
        }
        for (HostedCall call : reply.hostedCalls()) {
            items.add(call.render(newId(call.idPrefix())));
        }
        if (reply.kind() == ScriptedReply.Kind.TEXT && reply.text().isEmpty() && !reply.hostedCalls().isEmpty()) {
            // Only hosted calls (an approval request, an image): the API says nothing else.
        } else if (reply.kind() == ScriptedReply.Kind.TEXT) {
            ObjectNode msg = NODES.objectNode();
            msg.put("type", "message");
            msg.put("id", newId("msg_"));
            msg.put("status", "completed");
            msg.put("role", "assistant");
            ObjectNode text = outputText(reply.text());
            ArrayNode annotations = (ArrayNode) text.get("annotations");
            reply.citations().forEach(c -> annotations.add(c.render()));
            msg.set("content", NODES.arrayNode().add(text));
            items.add(msg);
        } else {
            for (ScriptedReply.ToolCallSpec call : reply.toolCalls()) {
                ObjectNode fc = NODES.objectNode();
                fc.put("type", "function_call");
                fc.put("id", newId("fc_"));
                fc.put("call_id", newId("call_"));
                fc.put("name", call.name());
                fc.put("arguments", call.argumentsJson());
                fc.put("status", "completed");
                items.add(fc);
            }
        }
        return items;
    }

    static ObjectNode outputText(String text) {
        ObjectNode part = NODES.objectNode();
        part.put("type", "output_text");
        part.put("text", text);
        part.set("annotations", NODES.arrayNode());
        part.set("logprobs", NODES.arrayNode());
        return part;
    }

    /** A complete Responses API {@code response} object. */
    ObjectNode response(String id, long createdAt, ModelRequestView req, String status, List<ObjectNode> output,
                        Usage usage) {
        JsonNode raw = req.raw();
        ObjectNode r = NODES.objectNode();
        r.put("id", id);
        r.put("object", "response");
        r.put("created_at", createdAt);
        r.put("status", status);
        r.put("background", false);
        if ("completed".equals(status)) {
            r.put("completed_at", System.currentTimeMillis() / 1000);
        } else {
            r.putNull("completed_at");
        }
        r.putNull("error");
        r.putNull("incomplete_details");
        JsonNode instructions = raw.get("instructions");
        r.set("instructions", instructions == null ? NullNode.instance : instructions);
        copyOrNull(r, raw, "max_output_tokens");
        copyOrNull(r, raw, "max_tool_calls");
        r.put("model", req.model() == null ? "scripted-model" : req.model());
        ArrayNode out = r.putArray("output");
        output.forEach(out::add);
        r.put("parallel_tool_calls", raw.path("parallel_tool_calls").asBoolean(true));
        copyOrNull(r, raw, "previous_response_id");
        ObjectNode reasoning = r.putObject("reasoning");
        JsonNode asked = raw.path("reasoning");
        reasoning.set("effort", asked.hasNonNull("effort") ? asked.get("effort") : NullNode.instance);
        reasoning.set("summary", asked.hasNonNull("summary") ? asked.get("summary") : NullNode.instance);
        r.put("service_tier", "default");
        r.put("store", raw.path("store").asBoolean(true));
        r.put("temperature", raw.path("temperature").isNumber() ? raw.path("temperature").asDouble() : 1.0);
        // The text config comes back as asked (a json_schema format, a verbosity), as the API echoes it.
        ObjectNode text = r.putObject("text");
        JsonNode askedText = raw.path("text");
        if (askedText.path("format").isObject()) {
            text.set("format", askedText.get("format"));
        } else {
            text.putObject("format").put("type", "text");
        }
        text.put("verbosity", askedText.path("verbosity").asText("medium"));
        JsonNode toolChoice = raw.get("tool_choice");
        r.set("tool_choice", toolChoice == null || toolChoice.isNull() ? NODES.textNode("auto") : toolChoice);
        r.set("tools", echoTools(raw.path("tools")));
        r.put("top_logprobs", 0);
        r.put("top_p", raw.path("top_p").isNumber() ? raw.path("top_p").asDouble() : 1.0);
        r.put("truncation", raw.path("truncation").asText("disabled"));
        if (usage == null) {
            r.putNull("usage");
        } else {
            ObjectNode u = r.putObject("usage");
            u.put("input_tokens", usage.input());
            ObjectNode inDetails = u.putObject("input_tokens_details");
            inDetails.put("cached_tokens", usage.cached());
            inDetails.put("cache_write_tokens", 0);
            u.put("output_tokens", usage.output());
            u.putObject("output_tokens_details").put("reasoning_tokens", usage.reasoning());
            u.put("total_tokens", usage.total());
        }
        r.putNull("user");
        JsonNode metadata = raw.get("metadata");
        r.set("metadata", metadata != null && metadata.isObject() ? metadata : NODES.objectNode());
        return r;
    }

    /** Function tools come back normalised the way the API does it; hosted tools as sent. */
    private static ArrayNode echoTools(JsonNode tools) {
        ArrayNode out = NODES.arrayNode();
        for (JsonNode tool : tools) {
            if ("function".equals(tool.path("type").asText()) && tool.has("name")) {
                ObjectNode fn = NODES.objectNode();
                fn.put("type", "function");
                fn.put("name", tool.path("name").asText());
                fn.set("description", tool.hasNonNull("description") ? tool.get("description") : NullNode.instance);
                fn.set("parameters", tool.hasNonNull("parameters") ? tool.get("parameters") : NullNode.instance);
                fn.put("strict", tool.path("strict").asBoolean(true));
                out.add(fn);
            } else if (tool.isObject() && !tool.has("function")) {
                out.add(tool);
            }
        }
        return out;
    }

    private static void copyOrNull(ObjectNode target, JsonNode raw, String field) {
        JsonNode v = raw.get(field);
        target.set(field, v == null ? NullNode.instance : v);
    }

    /** Tool calls in Chat Completions shape, with fresh unique ids. */
    ArrayNode chatToolCalls(ScriptedReply reply, boolean withIndex) {
        ArrayNode calls = NODES.arrayNode();
        int index = 0;
        for (ScriptedReply.ToolCallSpec call : reply.toolCalls()) {
            ObjectNode c = calls.addObject();
            if (withIndex) {
                c.put("index", index++);
            }
            c.put("id", newId("call_"));
            c.put("type", "function");
            ObjectNode fn = c.putObject("function");
            fn.put("name", call.name());
            fn.put("arguments", call.argumentsJson());
        }
        return calls;
    }

    /** A complete {@code chat.completion} object. */
    ObjectNode chatCompletion(String id, long created, ModelRequestView req, ScriptedReply reply, Usage usage) {
        ObjectNode c = chatEnvelope(id, created, req, "chat.completion");
        ObjectNode choice = c.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant");
        boolean tools = reply.kind() == ScriptedReply.Kind.TOOL_CALLS;
        if (tools) {
            message.putNull("content");
            message.set("tool_calls", chatToolCalls(reply, false));
        } else {
            message.put("content", reply.text());
        }
        message.putNull("refusal");
        message.set("annotations", NODES.arrayNode());
        choice.putNull("logprobs");
        choice.put("finish_reason", tools ? "tool_calls" : "stop");
        c.set("usage", chatUsage(usage));
        return c;
    }

    ObjectNode chatEnvelope(String id, long created, ModelRequestView req, String object) {
        ObjectNode c = NODES.objectNode();
        c.put("id", id);
        c.put("object", object);
        c.put("created", created);
        c.put("model", req.model() == null ? "scripted-model" : req.model());
        c.put("service_tier", "default");
        c.putNull("system_fingerprint");
        return c;
    }

    static ObjectNode chatUsage(Usage usage) {
        ObjectNode u = NODES.objectNode();
        u.put("prompt_tokens", usage.input());
        u.put("completion_tokens", usage.output());
        u.put("total_tokens", usage.total());
        ObjectNode pd = u.putObject("prompt_tokens_details");
        pd.put("cached_tokens", usage.cached());
        pd.put("audio_tokens", 0);
        ObjectNode cd = u.putObject("completion_tokens_details");
        cd.put("reasoning_tokens", usage.reasoning());
        cd.put("audio_tokens", 0);
        cd.put("accepted_prediction_tokens", 0);
        cd.put("rejected_prediction_tokens", 0);
        return u;
    }

    /** OpenAI's error body. */
    static ObjectNode error(int status, String message) {
        ObjectNode root = NODES.objectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", message);
        e.put("type", switch (status) {
            case 400, 404, 405, 409, 422 -> "invalid_request_error";
            case 401 -> "authentication_error";
            case 403 -> "permission_error";
            case 429 -> "rate_limit_error";
            default -> status >= 500 ? "server_error" : "invalid_request_error";
        });
        e.putNull("param");
        e.set("code", switch (status) {
            case 404 -> NODES.textNode("not_found");
            case 429 -> NODES.textNode("rate_limit_exceeded");
            default -> NullNode.instance;
        });
        return root;
    }
}
