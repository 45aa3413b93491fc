package io.turnpike.telemetry;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanId;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceId;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapSetter;
import io.turnpike.schema.TurnpikeHeaders;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * W3C trace context over Kafka record headers, tied to Turnpike's own {@code turnpike.trace-id}.
 *
 * <p>Every record of a run carries {@code turnpike.trace-id}, but not every producer knows about
 * OpenTelemetry. So the parent of a span made for a record is, in order: the record's
 * {@code traceparent} when it belongs to the run's trace; else a stand-in for the run itself, with
 * the run's trace id and a span id derived from it ({@link #runContext}). Either way every span of a
 * run lands in one trace whose id is the run's trace id, and the orchestrator later records the run
 * span itself under that very derived id ({@link #recordSpan}), so the stand-in parent is real.
 */
public final class KafkaTracing {
  public static final String TRACEPARENT = "traceparent";
  public static final String TRACESTATE = "tracestate";

  private static final W3CTraceContextPropagator PROPAGATOR = W3CTraceContextPropagator.getInstance();

  private static final TextMapSetter<Headers> SETTER = (headers, key, value) -> {
    if (headers != null) {
      TurnpikeHeaders.put(headers, key, value);
    }
  };

  private static final TextMapGetter<Headers> GETTER = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(Headers headers) {
      List<String> keys = new ArrayList<>();
      for (Header h : headers) {
        keys.add(h.key());
      }
      return keys;
    }

    @Override
    public String get(Headers headers, String key) {
      return TurnpikeHeaders.get(headers, key);
    }
  };

  private final Tracer tracer;
  private final PinnedIds pinnedIds;

  KafkaTracing(Tracer tracer, PinnedIds pinnedIds) {
    this.tracer = tracer;
    this.pinnedIds = pinnedIds;
  }

  // --- propagation (no tracer needed) -----------------------------------------------------------

  /** Writes {@code traceparent} (and {@code tracestate}, if any) for {@code context}'s span; nothing for an invalid one. */
  public static void inject(Context context, Headers headers) {
    PROPAGATOR.inject(context, headers, SETTER);
  }

  public static void inject(SpanContext spanContext, Headers headers) {
    inject(Context.root().with(Span.wrap(spanContext)), headers);
  }

  public static void inject(Span span, Headers headers) {
    inject(span.getSpanContext(), headers);
  }

  /** The {@code traceparent} a record carries, or an invalid context. */
  public static SpanContext carried(Headers headers) {
    if (headers == null) {
      return SpanContext.getInvalid();
    }
    return Span.fromContext(PROPAGATOR.extract(Context.root(), headers, GETTER)).getSpanContext();
  }

  /** The parent for work done on a record: see the class comment. Invalid when the record has neither header. */
  public static SpanContext parentOf(Headers headers) {
    SpanContext carried = carried(headers);
    SpanContext run = runContext(TurnpikeHeaders.get(headers, TurnpikeHeaders.TRACE_ID));
    if (carried.isValid() && (!run.isValid() || carried.getTraceId().equals(run.getTraceId()))) {
      return carried;
    }
    return run.isValid() ? run : carried;
  }

  /** {@link #parentOf} as a Context, {@link Context#root()} when there is none. */
  public static Context extract(Headers headers) {
    SpanContext parent = parentOf(headers);
    return parent.isValid() ? Context.root().with(Span.wrap(parent)) : Context.root();
  }

  /**
   * The run span's context for a Turnpike trace id: that trace id, a span id derived from it, sampled.
   * Invalid when {@code turnpikeTraceId} is not 32 hex digits.
   */
  public static SpanContext runContext(String turnpikeTraceId) {
    return derivedContext(turnpikeTraceId, TurnpikeSpans.RUN);
  }

  /**
   * A span context that anyone who knows the trace id and {@code discriminator} (e.g. {@code "turn-3"})
   * computes alike, so that a span recorded later can be named as a parent now.
   */
  public static SpanContext derivedContext(String turnpikeTraceId, String discriminator) {
    String traceId = normalizeTraceId(turnpikeTraceId);
    if (traceId == null) {
      return SpanContext.getInvalid();
    }
    return SpanContext.createFromRemoteParent(traceId, derivedSpanId(traceId, discriminator),
        TraceFlags.getSampled(), TraceState.getDefault());
  }

  /** A turnpike trace id as W3C wants it (32 lowercase hex digits, not all zero), or null. */
  public static String normalizeTraceId(String turnpikeTraceId) {
    if (turnpikeTraceId == null) {
      return null;
    }
    String id = turnpikeTraceId.trim().toLowerCase(Locale.ROOT);
    return TraceId.isValid(id) ? id : null;
  }

  static String derivedSpanId(String traceId, String discriminator) {
    // FNV-1a then a splitmix finalizer: cheap, stable across JVMs and languages, well spread.
    long h = 0xcbf29ce484222325L;
    for (byte b : (traceId + '/' + discriminator).getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    return SpanId.fromLong(h == 0 ? 1 : h);
  }

  // --- spans ------------------------------------------------------------------------------------

  /**
   * A span for handling {@code headers}' record, child of {@link #parentOf}. A {@code traceparent} from
   * another trace (e.g. the submitter's own) is kept as a link rather than lost.
   */
  public SpanBuilder consumerSpan(String name, Headers headers) {
    SpanBuilder b = tracer.spanBuilder(name).setSpanKind(SpanKind.CONSUMER);
    SpanContext parent = parentOf(headers);
    if (parent.isValid()) {
      b.setParent(Context.root().with(Span.wrap(parent)));
    } else {
      b.setNoParent();
    }
    SpanContext carried = carried(headers);
    if (carried.isValid() && !carried.equals(parent)) {
      b.addLink(carried);
    }
    return b;
  }

  /** A span directly under the run (for work that has no record to hand, e.g. a deadline firing). */
  public SpanBuilder runChildSpan(String name, String turnpikeTraceId) {
    return childSpan(name, runContext(turnpikeTraceId));
  }

  public SpanBuilder childSpan(String name, SpanContext parent) {
    SpanBuilder b = tracer.spanBuilder(name);
    return parent.isValid() ? b.setParent(Context.root().with(Span.wrap(parent))) : b.setNoParent();
  }

  /**
   * Records a span that has already ended, under the ids of {@code self} (a {@link #derivedContext}):
   * how the run and its turns, which outlive any one record, become real spans. {@code parent} null
   * makes a root span. Does nothing for an invalid {@code self} or when tracing is off.
   */
  public void recordSpan(String name, SpanContext self, SpanContext parent, Instant start, Instant end,
      Attributes attributes, StatusCode status) {
    if (pinnedIds == null || !self.isValid()) {
      return;
    }
    if (parent != null && parent.isValid() && !parent.getTraceId().equals(self.getTraceId())) {
      throw new IllegalArgumentException("parent " + parent.getTraceId() + " is in another trace than " + self.getTraceId());
    }
    Span span = pinnedIds.pinned(self.getTraceId(), self.getSpanId(), () -> {
      SpanBuilder b = parent != null && parent.isValid()
          ? tracer.spanBuilder(name).setParent(Context.root().with(Span.wrap(parent)))
          : tracer.spanBuilder(name).setNoParent();
      return b.setStartTimestamp(start).setAllAttributes(attributes).startSpan();
    });
    if (status != null && status != StatusCode.UNSET) {
      span.setStatus(status);
    }
    span.end(end.isBefore(start) ? start : end);
  }

  /** Records the run span (the root of the run's trace) once the run has ended. */
  public void recordRun(String turnpikeTraceId, Instant start, Instant end, Attributes attributes, StatusCode status) {
    recordSpan(TurnpikeSpans.RUN, runContext(turnpikeTraceId), null, start, end, attributes, status);
  }

  /** Marks a span failed with the exception's type, as the semantic conventions do. */
  public static void fail(Span span, Throwable error) {
    Objects.requireNonNull(error, "error");
    span.recordException(error);
    span.setAttribute(TurnpikeSpans.ERROR_TYPE, error.getClass().getName());
    span.setStatus(StatusCode.ERROR, String.valueOf(error.getMessage()));
  }
}
