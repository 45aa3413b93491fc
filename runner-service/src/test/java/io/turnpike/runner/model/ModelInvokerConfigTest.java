package io.turnpike.runner.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.schema.Settings;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class ModelInvokerConfigTest {

  @Test
  void defaults() {
    ModelInvokerConfig c = ModelInvokerConfig.from(new Settings(Map.of(), Map.of(), new Properties()));
    assertThat(c.bootstrapServers()).isEqualTo("localhost:9092");
    assertThat(c.baseUrl()).isEqualTo("https://api.openai.com/v1");
    assertThat(c.apiKey()).isNull();
    assertThat(c.api()).isEqualTo(ModelInvokerConfig.Api.RESPONSES);
    assertThat(c.timeout()).isEqualTo(Duration.ofSeconds(60));
    assertThat(c.maxRetries()).isEqualTo(3);
    assertThat(c.concurrency()).isEqualTo(64);
    assertThat(c.groupId()).isEqualTo("turnpike-model-invoker");
    assertThat(c.modelOverride()).isEmpty();
    assertThat(c.closeTimeout()).isEqualTo(Duration.ofSeconds(30));
  }

  @Test
  void openAiEnvironmentVariablesAreFallbacks() {
    Map<String, String> env = Map.of("OPENAI_BASE_URL", "http://localhost:11434/v1", "OPENAI_API_KEY", "sk-env");
    ModelInvokerConfig c = ModelInvokerConfig.from(new Settings(Map.of(), env, new Properties()));
    assertThat(c.baseUrl()).isEqualTo("http://localhost:11434/v1");
    assertThat(c.apiKey()).isEqualTo("sk-env");

    Map<String, String> both = Map.of("OPENAI_BASE_URL", "http://a/v1", "TURNPIKE_MODEL_BASE_URL", "http://b/v1",
        "OPENAI_API_KEY", "sk-env", "TURNPIKE_MODEL_API_KEY", "sk-turnpike");
    ModelInvokerConfig d = ModelInvokerConfig.from(new Settings(Map.of(), both, new Properties()));
    assertThat(d.baseUrl()).isEqualTo("http://b/v1");
    assertThat(d.apiKey()).isEqualTo("sk-turnpike");
  }

  @Test
  void everyKeyIsRead() {
    ModelInvokerConfig c = ModelInvokerConfig.from(Settings.of(Map.of(
        "turnpike.bootstrap.servers", "broker:9093",
        "turnpike.model.base-url", "http://127.0.0.1:8000/v1",
        "turnpike.model.api-key", "sk-secret-value",
        "turnpike.model.api", "chat",
        "turnpike.model.timeout", "1500ms",
        "turnpike.model.max-retries", "0",
        "turnpike.model.concurrency", "8",
        "turnpike.model.group-id", "g",
        "turnpike.model.override", "qwen2.5",
        "turnpike.model.close-timeout", "5s")));
    assertThat(c.bootstrapServers()).isEqualTo("broker:9093");
    assertThat(c.baseUrl()).isEqualTo("http://127.0.0.1:8000/v1");
    assertThat(c.api()).isEqualTo(ModelInvokerConfig.Api.CHAT);
    assertThat(c.timeout()).isEqualTo(Duration.ofMillis(1500));
    assertThat(c.maxRetries()).isZero();
    assertThat(c.concurrency()).isEqualTo(8);
    assertThat(c.groupId()).isEqualTo("g");
    assertThat(c.modelOverride()).contains("qwen2.5");
    assertThat(c.closeTimeout()).isEqualTo(Duration.ofSeconds(5));
    assertThat(c.toString()).doesNotContain("sk-secret-value").contains("apiKey=***");
  }

  @Test
  void rejectsNonsense() {
    assertThatThrownBy(() -> ModelInvokerConfig.from(Settings.of(Map.of("turnpike.model.api", "soap"))))
        .hasMessageContaining("turnpike.model.api");
    assertThatThrownBy(() -> ModelInvokerConfig.from(Settings.of(Map.of("turnpike.model.concurrency", "0"))))
        .hasMessageContaining("turnpike.model.concurrency");
  }
}
