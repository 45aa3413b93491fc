package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.guardrail.GuardrailService;
import io.turnpike.runner.RunnerService;
import io.turnpike.sandbox.SandboxService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeSpans;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Metrics and traces of a real run: runner, guardrail service and a tool worker on a real broker,
 * each with a Telemetry of its own (as separate processes would have) serving /metrics on a free
 * port, and all handing their spans to one in-memory exporter.
 */
class ObservabilityEndToEndTest {
  private static final AttributeKey<String> SERVICE_NAME = AttributeKey.stringKey("service.name");
  /** Micrometer's consumer lag gauge, in its Prometheus spelling. */
  private static final String LAG = "kafka_consumer_fetch_manager_records_lag_max";

  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static final InMemorySpanExporter spans = InMemorySpanExporter.create();
  private static Telemetry runnerTelemetry;
  private static Telemetry guardrailTelemetry;
  private static Telemetry toolTelemetry;
  private static RunnerService runner;
  private static GuardrailService guardrails;
  private static ToolWorker tools;
  private static SandboxService sandbox;
  private static Telemetry sandboxTelemetry;
  private static TopicTail results;
  private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  /** The sandbox takes part where bubblewrap can isolate its commands (CI installs it). */
  static final boolean SANDBOX = Files.isExecutable(Path.of("/usr/bin/bwrap"));

  static ScriptedReply script(ModelRequestView req) {
    if (req.turn() == 0) {
      return ScriptedReply.toolCall("get_weather", "{\"city\":\"Paris\"}");
    }
    if (req.turn() == 1 && req.toolNames().contains("write_file")) {
      return ScriptedReply.toolCall("write_file", "{\"path\":\"paris.txt\",\"content\":\"sunny\"}");
    }
    return ScriptedReply.text("Sunny in Paris.");
  }

  static AgentDefinition agent() {
    return AgentDefinition.newBuilder().setName("observed").setVersion(1).setModel("scripted").setInstructions("Be brief.")
        .setTools(List.of(ToolSpec.newBuilder().setName("get_weather")
            .setParametersJson("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}").build()))
        .setGuardrails(List.of(GuardrailSpec.newBuilder().setName("no-secrets").setStage(GuardrailStage.INPUT)
            .setType("keywords").setAction(GuardrailAction.BLOCK).setConfigJson("{\"words\":[\"password\"]}").build()))
        .setGuardrailTimeoutMs(15_000)
        .setCapabilities(SANDBOX ? List.of("filesystem") : List.of())
        .build();
  }

