package io.turnpike.guardrail;

import io.turnpike.guardrail.builtin.LlmSettings;
import io.turnpike.guardrail.spi.FailPolicy;
import io.turnpike.schema.Settings;
import java.time.Duration;
import java.util.Objects;

/**
 * Configuration of the {@link GuardrailService} and its {@link GuardrailEngine}. Keys (each also a
 * system property or an environment variable such as {@code TURNPIKE_GUARDRAIL_CONCURRENCY}):
 *
 * <table>
 *   <caption>keys and defaults</caption>
 *   <tr><th>key</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>turnpike.bootstrap.servers</td><td>localhost:9092</td><td>Kafka</td></tr>
 *   <tr><td>turnpike.guardrail.group-id</td><td>turnpike-guardrail-service</td><td>consumer group</td></tr>
 *   <tr><td>turnpike.guardrail.concurrency</td><td>64</td><td>checks in flight per instance</td></tr>
 *   <tr><td>turnpike.guardrail.unknown-type</td><td>closed</td><td>a guardrail of an unknown type (or an
 *       invalid configuration): closed = the check trips, open = it is ignored (with an ALLOW finding)</td></tr>
 *   <tr><td>turnpike.guardrail.on-error</td><td>closed</td><td>a guardrail that fails or runs out of time:
 *       closed = a hit, open = ignored (with an ALLOW finding); model guardrails use their own policy</td></tr>
 *   <tr><td>turnpike.guardrail.max-content-chars</td><td>8000000</td><td>longer content trips unchecked</td></tr>
 *   <tr><td>turnpike.guardrail.deadline-margin</td><td>200ms</td><td>the verdict is due this long before
 *       the check's deadline, to reach the orchestrator in time</td></tr>
 *   <tr><td>turnpike.guardrail.close-timeout</td><td>30s</td><td>how long close() waits for checks in flight</td></tr>
 *   <tr><td>turnpike.guardrail.model.base-url</td><td>turnpike.model.base-url, else $OPENAI_BASE_URL, else
 *       https://api.openai.com/v1</td><td>endpoint of model guardrails</td></tr>
 *   <tr><td>turnpike.guardrail.model.api-key</td><td>turnpike.model.api-key, else $OPENAI_API_KEY</td><td>key</td></tr>
 *   <tr><td>turnpike.guardrail.model.api</td><td>turnpike.model.api, else responses</td><td>responses | chat</td></tr>
 *   <tr><td>turnpike.guardrail.model.name</td><td>gpt-4.1-mini</td><td>default model of llm guardrails</td></tr>
 *   <tr><td>turnpike.guardrail.model.override</td><td>turnpike.model.override</td><td>model used whatever a
 *       guardrail names (local servers)</td></tr>
 *   <tr><td>turnpike.guardrail.model.timeout</td><td>10s</td><td>default time bound of one classification</td></tr>
 *   <tr><td>turnpike.guardrail.model.max-retries</td><td>1</td><td>HTTP retries within that bound</td></tr>
 *   <tr><td>turnpike.guardrail.model.fail-policy</td><td>closed</td><td>default for llm guardrails: open | closed</td></tr>
 *   <tr><td>turnpike.guardrail.model.warm-up</td><td>true when an API key is set</td><td>load openai-java in the
 *       background at start (its first call in a fresh JVM otherwise costs seconds of class loading)</td></tr>
 * </table>
 */
