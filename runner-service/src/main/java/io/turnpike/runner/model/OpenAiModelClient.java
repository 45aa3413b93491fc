package io.turnpike.runner.model;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.RequestOptions;
import com.openai.core.Timeout;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link ModelClient} on openai-java: the Responses API by default (full input replay,
 * {@code store=false}), Chat Completions when the call's settings ask for it or the invoker is
 * configured with {@code turnpike.model.api=chat}. HTTP retries (408, 409, 429, 5xx, I/O errors, with
 * exponential backoff) are openai-java's, {@code maxRetries} of them. Each attempt is bounded by the
 * configured timeout, and never runs past the call's deadline by more than a second.
 *
 * <p>A call goes to the provider it names ({@link ModelCall#getModelProvider()}, see {@link ModelProvider}),
 * else to the default endpoint; each provider has its own client, built once. Given a {@link StreamSink}
 * the call is streamed ({@link StreamedCalls}); the result is the same.
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

  /** Code of a call naming a provider this invoker was not configured with: a configuration error, not retried. */
  public static final String UNKNOWN_PROVIDER = "model_unknown_provider";

  /** One provider's client, built once and shared by every call to it. */
  private record Endpoint(String name, OpenAIClient client, ModelInvokerConfig.Api api, String modelOverride,
      Redactor redactor) {}

  private final Endpoint defaultEndpoint;
  private final Map<String, Endpoint> providers;
  private final Duration timeout;
  private final Clock clock;

  public OpenAiModelClient(ModelInvokerConfig config) {
    this(config, false);
  }

  /**
   * @param responseValidation when true, openai-java checks every response against the API's shapes
   *     (tests use this so a fake server that drifts from the real API fails)
   */
  public OpenAiModelClient(ModelInvokerConfig config, boolean responseValidation) {
    this(buildClient(config, config.baseUrl(), config.apiKey(), responseValidation), config, Clock.systemUTC(),
        responseValidation);
  }

  OpenAiModelClient(OpenAIClient client, ModelInvokerConfig config, Clock clock) {
    this(client, config, clock, false);
  }

  private OpenAiModelClient(OpenAIClient client, ModelInvokerConfig config, Clock clock, boolean responseValidation) {
    this.defaultEndpoint = new Endpoint("default", Objects.requireNonNull(client), config.api(),
        config.modelOverride().orElse(null), new Redactor(config.apiKey()));
    Map<String, Endpoint> named = new LinkedHashMap<>();
    for (ModelProvider p : config.providers().values()) {
      named.put(p.name(), new Endpoint(p.name(), buildClient(config, p.baseUrl(), p.apiKey(), responseValidation), p.api(),
          p.modelOverride().orElse(null), new Redactor(p.apiKey())));
    }
    this.providers = Map.copyOf(named);
    this.timeout = config.timeout();
    this.clock = clock;
  }

  /** A whole-attempt timeout; connecting gets at most ten seconds of it. */
  static Timeout timeoutOf(Duration t) {
    Duration connect = t.compareTo(Duration.ofSeconds(10)) < 0 ? t : Duration.ofSeconds(10);
    return Timeout.builder().connect(connect).request(t).build();
  }

  private static OpenAIClient buildClient(ModelInvokerConfig config, String baseUrl, String apiKey,
      boolean responseValidation) {
    return OpenAIOkHttpClient.builder()
        .baseUrl(baseUrl)
        // Local OpenAI-compatible servers need no key, but openai-java wants one.
        .apiKey(apiKey == null ? "none" : apiKey)
        .maxRetries(config.maxRetries())
        .timeout(timeoutOf(config.timeout()))
        .maxIdleConnections(Math.max(5, Math.min(config.concurrency(), 256)))
        .keepAliveDuration(Duration.ofMinutes(5))
        .responseValidation(responseValidation)
        .build();
  }

  /** The API a call goes to: Chat Completions when the call or its provider's configuration asks for it. */
  ModelInvokerConfig.Api apiFor(ModelCall call) {
    Endpoint endpoint = endpoint(call);
    return apiFor(call, endpoint == null ? defaultEndpoint : endpoint);
  }

  private static ModelInvokerConfig.Api apiFor(ModelCall call, Endpoint endpoint) {
    if (call.getSettings() != null && call.getSettings().getApi() == ModelApi.CHAT_COMPLETIONS) {
      return ModelInvokerConfig.Api.CHAT;
    }
    return endpoint.api();
  }

  /** The call's provider, the default one when it names none, or null when it names one this client lacks. */
  private Endpoint endpoint(ModelCall call) {
    String name = call.getModelProvider();
    return name == null || name.isBlank() ? defaultEndpoint : providers.get(name);
  }

  /** The names of the providers besides the default one. */
  public java.util.Set<String> providerNames() {
    return providers.keySet();
  }

  @Override
  public ModelResult invoke(ModelCall call) {
    return invoke(call, null);
  }

  /** With a sink the answer is streamed (see {@link StreamedCalls}); the result is the same either way. */
  @Override
  public ModelResult invoke(ModelCall call, StreamSink sink) {
    long start = System.nanoTime();
    Endpoint endpoint = endpoint(call);
    if (endpoint == null) {
      ModelResult unknown = failed(call, ModelErrors.error(UNKNOWN_PROVIDER, "agent " + call.getAgent()
          + " asks for model provider '" + call.getModelProvider() + "', which this model invoker is not configured with"
          + " (it has: default" + (providers.isEmpty() ? "" : ", " + String.join(", ", new TreeSet<>(providers.keySet())))
          + "); add it to " + ModelInvokerConfig.PROVIDERS + " with its " + ModelProvider.key("<name>", "base-url"),
          false, Redactor.NONE));
      log.warn("model call {} of run {}: {}", call.getCallId(), call.getRunId(), unknown.getError().getMessage());
      unknown.setLatencyMs(0L);
      return unknown;
    }
    Redactor redactor = endpoint.redactor();
    ModelResult result;
    try {
      Duration attempt = attemptTimeout(call);
      RequestOptions options = RequestOptions.builder().timeout(timeoutOf(attempt)).build();
      OpenAIClient client = endpoint.client();
      if (apiFor(call, endpoint) == ModelInvokerConfig.Api.CHAT) {
        ChatCompletionCreateParams params = withHeaders(ChatMapping.toParams(call, endpoint.modelOverride()), call);
        result = sink != null ? StreamedCalls.chat(client, params, options, call, sink)
            : ChatMapping.toResult(call, client.chat().completions().create(params, options));
      } else {
        ResponseCreateParams params = withHeaders(ResponsesMapping.toParams(call, endpoint.modelOverride()), call);
        result = sink != null ? StreamedCalls.responses(client, params, options, call, sink)
            : ResponsesMapping.toResult(call, client.responses().create(params, options));
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
        .setSentSeq(call.getSentSeq())
        .setOutput(List.of())
        .setError(error)
        .build();
  }

  @Override
  public void close() {
    defaultEndpoint.client().close();
    providers.values().forEach(e -> e.client().close());
  }
}
