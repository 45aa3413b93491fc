package io.turnpike.devkit;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * What the {@link ScriptedModelServer} answers to one request: assistant text, one or more
 * function calls (several = parallel tool calls in one turn), or an HTTP error. Immutable; the
 * {@code with...} methods return copies.
 */
public final class ScriptedReply {

    public enum Kind { TEXT, TOOL_CALLS, HTTP_ERROR }

    /** One function call to emit; {@code argumentsJson} is sent as is (it may be invalid on purpose). */
    public record ToolCallSpec(String name, String argumentsJson) {
        public ToolCallSpec {
            Objects.requireNonNull(name, "name");
            argumentsJson = argumentsJson == null ? "{}" : argumentsJson;
        }
    }

    private final Kind kind;
    private final String text;
    private final List<ToolCallSpec> toolCalls;
    private final int httpStatus;
    private final String errorMessage;
    private final Duration delay;
    private final long inputTokens;   // -1 = estimate
    private final long outputTokens;  // -1 = estimate
    private final String reasoning;   // null = no reasoning item
    private final long cachedTokens;
    private final long reasoningTokens;
    private final List<HostedCall> hostedCalls;
    private final List<HostedCall.Citation> citations;

    private ScriptedReply(Kind kind, String text, List<ToolCallSpec> toolCalls, int httpStatus,
                          String errorMessage, Duration delay, long inputTokens, long outputTokens) {
        this(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens, null, 0, 0);
    }

    private ScriptedReply(Kind kind, String text, List<ToolCallSpec> toolCalls, int httpStatus,
                          String errorMessage, Duration delay, long inputTokens, long outputTokens,
                          String reasoning, long cachedTokens, long reasoningTokens) {
        this(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens, reasoning, cachedTokens,
                reasoningTokens, List.of(), List.of());
    }

    private ScriptedReply(Kind kind, String text, List<ToolCallSpec> toolCalls, int httpStatus,
                          String errorMessage, Duration delay, long inputTokens, long outputTokens,
                          String reasoning, long cachedTokens, long reasoningTokens, List<HostedCall> hostedCalls,
                          List<HostedCall.Citation> citations) {
        this.hostedCalls = hostedCalls;
        this.citations = citations;
        this.kind = kind;
        this.text = text;
        this.toolCalls = toolCalls;
        this.httpStatus = httpStatus;
        this.errorMessage = errorMessage;
        this.delay = delay;
        this.inputTokens = inputTokens;
        this.outputTokens = outputTokens;
        this.reasoning = reasoning;
        this.cachedTokens = cachedTokens;
        this.reasoningTokens = reasoningTokens;
    }

    /** A final assistant message. */
    public static ScriptedReply text(String text) {
        return new ScriptedReply(Kind.TEXT, Objects.requireNonNull(text, "text"), List.of(), 200, null,
                Duration.ZERO, -1, -1);
    }

    /** One function call. */
    public static ScriptedReply toolCall(String name, String argumentsJson) {
        return toolCalls(List.of(new ToolCallSpec(name, argumentsJson)));
    }

    /** Several function calls in one turn (parallel tool calls). */
    public static ScriptedReply toolCalls(List<ToolCallSpec> calls) {
        if (calls == null || calls.isEmpty()) {
            throw new IllegalArgumentException("at least one tool call");
        }
        return new ScriptedReply(Kind.TOOL_CALLS, null, List.copyOf(calls), 200, null, Duration.ZERO, -1, -1);
    }

    /** An HTTP error with an OpenAI-style error body ({@code {"error":{"message",...}}}). */
    public static ScriptedReply httpError(int status, String message) {
        if (status < 400 || status > 599) {
            throw new IllegalArgumentException("HTTP error status must be 4xx or 5xx: " + status);
        }
        return new ScriptedReply(Kind.HTTP_ERROR, null, List.of(), status,
                message == null ? "Scripted error" : message, Duration.ZERO, -1, -1);
    }

    /** The server waits this long before answering (for timeout tests). */
    public ScriptedReply withDelay(Duration delay) {
        if (delay == null || delay.isNegative()) {
            throw new IllegalArgumentException("delay must be zero or positive");
        }
        return new ScriptedReply(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens,
                reasoning, cachedTokens, reasoningTokens, hostedCalls, citations);
    }

    /** Usage to report; without it usage is estimated as about 4 characters per token. */
    public ScriptedReply withUsage(long inputTokens, long outputTokens) {
        if (inputTokens < 0 || outputTokens < 0) {
            throw new IllegalArgumentException("token counts must be >= 0");
        }
        return new ScriptedReply(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens,
                reasoning, cachedTokens, reasoningTokens, hostedCalls, citations);
    }

    /**
     * A reasoning model's answer (Responses API): a {@code reasoning} output item with this summary
     * comes before the text or calls. Like the real API it carries {@code encrypted_content} only when
     * the request's {@code include} asks for {@code reasoning.encrypted_content}; the scripted content
     * is {@code "enc:" + base64(summary)}, so a test can see which reasoning was replayed.
     */
    public ScriptedReply withReasoning(String summary) {
        if (kind == Kind.HTTP_ERROR) {
            throw new IllegalStateException("an HTTP error has no reasoning");
        }
        return new ScriptedReply(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens,
                Objects.requireNonNull(summary, "summary"), cachedTokens, reasoningTokens, hostedCalls, citations);
    }

