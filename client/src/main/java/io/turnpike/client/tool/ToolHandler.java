package io.turnpike.client.tool;

/**
 * Serves one function tool. The returned text is the tool output the model sees (JSON or plain text);
 * a thrown exception becomes an output with {@code isError=true} whose text is the exception's message.
 * Handlers run on virtual threads and may block; they must be safe to call concurrently.
 */
@FunctionalInterface
public interface ToolHandler {
  String handle(ToolInvocation invocation) throws Exception;
}
