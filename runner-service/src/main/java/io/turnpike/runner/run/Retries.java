package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RetryPolicies;
import io.turnpike.avro.RetryPolicy;
import io.turnpike.avro.RunStatus;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * Retries that outlast restarts. A call whose attempt gets no answer by its deadline is not re-sent
 * at once: it stays pending and <em>backs off</em> ({@code PendingCall.backingOff}, its deadline
 * moved to the resend time, so the timer index fires it like any deadline), then goes out again with
 * the same callId, the next attempt number and a fresh per-attempt deadline. An answer that arrives
 * while the call backs off is taken like any other: the callId is still pending.
 *
 * <p>The policy per call kind ({@link RetryPolicy}): at most {@code attempts} sends; attempt n+1 is
 * sent {@code backoff * 2^(n-1)} (capped at {@code maxBackoff}) after attempt n's deadline; no resend
 * is scheduled later than {@code firstSentAt + budget}. Decisions are taken as of the moment the
 * attempt was due ({@code due}), not when the timer got to it, so time the runner itself was away
 * (a restart, a broker outage) is not held against a call: a timer that fires late still re-sends
 * once, which gives an answer waiting unread on a result topic the time to be read.
 */
final class Retries {
  private static final RetryPolicies DEFAULTS = RetryPolicies.newBuilder().build();

  private Retries() {}

  /** The policy for one kind of call of this agent; definitions without {@code retry} get the defaults. */
  static RetryPolicy policy(AgentDefinition agent, CallKind kind) {
    RetryPolicies policies = agent.getRetry() == null ? DEFAULTS : agent.getRetry();
    return switch (kind) {
      case MODEL -> policies.getModel();
      case TOOL -> policies.getTool();
      case SANDBOX -> policies.getSandbox();
      case GUARDRAIL -> policies.getGuardrail();
      case APPROVAL -> throw new IllegalArgumentException("approvals are not retried; approvalTimeout bounds them");
      case AGENT -> throw new IllegalArgumentException("agent tools are not re-sent: the child run is durable; a timeout cancels it");
    };
  }

  /** The wait after attempt {@code attempt}'s deadline before the next send: doubling, capped. */
  static Duration backoffAfter(RetryPolicy policy, int attempt) {
    long base = Math.max(0, policy.getBackoffMs());
    long cap = Math.max(base, policy.getMaxBackoffMs());
    if (base == 0) {
      return Duration.ZERO;
    }
    int doublings = Math.max(0, attempt - 1);
    // Shifting into the sign bit would overflow; long before that the wait is past any cap.
    boolean overflows = doublings >= Long.numberOfLeadingZeros(base) - 1;
    return Duration.ofMillis(overflows ? cap : Math.min(cap, base << doublings));
  }

  /**
   * When the next attempt of {@code call} goes out, given that its current attempt went unanswered
   * at {@code due}; empty when the policy's attempts or budget are spent.
   */
  static Optional<Instant> nextSend(AgentDefinition agent, PendingCall call, Instant due, Instant now) {
    RetryPolicy policy = policy(agent, call.getKind());
    if (call.getAttempt() >= policy.getAttempts()) {
      return Optional.empty();
    }
    Instant budgetEnd = firstSentAt(agent, call).plusMillis(Math.max(0, policy.getBudgetMs()));
    if (!due.isBefore(budgetEnd)) {
      return Optional.empty();
    }
    Instant at = due.plus(backoffAfter(policy, call.getAttempt()));
    if (at.isAfter(budgetEnd)) {
      at = budgetEnd; // the last bit of budget still buys an attempt
    }
    return Optional.of(at.isBefore(now) ? now : at);
  }

