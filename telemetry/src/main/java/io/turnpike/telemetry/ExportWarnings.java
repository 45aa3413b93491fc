package io.turnpike.telemetry;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OTLP exporter that reports an unreachable collector as one warning line in the service's own log,
 * and one line when it answers again. OpenTelemetry's HTTP exporter logs every failed export itself
 * (java.util.logging, SEVERE, with a stack trace of some thirty lines), which is silenced here; an
 * export that fails only drops spans, it never stops a service.
 */
final class ExportWarnings implements SpanExporter {
  private static final Logger LOG = LoggerFactory.getLogger(ExportWarnings.class);
  /** The exporters' java.util.logging parent; held, since java.util.logging keeps loggers weakly and would drop the level. */
  private static final java.util.logging.Logger OTEL_EXPORTERS = java.util.logging.Logger.getLogger("io.opentelemetry.exporter");
  private static final java.util.logging.Logger OTEL_THROTTLED =
      java.util.logging.Logger.getLogger("io.opentelemetry.sdk.common.internal.ThrottlingLogger");

  static {
    OTEL_EXPORTERS.setLevel(Level.OFF);
    OTEL_THROTTLED.setLevel(Level.OFF);
  }

  private final SpanExporter delegate;
  private final String service;
  private final String url;
  private final AtomicBoolean failing = new AtomicBoolean();

  ExportWarnings(SpanExporter delegate, String service, String url) {
    this.delegate = delegate;
    this.service = service;
    this.url = url;
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans) {
    CompletableResultCode result = delegate.export(spans);
    result.whenComplete(() -> {
      if (result.isSuccess()) {
        if (failing.compareAndSet(true, false)) {
          LOG.info("{}: traces reach {} again", service, url);
        }
      } else if (failing.compareAndSet(false, true)) {
        LOG.warn("{}: cannot export traces to {} ({}); spans are dropped until it answers (said once)", service, url,
            reason(result.getFailureThrowable()));
      }
    });
    return result;
  }

  static String reason(Throwable t) {
    if (t == null) {
      return "the collector refused them";
    }
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof java.net.ConnectException) {
        return "connection refused"; // the JDK's says only "java.net.ConnectException", or nothing
      }
    }
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c.getMessage() != null && !c.getMessage().isBlank()) {
        return c.getMessage();
      }
    }
    return t.getClass().getSimpleName();
  }

  @Override
  public CompletableResultCode flush() {
    return delegate.flush();
  }

  @Override
  public CompletableResultCode shutdown() {
    return delegate.shutdown();
  }

  @Override
  public String toString() {
    return "ExportWarnings(" + delegate + ")";
  }
}
