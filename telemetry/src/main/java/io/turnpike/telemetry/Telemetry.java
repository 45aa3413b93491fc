package io.turnpike.telemetry;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.metrics.MeterProvider;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.TracerProvider;
import io.opentelemetry.exporter.logging.LoggingSpanExporter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporterBuilder;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.SdkTracerProviderBuilder;
import io.opentelemetry.sdk.trace.SpanProcessor;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import io.turnpike.schema.Settings;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.streams.KafkaStreams;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One service instance's metrics, health and traces: a Prometheus registry with JVM and process
 * meters, an OpenTelemetry tracer of its own (never the global one: several services share a JVM in
 * dev mode and in tests), readiness checks, and, when {@code turnpike.http.port} is set, an HTTP
 * endpoint serving {@code /metrics}, {@code /health/live} and {@code /health/ready}.
 *
 * <p>Spans are always created, so trace context flows through Kafka headers, but they are exported
 * only where {@link TelemetryConfig} says: by default nowhere, and no port is opened.
 *
 * <p>Whoever creates a Telemetry closes it; services handed one do not.
 */
public final class Telemetry implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Telemetry.class);
  private static final String SCOPE = "io.turnpike";
  private static final AttributeKey<String> SERVICE_NAME = AttributeKey.stringKey("service.name");

  private final String serviceName;
  private final MeterRegistry registry;
  private final PrometheusMeterRegistry prometheus;
  private final SdkTracerProvider tracerProvider;
  private final SpanProcessor spanProcessor;
  private final String traceExport;
  private final Tracer tracer;
  private final KafkaTracing tracing;
  private final TurnpikeMetrics metrics;
  private final Map<String, BooleanSupplier> checks = new ConcurrentSkipListMap<>();
  private final Map<String, BooleanSupplier> liveChecks = new ConcurrentSkipListMap<>();
  private final List<AutoCloseable> owned = Collections.synchronizedList(new ArrayList<>());
  private final AtomicBoolean closed = new AtomicBoolean();
  private final TelemetryEndpoint endpoint;

  private Telemetry(Builder b) {
    this.serviceName = b.serviceName;
    if (b.noop) {
      this.prometheus = null;
      this.registry = new CompositeMeterRegistry();
      this.tracerProvider = null;
      this.spanProcessor = null;
      this.traceExport = "none";
      this.tracer = TracerProvider.noop().get(SCOPE);
      this.tracing = new KafkaTracing(tracer, null);
      this.metrics = new TurnpikeMetrics(registry);
      this.endpoint = null;
      return;
    }
    this.prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    this.registry = prometheus;
    registry.config().commonTags("service", serviceName);
    if (b.jvmMetrics) {
      bindJvm();
    }
    this.metrics = new TurnpikeMetrics(registry);

    Export export = export(b);
    this.spanProcessor = export.processor;
    this.traceExport = export.description;
    PinnedIds ids = new PinnedIds();
    SdkTracerProviderBuilder tp = SdkTracerProvider.builder()
        .setResource(Resource.getDefault().merge(Resource.create(Attributes.of(SERVICE_NAME, serviceName))))
        .setSampler(Sampler.parentBased(Sampler.alwaysOn()))
        .setIdGenerator(ids);
    if (spanProcessor != null) {
      tp.addSpanProcessor(spanProcessor);
    }
    this.tracerProvider = tp.build();
    this.tracer = tracerProvider.get(SCOPE);
    this.tracing = new KafkaTracing(tracer, ids);

    Integer port = b.httpPortSet ? b.httpPort : b.config.httpPort();
    TelemetryEndpoint started = null;
    if (port != null) {
      try {
        started = TelemetryEndpoint.start(b.config.httpHost(), port, this);
      } catch (RuntimeException e) {
        tracerProvider.close();
        prometheus.close();
        throw e;
      }
      LOG.info("{}: metrics at http://{}:{}/metrics, health at /health/live and /health/ready; traces: {}",
          serviceName, b.config.httpHost(), started.port(), traceExport);
    } else {
      LOG.debug("{}: no telemetry HTTP endpoint ({} unset); traces: {}", serviceName, TelemetryConfig.HTTP_PORT, traceExport);
    }
    this.endpoint = started;
  }

  private record Export(SpanProcessor processor, String description) {}

  private static Export export(Builder b) {
    if (b.spanExporter != null) {
      return new Export(SimpleSpanProcessor.create(b.spanExporter), "custom (" + b.spanExporter + ")");
    }
    TelemetryConfig c = b.config;
    return switch (c.exporter()) {
      case NONE -> new Export(null, "none");
      case LOGGING -> new Export(SimpleSpanProcessor.create(LoggingSpanExporter.create()), "logging");
      case OTLP -> {
        OtlpHttpSpanExporterBuilder otlp = OtlpHttpSpanExporter.builder()
            .setEndpoint(c.otlpTracesUrl())
            // The exporter's own metrics would otherwise go to GlobalOpenTelemetry, which we never touch.
            .setMeterProvider(MeterProvider::noop);
        c.otlpHeaders().forEach(otlp::addHeader);
        BatchSpanProcessor batch = BatchSpanProcessor.builder(new ExportWarnings(otlp.build(), b.serviceName, c.otlpTracesUrl()))
            .setMeterProvider(MeterProvider::noop)
            .build();
        yield new Export(batch, "otlp " + c.otlpTracesUrl());
      }
    };
  }

  private void bindJvm() {
    new ClassLoaderMetrics().bindTo(registry);
    new JvmMemoryMetrics().bindTo(registry);
    JvmGcMetrics gc = new JvmGcMetrics();
    gc.bindTo(registry);
    owned.add(gc);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
  }

  // --- factories --------------------------------------------------------------------------------

  /** The usual way in a service's {@code main}: everything from {@code turnpike.*} settings. */
  public static Telemetry create(String serviceName, Settings settings) {
    return builder(serviceName).settings(settings).build();
  }

  /** {@link #create(String, Settings)} with explicit keys only (no environment), e.g. in tests. */
  public static Telemetry create(String serviceName, Map<String, String> settings) {
    return create(serviceName, Settings.of(settings));
  }

  /** Records nothing, opens nothing, exports nothing; trace context still passes through unchanged. */
  public static Telemetry noop(String serviceName) {
    Builder b = builder(serviceName);
    b.noop = true;
    return b.build();
  }

  /** Real metrics; every span handed to {@code exporter} as it ends; no HTTP server. */
  public static Telemetry forTest(String serviceName, SpanExporter exporter) {
    return builder(serviceName).spanExporter(exporter).build();
  }

  public static Builder builder(String serviceName) {
    return new Builder(serviceName);
  }

  public static final class Builder {
    private final String serviceName;
    private TelemetryConfig config = TelemetryConfig.quiet();
    private SpanExporter spanExporter;
    private boolean httpPortSet;
    private Integer httpPort;
    private boolean jvmMetrics = true;
    private boolean noop;

    private Builder(String serviceName) {
      this.serviceName = Objects.requireNonNull(serviceName, "serviceName");
    }

    public Builder settings(Settings settings) {
      return config(TelemetryConfig.from(settings));
    }

    public Builder config(TelemetryConfig config) {
      this.config = Objects.requireNonNull(config, "config");
      return this;
    }

    /** Serve the endpoint on {@code port} ({@code 0}: any free one) whatever the settings say; null for none. */
    public Builder httpPort(Integer port) {
      this.httpPortSet = true;
      this.httpPort = port;
      return this;
    }

    /** Hand every span to {@code exporter} as soon as it ends, instead of what the settings say. */
    public Builder spanExporter(SpanExporter exporter) {
      this.spanExporter = exporter;
      return this;
    }

    /** JVM and process meters (memory, GC, threads, CPU, uptime, file descriptors); on by default. */
    public Builder jvmMetrics(boolean on) {
      this.jvmMetrics = on;
      return this;
    }

    public Telemetry build() {
      return new Telemetry(this);
    }
  }

  // --- use --------------------------------------------------------------------------------------

  public String serviceName() {
    return serviceName;
  }

  /** For meters beyond {@link TurnpikeMetrics}. */
  public MeterRegistry registry() {
    return registry;
  }

  public TurnpikeMetrics metrics() {
    return metrics;
  }

  public Tracer tracer() {
    return tracer;
  }

  /** Spans for Kafka records, tied to the run's trace id. */
  public KafkaTracing tracing() {
    return tracing;
  }

  /** Where finished spans go: {@code none}, {@code logging}, {@code otlp <url>} or {@code custom (...)}. */
  public String traceExport() {
    return traceExport;
  }

  /** The span processor feeding the exporter; null when nothing is exported. */
  SpanProcessor spanProcessor() {
    return spanProcessor;
  }

  /** The bound port of the HTTP endpoint, or -1 when there is none. */
  public int httpPort() {
    return endpoint == null ? -1 : endpoint.port();
  }

  /** The metrics in Prometheus text format 0.0.4, or OpenMetrics when {@code contentType} asks for it. */
  public String scrape(String contentType) {
    if (prometheus == null) {
      return "";
    }
    return prometheus.scrape(TelemetryEndpoint.wantsOpenMetrics(contentType)
        ? TelemetryEndpoint.OPENMETRICS_100 : TelemetryEndpoint.TEXT_004);
  }

  public String scrape() {
    return scrape(TelemetryEndpoint.TEXT_004);
  }

  /**
   * Adds (or replaces) a readiness check: {@code /health/ready} is 200 only while there is at least one
   * check and every check passes (nothing registered means nothing has said it is ready). Names should
   * be unique per JVM when services share a Telemetry. Closing the handle removes the check.
   */
  public AutoCloseable readiness(String name, BooleanSupplier check) {
    Objects.requireNonNull(check, "check");
    checks.put(name, check);
    return () -> checks.remove(name, check);
  }

  /** Every readiness check's current answer; a check that throws counts as failing. */
  public Readiness readiness() {
    return evaluate(checks);
  }

  /**
   * Adds (or replaces) a liveness check: {@code /health/live} is 503 while any check fails, which tells a
   * supervisor to restart the process. Only for states the process cannot leave by itself (a loop that
   * died, a Streams client in ERROR); without checks the process is live.
   */
  public AutoCloseable liveness(String name, BooleanSupplier check) {
    Objects.requireNonNull(check, "check");
    liveChecks.put(name, check);
    return () -> liveChecks.remove(name, check);
  }

  /** Every liveness check's current answer, as {@code /health/live} reports it. */
  public Liveness liveness() {
    return new Liveness(evaluate(liveChecks).checks());
  }

  private static Readiness evaluate(Map<String, BooleanSupplier> checks) {
    Map<String, Boolean> results = new LinkedHashMap<>();
    checks.forEach((name, check) -> {
      boolean ok;
      try {
        ok = check.getAsBoolean();
      } catch (RuntimeException e) {
        LOG.debug("health check {} failed", name, e);
        ok = false;
      }
      results.put(name, ok);
    });
    return new Readiness(results);
  }

  /** Liveness as {@code /health/live} reports it: UP unless a check fails. */
  public record Liveness(Map<String, Boolean> checks) {
    public boolean live() {
      return !checks.containsValue(false);
    }

    public String toJson() {
      return Readiness.json(live(), checks);
    }
  }

  /** Readiness as {@code /health/ready} reports it. */
  public record Readiness(Map<String, Boolean> checks) {
    public Readiness {
      checks = Collections.unmodifiableMap(new LinkedHashMap<>(checks));
    }

    public boolean ready() {
      return !checks.isEmpty() && !checks.containsValue(false);
    }

    public String toJson() {
      return json(ready(), checks);
    }

    static String json(boolean up, Map<String, Boolean> checks) {
      StringBuilder sb = new StringBuilder("{\"status\":\"").append(up ? "UP" : "DOWN").append("\",\"checks\":{");
      String sep = "";
      for (Map.Entry<String, Boolean> e : checks.entrySet()) {
        sb.append(sep).append('"').append(jsonEscape(e.getKey())).append("\":\"").append(e.getValue() ? "UP" : "DOWN").append('"');
        sep = ",";
      }
      return sb.append("}}").toString();
    }

    private static String jsonEscape(String s) {
      StringBuilder out = new StringBuilder(s.length());
      for (char c : s.toCharArray()) {
        switch (c) {
          case '"' -> out.append("\\\"");
          case '\\' -> out.append("\\\\");
          default -> {
            if (c < 0x20) {
              out.append(String.format("\\u%04x", (int) c));
            } else {
              out.append(c);
            }
          }
        }
      }
      return out.toString();
    }
  }

  // --- Kafka ------------------------------------------------------------------------------------

  /**
   * Publishes the consumer's own metrics, consumer lag ({@value TurnpikeMetrics#KAFKA_CONSUMER_LAG_MAX})
   * among them. Close the handle before closing the consumer.
   */
  public AutoCloseable bindKafkaClient(Consumer<?, ?> consumer) {
    if (prometheus == null) {
      return () -> {};
    }
    KafkaClientMetrics binder = new KafkaClientMetrics(consumer, Tags.empty());
    binder.bindTo(registry);
    return owned(binder);
  }

  public AutoCloseable bindKafkaClient(Producer<?, ?> producer) {
    if (prometheus == null) {
      return () -> {};
    }
    KafkaClientMetrics binder = new KafkaClientMetrics(producer, Tags.empty());
    binder.bindTo(registry);
    return owned(binder);
  }

  /** Publishes the Streams application's metrics, including its consumers' lag. Close the handle before closing it. */
  public AutoCloseable bindKafkaStreams(KafkaStreams streams) {
    if (prometheus == null) {
      return () -> {};
    }
    KafkaStreamsMetrics binder = new KafkaStreamsMetrics(streams, Tags.empty());
    binder.bindTo(registry);
    return owned(binder);
  }

  private AutoCloseable owned(AutoCloseable binder) {
    owned.add(binder);
    AtomicBoolean done = new AtomicBoolean();
    return () -> {
      if (done.compareAndSet(false, true)) {
        owned.remove(binder);
        binder.close();
      }
    };
  }

  /** Stops the endpoint, flushes and stops span export (bounded), closes the registry. Idempotent. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    if (endpoint != null) {
      endpoint.close();
    }
    List<AutoCloseable> toClose;
    synchronized (owned) {
      toClose = new ArrayList<>(owned);
      owned.clear();
    }
    for (AutoCloseable c : toClose) {
      try {
        c.close();
      } catch (Exception e) {
        LOG.debug("closing {} failed", c, e);
      }
    }
    if (tracerProvider != null) {
      tracerProvider.shutdown().join(10, TimeUnit.SECONDS);
    }
    registry.close();
  }
}
