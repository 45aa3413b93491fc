package io.turnpike.runner.model;

import com.openai.client.OpenAIClient;
import com.openai.core.RequestOptions;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseErrorEvent;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseStreamEvent;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ModelStreamKind;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * Streamed model calls: the request goes out with {@code stream: true}, every text, reasoning-summary
 * and argument delta goes to a {@link StreamSink} as it arrives, and openai-java's accumulators put the
 * final response together, which is then mapped exactly as a non-streamed one ({@link ResponsesMapping},
 * {@link ChatMapping}). Nothing of a stream that breaks off is kept: the call fails (retryably) as a
 * dropped connection would, and the run asks again.
 */
final class StreamedCalls {
  private StreamedCalls() {}

  /** Response error codes worth asking again for, as for a completed response that failed. */
  private static final Set<String> RETRYABLE = Set.of("server_error", "rate_limit_exceeded");

  static final String STREAM_ENDED = "the stream ended before the answer was complete";

  static ModelResult responses(OpenAIClient client, ResponseCreateParams params, RequestOptions options, ModelCall call,
      StreamSink sink) {
    ResponseAccumulator acc = ResponseAccumulator.create();
    Map<String, String> callNames = new HashMap<>(); // function call item id -> tool name
    ResponseErrorEvent error = null;
    try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(params, options)) {
      for (Iterator<ResponseStreamEvent> it = stream.stream().iterator(); it.hasNext(); ) {
        ResponseStreamEvent event = acc.accumulate(it.next());
        if (event.isOutputTextDelta()) {
          emit(sink, ModelStreamKind.TEXT, null, event.asOutputTextDelta().delta());
        } else if (event.isRefusalDelta()) {
          emit(sink, ModelStreamKind.TEXT, null, event.asRefusalDelta().delta());
        } else if (event.isReasoningSummaryTextDelta()) {
          emit(sink, ModelStreamKind.REASONING, null, event.asReasoningSummaryTextDelta().delta());
        } else if (event.isOutputItemAdded()) {
          ResponseOutputItem item = event.asOutputItemAdded().item();
          if (item.isFunctionCall()) {
            item.asFunctionCall().id().ifPresent(id -> callNames.put(id, item.asFunctionCall().name()));
          }
        } else if (event.isFunctionCallArgumentsDelta()) {
          var delta = event.asFunctionCallArgumentsDelta();
          emit(sink, ModelStreamKind.ARGUMENTS, callNames.get(delta.itemId()), delta.delta());
        } else if (event.isError()) {
          error = event.asError();
        }
      }
    }
    Response response = completed(acc);
    if (response != null) {
      return ResponsesMapping.toResult(call, response);
    }
    if (error != null) {
      String code = error.code().orElse("stream_error");
      return OpenAiModelClient.failed(call, ErrorInfo.newBuilder()
          .setCode(ModelErrors.RESPONSE_FAILED)
          .setMessage(code + ": " + error.message())
          .setRetryable(RETRYABLE.contains(code))
          .build());
    }
    return OpenAiModelClient.failed(call, ErrorInfo.newBuilder()
        .setCode(ModelErrors.IO).setMessage(STREAM_ENDED + " (no response.completed)").setRetryable(true).build());
  }

  /** The response of the stream's terminal event (completed, incomplete or failed), or null when there was none. */
  private static Response completed(ResponseAccumulator acc) {
    try {
      return acc.response();
    } catch (IllegalStateException e) {
      return null;
    }
  }

  static ModelResult chat(OpenAIClient client, ChatCompletionCreateParams params, RequestOptions options, ModelCall call,
      StreamSink sink) {
    // Usage comes in a last chunk only when asked for: without it the call's tokens would read as zero.
    ChatCompletionCreateParams withUsage = params.toBuilder()
        .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
        .build();
    ChatCompletionAccumulator acc = ChatCompletionAccumulator.create();
    Map<Long, String> callNames = new HashMap<>(); // tool call index -> tool name
    try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(withUsage, options)) {
      for (Iterator<ChatCompletionChunk> it = stream.stream().iterator(); it.hasNext(); ) {
        ChatCompletionChunk chunk = acc.accumulate(it.next());
        for (ChatCompletionChunk.Choice choice : chunk.choices()) {
          if (choice.index() != 0) {
            continue; // one choice is asked for; ChatMapping reads the first
          }
          ChatCompletionChunk.Choice.Delta delta = choice.delta();
          delta.content().ifPresent(t -> emit(sink, ModelStreamKind.TEXT, null, t));
          delta.refusal().ifPresent(t -> emit(sink, ModelStreamKind.TEXT, null, t));
          for (ChatCompletionChunk.Choice.Delta.ToolCall tc : delta.toolCalls().orElse(java.util.List.of())) {
            tc.function().ifPresent(f -> {
              f.name().ifPresent(n -> callNames.put(tc.index(), n));
              f.arguments().ifPresent(a -> emit(sink, ModelStreamKind.ARGUMENTS, callNames.get(tc.index()), a));
            });
          }
        }
      }
    }
    ChatCompletion completion;
    try {
      completion = acc.chatCompletion();
    } catch (IllegalStateException e) {
      return OpenAiModelClient.failed(call, ErrorInfo.newBuilder()
          .setCode(ModelErrors.IO).setMessage(STREAM_ENDED + " (no finish_reason)").setRetryable(true).build());
    }
    return ChatMapping.toResult(call, completion);
  }

  private static void emit(StreamSink sink, ModelStreamKind kind, String name, String text) {
    if (text != null && !text.isEmpty()) {
      sink.delta(kind, name, text);
    }
  }
}
