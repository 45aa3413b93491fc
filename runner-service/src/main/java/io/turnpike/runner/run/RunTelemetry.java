package io.turnpike.runner.run;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeMetrics;
import io.turnpike.telemetry.TurnpikeSpans;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.common.header.Headers;

/**
 * What the orchestrator tells {@link Telemetry}, kept out of {@link RunOrchestrator}: run counts, turn
 * latency, a span per record applied, and the run and turn spans, recorded when they end under the
 * ids that the records sent during them already named as parent ({@link KafkaTracing#derivedContext}).
 *
 * <p>Turn start times live only in memory (the stream thread must not do I/O for telemetry): after a
 * rebalance or restart the turn under way is timed from the state's last update instead.
 */
final class RunTelemetry {
  private static final int MAX_TRACKED_RUNS = 100_000;

  private final TurnpikeMetrics metrics;
  private final KafkaTracing tracing;
  private final Map<String, TurnClock> clocks = new LinkedHashMap<>(16, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, TurnClock> eldest) {
      return size() > MAX_TRACKED_RUNS;
    }
  };

  private static final class TurnClock {
    final int turn;
    final Instant started;
    boolean answered;

    TurnClock(int turn, Instant started) {
      this.turn = turn;
      this.started = started;
    }
  }

  RunTelemetry(Telemetry telemetry) {
    this.metrics = telemetry.metrics();
    this.tracing = telemetry.tracing();
  }

  /** The span for applying one input record; child of the record's trace context. */
  Span startEvent(Headers headers, String topic, String runId) {
    // A run request without trace headers still belongs to its run: the orchestrator will give the
    // run the trace id it derives from the run id, so the span goes there too.
    SpanBuilder span = KafkaTracing.parentOf(headers).isValid() || runId == null
        ? tracing.consumerSpan(TurnpikeSpans.RUN_EVENT, headers)
        : tracing.runChildSpan(TurnpikeSpans.RUN_EVENT, RunOrchestrator.traceIdFor(runId)).setSpanKind(SpanKind.CONSUMER);
    return span
        .setAttribute(TurnpikeSpans.RUN_ID, runId == null ? "" : runId)
        .setAttribute(TurnpikeSpans.MESSAGING_DESTINATION, topic)
        .setAttribute(TurnpikeSpans.EVENT, String.valueOf(TurnpikeHeaders.get(headers, TurnpikeHeaders.TYPE)))
        .startSpan();
  }

  Span startDeadline(RunState state, String callId) {
    return tracing.runChildSpan(TurnpikeSpans.RUN_EVENT, state.getTraceId())
        .setAttribute(TurnpikeSpans.RUN_ID, state.getRunId())
        .setAttribute(TurnpikeSpans.CALL_ID, callId)
        .setAttribute(TurnpikeSpans.EVENT, "DeadlinePassed")
        .startSpan();
  }

  /**
   * The trace context records sent for {@code state} carry: the current turn's (so the model call,
   * tool calls and guardrail checks of turn n hang under turn n), or the run's before the first turn.
   */
  static SpanContext outgoing(RunState state) {
    return state.getTurn() > 0
        ? KafkaTracing.derivedContext(state.getTraceId(), "turn-" + state.getTurn())
        : KafkaTracing.runContext(state.getTraceId());
  }

  static void inject(Headers headers, SpanContext outgoing, String traceId) {
    KafkaTracing.inject(outgoing != null ? outgoing : KafkaTracing.runContext(traceId), headers);
  }

  /** After a transition was stored and its records sent. */
  void committed(RunState before, Transition t, RunEvent event, Instant now) {
    if (!t.changed() || t.state() == null) {
      return;
    }
    RunState after = t.state();
    String runId = after.getRunId();
    if (before == null) {
      metrics.runStarted();
    }
    TurnClock clock = clocks.get(runId);
    if (event instanceof RunEvent.ModelAnswered m && answersCurrentTurn(m.result(), clock)) {
      clock.answered = true;
      metrics.turnLatency(Duration.between(clock.started, now));
    }
    int beforeTurn = before == null ? 0 : before.getTurn();
    if (after.getTurn() > beforeTurn) {
      if (beforeTurn > 0) {
        endTurn(before, clock, now);
      }
      clocks.put(runId, new TurnClock(after.getTurn(), now));
    }
    boolean wasTerminal = before != null && RunStateMachine.isTerminal(before.getStatus());
    if (RunStateMachine.isTerminal(after.getStatus()) && !wasTerminal) {
      if (after.getTurn() > 0) {
        endTurn(after, clocks.get(runId), now);
      }
      clocks.remove(runId);
      RunStatus status = after.getStatus();
      metrics.runFinished(status.name(), status == RunStatus.FAILED ? failureReason(after.getError()) : null);
      tracing.recordRun(after.getTraceId(), after.getCreatedAt(), now, Attributes.builder()
          .put(TurnpikeSpans.RUN_ID, runId)
          .put(TurnpikeSpans.AGENT, after.getAgent().getName())
          .put(TurnpikeSpans.RUN_STATUS, status.name())
          .put(TurnpikeSpans.TURN_NUMBER, (long) after.getTurn())
          .build(), spanStatus(status));
    }
  }

  /** A run that failed before it had a state (unknown agent, undecodable request). */
  void rejected(RunResult result) {
    metrics.runFinished(result.getStatus().name(), "rejected");
  }

  private boolean answersCurrentTurn(ModelResult result, TurnClock clock) {
    return clock != null && !clock.answered && result.getError() == null
        && result.getCallId() != null && result.getCallId().endsWith(":m" + clock.turn);
  }

  private void endTurn(RunState state, TurnClock clock, Instant now) {
    int turn = state.getTurn();
    Instant started = clock != null && clock.turn == turn ? clock.started : state.getUpdatedAt();
    tracing.recordSpan(TurnpikeSpans.TURN, KafkaTracing.derivedContext(state.getTraceId(), "turn-" + turn),
        KafkaTracing.runContext(state.getTraceId()), started, now,
        Attributes.of(TurnpikeSpans.RUN_ID, state.getRunId(), TurnpikeSpans.TURN_NUMBER, (long) turn), StatusCode.UNSET);
  }

  private static StatusCode spanStatus(RunStatus status) {
    return switch (status) {
      case COMPLETED -> StatusCode.OK;
      case FAILED -> StatusCode.ERROR;
      default -> StatusCode.UNSET;
    };
  }

  /**
   * A small fixed set of categories for {@code turnpike.runs.failed}: the error text itself would make
   * a time series per run. Matches the messages {@link RunStateMachine} and its phases write.
   */
  static String failureReason(String error) {
    if (error == null) {
      return "other";
    }
    if (error.startsWith("max turns exceeded")) {
      return "max_turns";
    }
    if (error.contains("guardrail check") && error.contains("got no answer")) {
      return "guardrail_timeout";
    }
    if (error.contains("got no answer")) {
      return "timeout";
    }
    if (error.startsWith("model call") || error.startsWith("model returned")) {
      return "model_error";
    }
    if (error.startsWith("no human approved")) {
      return "approval_timeout";
    }
    return "other";
  }
}