  /** The pending call's deadline passed: re-send it if it was backing off, else decide on a retry. */
  static void deadlinePassed(Step step, PendingCall call) {
    if (call.getBackingOff()) {
      resend(step, call);
      return;
    }
    boolean resendable = call.getKind() != CallKind.GUARDRAIL || Guardrails.content(step, call) != null;
    Optional<Instant> next = resendable ? nextSend(step.agent(), call, call.getDeadline(), step.now) : Optional.empty();
    step.emit(new CallTimedOut(call.getCallId(), call.getKind(), call.getAttempt(), next.isPresent(), next.orElse(null)));
    if (next.isPresent()) {
      schedule(step, call, next.get());
      return;
    }
    String reason = describe(call) + " got no answer" + attempts(step, call) + (resendable ? budgetSpent(step, call)
        : "; its content was not kept (the check was sent before RunState v3), so it cannot be re-sent");
    if (call.getKind() == CallKind.GUARDRAIL) {
      reason += "; failing closed";
    }
    RunStateMachine.finish(step, RunStatus.FAILED, null, reason, null);
  }

  /** Backs off until {@code at}, or re-sends now when there is nothing to wait for. */
  static void schedule(Step step, PendingCall call, Instant at) {
    if (!at.isAfter(step.now)) {
      resend(step, call);
      return;
    }
    step.replacePending(PendingCall.newBuilder(call).setBackingOff(true).setDeadline(at).build());
  }

  /** The next attempt, with the same callId and a fresh per-attempt deadline. */
  static PendingCall nextAttempt(Step step, PendingCall call) {
    return PendingCall.newBuilder(call)
        .setAttempt(call.getAttempt() + 1)
        .setBackingOff(false)
        .setDeadline(step.now.plus(AgentView.timeout(step.agent(), call)))
        .build();
  }

  private static void resend(Step step, PendingCall call) {
    switch (call.getKind()) {
      case MODEL -> Turns.resendModel(step, call);
      case TOOL, SANDBOX -> ToolCalls.resend(step, call);
      case GUARDRAIL -> Guardrails.resend(step, call);
      case APPROVAL -> throw new IllegalStateException("approval timers are not re-sent: " + call.getCallId());
      case AGENT -> throw new IllegalStateException("agent tool calls are not re-sent: " + call.getCallId());
    }
  }

  /** When attempt 1 went out; a state upgraded from v2 knows only its current attempt's send time. */
  static Instant firstSentAt(AgentDefinition agent, PendingCall call) {
    return call.getFirstSentAt() != null ? call.getFirstSentAt() : call.getDeadline().minus(AgentView.timeout(agent, call));
  }

  /** "model call X", "tool get_weather (call X)", "OUTPUT guardrail check X": what a reason names. */
  static String describe(PendingCall call) {
    return switch (call.getKind()) {
      case MODEL -> "model call " + call.getCallId();
      case TOOL, SANDBOX -> "tool " + call.getName() + " (call " + call.getCallId() + ")";
      case GUARDRAIL -> call.getStage() + " guardrail check " + call.getCallId();
      case APPROVAL -> "approval " + call.getCallId();
      case AGENT -> "agent tool " + call.getName() + " (call " + call.getCallId() + ")";
    };
  }

  /** " after 10 attempt(s) over 9m40s". */
  static String attempts(Step step, PendingCall call) {
    return " after " + call.getAttempt() + " attempt(s) over " + human(Duration.between(firstSentAt(step.agent(), call), step.now));
  }

  /** "; retry budget (attempts 10, budget 10m) spent". */
  static String budgetSpent(Step step, PendingCall call) {
    RetryPolicy policy = policy(step.agent(), call.getKind());
    return "; retry budget (attempts " + policy.getAttempts() + ", budget " + human(Duration.ofMillis(policy.getBudgetMs())) + ") spent";
  }

  /** 500ms, 31s, 9m40s, 1h2m: how agent YAML writes durations. */
  static String human(Duration d) {
    if (d.isNegative()) {
      d = Duration.ZERO;
    }
    if (d.toMillis() < 1000) {
      return d.toMillis() + "ms";
    }
    StringBuilder sb = new StringBuilder();
    long h = d.toHours();
    int m = d.toMinutesPart();
    int s = d.toSecondsPart();
    if (h > 0) {
      sb.append(h).append('h');
    }
    if (m > 0) {
      sb.append(m).append('m');
    }
    if (s > 0) {
      sb.append(s).append('s');
    }
    return sb.toString();
  }
}
