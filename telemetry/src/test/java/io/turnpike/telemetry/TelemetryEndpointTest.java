package io.turnpike.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TelemetryEndpointTest {
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private Telemetry telemetry;

  @BeforeEach
  void start() {
    telemetry = Telemetry.builder("endpoint-test").httpPort(0).build();
  }

  @AfterEach
  void stop() {
    telemetry.close();
  }

  private HttpResponse<String> get(String path, String accept) throws Exception {
    HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + telemetry.httpPort() + path))
        .timeout(Duration.ofSeconds(10));
    if (accept != null) {
      r.header("Accept", accept);
    }
    return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void servesRecordedMetricsInPrometheusTextFormat() throws Exception {
    telemetry.metrics().runStarted();
    telemetry.metrics().turnLatency(Duration.ofMillis(250));

    HttpResponse<String> r = get("/metrics", null);

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
    assertThat(r.body())
        .contains("turnpike_runs_started_total{service=\"endpoint-test\"} 1.0")
        .contains("turnpike_turn_latency_seconds_count{service=\"endpoint-test\"} 1")
        .contains("turnpike_turn_latency_seconds_bucket{service=\"endpoint-test\",le=")
        .contains("jvm_memory_used_bytes");
  }

  @Test
  void servesOpenMetricsWhenAskedFor() throws Exception {
    telemetry.metrics().runStarted();

    HttpResponse<String> r = get("/metrics", "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5");

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(ct -> assertThat(ct).startsWith("application/openmetrics-text"));
    assertThat(r.body()).contains("turnpike_runs_started_total").endsWith("# EOF\n");
  }

  @Test
  void livenessIsUpUntilAPartCannotGoOn() throws Exception {
    HttpResponse<String> r = get("/health/live", null);
    AtomicBoolean loopAlive = new AtomicBoolean(true);
    telemetry.liveness("loop", loopAlive::get);
    HttpResponse<String> withCheck = get("/health/live", null);
    loopAlive.set(false);
    HttpResponse<String> dead = get("/health/live", null);

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("{\"status\":\"UP\",\"checks\":{}}");
    assertThat(withCheck.statusCode()).isEqualTo(200);
    assertThat(dead.statusCode()).isEqualTo(503);
    assertThat(dead.body()).isEqualTo("{\"status\":\"DOWN\",\"checks\":{\"loop\":\"DOWN\"}}");
  }

  @Test
  void readinessIsDownWhileNothingHasSaidItIsReady() throws Exception {
    HttpResponse<String> r = get("/health/ready", null);

    assertThat(r.statusCode()).isEqualTo(503);
    assertThat(r.body()).isEqualTo("{\"status\":\"DOWN\",\"checks\":{}}");
  }

  @Test
  void readinessIs503UntilEveryCheckPasses() throws Exception {
    AtomicBoolean consumerAssigned = new AtomicBoolean(false);
    telemetry.readiness("consumer", consumerAssigned::get);
    telemetry.readiness("streams", () -> true);

    HttpResponse<String> before = get("/health/ready", null);
    consumerAssigned.set(true);
    HttpResponse<String> after = get("/health/ready", null);

    assertThat(before.statusCode()).isEqualTo(503);
    assertThat(before.body()).isEqualTo("{\"status\":\"DOWN\",\"checks\":{\"consumer\":\"DOWN\",\"streams\":\"UP\"}}");
    assertThat(after.statusCode()).isEqualTo(200);
    assertThat(after.body()).isEqualTo("{\"status\":\"UP\",\"checks\":{\"consumer\":\"UP\",\"streams\":\"UP\"}}");
  }

  @Test
  void aThrowingCheckIsDownAndARemovedCheckNoLongerCounts() throws Exception {
    AutoCloseable broken = telemetry.readiness("broken", () -> {
      throw new IllegalStateException("closed");
    });

    telemetry.readiness("other", () -> true);
    assertThat(get("/health/ready", null).statusCode()).isEqualTo(503);
    broken.close();
    HttpResponse<String> r = get("/health/ready", null);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("{\"status\":\"UP\",\"checks\":{\"other\":\"UP\"}}");
  }

  @Test
  void unknownPathsAre404AndWritesAre405() throws Exception {
    assertThat(get("/nope", null).statusCode()).isEqualTo(404);
    HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + telemetry.httpPort() + "/metrics"))
        .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(post.statusCode()).isEqualTo(405);
  }

  @Test
  void noPortMeansNoServer() {
    try (Telemetry quiet = Telemetry.create("quiet", java.util.Map.of())) {
      assertThat(quiet.httpPort()).isEqualTo(-1);
    }
  }
}
