package io.turnpike.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanId;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.turnpike.schema.TurnpikeHeaders;
import java.time.Instant;
import java.util.UUID;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class KafkaTracingTest {
  private final InMemorySpanExporter spans = InMemorySpanExporter.create();
  private final Telemetry telemetry = Telemetry.forTest("tracing-test", spans);

  @AfterEach
  void close() {
    telemetry.close();
  }

  private static String turnpikeTraceId() {
    return UUID.randomUUID().toString().replace("-", "");
  }

  private static Headers runRecordHeaders(String traceId) {
    return TurnpikeHeaders.put(new RecordHeaders(), TurnpikeHeaders.TRACE_ID, traceId);
  }

  @Test
  void traceparentRoundTripsOverRecordHeaders() {
    Span span = telemetry.tracer().spanBuilder("producer").startSpan();
    Headers headers = new RecordHeaders();

    KafkaTracing.inject(span, headers);
    SpanContext extracted = KafkaTracing.carried(new RecordHeaders(headers.toArray()));
    span.end();

    assertThat(TurnpikeHeaders.get(headers, KafkaTracing.TRACEPARENT))
        .isEqualTo("00-" + span.getSpanContext().getTraceId() + "-" + span.getSpanContext().getSpanId() + "-01");
    assertThat(extracted.getTraceId()).isEqualTo(span.getSpanContext().getTraceId());
    assertThat(extracted.getSpanId()).isEqualTo(span.getSpanContext().getSpanId());
    assertThat(extracted.isSampled()).isTrue();
    assertThat(extracted.isRemote()).isTrue();
  }

  @Test
  void injectingTwiceLeavesOneTraceparent() {
    Headers headers = new RecordHeaders();
    Span a = telemetry.tracer().spanBuilder("a").startSpan();
    Span b = telemetry.tracer().spanBuilder("b").startSpan();

    KafkaTracing.inject(a, headers);
    KafkaTracing.inject(b, headers);

    assertThat(headers.headers(KafkaTracing.TRACEPARENT)).hasSize(1);
    assertThat(KafkaTracing.carried(headers).getSpanId()).isEqualTo(b.getSpanContext().getSpanId());
  }

  @Test
  void theRunContextHasTheTurnpikeTraceIdAndAStableSpanId() {
    String traceId = turnpikeTraceId();

    SpanContext run = KafkaTracing.runContext(traceId);

    assertThat(run.isValid()).isTrue();
    assertThat(run.getTraceId()).isEqualTo(traceId);
    assertThat(run.isSampled()).isTrue();
    assertThat(SpanId.isValid(run.getSpanId())).isTrue();
    assertThat(KafkaTracing.runContext(traceId).getSpanId()).isEqualTo(run.getSpanId());
    assertThat(KafkaTracing.derivedContext(traceId, "turn-1").getSpanId())
        .isNotEqualTo(run.getSpanId())
        .isNotEqualTo(KafkaTracing.derivedContext(traceId, "turn-2").getSpanId());
    assertThat(KafkaTracing.runContext("not-a-trace-id").isValid()).isFalse();
    assertThat(KafkaTracing.runContext(null).isValid()).isFalse();
    assertThat(KafkaTracing.runContext("0".repeat(32)).isValid()).isFalse();
  }

  @Test
  void aRecordWithOnlyTheTurnpikeTraceIdGetsASpanInTheRunsTrace() {
    String traceId = turnpikeTraceId();

    Span span = telemetry.tracing().consumerSpan(TurnpikeSpans.TOOL_CALL, runRecordHeaders(traceId)).startSpan();
    span.end();

    SpanData data = spans.getFinishedSpanItems().getFirst();
    assertThat(data.getTraceId()).isEqualTo(traceId);
    assertThat(data.getParentSpanId()).isEqualTo(KafkaTracing.runContext(traceId).getSpanId());
    assertThat(data.getLinks()).isEmpty();
  }

  @Test
  void aCarriedTraceparentOfTheRunIsTheParent() {
    String traceId = turnpikeTraceId();
    Headers in = runRecordHeaders(traceId);
    Span upstream = telemetry.tracing().consumerSpan("upstream", in).startSpan();
    Headers out = runRecordHeaders(traceId);
    KafkaTracing.inject(upstream, out);
    upstream.end();

    Span downstream = telemetry.tracing().consumerSpan("downstream", out).startSpan();
    downstream.end();

    SpanData down = spans.getFinishedSpanItems().get(1);
    assertThat(down.getTraceId()).isEqualTo(traceId);
    assertThat(down.getParentSpanId()).isEqualTo(upstream.getSpanContext().getSpanId());
  }

  @Test
  void aTraceparentFromAnotherTraceBecomesALinkAndTheRunStaysTheParent() {
    String traceId = turnpikeTraceId();
    Span foreign = telemetry.tracer().spanBuilder("submitter").setNoParent().startSpan();
    Headers headers = runRecordHeaders(traceId);
    KafkaTracing.inject(foreign, headers);

    Span span = telemetry.tracing().consumerSpan(TurnpikeSpans.RUN_EVENT, headers).startSpan();
    span.end();

    assertThat(span.getSpanContext().getTraceId()).isEqualTo(traceId);
    SpanData data = spans.getFinishedSpanItems().getFirst();
    assertThat(data.getParentSpanId()).isEqualTo(KafkaTracing.runContext(traceId).getSpanId());
    assertThat(data.getLinks()).singleElement()
        .satisfies(l -> assertThat(l.getSpanContext().getSpanId()).isEqualTo(foreign.getSpanContext().getSpanId()));
  }

  @Test
  void aRecordWithNoTraceHeadersStartsANewTrace() {
    Span span = telemetry.tracing().consumerSpan("orphan", new RecordHeaders()).startSpan();
    span.end();

    assertThat(span.getSpanContext().isValid()).isTrue();
    assertThat(spans.getFinishedSpanItems().getFirst().getParentSpanContext().isValid()).isFalse();
  }

  @Test
  void theRunSpanIsRecordedUnderTheDerivedIdsSoEarlierChildrenHangOffIt() {
    String traceId = turnpikeTraceId();
    SpanContext turn = KafkaTracing.derivedContext(traceId, "turn-1");
    Span child = telemetry.tracing().childSpan(TurnpikeSpans.MODEL_CALL, turn).startSpan();
    child.end();
    Instant start = Instant.parse("2030-01-01T00:00:00Z");

    telemetry.tracing().recordSpan(TurnpikeSpans.TURN, turn, KafkaTracing.runContext(traceId), start.plusMillis(5),
        start.plusMillis(900), Attributes.of(TurnpikeSpans.TURN_NUMBER, 1L), StatusCode.UNSET);
    telemetry.tracing().recordRun(traceId, start, start.plusSeconds(1), Attributes.of(TurnpikeSpans.RUN_ID, "r-1"), StatusCode.OK);

    SpanData model = spans.getFinishedSpanItems().get(0);
    SpanData turnSpan = spans.getFinishedSpanItems().get(1);
    SpanData run = spans.getFinishedSpanItems().get(2);
    assertThat(run.getName()).isEqualTo("run");
    assertThat(run.getTraceId()).isEqualTo(traceId);
    assertThat(run.getSpanId()).isEqualTo(KafkaTracing.runContext(traceId).getSpanId());
    assertThat(run.getParentSpanContext().isValid()).isFalse();
    assertThat(run.getStartEpochNanos()).isEqualTo(start.toEpochMilli() * 1_000_000L);
    assertThat(run.getEndEpochNanos() - run.getStartEpochNanos()).isEqualTo(1_000_000_000L);
    assertThat(run.getStatus().getStatusCode()).isEqualTo(StatusCode.OK);
    assertThat(turnSpan.getSpanId()).isEqualTo(turn.getSpanId());
    assertThat(turnSpan.getParentSpanId()).isEqualTo(run.getSpanId());
    assertThat(model.getParentSpanId()).isEqualTo(turnSpan.getSpanId());
    // Ids are pinned for that one span only.
    Span next = telemetry.tracer().spanBuilder("next").setNoParent().startSpan();
    assertThat(next.getSpanContext().getTraceId()).isNotEqualTo(traceId);
    next.end();
  }

  @Test
  void noopTelemetryPassesTraceContextThroughUnchanged() {
    try (Telemetry noop = Telemetry.noop("noop")) {
      String traceId = turnpikeTraceId();
      Headers in = runRecordHeaders(traceId);
      Span upstream = telemetry.tracer().spanBuilder("upstream").setParent(KafkaTracing.extract(in)).startSpan();
      KafkaTracing.inject(upstream, in);
      upstream.end();

      Span span = noop.tracing().consumerSpan(TurnpikeSpans.GUARDRAIL_CHECK, in).startSpan();
      Headers out = runRecordHeaders(traceId);
      KafkaTracing.inject(span, out);
      span.end();
      noop.tracing().recordRun(traceId, Instant.now(), Instant.now(), Attributes.empty(), StatusCode.OK);

      assertThat(span.isRecording()).isFalse();
      assertThat(TurnpikeHeaders.get(out, KafkaTracing.TRACEPARENT)).isEqualTo(TurnpikeHeaders.get(in, KafkaTracing.TRACEPARENT));
      assertThat(noop.scrape()).isEmpty();
    }
  }
}
