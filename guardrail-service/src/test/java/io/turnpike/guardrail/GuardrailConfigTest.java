package io.turnpike.guardrail;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.guardrail.spi.FailPolicy;
import io.turnpike.schema.Settings;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class GuardrailConfigTest {

  @Test
  void defaultsNeedNoModel() {
    GuardrailConfig c = GuardrailConfig.from(new Settings(Map.of(), Map.of(), new Properties()));
    assertThat(c.bootstrapServers()).isEqualTo("localhost:9092");
    assertThat(c.groupId()).isEqualTo("turnpike-guardrail-service");
    assertThat(c.concurrency()).isEqualTo(64);
    assertThat(c.unknownType()).isEqualTo(FailPolicy.CLOSED);
    assertThat(c.onError()).isEqualTo(FailPolicy.CLOSED);
    assertThat(c.deadlineMargin()).isEqualTo(Duration.ofMillis(200));
    assertThat(c.model().baseUrl()).isEqualTo("https://api.openai.com/v1");
    assertThat(c.model().apiKey()).isNull();
    assertThat(c.model().chat()).isFalse();
    assertThat(c.model().timeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(c.model().failPolicy()).isEqualTo(FailPolicy.CLOSED);
    assertThat(c.model().warmUp()).isFalse();
  }

  @Test
  void modelSettingsFallBackToTheRunnersThenToOpenAiVariables() {
    GuardrailConfig env = GuardrailConfig.from(new Settings(Map.of(),
        Map.of("OPENAI_BASE_URL", "http://env/v1", "OPENAI_API_KEY", "sk-env"), new Properties()));
    assertThat(env.model().baseUrl()).isEqualTo("http://env/v1");
    assertThat(env.model().apiKey()).isEqualTo("sk-env");
    assertThat(env.model().warmUp()).isTrue();
    assertThat(env.model().toString()).doesNotContain("sk-env");

    GuardrailConfig runner = GuardrailConfig.from(new Settings(Map.of("turnpike.model.base-url", "http://runner/v1",
        "turnpike.model.api", "chat", "turnpike.model.override", "local-model"),
        Map.of("OPENAI_BASE_URL", "http://env/v1"), new Properties()));
    assertThat(runner.model().baseUrl()).isEqualTo("http://runner/v1");
    assertThat(runner.model().chat()).isTrue();
    assertThat(runner.model().modelOverride()).isEqualTo("local-model");

    GuardrailConfig own = GuardrailConfig.from(Settings.of(Map.of("turnpike.model.base-url", "http://runner/v1",
        GuardrailConfig.MODEL_BASE_URL, "http://guard/v1", GuardrailConfig.MODEL_API, "responses",
        GuardrailConfig.MODEL_TIMEOUT, "3s", GuardrailConfig.MODEL_FAIL_POLICY, "open",
        GuardrailConfig.UNKNOWN_TYPE, "open", GuardrailConfig.CONCURRENCY, "8")));
    assertThat(own.model().baseUrl()).isEqualTo("http://guard/v1");
    assertThat(own.model().timeout()).isEqualTo(Duration.ofSeconds(3));
    assertThat(own.model().failPolicy()).isEqualTo(FailPolicy.OPEN);
    assertThat(own.unknownType()).isEqualTo(FailPolicy.OPEN);
    assertThat(own.concurrency()).isEqualTo(8);
  }

  @Test
  void badValuesAreRejectedWithTheKey() {
    assertThatThrownBy(() -> GuardrailConfig.from(Settings.of(Map.of(GuardrailConfig.ON_ERROR, "maybe"))))
        .hasMessageContaining(GuardrailConfig.ON_ERROR);
    assertThatThrownBy(() -> GuardrailConfig.from(Settings.of(Map.of(GuardrailConfig.CONCURRENCY, "0"))))
        .hasMessageContaining(GuardrailConfig.CONCURRENCY);
  }
}
