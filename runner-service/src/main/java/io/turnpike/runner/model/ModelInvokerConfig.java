package io.turnpike.runner.model;

import io.turnpike.schema.Settings;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Configuration of the {@link ModelInvoker} and its {@link OpenAiModelClient}.
 *
 * <p>Keys (each also readable as a system property or as the environment variable spelled from the
 * key, e.g. {@code TURNPIKE_MODEL_BASE_URL}; see {@link Settings}):
 *
 * <table>
 *   <caption>keys and defaults</caption>
 *   <tr><th>key</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>turnpike.bootstrap.servers</td><td>localhost:9092</td><td>Kafka</td></tr>
 *   <tr><td>turnpike.model.base-url</td><td>env OPENAI_BASE_URL, else https://api.openai.com/v1</td>
 *       <td>OpenAI-compatible endpoint</td></tr>
 *   <tr><td>turnpike.model.api-key</td><td>env OPENAI_API_KEY, else none</td><td>bearer key</td></tr>
 *   <tr><td>turnpike.model.api</td><td>responses</td><td>responses | chat: the API used for every
 *       call; a call whose settings ask for CHAT_COMPLETIONS uses Chat Completions anyway</td></tr>
 *   <tr><td>turnpike.model.timeout</td><td>60s</td><td>per HTTP attempt</td></tr>
 *   <tr><td>turnpike.model.max-retries</td><td>3</td><td>openai-java retries with backoff on 408,
 *       409, 429, 5xx and I/O errors</td></tr>
 *   <tr><td>turnpike.model.concurrency</td><td>64</td><td>model calls in flight per invoker</td></tr>
 *   <tr><td>turnpike.model.group-id</td><td>turnpike-model-invoker</td><td>consumer group</td></tr>
 *   <tr><td>turnpike.model.override</td><td>none</td><td>model name used instead of the agent's
 *       (for local servers)</td></tr>
 *   <tr><td>turnpike.model.close-timeout</td><td>30s</td><td>how long close() waits for calls in
 *       flight</td></tr>
 *   <tr><td>turnpike.model.stream-interval</td><td>50ms</td><td>how long streamed text is gathered
 *       before it is published as one delta (turnpike.model.stream)</td></tr>
 *   <tr><td>turnpike.model.early-start</td><td>false</td><td>true: start a model call as soon as the
 *       orchestrator has written it, before its transaction commits (read_uncommitted), so the call
 *       overlaps the commit. A model call has no effect outside the run, and the orchestrator takes only
 *       the answer to the send it committed (ModelCall.sentSeq); the cost is a call paid twice when an
 *       orchestrator dies between its send and its commit. Off by default: on the 2-core bench machine the
 *       gain was within the noise (bench/RESULTS.md), and with a real model the commit is a sliver of the call</td></tr>
 *   <tr><td>turnpike.model.providers</td><td>none</td><td>names of further model providers, comma
 *       separated, each configured by turnpike.model.provider.&lt;name&gt;.* (see {@link ModelProvider});
 *       an agent picks one with modelProvider, the keys above are the default provider</td></tr>
 * </table>
 *
 * <p>{@link #toString()} never shows the API key.
 */
public record ModelInvokerConfig(
    String bootstrapServers,
    String schemaRegistryUrl,
    String baseUrl,
    String apiKey,
    Api api,
    Duration timeout,
    int maxRetries,
    int concurrency,
    String groupId,
    Optional<String> modelOverride,
    Duration closeTimeout,
    Map<String, ModelProvider> providers,
    Duration streamInterval,
    boolean earlyStart) {

  public static final String BASE_URL = "turnpike.model.base-url";
  public static final String API_KEY = "turnpike.model.api-key";
  public static final String API = "turnpike.model.api";
  public static final String TIMEOUT = "turnpike.model.timeout";
  public static final String MAX_RETRIES = "turnpike.model.max-retries";
  public static final String CONCURRENCY = "turnpike.model.concurrency";
  public static final String GROUP_ID = "turnpike.model.group-id";
  public static final String MODEL_OVERRIDE = "turnpike.model.override";
  public static final String CLOSE_TIMEOUT = "turnpike.model.close-timeout";
  public static final String PROVIDERS = "turnpike.model.providers";
  public static final String STREAM_INTERVAL = "turnpike.model.stream-interval";
  public static final String EARLY_START = "turnpike.model.early-start";

  public static final String DEFAULT_BASE_URL = "https://api.openai.com/v1";
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
  public static final int DEFAULT_MAX_RETRIES = 3;
  public static final int DEFAULT_CONCURRENCY = 64;
  public static final String DEFAULT_GROUP_ID = "turnpike-model-invoker";
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(30);
  /** How long streamed text may wait before it is published (deltas are batched, not one record per token). */
  public static final Duration DEFAULT_STREAM_INTERVAL = Duration.ofMillis(50);

  /** Which OpenAI API the client speaks by default. */
  public enum Api {
    RESPONSES,
    CHAT;

    public static Api parse(String value) {
      String v = value.trim().toLowerCase(Locale.ROOT).replace('-', '_');
      return switch (v) {
        case "responses", "response" -> RESPONSES;
        case "chat", "chat_completions", "chatcompletions", "completions" -> CHAT;
        default -> throw new IllegalArgumentException(API + " must be responses or chat, got '" + value + "'");
      };
    }
  }

  public ModelInvokerConfig {
    Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(schemaRegistryUrl, "schemaRegistryUrl");
    Objects.requireNonNull(baseUrl, "baseUrl");
    Objects.requireNonNull(api, "api");
    Objects.requireNonNull(timeout, "timeout");
    Objects.requireNonNull(groupId, "groupId");
    Objects.requireNonNull(closeTimeout, "closeTimeout");
    providers = providers == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(providers));
    streamInterval = streamInterval == null ? DEFAULT_STREAM_INTERVAL : streamInterval;
    if (streamInterval.isNegative()) {
      throw new IllegalArgumentException(STREAM_INTERVAL + " must not be negative");
    }
    modelOverride = modelOverride == null ? Optional.empty() : modelOverride.filter(s -> !s.isBlank());
    apiKey = apiKey == null || apiKey.isBlank() ? null : apiKey;
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException(TIMEOUT + " must be positive");
    }
    if (maxRetries < 0) {
      throw new IllegalArgumentException(MAX_RETRIES + " must be >= 0");
    }
    if (concurrency < 1) {
      throw new IllegalArgumentException(CONCURRENCY + " must be >= 1");
    }
  }

  /** Reads every key from {@code settings}, with the defaults documented on this class. */
  public static ModelInvokerConfig from(Settings settings) {
    String baseUrl = settings.get(BASE_URL, settings.get("OPENAI_BASE_URL", DEFAULT_BASE_URL));
    String apiKey = settings.get(API_KEY, settings.get("OPENAI_API_KEY", null));
    return new ModelInvokerConfig(
        settings.bootstrapServers(),
        settings.schemaRegistryUrl(),
        baseUrl,
        apiKey,
        Api.parse(settings.get(API, "responses")),
        settings.getDuration(TIMEOUT, DEFAULT_TIMEOUT),
        settings.getInt(MAX_RETRIES, DEFAULT_MAX_RETRIES),
        settings.getInt(CONCURRENCY, DEFAULT_CONCURRENCY),
        settings.get(GROUP_ID, DEFAULT_GROUP_ID),
        Optional.ofNullable(settings.get(MODEL_OVERRIDE, null)),
        settings.getDuration(CLOSE_TIMEOUT, DEFAULT_CLOSE_TIMEOUT),
        ModelProvider.allFrom(settings),
        settings.getDuration(STREAM_INTERVAL, DEFAULT_STREAM_INTERVAL),
        Boolean.parseBoolean(settings.get(EARLY_START, "false").trim()));
  }

  /** Defaults everywhere except the endpoint; handy for tests and embedded use. */
  public static ModelInvokerConfig of(String bootstrapServers, String schemaRegistryUrl, String baseUrl, String apiKey) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, Api.RESPONSES, DEFAULT_TIMEOUT,
        DEFAULT_MAX_RETRIES, DEFAULT_CONCURRENCY, DEFAULT_GROUP_ID, Optional.empty(), DEFAULT_CLOSE_TIMEOUT,
        Map.of(), DEFAULT_STREAM_INTERVAL, false);
  }

  public ModelInvokerConfig withApi(Api value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, value, timeout, maxRetries, concurrency,
        groupId, modelOverride, closeTimeout, providers, streamInterval, earlyStart);
  }

  public ModelInvokerConfig withTimeout(Duration value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, value, maxRetries, concurrency,
        groupId, modelOverride, closeTimeout, providers, streamInterval, earlyStart);
  }

  public ModelInvokerConfig withMaxRetries(int value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, timeout, value, concurrency,
        groupId, modelOverride, closeTimeout, providers, streamInterval, earlyStart);
  }

  public ModelInvokerConfig withConcurrency(int value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, timeout, maxRetries, value,
        groupId, modelOverride, closeTimeout, providers, streamInterval, earlyStart);
  }

  public ModelInvokerConfig withGroupId(String value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, timeout, maxRetries, concurrency,
        value, modelOverride, closeTimeout, providers, streamInterval, earlyStart);
  }

  public ModelInvokerConfig withModelOverride(String value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, timeout, maxRetries, concurrency,
        groupId, Optional.ofNullable(value), closeTimeout, providers, streamInterval, earlyStart);
  }

  public ModelInvokerConfig withCloseTimeout(Duration value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, timeout, maxRetries, concurrency,
        groupId, modelOverride, value, providers, streamInterval, earlyStart);
  }

  /** Adds (or replaces) a named provider. */
  public ModelInvokerConfig withProvider(ModelProvider provider) {
    Map<String, ModelProvider> more = new LinkedHashMap<>(providers);
    more.put(provider.name(), provider);
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, timeout, maxRetries, concurrency,
        groupId, modelOverride, closeTimeout, more, streamInterval, earlyStart);
  }

  public ModelInvokerConfig withEarlyStart(boolean value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, timeout, maxRetries, concurrency,
        groupId, modelOverride, closeTimeout, providers, streamInterval, value);
  }

  public ModelInvokerConfig withStreamInterval(Duration value) {
    return new ModelInvokerConfig(bootstrapServers, schemaRegistryUrl, baseUrl, apiKey, api, timeout, maxRetries, concurrency,
        groupId, modelOverride, closeTimeout, providers, value, earlyStart);
  }

  @Override
  public String toString() {
    return "ModelInvokerConfig[bootstrapServers=" + bootstrapServers + ", baseUrl=" + baseUrl
        + ", apiKey=" + (apiKey == null ? "none" : "***") + ", api=" + api + ", timeout=" + timeout
        + ", maxRetries=" + maxRetries + ", concurrency=" + concurrency + ", groupId=" + groupId
        + ", modelOverride=" + modelOverride.orElse("none") + ", closeTimeout=" + closeTimeout
        + ", providers=" + providers.values() + ", streamInterval=" + streamInterval + ", earlyStart=" + earlyStart + "]";
  }
}
