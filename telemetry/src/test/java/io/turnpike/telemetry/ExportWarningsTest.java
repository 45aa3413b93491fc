package io.turnpike.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.testing.trace.TestSpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import io.opentelemetry.api.trace.SpanKind;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class ExportWarningsTest {
  @Test
  void anUnreachableCollectorIsOneWarningLineNotAStackTracePerExport() {
    List<LogRecord> jul = new CopyOnWriteArrayList<>();
    Handler handler = new Handler() {
      @Override
      public void publish(LogRecord r) {
        jul.add(r);
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    java.util.logging.Logger root = java.util.logging.Logger.getLogger("");
    root.addHandler(handler);
    ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(ExportWarnings.class);
    ListAppender<ILoggingEvent> events = new ListAppender<>();
    events.start();
    logger.addAppender(events);
    ExportWarnings exporter = new ExportWarnings(OtlpHttpSpanExporter.builder().setEndpoint("http://127.0.0.1:1/v1/traces")
        .setMeterProvider(io.opentelemetry.api.metrics.MeterProvider::noop).setRetryPolicy(null).build(), "svc", "http://127.0.0.1:1/v1/traces");
    try {
      for (int i = 0; i < 3; i++) {
        var result = exporter.export(List.of(TestSpanData.builder().setName("s" + i).setKind(SpanKind.INTERNAL)
            .setStartEpochNanos(1).setEndEpochNanos(2).setHasEnded(true).setStatus(StatusData.unset()).build()));
        assertThat(result.join(10, TimeUnit.SECONDS).isSuccess()).isFalse();
      }
      assertThat(jul).as("OpenTelemetry's own SEVERE stack traces").isEmpty();
      assertThat(events.list).hasSize(1);
      assertThat(events.list.getFirst().getFormattedMessage())
          .startsWith("svc: cannot export traces to http://127.0.0.1:1/v1/traces (connection refused)")
          .endsWith("); spans are dropped until it answers (said once)")
          .doesNotContain("\n");
      assertThat(events.list.getFirst().getThrowableProxy()).isNull();
    } finally {
      exporter.shutdown();
      root.removeHandler(handler);
      logger.detachAppender(events);
    }
  }
}
