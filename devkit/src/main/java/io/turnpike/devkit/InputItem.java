package io.turnpike.devkit;

/**
 * One item of a model request's conversation, the same for the Responses API ({@code input}) and
 * Chat Completions ({@code messages}).
 */
public sealed interface InputItem {

    /** A message; {@code role} is user, assistant, system or developer; {@code text} joins all text parts. */
    record Message(String role, String text) implements InputItem {
    }

    /** A function call the model made earlier (Responses {@code function_call}, Chat {@code tool_calls[]}). */
    record FunctionCall(String callId, String name, String arguments) implements InputItem {
    }

    /**
     * A function's result (Responses {@code function_call_output}, Chat {@code tool} message); with a
     * list output (text and images), the text parts joined. See {@link ModelRequestView#imageUrls()}
     * for the images.
     */
    record FunctionCallOutput(String callId, String output) implements InputItem {
    }

    /**
     * A hosted tool call replayed from an earlier turn (Responses API: web_search_call, file_search_call,
     * code_interpreter_call, image_generation_call, mcp_call, mcp_list_tools, mcp_approval_request/response);
     * {@code item} is the whole input item.
     */
    record Hosted(String type, String id, com.fasterxml.jackson.databind.JsonNode item) implements InputItem {
    }

    /** A reasoning item replayed from an earlier turn (Responses API); {@code encryptedContent} may be null. */
    record Reasoning(String id, String encryptedContent, java.util.List<String> summary) implements InputItem {
        public Reasoning {
            summary = summary == null ? java.util.List.of() : java.util.List.copyOf(summary);
        }
    }
}