public record GuardrailConfig(
    String bootstrapServers,
    String schemaRegistryUrl,
    String groupId,
    int concurrency,
    FailPolicy unknownType,
    FailPolicy onError,
    int maxContentChars,
    Duration deadlineMargin,
    Duration closeTimeout,
    LlmSettings model) {

  public static final String GROUP_ID = "turnpike.guardrail.group-id";
  public static final String CONCURRENCY = "turnpike.guardrail.concurrency";
  public static final String UNKNOWN_TYPE = "turnpike.guardrail.unknown-type";
  public static final String ON_ERROR = "turnpike.guardrail.on-error";
  public static final String MAX_CONTENT_CHARS = "turnpike.guardrail.max-content-chars";
  public static final String DEADLINE_MARGIN = "turnpike.guardrail.deadline-margin";
  public static final String CLOSE_TIMEOUT = "turnpike.guardrail.close-timeout";
  public static final String MODEL_BASE_URL = "turnpike.guardrail.model.base-url";
  public static final String MODEL_API_KEY = "turnpike.guardrail.model.api-key";
  public static final String MODEL_API = "turnpike.guardrail.model.api";
  public static final String MODEL_NAME = "turnpike.guardrail.model.name";
  public static final String MODEL_OVERRIDE = "turnpike.guardrail.model.override";
  public static final String MODEL_TIMEOUT = "turnpike.guardrail.model.timeout";
  public static final String MODEL_MAX_RETRIES = "turnpike.guardrail.model.max-retries";
  public static final String MODEL_FAIL_POLICY = "turnpike.guardrail.model.fail-policy";
  public static final String MODEL_WARM_UP = "turnpike.guardrail.model.warm-up";

  public static final String DEFAULT_GROUP_ID = "turnpike-guardrail-service";
  public static final int DEFAULT_CONCURRENCY = 64;
  public static final int DEFAULT_MAX_CONTENT_CHARS = 8_000_000;
  public static final Duration DEFAULT_DEADLINE_MARGIN = Duration.ofMillis(200);
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(30);
  public static final Duration DEFAULT_MODEL_TIMEOUT = Duration.ofSeconds(10);

  public GuardrailConfig {
    Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(schemaRegistryUrl, "schemaRegistryUrl");
    Objects.requireNonNull(groupId, "groupId");
    Objects.requireNonNull(unknownType, "unknownType");
    Objects.requireNonNull(onError, "onError");
    Objects.requireNonNull(deadlineMargin, "deadlineMargin");
    Objects.requireNonNull(closeTimeout, "closeTimeout");
    Objects.requireNonNull(model, "model");
    if (concurrency < 1) {
      throw new IllegalArgumentException(CONCURRENCY + " must be >= 1");
    }
    if (maxContentChars < 1) {
      throw new IllegalArgumentException(MAX_CONTENT_CHARS + " must be >= 1");
    }
    if (deadlineMargin.isNegative()) {
      throw new IllegalArgumentException(DEADLINE_MARGIN + " must not be negative");
    }
  }

  /** Reads every key from {@code settings}, with the defaults documented on this class. */
  public static GuardrailConfig from(Settings s) {
    String baseUrl = s.get(MODEL_BASE_URL, s.get("turnpike.model.base-url", s.get("OPENAI_BASE_URL",
        LlmSettings.DEFAULT_BASE_URL)));
    String apiKey = s.get(MODEL_API_KEY, s.get("turnpike.model.api-key", s.get("OPENAI_API_KEY", null)));
    boolean chat = LlmSettings.parseChat(s.get(MODEL_API, s.get("turnpike.model.api", "responses")));
    LlmSettings model = new LlmSettings(baseUrl, apiKey, chat, s.get(MODEL_NAME, LlmSettings.DEFAULT_MODEL),
        s.get(MODEL_OVERRIDE, s.get("turnpike.model.override", null)),
        s.getDuration(MODEL_TIMEOUT, DEFAULT_MODEL_TIMEOUT), s.getInt(MODEL_MAX_RETRIES, 1),
        FailPolicy.parse(s.get(MODEL_FAIL_POLICY, "closed"), MODEL_FAIL_POLICY),
        Boolean.parseBoolean(s.get(MODEL_WARM_UP, String.valueOf(apiKey != null))));
    return new GuardrailConfig(
        s.bootstrapServers(),
        s.schemaRegistryUrl(),
        s.get(GROUP_ID, DEFAULT_GROUP_ID),
        s.getInt(CONCURRENCY, DEFAULT_CONCURRENCY),
        FailPolicy.parse(s.get(UNKNOWN_TYPE, "closed"), UNKNOWN_TYPE),
        FailPolicy.parse(s.get(ON_ERROR, "closed"), ON_ERROR),
        s.getInt(MAX_CONTENT_CHARS, DEFAULT_MAX_CONTENT_CHARS),
        s.getDuration(DEADLINE_MARGIN, DEFAULT_DEADLINE_MARGIN),
        s.getDuration(CLOSE_TIMEOUT, DEFAULT_CLOSE_TIMEOUT),
        model);
  }

  /** Defaults everywhere except Kafka; model guardrails go to OpenAI with no key. */
  public static GuardrailConfig of(String bootstrapServers, String schemaRegistryUrl) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, DEFAULT_GROUP_ID, DEFAULT_CONCURRENCY, FailPolicy.CLOSED,
        FailPolicy.CLOSED, DEFAULT_MAX_CONTENT_CHARS, DEFAULT_DEADLINE_MARGIN, DEFAULT_CLOSE_TIMEOUT,
        LlmSettings.of(LlmSettings.DEFAULT_BASE_URL, null));
  }

  public GuardrailConfig withGroupId(String value) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, value, concurrency, unknownType, onError, maxContentChars,
        deadlineMargin, closeTimeout, model);
  }

  public GuardrailConfig withConcurrency(int value) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, groupId, value, unknownType, onError, maxContentChars,
        deadlineMargin, closeTimeout, model);
  }

  public GuardrailConfig withUnknownType(FailPolicy value) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, groupId, concurrency, value, onError, maxContentChars,
        deadlineMargin, closeTimeout, model);
  }

  public GuardrailConfig withOnError(FailPolicy value) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, groupId, concurrency, unknownType, value, maxContentChars,
        deadlineMargin, closeTimeout, model);
  }

  public GuardrailConfig withMaxContentChars(int value) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, groupId, concurrency, unknownType, onError, value,
        deadlineMargin, closeTimeout, model);
  }

  public GuardrailConfig withDeadlineMargin(Duration value) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, groupId, concurrency, unknownType, onError, maxContentChars,
        value, closeTimeout, model);
  }

  public GuardrailConfig withCloseTimeout(Duration value) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, groupId, concurrency, unknownType, onError, maxContentChars,
        deadlineMargin, value, model);
  }

  public GuardrailConfig withModel(LlmSettings value) {
    return new GuardrailConfig(bootstrapServers, schemaRegistryUrl, groupId, concurrency, unknownType, onError, maxContentChars,
        deadlineMargin, closeTimeout, value);
  }
}
