package io.turnpike.memory;

import io.turnpike.schema.Settings;
import java.time.Duration;

/**
 * The memory service's settings ({@code turnpike.memory.*}); the model endpoint falls back to the
 * runner's {@code turnpike.model.*}, then to {@code OPENAI_BASE_URL} / {@code OPENAI_API_KEY}.
 *
 * @param applicationId   Kafka Streams application id of phase 2 (and prefix of the worker groups)
 * @param stateDir        RocksDB state directory
 * @param tickInterval    how often the age threshold and stuck consolidations are checked
 * @param resendAfter     a consolidation with no answer after this long is asked again
 * @param concurrency     model calls in flight per worker (phase 1 and phase 2 each)
 * @param model           the model endpoint
 * @param defaultModel    model of agents whose memory names none (null: the agent's model)
 * @param scripted        candidates are marked as made by the offline scripted model
 * @param commitInterval  the topology's exactly-once commit interval: a floor on each phase-2 hop
 * @param closeTimeout    how long close waits for model calls in flight (what does not finish is done again after a restart)
 */
public record MemoryConfigs(String applicationId, String stateDir, Duration tickInterval, Duration resendAfter,
    int concurrency, ModelSettings model, String defaultModel, boolean scripted, Duration commitInterval, Duration closeTimeout) {

  public record ModelSettings(String baseUrl, String apiKey, Duration timeout, int maxRetries, boolean responseValidation) {}

  public static MemoryConfigs from(Settings s) {
    String baseUrl = s.get("turnpike.memory.model.base-url",
        s.get("turnpike.model.base-url", s.get("OPENAI_BASE_URL", "https://api.openai.com/v1")));
    String key = s.get("turnpike.memory.model.api-key", s.get("turnpike.model.api-key", s.get("OPENAI_API_KEY", null)));
    return new MemoryConfigs(
        s.get("turnpike.memory.application-id", "turnpike-memory"),
        s.get("turnpike.memory.state-dir", System.getProperty("java.io.tmpdir") + "/turnpike/memory-state"),
        s.getDuration("turnpike.memory.tick-interval", Duration.ofSeconds(5)),
        s.getDuration("turnpike.memory.resend-after", Duration.ofMinutes(5)),
        s.getInt("turnpike.memory.concurrency", 8),
        new ModelSettings(baseUrl, key == null || key.isBlank() ? null : key,
            s.getDuration("turnpike.memory.model.timeout", Duration.ofSeconds(60)),
            s.getInt("turnpike.memory.model.max-retries", 3),
            Boolean.parseBoolean(s.get("turnpike.memory.model.response-validation", "false"))),
        s.get("turnpike.memory.model.override", s.get("turnpike.model.override", null)),
        Boolean.parseBoolean(s.get("turnpike.memory.model.scripted", "false")),
        s.getDuration("turnpike.memory.commit-interval", Duration.ofMillis(100)),
        s.getDuration("turnpike.memory.close-timeout", Duration.ofSeconds(30)));
  }

  /** The model to ask: the override when set, else the agent's phase model, else the agent's model. */
  public String modelFor(String phaseModel, String agentModel) {
    if (defaultModel != null && !defaultModel.isBlank()) {
      return defaultModel;
    }
    return phaseModel != null && !phaseModel.isBlank() ? phaseModel : agentModel;
  }
}
