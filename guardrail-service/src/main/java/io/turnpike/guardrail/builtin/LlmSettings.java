package io.turnpike.guardrail.builtin;

import io.turnpike.guardrail.spi.FailPolicy;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * How model-based guardrails reach a model: an OpenAI-compatible endpoint and the defaults a guardrail's
 * {@code configJson} may override. {@link #toString()} never shows the key.
 *
 * @param baseUrl       OpenAI-compatible endpoint
 * @param apiKey        bearer key, or null (local servers)
 * @param chat          true for Chat Completions, false for the Responses API
 * @param model         default model name
 * @param modelOverride if set, used instead of any model a guardrail names (local servers)
 * @param timeout       default time bound of one classification
 * @param maxRetries    HTTP retries within that bound
 * @param failPolicy    default policy on timeout, error or malformed answer
 * @param warmUp        load the HTTP client and openai-java's model classes in the background at start,
 *                      so the first model guardrail does not pay seconds of class loading
 */
public record LlmSettings(String baseUrl, String apiKey, boolean chat, String model, String modelOverride,
    Duration timeout, int maxRetries, FailPolicy failPolicy, boolean warmUp) {

  public static final String DEFAULT_BASE_URL = "https://api.openai.com/v1";
  public static final String DEFAULT_MODEL = "gpt-4.1-mini";

  public LlmSettings {
    Objects.requireNonNull(baseUrl, "baseUrl");
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(timeout, "timeout");
    Objects.requireNonNull(failPolicy, "failPolicy");
    apiKey = apiKey == null || apiKey.isBlank() ? null : apiKey;
    modelOverride = modelOverride == null || modelOverride.isBlank() ? null : modelOverride;
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("the model guardrail timeout must be positive");
    }
    if (maxRetries < 0) {
      throw new IllegalArgumentException("max retries must be >= 0");
    }
  }

  /** Defaults (OpenAI, Responses API, 10 s, one retry, fail closed) against {@code baseUrl}. */
  public static LlmSettings of(String baseUrl, String apiKey) {
    return new LlmSettings(baseUrl, apiKey, false, DEFAULT_MODEL, null, Duration.ofSeconds(10), 1, FailPolicy.CLOSED,
        false);
  }

  public static boolean parseChat(String api) {
    return switch (api.trim().toLowerCase(Locale.ROOT).replace('-', '_')) {
      case "responses", "response" -> false;
      case "chat", "chat_completions", "completions" -> true;
      default -> throw new IllegalArgumentException("api must be responses or chat, got '" + api + "'");
    };
  }

  public LlmSettings withTimeout(Duration value) {
    return new LlmSettings(baseUrl, apiKey, chat, model, modelOverride, value, maxRetries, failPolicy, warmUp);
  }

  public LlmSettings withChat(boolean value) {
    return new LlmSettings(baseUrl, apiKey, value, model, modelOverride, timeout, maxRetries, failPolicy, warmUp);
  }

  public LlmSettings withFailPolicy(FailPolicy value) {
    return new LlmSettings(baseUrl, apiKey, chat, model, modelOverride, timeout, maxRetries, value, warmUp);
  }

  public LlmSettings withWarmUp(boolean value) {
    return new LlmSettings(baseUrl, apiKey, chat, model, modelOverride, timeout, maxRetries, failPolicy, value);
  }

  @Override
  public String toString() {
    return "LlmSettings[baseUrl=" + baseUrl + ", apiKey=" + (apiKey == null ? "none" : "***") + ", api="
        + (chat ? "chat" : "responses") + ", model=" + model + ", override=" + (modelOverride == null ? "none" : modelOverride)
        + ", timeout=" + timeout + ", maxRetries=" + maxRetries + ", failPolicy=" + failPolicy.word() + ", warmUp=" + warmUp
        + "]";
  }
}