  static Telemetry telemetry(String service) {
    return Telemetry.builder(service).httpPort(0).spanExporter(spans).build();
  }

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(agent());
    model = ScriptedModelServer.start(ObservabilityEndToEndTest::script);
    Settings settings = Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "k",
        "turnpike.runner.application-id", "observed-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("observed-state").toString(),
        "turnpike.sandbox.root", Files.createTempDirectory("observed-sandbox").toString(),
        // the rule guardrails here stand for any check the guardrail service judges: send them to it
        "turnpike.runner.local-guardrails", "false"));
    runnerTelemetry = telemetry("runner-service");
    guardrailTelemetry = telemetry("guardrail-service");
    toolTelemetry = telemetry("tool-worker");
    runner = RunnerService.start(settings, runnerTelemetry);
    guardrails = GuardrailService.start(settings, guardrailTelemetry);
    if (SANDBOX) {
      sandboxTelemetry = telemetry("sandbox-service");
      sandbox = SandboxService.start(settings, sandboxTelemetry);
    }
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("get_weather", inv -> "sunny, 21C in " + inv.args().get("city").asText())
        .telemetry(toolTelemetry)
        .build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, tools, sandbox, guardrails, runner, sandboxTelemetry, runnerTelemetry, guardrailTelemetry,
        toolTelemetry, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing
      }
    }
  }

  /** Runs the agent to completion; returns the run's trace id, as its records carry it. */
  static String completeRun(String runId) {
    cluster.submit(runId, "observed", "What is the weather in Paris?");
    await().atMost(Duration.ofSeconds(60)).until(() -> !results.forKey(runId).isEmpty());
    ConsumerRecord<String, byte[]> record = results.forKey(runId).getFirst();
    RunResult result = cluster.serdes().runResult().decode(record.value());
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Sunny in Paris.");
    return TurnpikeHeaders.get(record.headers(), TurnpikeHeaders.TRACE_ID);
  }

  static HttpResponse<String> get(Telemetry telemetry, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + telemetry.httpPort() + path))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
  }

  static String metrics(Telemetry telemetry) throws Exception {
    HttpResponse<String> r = get(telemetry, "/metrics");
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body();
  }

  /** The sum of every sample of {@code name} (any labels); -1 when there is none. */
  static double sum(String exposition, String name) {
    double total = -1;
    for (String line : exposition.split("\n")) {
      if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
        total = Math.max(total, 0) + Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return total;
  }

  /** Kafka reports the max over its sample window, NaN while the window holds no fetch. */
  static void assertLagPublished(String exposition) {
    List<String> samples = exposition.lines().filter(l -> l.startsWith(LAG + "{")).toList();
    assertThat(samples).isNotEmpty().allSatisfy(l -> {
      double v = Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1));
      assertThat(Double.isNaN(v) || v >= 0).as(l).isTrue();
    });
  }

  @Test
  void theMetricsEndpointsShowTheRun() throws Exception {
    completeRun("obs-metrics");

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      String runnerMetrics = metrics(runnerTelemetry);
      assertThat(sum(runnerMetrics, "turnpike_runs_started_total")).isGreaterThanOrEqualTo(1);
      assertThat(sum(runnerMetrics, "turnpike_runs_completed_total")).isGreaterThanOrEqualTo(1);
      assertThat(runnerMetrics).contains("turnpike_runs_completed_total{service=\"runner-service\",status=\"completed\"}");
      assertThat(sum(runnerMetrics, "turnpike_turn_latency_seconds_count")).isGreaterThanOrEqualTo(1);
      assertThat(runnerMetrics).contains("turnpike_turn_latency_seconds_bucket{");
      assertThat(sum(runnerMetrics, "turnpike_model_latency_seconds_count")).isGreaterThanOrEqualTo(2);
      assertThat(sum(runnerMetrics, "turnpike_model_tokens_total")).isGreaterThan(0);
      assertThat(runnerMetrics).contains("turnpike_model_tokens_total{kind=\"input\",model=\"scripted\"");
      assertLagPublished(runnerMetrics);

      String guardrailMetrics = metrics(guardrailTelemetry);
      assertThat(sum(guardrailMetrics, "turnpike_guardrail_verdicts_total")).isGreaterThanOrEqualTo(1);
      assertThat(guardrailMetrics).contains(
          "turnpike_guardrail_verdicts_total{guardrail=\"no-secrets\",service=\"guardrail-service\",verdict=\"allow\"}");
      assertLagPublished(guardrailMetrics);

      if (SANDBOX) {
        String sandboxMetrics = metrics(sandboxTelemetry);
        assertThat(sandboxMetrics).contains("turnpike_sandbox_sessions{backend=\"local\",service=\"sandbox-service\"}");
        assertThat(sum(sandboxMetrics, "turnpike_sandbox_sessions")).isGreaterThanOrEqualTo(1);
        assertLagPublished(sandboxMetrics);
      }

      String toolMetrics = metrics(toolTelemetry);
      assertThat(toolMetrics).contains("turnpike_tool_calls_total{outcome=\"ok\",service=\"tool-worker\",tool=\"get_weather\"}");
      assertLagPublished(toolMetrics);
    });
    for (Telemetry t : List.of(runnerTelemetry, guardrailTelemetry, toolTelemetry)) {
      HttpResponse<String> ready = get(t, "/health/ready");
      assertThat(ready.statusCode()).as(t.serviceName() + " " + ready.body()).isEqualTo(200);
      assertThat(get(t, "/health/live").statusCode()).isEqualTo(200);
    }
  }

  @Test
  void everyServicesSpansForTheRunShareItsTraceIdAndFormOneTree() {
    String runId = "obs-trace";
    String traceId = completeRun(runId);
    assertThat(traceId).matches("[0-9a-f]{32}");

    // The run span is recorded last, when the run finishes; the others are exported as they end.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(spansOf(runId)).anySatisfy(s -> assertThat(s.getName()).isEqualTo(TurnpikeSpans.RUN))
            .anySatisfy(s -> assertThat(s.getName()).isEqualTo(TurnpikeSpans.TOOL_CALL))
            .anySatisfy(s -> assertThat(s.getName()).isEqualTo(TurnpikeSpans.GUARDRAIL_CHECK)));
    List<SpanData> run = spansOf(runId);

    assertThat(run).allSatisfy(s -> assertThat(s.getTraceId()).as(s.getName()).isEqualTo(traceId));
    assertThat(run).extracting(s -> s.getResource().getAttribute(SERVICE_NAME) + ":" + s.getName())
        .contains("runner-service:run", "runner-service:turn", "runner-service:run.event", "runner-service:model.call",
            "guardrail-service:guardrail.check", "tool-worker:tool.call");
    if (SANDBOX) {
      assertThat(run).extracting(s -> s.getResource().getAttribute(SERVICE_NAME) + ":" + s.getName())
          .contains("sandbox-service:sandbox.command");
    }

    SpanData root = one(run, s -> s.getName().equals(TurnpikeSpans.RUN));
    assertThat(root.getParentSpanContext().isValid()).isFalse();
    assertThat(root.getSpanId()).isEqualTo(KafkaTracing.runContext(traceId).getSpanId());

    String turn1 = KafkaTracing.derivedContext(traceId, "turn-1").getSpanId();
    SpanData firstTurn = one(run, s -> s.getName().equals(TurnpikeSpans.TURN) && s.getSpanId().equals(turn1));
    assertThat(firstTurn.getParentSpanId()).isEqualTo(root.getSpanId());

    // What the orchestrator sent in turn 1 carried turn 1's traceparent ...
    SpanData firstModelCall = one(run, s -> s.getName().equals(TurnpikeSpans.MODEL_CALL) && s.getParentSpanId().equals(turn1));
    SpanData toolCall = one(run, s -> s.getName().equals(TurnpikeSpans.TOOL_CALL));
    SpanData guardrailCheck = one(run, s -> s.getName().equals(TurnpikeSpans.GUARDRAIL_CHECK));
    assertThat(toolCall.getParentSpanId()).isEqualTo(turn1);
    assertThat(guardrailCheck.getParentSpanId()).isEqualTo(turn1);
    // ... and each answer carried its worker's span, under which the orchestrator applied it.
    assertThat(run).anySatisfy(s -> assertThat(s.getName() + "<" + s.getParentSpanId())
        .isEqualTo(TurnpikeSpans.RUN_EVENT + "<" + firstModelCall.getSpanId()));
    assertThat(run).anySatisfy(s -> assertThat(s.getName() + "<" + s.getParentSpanId())
        .isEqualTo(TurnpikeSpans.RUN_EVENT + "<" + toolCall.getSpanId()));
    assertThat(run).anySatisfy(s -> assertThat(s.getName() + "<" + s.getParentSpanId())
        .isEqualTo(TurnpikeSpans.RUN_EVENT + "<" + guardrailCheck.getSpanId()));
    assertThat(firstModelCall.getAttributes().get(TurnpikeSpans.GEN_AI_INPUT_TOKENS)).isPositive();
  }

  static List<SpanData> spansOf(String runId) {
    return spans.getFinishedSpanItems().stream()
        .filter(s -> runId.equals(s.getAttributes().get(TurnpikeSpans.RUN_ID)))
        .toList();
  }

  static SpanData one(List<SpanData> spans, Predicate<SpanData> p) {
    List<SpanData> found = spans.stream().filter(p).toList();
    assertThat(found).hasSize(1);
    return found.getFirst();
  }
}
