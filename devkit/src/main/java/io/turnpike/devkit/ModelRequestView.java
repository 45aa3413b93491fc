package io.turnpike.devkit;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A model request, parsed the same way for both APIs.
 *
 * @param api          {@code "responses"} or {@code "chat"}
 * @param model        the requested model, or null
 * @param instructions Responses {@code instructions}, or the Chat system/developer messages joined
 *                     by a blank line; null if none
 * @param input        the conversation so far (system/developer Chat messages are not in it)
 * @param toolNames    names of the offered function tools (the {@code type} for hosted tools)
 * @param raw          the whole request body
 * @param headers      request headers, names lower-cased (the 6-argument constructor leaves it empty)
 */
public record ModelRequestView(String api, String model, String instructions, List<InputItem> input,
                               List<String> toolNames, JsonNode raw, Map<String, List<String>> headers) {

    public static final String RESPONSES = "responses";
    public static final String CHAT = "chat";

    public ModelRequestView {
        input = input == null ? List.of() : List.copyOf(input);
        toolNames = toolNames == null ? List.of() : List.copyOf(toolNames);
        Map<String, List<String>> lower = new TreeMap<>();
        if (headers != null) {
            headers.forEach((k, v) -> lower.computeIfAbsent(k.toLowerCase(Locale.ROOT), x -> new java.util.ArrayList<>())
                    .addAll(v == null ? List.of() : v));
        }
        lower.replaceAll((k, v) -> List.copyOf(v));
        headers = java.util.Collections.unmodifiableMap(lower);
    }

    /** A view without headers (for unit-testing a {@link ModelScript} directly). */
    public ModelRequestView(String api, String model, String instructions, List<InputItem> input,
                            List<String> toolNames, JsonNode raw) {
        this(api, model, instructions, input, toolNames, raw, Map.of());
    }

    /**
     * How many model turns the conversation already holds: each assistant message counts one, and
     * each maximal run of consecutive function calls (parallel calls of one turn) counts one.
     * A function call output, or any message, ends a run. So the first request is turn 0.
     */
    public int turn() {
        int turns = 0;
        boolean inCallRun = false;
        for (InputItem item : input) {
            if (item instanceof InputItem.Reasoning || item instanceof InputItem.Hosted) {
                continue; // part of the turn whose output follows it
            }
            if (item instanceof InputItem.FunctionCall) {
                if (!inCallRun) {
                    turns++;
                    inCallRun = true;
                }
            } else {
                inCallRun = false;
                if (item instanceof InputItem.Message m && "assistant".equals(m.role())) {
                    turns++;
                }
            }
        }
        return turns;
    }

    /** The output of the last function call output / tool message, or null. */
    public String lastToolOutput() {
        for (int i = input.size() - 1; i >= 0; i--) {
            if (input.get(i) instanceof InputItem.FunctionCallOutput out) {
                return out.output();
            }
        }
        return null;
    }

    /**
     * The output of each function the conversation called, by the function's name (the last call's
     * when one was called more than once), in the order the names first appear.
     */
    public Map<String, String> toolOutputs() {
        Map<String, String> nameByCallId = new java.util.HashMap<>();
        Map<String, String> outputByName = new java.util.LinkedHashMap<>();
        for (InputItem item : input) {
            if (item instanceof InputItem.FunctionCall fc) {
                nameByCallId.put(fc.callId(), fc.name());
            } else if (item instanceof InputItem.FunctionCallOutput out) {
                outputByName.put(nameByCallId.getOrDefault(out.callId(), "?"), out.output());
            }
        }
        return outputByName;
    }

    /** Text of the first user message, or null. */
    public String firstUserText() {
        for (InputItem item : input) {
            if (item instanceof InputItem.Message m && "user".equals(m.role())) {
                return m.text();
            }
        }
        return null;
    }

    /** Text of the last user message, or null. */
    public String lastUserText() {
        for (int i = input.size() - 1; i >= 0; i--) {
            if (input.get(i) instanceof InputItem.Message m && "user".equals(m.role())) {
                return m.text();
            }
        }
        return null;
    }

    /** The reasoning items replayed in the input, in order. */
    public List<InputItem.Reasoning> reasoning() {
        return input.stream().filter(i -> i instanceof InputItem.Reasoning).map(i -> (InputItem.Reasoning) i).toList();
    }

    /**
     * The URLs (data URLs for inline images) of every image in the input, in order: Responses
     * {@code input_image} parts (of a message or of a function_call_output's list output) and Chat
     * {@code image_url} parts.
     */
    public List<String> imageUrls() {
        List<String> urls = new java.util.ArrayList<>();
        if (raw == null) {
            return urls;
        }
        JsonNode items = api.equals(RESPONSES) ? raw.path("input") : raw.path("messages");
        for (JsonNode item : items) {
            for (JsonNode part : item.has("output") ? item.path("output") : item.path("content")) {
                if ("input_image".equals(part.path("type").asText()) && part.hasNonNull("image_url")) {
                    urls.add(part.path("image_url").asText());
                } else if ("image_url".equals(part.path("type").asText())) {
                    urls.add(part.path("image_url").path("url").asText());
                }
            }
        }
        return urls;
    }

    /** The hosted tool calls replayed in the input, in order. */
    public List<InputItem.Hosted> hostedCalls() {
        return input.stream().filter(i -> i instanceof InputItem.Hosted).map(i -> (InputItem.Hosted) i).toList();
    }

    /** The hosted tool entries offered (every tool but functions), as sent. */
    public List<JsonNode> hostedTools() {
        List<JsonNode> out = new java.util.ArrayList<>();
        if (raw != null) {
            raw.path("tools").forEach(t -> {
                if (!"function".equals(t.path("type").asText())) {
                    out.add(t);
                }
            });
        }
        return out;
    }

    /** First value of a request header (case-insensitive), or null. */
    public String header(String name) {
        List<String> values = headers.get(name.toLowerCase(Locale.ROOT));
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    /** True if the client asked for a streamed (SSE) answer. */
    public boolean stream() {
        return raw != null && raw.path("stream").asBoolean(false);
    }
}
