package io.turnpike.devkit;

/**
 * A request as the {@link ScriptedModelServer} received it.
 *
 * @param path the request path, e.g. {@code /v1/responses}
 * @param body the raw request body (empty for GET)
 * @param view the parsed model request, or null when the request was not a model call or its body
 *             could not be parsed
 */
public record RecordedRequest(String path, String body, ModelRequestView view) {
}