    /** Cached input tokens and reasoning tokens to report in the usage details (both APIs); 0 without. */
    public ScriptedReply withUsageDetails(long cachedInputTokens, long reasoningTokens) {
        if (cachedInputTokens < 0 || reasoningTokens < 0) {
            throw new IllegalArgumentException("token counts must be >= 0");
        }
        return new ScriptedReply(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens,
                reasoning, cachedInputTokens, reasoningTokens, hostedCalls, citations);
    }

    /** An answer of hosted calls only, no message (an image generated, an MCP approval request). */
    public static ScriptedReply hostedOnly(HostedCall... calls) {
        return text("").withHostedCalls(calls);
    }

    /**
     * Calls of hosted tools the provider ran (Responses API): output items before the
     * text or function calls, in this order, each with a fresh id and status completed.
     */
    public ScriptedReply withHostedCalls(HostedCall... calls) {
        if (kind == Kind.HTTP_ERROR) {
            throw new IllegalStateException("an HTTP error has no hosted calls");
        }
        return new ScriptedReply(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens,
                reasoning, cachedTokens, reasoningTokens, List.of(calls), citations);
    }

    /** Citations (annotations) of the reply's text: url_citation and file_citation, as the Responses API gives them. */
    public ScriptedReply withCitations(HostedCall.Citation... annotations) {
        if (kind != Kind.TEXT) {
            throw new IllegalStateException("only a text reply has citations");
        }
        for (HostedCall.Citation c : annotations) {
            if (c.end() > text.length() || c.index() > text.length()) {
                throw new IllegalArgumentException("citation " + c + " points past the text (" + text.length() + " chars)");
            }
        }
        return new ScriptedReply(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens,
                reasoning, cachedTokens, reasoningTokens, hostedCalls, List.of(annotations));
    }

    /** The hosted calls before the output; empty without. */
    public List<HostedCall> hostedCalls() {
        return hostedCalls;
    }

    /** The citations of the text; empty without. */
    public List<HostedCall.Citation> citations() {
        return citations;
    }

    public Kind kind() {
        return kind;
    }

    /** The assistant text (TEXT replies), else null. */
    public String text() {
        return text;
    }

    /** The calls (TOOL_CALLS replies), else empty. */
    public List<ToolCallSpec> toolCalls() {
        return toolCalls;
    }

    /** 200, or the error status of an HTTP_ERROR reply. */
    public int httpStatus() {
        return httpStatus;
    }

    /** The error message (HTTP_ERROR replies), else null. */
    public String errorMessage() {
        return errorMessage;
    }

    public Duration delay() {
        return delay;
    }

    public OptionalLong inputTokens() {
        return inputTokens < 0 ? OptionalLong.empty() : OptionalLong.of(inputTokens);
    }

    public OptionalLong outputTokens() {
        return outputTokens < 0 ? OptionalLong.empty() : OptionalLong.of(outputTokens);
    }

    /** The reasoning summary of a reasoning item before the output, or null for none. */
    public String reasoning() {
        return reasoning;
    }

    public long cachedTokens() {
        return cachedTokens;
    }

    public long reasoningTokens() {
        return reasoningTokens;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ScriptedReply r && kind == r.kind && Objects.equals(text, r.text)
                && toolCalls.equals(r.toolCalls) && httpStatus == r.httpStatus
                && Objects.equals(errorMessage, r.errorMessage) && delay.equals(r.delay)
                && inputTokens == r.inputTokens && outputTokens == r.outputTokens
                && Objects.equals(reasoning, r.reasoning) && cachedTokens == r.cachedTokens
                && reasoningTokens == r.reasoningTokens && hostedCalls.equals(r.hostedCalls)
                && citations.equals(r.citations);
    }

    @Override
    public int hashCode() {
        return Objects.hash(kind, text, toolCalls, httpStatus, errorMessage, delay, inputTokens, outputTokens, reasoning,
                cachedTokens, reasoningTokens, hostedCalls, citations);
    }

    @Override
    public String toString() {
        String body = switch (kind) {
            case TEXT -> "text=" + text;
            case TOOL_CALLS -> "toolCalls=" + toolCalls;
            case HTTP_ERROR -> "httpError=" + httpStatus + " " + errorMessage;
        };
        return "ScriptedReply[" + body + (delay.isZero() ? "" : ", delay=" + delay)
                + (inputTokens < 0 ? "" : ", usage=" + inputTokens + "/" + outputTokens)
                + (reasoning == null ? "" : ", reasoning=" + reasoning)
                + (cachedTokens == 0 && reasoningTokens == 0 ? "" : ", cached=" + cachedTokens + ", reasoningTokens=" + reasoningTokens)
                + (hostedCalls.isEmpty() ? "" : ", hosted=" + hostedCalls.stream().map(HostedCall::type).toList())
                + (citations.isEmpty() ? "" : ", citations=" + citations.size())
                + "]";
    }
}
