package io.turnpike.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TurnpikeMetricsTest {
  private final Telemetry telemetry = Telemetry.builder("svc").jvmMetrics(false).build();

  @AfterEach
  void close() {
    telemetry.close();
  }

  @Test
  void everyNamedMetricAppearsUnderItsPrometheusName() throws Exception {
    TurnpikeMetrics m = telemetry.metrics();
    AtomicInteger sessions = new AtomicInteger(3);

    m.runStarted();
    m.runStarted();
    m.runFinished("COMPLETED", null);
    m.runFinished("FAILED", "model_error");
    m.turnLatency(Duration.ofMillis(120));
    m.modelCall("gpt-4.1-mini", Duration.ofMillis(80), true, 120, 30);
    m.modelCall("gpt-4.1-mini", Duration.ofMillis(50), true, 10, 5);
    AutoCloseable gauge = m.sandboxSessions("local", sessions::get);
    m.guardrailVerdict("pii", "PASS");
    m.guardrailVerdict("pii", "TRIP");
    m.toolCall("get_weather", "ok");
    String text = telemetry.scrape();

    assertThat(text)
        .contains("turnpike_runs_started_total{service=\"svc\"} 2.0")
        .contains("turnpike_runs_completed_total{service=\"svc\",status=\"completed\"} 1.0")
        .contains("turnpike_runs_completed_total{service=\"svc\",status=\"failed\"} 1.0")
        .contains("turnpike_runs_failed_total{reason=\"model_error\",service=\"svc\"} 1.0")
        .contains("turnpike_turn_latency_seconds_count{service=\"svc\"} 1")
        .contains("turnpike_turn_latency_seconds_bucket{service=\"svc\",le=\"+Inf\"} 1")
        .contains("turnpike_model_latency_seconds_count{model=\"gpt-4.1-mini\",outcome=\"ok\",service=\"svc\"} 2")
        .contains("turnpike_model_tokens_total{kind=\"input\",model=\"gpt-4.1-mini\",service=\"svc\"} 130.0")
        .contains("turnpike_model_tokens_total{kind=\"output\",model=\"gpt-4.1-mini\",service=\"svc\"} 35.0")
        .contains("turnpike_sandbox_sessions{backend=\"local\",service=\"svc\"} 3.0")
        .contains("turnpike_guardrail_verdicts_total{guardrail=\"pii\",service=\"svc\",verdict=\"pass\"} 1.0")
        .contains("turnpike_guardrail_verdicts_total{guardrail=\"pii\",service=\"svc\",verdict=\"trip\"} 1.0")
        .contains("turnpike_tool_calls_total{outcome=\"ok\",service=\"svc\",tool=\"get_weather\"} 1.0");

    // a dozen buckets per series, not Micrometer's 88-bucket percentile histogram
    assertThat(text.lines().filter(l -> l.startsWith("turnpike_turn_latency_seconds_bucket{"))).hasSize(13);
    assertThat(text).contains("turnpike_turn_latency_seconds_bucket{service=\"svc\",le=\"0.25\"} 1");

    sessions.set(1);
    assertThat(telemetry.scrape()).contains("turnpike_sandbox_sessions{backend=\"local\",service=\"svc\"} 1.0");
    gauge.close();
    assertThat(telemetry.scrape()).doesNotContain("turnpike_sandbox_sessions");
  }

  @Test
  void aBoundConsumerPublishesItsLag() throws Exception {
    Map<String, Object> props = Map.of(
        // Never contacted: the consumer is not polled. Its metrics exist from construction.
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:1",
        ConsumerConfig.GROUP_ID_CONFIG, "lag-test",
        ConsumerConfig.CLIENT_ID_CONFIG, "lag-test-client");
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      AutoCloseable binding = telemetry.bindKafkaClient(consumer);

      assertThat(telemetry.scrape()).contains("kafka_consumer_fetch_manager_records_lag_max{");

      binding.close();
      assertThat(telemetry.scrape()).doesNotContain("kafka_consumer_fetch_manager_records_lag_max");
    }
  }

  @Test
  void noopTelemetryAcceptsEverythingAndShowsNothing() throws Exception {
    try (Telemetry noop = Telemetry.noop("noop")) {
      noop.metrics().runStarted();
      noop.metrics().modelCall("m", Duration.ofMillis(1), false, 1, 1);
      noop.metrics().sandboxSessions("local", () -> 1).close();

      assertThat(noop.scrape()).isEmpty();
      assertThat(noop.httpPort()).isEqualTo(-1);
      assertThat(noop.readiness().ready()).isFalse(); // nothing said it is ready
      assertThat(noop.liveness().live()).isTrue();
    }
  }
}
