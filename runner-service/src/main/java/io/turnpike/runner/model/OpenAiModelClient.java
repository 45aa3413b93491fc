package io.turnpike.runner.model;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.RequestOptions;
import com.openai.core.Timeout;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.runner.model.MappingSupport.InvalidCallException;
import io.turnpike.runner.model.ModelErrors.Redactor;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link ModelClient} on openai-java: the Responses API by default (full input replay,
 * {@code store=false}), Chat Completions when the call's settings ask for it or the invoker is
 * configured with {@code turnpike.model.api=chat}. HTTP retries (408, 409, 429, 5xx, I/O errors, with
 * exponential backoff) are openai-java's, {@code maxRetries} of them. Each attempt is bounded by the
 * configured timeout, and never runs past the call's deadline by more than a second.
 *
 * <p>The API key is only ever handed to openai-java; every error message is scrubbed of it.
 */
public final class OpenAiModelClient implements ModelClient {
  private static final Logger log = LoggerFactory.getLogger(OpenAiModelClient.class);

  /** Shortest per-attempt timeout, even when the deadline is nearer. */
  private static final Duration MIN_TIMEOUT = Duration.ofSeconds(1);

  /** Sent with every request so server logs can be matched with runs. */
  public static final String RUN_ID_HEADER = "X-Turnpike-Run-Id";
  public static final String CALL_ID_HEADER = "X-Turnpike-Call-Id";

  private final OpenAIClient client;
  private final ModelInvokerConfig.Api defaultApi;
  private final String modelOverride;
  private final Duration timeout;
  private final Redactor redactor;
  private final Clock clock;

  public OpenAiModelClient(ModelInvokerConfig config) {
    this(config, false);
  }

  /**
   * @param responseValidation when true, openai-java checks every response against the API's shapes
   *     (tests use this so a fake server that drifts from the real API fails)
   */
  public OpenAiModelClient(ModelInvokerConfig config, boolean responseValidation) {
    this(buildClient(config, responseValidation), config, Clock.systemUTC());
  }

  OpenAiModelClient(OpenAIClient client, ModelInvokerConfig config, Clock clock) {
    this.client = Objects.requireNonNull(client);
    this.defaultApi = config.api();
    this.modelOverride = config.modelOverride().orElse(null);
    this.timeout = config.timeout();
    this.redactor = new Redactor(config.apiKey());
    this.clock = clock;
  }

  /** A whole-attempt timeout; connecting gets at most ten seconds of it. */
  static Timeout timeoutOf(Duration t) {
    Duration connect = t.compareTo(Duration.ofSeconds(10)) < 0 ? t : Duration.ofSeconds(10);
    return Timeout.builder().connect(connect).request(t).build();
  }

  private static OpenAIClient buildClient(ModelInvokerConfig config, boolean responseValidation) {
    return OpenAIOkHttpClient.builder()
        .baseUrl(config.baseUrl())
        // Local OpenAI-compatible servers need no key, but openai-java wants one.
        .apiKey(config.apiKey() == null ? "none" : config.apiKey())
        .maxRetries(config.maxRetries())
        .timeout(timeoutOf(config.timeout()))
        .maxIdleConnections(Math.max(5, Math.min(config.concurrency(), 256)))
        .keepAliveDuration(Duration.ofMinutes(5))
        .responseValidation(responseValidation)
        .build();
  }

  /** The API a call goes to: Chat Completions when the call or the configuration asks for it. */
  ModelInvokerConfig.Api apiFor(ModelCall call) {
    if (call.getSettings() != null && call.getSettings().getApi() == ModelApi.CHAT_COMPLETIONS) {
      return ModelInvokerConfig.Api.CHAT;
    }
    return defaultApi;
  }

  @Override
  public ModelResult invoke(ModelCall call) {
    long start = System.nanoTime();
    ModelResult result;
    try {
      Duration attempt = attemptTimeout(call);
      RequestOptions options = RequestOptions.builder().timeout(timeoutOf(attempt)).build();
      if (apiFor(call) == ModelInvokerConfig.Api.CHAT) {
        ChatCompletionCreateParams params = withHeaders(ChatMapping.toParams(call, modelOverride), call);
        ChatCompletion completion = client.chat().completions().create(params, options);
        result = ChatMapping.toResult(call, completion);
      } else {
        ResponseCreateParams params = withHeaders(ResponsesMapping.toParams(call, modelOverride), call);
        Response response = client.responses().create(params, options);
        result = ResponsesMapping.toResult(call, response);
      }
    } catch (InvalidCallException e) {
      result = failed(call, ModelErrors.error(ModelErrors.INVALID_CALL, e.getMessage(), false, redactor));
    } catch (RuntimeException | Error e) {
      if (e instanceof VirtualMachineError vme) {
        throw vme;
      }
      result = failed(call, ModelErrors.fromException(e, redactor));
    }
    if (result.getError() != null) {
      ErrorInfo err = result.getError();
      err.setMessage(redactor.redact(err.getMessage()));
      log.warn("model call {} of run {} (agent {}, attempt {}) failed: {} {} (retryable={})", call.getCallId(),
          call.getRunId(), call.getAgent(), call.getAttempt(), err.getCode(), err.getMessage(), err.getRetryable());
    }
    result.setLatencyMs(Duration.ofNanos(System.nanoTime() - start).toMillis());
    return result;
  }

  private ResponseCreateParams withHeaders(ResponseCreateParams params, ModelCall call) {
    return params.toBuilder()
        .putAdditionalHeader(RUN_ID_HEADER, call.getRunId())
        .putAdditionalHeader(CALL_ID_HEADER, call.getCallId())
        .build();
  }

  private ChatCompletionCreateParams withHeaders(ChatCompletionCreateParams params, ModelCall call) {
    return params.toBuilder()
        .putAdditionalHeader(RUN_ID_HEADER, call.getRunId())
        .putAdditionalHeader(CALL_ID_HEADER, call.getCallId())
        .build();
  }

  /** The configured timeout, shortened to the call's deadline (but not below one second). */
  Duration attemptTimeout(ModelCall call) {
    if (call.getDeadline() == null) {
      return timeout;
    }
    Duration left = Duration.between(Instant.now(clock), call.getDeadline());
    if (left.compareTo(timeout) >= 0) {
      return timeout;
    }
    return left.compareTo(MIN_TIMEOUT) < 0 ? MIN_TIMEOUT : left;
  }

  static ModelResult failed(ModelCall call, ErrorInfo error) {
    return ModelResult.newBuilder()
        .setRunId(call.getRunId())
        .setCallId(call.getCallId())
        .setOutput(List.of())
        .setError(error)
        .build();
  }

  @Override
  public void close() {
    client.close();
  }
}
