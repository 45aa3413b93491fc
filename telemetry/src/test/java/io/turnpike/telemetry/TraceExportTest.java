package io.turnpike.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.api.trace.Span;
import io.turnpike.schema.TurnpikeHeaders;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class TraceExportTest {

  @Test
  void byDefaultNothingIsExportedAndNoPortIsOpened() {
    try (Telemetry t = Telemetry.create("quiet", Map.of())) {
      Span span = t.tracing().consumerSpan("work", TurnpikeHeaders.put(new RecordHeaders(), TurnpikeHeaders.TRACE_ID,
          "0af7651916cd43dd8448eb211c80319c")).startSpan();
      span.end();

      assertThat(t.traceExport()).isEqualTo("none");
      assertThat(t.spanProcessor()).isNull();
      assertThat(t.httpPort()).isEqualTo(-1);
      // Spans still exist, so their context can travel on the records this service produces.
      assertThat(span.getSpanContext().isValid()).isTrue();
      assertThat(span.getSpanContext().getTraceId()).isEqualTo("0af7651916cd43dd8448eb211c80319c");
    }
  }

  @Test
  void anOtlpEndpointTurnsOtlpExportOn() {
    TelemetryConfig c = TelemetryConfig.from(io.turnpike.schema.Settings.of(Map.of(
        TelemetryConfig.OTLP_ENDPOINT, "http://localhost:4318/")));

    assertThat(c.exporter()).isEqualTo(TelemetryConfig.Exporter.OTLP);
    assertThat(c.otlpTracesUrl()).isEqualTo("http://localhost:4318/v1/traces");
  }

  @Test
  void exportCanBeSwitchedOffDespiteAnEndpointAndOtlpNeedsOne() {
    TelemetryConfig off = TelemetryConfig.from(io.turnpike.schema.Settings.of(Map.of(
        TelemetryConfig.OTLP_ENDPOINT, "http://localhost:4318", TelemetryConfig.EXPORTER, "none")));
    assertThat(off.exporter()).isEqualTo(TelemetryConfig.Exporter.NONE);

    assertThatThrownBy(() -> TelemetryConfig.from(io.turnpike.schema.Settings.of(Map.of(TelemetryConfig.EXPORTER, "otlp"))))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(TelemetryConfig.OTLP_ENDPOINT);
    assertThatThrownBy(() -> TelemetryConfig.from(io.turnpike.schema.Settings.of(Map.of(TelemetryConfig.EXPORTER, "zipkin"))))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void headerValuesNeverShowInTheConfigsText() {
    TelemetryConfig c = TelemetryConfig.from(io.turnpike.schema.Settings.of(Map.of(
        TelemetryConfig.OTLP_ENDPOINT, "http://localhost:4318",
        TelemetryConfig.OTLP_HEADERS, "authorization=Bearer s3cret, x-tenant=a")));

    assertThat(c.otlpHeaders()).containsEntry("authorization", "Bearer s3cret").containsEntry("x-tenant", "a");
    assertThat(c.toString()).doesNotContain("s3cret");
  }

  @Test
  void spansArePostedToTheConfiguredCollector() throws IOException {
    List<String> received = new CopyOnWriteArrayList<>();
    HttpServer collector = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    collector.createContext("/", exchange -> {
      try (exchange) {
        byte[] body = exchange.getRequestBody().readAllBytes();
        received.add(exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath() + " "
            + exchange.getRequestHeaders().getFirst("Content-Type") + " " + exchange.getRequestHeaders().getFirst("X-Tenant")
            + " " + body.length);
        exchange.sendResponseHeaders(200, -1);
      }
    });
    collector.start();
    try {
      String endpoint = "http://127.0.0.1:" + collector.getAddress().getPort();
      try (Telemetry t = Telemetry.create("exporting", Map.of(
          TelemetryConfig.OTLP_ENDPOINT, endpoint, TelemetryConfig.OTLP_HEADERS, "x-tenant=turnpike"))) {
        assertThat(t.traceExport()).isEqualTo("otlp " + endpoint + "/v1/traces");
        t.tracer().spanBuilder("exported").startSpan().end();
      } // close() flushes the batch

      await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(received).anySatisfy(r -> assertThat(r).startsWith("POST /v1/traces application/x-protobuf turnpike ")));
      assertThat(received.getFirst()).doesNotEndWith(" 0");
    } finally {
      collector.stop(0);
    }
  }
}
