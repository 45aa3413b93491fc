package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.RetryPolicies;
import io.turnpike.avro.RetryPolicy;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.avro.ToolSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Retries that outlast restarts, driven through the pure state machine with explicit clocks: each
 * timer fires at the deadline the state asks for, as the orchestrator's punctuation would.
 */
class RetriesTest {
  private static final String RUN = "run-1";
  private static final String CITY = "{\"city\":\"Oslo\"}";

  /** An agent as published without a retry policy, every timeout at its schema default. */
  static AgentDefinition.Builder published(String... tools) {
    List<ToolSpec> specs = new ArrayList<>();
    for (String t : tools) {
      specs.add(ToolSpec.newBuilder().setName(t).setParametersJson("{\"type\":\"object\"}").build());
    }
    return AgentDefinition.newBuilder().setName("weather").setVersion(1).setModel("gpt-test").setTools(specs);
  }

  static GuardrailSpec guard(GuardrailStage stage) {
    return GuardrailSpec.newBuilder().setName("g").setStage(stage).setType("regex").setMode(GuardrailMode.BLOCKING).build();
  }

  static GuardrailVerdict allow(String callId, GuardrailStage stage, String content) {
    return GuardrailVerdict.newBuilder().setRunId(RUN).setCallId(callId).setStage(stage).setOutcome(GuardrailOutcome.ALLOW)
        .setContent(content).build();
  }

  static RunState started(AgentDefinition agent, Instant at) {
    return RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Weather in Oslo?"), agent, "t"), at).state();
  }

  static Transition apply(RunState s, RunEvent e, Instant at) {
    Transition t = RunStateMachine.apply(s, e, at);
    assertThat(t.isRejected()).as("rejected: %s", t.rejection()).isFalse();
    return t;
  }

  static PendingCall pending(RunState s, String callId) {
    return s.getPending().stream().filter(p -> p.getCallId().equals(callId)).findFirst().orElseThrow();
  }

  /** One command sent for a call: which attempt, when, its deadline, and what it carried. */
  record Send(int attempt, Instant at, Instant deadline, String payload) {}

  static List<Send> sends(Transition t, String callId, Instant at) {
    return t.effects().stream().map(e -> switch (e) {
      case Effect.SendModelCall m when m.call().getCallId().equals(callId) ->
          new Send(m.call().getAttempt(), at, m.call().getDeadline(), String.valueOf(m.call().getInput()));
      case Effect.SendToolCall c when c.call().getCallId().equals(callId) ->
          new Send(c.call().getAttempt(), at, c.call().getDeadline(), c.call().getArguments());
      case Effect.SendSandboxCommand c when c.command().getCallId().equals(callId) ->
          new Send(c.command().getAttempt(), at, c.command().getDeadline(), c.command().getArguments());
      case Effect.SendGuardrailCheck c when c.check().getCallId().equals(callId) ->
          new Send(c.check().getAttempt(), at, c.check().getDeadline(), c.check().getContent());
      default -> null;
    }).filter(Objects::nonNull).toList();
  }

  static List<CallTimedOut> timeouts(Transition t) {
    return t.effectsOf(Effect.Publish.class).stream().map(p -> p.event().getStep())
        .filter(CallTimedOut.class::isInstance).map(CallTimedOut.class::cast).toList();
  }

  /** Every call kind (and guardrail stage) a worker answers, set up so that its first send is at T0. */
  enum Call {
    MODEL("run-1:m1") {
      AgentDefinition agent() {
        return published().build();
      }

      Transition send(AgentDefinition agent) {
        return RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Weather in Oslo?"), agent, "t"), T0);
      }

      Transition answer(RunState s, Instant at) {
        return apply(s, new RunEvent.ModelAnswered(Fixtures.text(RUN, callId, "Sunny.")), at);
      }

      void assertProceeded(Transition t) {
        assertThat(t.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      }
    },
    TOOL("run-1:t1.1") {
      AgentDefinition agent() {
        return published("get_weather").build();
      }

      Transition send(AgentDefinition agent) {
        return apply(started(agent, T0.minusSeconds(1)),
            new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", CITY)), T0);
      }

      Transition answer(RunState s, Instant at) {
        return apply(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, callId, "get_weather", "sunny")), at);
      }
    },
    SANDBOX("run-1:t1.1") {
      AgentDefinition agent() {
        return published().setCapabilities(List.of("filesystem")).build();
      }

      Transition send(AgentDefinition agent) {
        return apply(started(agent, T0.minusSeconds(1)),
            new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "read_file", "{\"path\":\"a.txt\"}")), T0);
      }

      Transition answer(RunState s, Instant at) {
        return apply(s, new RunEvent.SandboxAnswered(SandboxResult.newBuilder().setRunId(RUN).setCallId(callId)
            .setSessionId(RUN).setTool("read_file").setOutput("hello").build()), at);
      }
    },
    INPUT_CHECK("run-1:in") {
      AgentDefinition agent() {
        return published().setGuardrails(List.of(guard(GuardrailStage.INPUT))).build();
      }

      Transition send(AgentDefinition agent) {
        return RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Weather in Oslo?"), agent, "t"), T0);
      }

      Transition answer(RunState s, Instant at) {
        return apply(s, new RunEvent.GuardrailAnswered(allow(callId, GuardrailStage.INPUT, "Weather in Oslo?")), at);
      }

      void assertProceeded(Transition t) {
        assertThat(t.effectsOf(Effect.SendModelCall.class)).singleElement()
            .satisfies(m -> assertThat(m.call().getCallId()).isEqualTo("run-1:m1"));
      }
    },
    OUTPUT_CHECK("run-1:m1:out") {
      AgentDefinition agent() {
        return published().setGuardrails(List.of(guard(GuardrailStage.OUTPUT))).build();
      }

      Transition send(AgentDefinition agent) {
        return apply(started(agent, T0.minusSeconds(1)), new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "Sunny.")), T0);
      }

      Transition answer(RunState s, Instant at) {
        return apply(s, new RunEvent.GuardrailAnswered(allow(callId, GuardrailStage.OUTPUT, "Sunny.")), at);
      }

      void assertProceeded(Transition t) {
        assertThat(t.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
        assertThat(t.state().getFinalOutput()).isEqualTo("Sunny.");
      }
    },
    TOOL_INPUT_CHECK("run-1:t1.1:in") {
      AgentDefinition agent() {
        return published("get_weather").setGuardrails(List.of(guard(GuardrailStage.TOOL_INPUT))).build();
      }

      Transition send(AgentDefinition agent) {
        return TOOL.send(agent);
      }

      Transition answer(RunState s, Instant at) {
        return apply(s, new RunEvent.GuardrailAnswered(allow(callId, GuardrailStage.TOOL_INPUT, CITY)), at);
      }

      void assertProceeded(Transition t) {
        assertThat(t.effectsOf(Effect.SendToolCall.class)).singleElement()
            .satisfies(c -> assertThat(c.call().getArguments()).isEqualTo(CITY));
      }
    },
    TOOL_OUTPUT_CHECK("run-1:t1.1:out") {
      AgentDefinition agent() {
        return published("get_weather").setGuardrails(List.of(guard(GuardrailStage.TOOL_OUTPUT))).build();
      }

      Transition send(AgentDefinition agent) {
        RunState asked = apply(started(agent, T0.minusSeconds(2)),
            new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", CITY)), T0.minusSeconds(1)).state();
        return apply(asked, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t1.1", "get_weather", "sunny")), T0);
      }

      Transition answer(RunState s, Instant at) {
        return apply(s, new RunEvent.GuardrailAnswered(allow(callId, GuardrailStage.TOOL_OUTPUT, "sunny")), at);
      }
    };

    final String callId;

    Call(String callId) {
      this.callId = callId;
    }

    abstract AgentDefinition agent();

    /** The transition that sends the call's first attempt, at T0. */
    abstract Transition send(AgentDefinition agent);

    abstract Transition answer(RunState s, Instant at);

    /** The answer moved the run on: by default, to the next model call. */
    void assertProceeded(Transition t) {
      assertThat(t.effectsOf(Effect.SendModelCall.class)).singleElement()
          .satisfies(m -> assertThat(m.call().getCallId()).isEqualTo("run-1:m2"));
    }
  }

  /** What happened to one call while its worker was away. */
  record Outage(RunState state, List<Send> sends, List<CallTimedOut> timeouts) {
    Send live() {
      return sends.getLast();
    }
  }

  /**
   * Fires the call's timers, as the orchestrator would, until a send is still live when a worker that
   * was down comes back at {@code back}; workers skip commands whose deadline has passed (ToolWorker,
   * SandboxWorker, ModelInvoker), so only a live send can be answered.
   */
  static Outage workerAwayUntil(Call call, AgentDefinition agent, Instant back) {
    Transition first = call.send(agent);
    List<Send> sends = new ArrayList<>(sends(first, call.callId, T0));
    assertThat(sends).as("first send of %s", call).singleElement().satisfies(s -> assertThat(s.attempt()).isEqualTo(1));
    List<CallTimedOut> timeouts = new ArrayList<>();
    RunState s = first.state();
    while (true) {
      PendingCall p = pending(s, call.callId);
      if (!p.getBackingOff() && p.getDeadline().isAfter(back)) {
        return new Outage(s, sends, timeouts);
      }
      Instant fire = p.getDeadline();
      Transition t = apply(s, new RunEvent.DeadlinePassed(call.callId), fire);
      assertThat(t.state().getStatus()).as("%s at %s: %s", call, Duration.between(T0, fire), t.state().getError())
          .isEqualTo(RunStatus.RUNNING);
      sends.addAll(sends(t, call.callId, fire));
      timeouts.addAll(timeouts(t));
      s = t.state();
    }
  }

  @Nested
  class Defaults {
    @Test
    void areWhatTheArithmeticInTheDocsAssumes() {
      AgentDefinition agent = published().build();
      assertThat(agent.getRetry()).isNull();
      assertThat(agent.getModelTimeoutMs()).isEqualTo(120_000L);
      assertThat(agent.getToolTimeoutMs()).isEqualTo(60_000L);
      assertThat(agent.getGuardrailTimeoutMs()).isEqualTo(30_000L);
      for (CallKind kind : List.of(CallKind.MODEL, CallKind.TOOL, CallKind.SANDBOX, CallKind.GUARDRAIL)) {
        RetryPolicy p = Retries.policy(agent, kind);
        assertThat(List.of(p.getAttempts(), p.getBackoffMs(), p.getMaxBackoffMs(), p.getBudgetMs()))
            .as("%s", kind).containsExactly(10, 1_000L, 30_000L, 600_000L);
      }
    }

    @Test
    void backoffDoublesUpToItsCap() {
      RetryPolicy p = RetryPolicy.newBuilder().build();
      List<Long> waits = new ArrayList<>();
      for (int attempt = 1; attempt <= 9; attempt++) {
        waits.add(Retries.backoffAfter(p, attempt).toSeconds());
      }
      assertThat(waits).containsExactly(1L, 2L, 4L, 8L, 16L, 30L, 30L, 30L, 30L);
      assertThat(Retries.backoffAfter(p, 500)).isEqualTo(Duration.ofSeconds(30)); // no overflow
      assertThat(Retries.backoffAfter(RetryPolicy.newBuilder().setBackoffMs(0).build(), 3)).isZero();
    }

    @ParameterizedTest
    @EnumSource(Call.class)
    void aWorkerDownForTwoMinutesStillGetsALiveAttempt(Call call) {
      Instant back = T0.plus(Duration.ofSeconds(120));
      Outage outage = workerAwayUntil(call, call.agent(), back);

      Send live = outage.live();
      Instant answerAt = live.at().isAfter(back) ? live.at() : back;
      assertThat(answerAt).as("%s: attempt %d is live when the worker reads it", call, live.attempt()).isBefore(live.deadline());
      assertThat(outage.sends()).extracting(Send::attempt)
          .containsExactlyElementsOf(java.util.stream.IntStream.rangeClosed(1, live.attempt()).boxed().toList());
      assertThat(outage.sends()).extracting(Send::payload).containsOnly(outage.sends().get(0).payload());
      assertThat(outage.timeouts()).hasSize(live.attempt() - 1).allSatisfy(t -> {
        assertThat(t.getCallId()).isEqualTo(call.callId);
        assertThat(t.getWillRetry()).isTrue();
      });
      for (int i = 1; i < outage.sends().size(); i++) {
        Send before = outage.sends().get(i - 1);
        assertThat(Duration.between(before.deadline(), outage.sends().get(i).at())).as("%s: wait after attempt %d", call, i)
            .isEqualTo(Retries.backoffAfter(RetryPolicy.newBuilder().build(), i));
      }

      Transition answered = call.answer(outage.state(), answerAt);
      assertThat(answered.effectsOf(Effect.Publish.class)).noneSatisfy(p -> assertThat(p.event().getStep()).isInstanceOf(ResultIgnored.class));
      call.assertProceeded(answered);
      assertThat(answered.state().getPending()).noneSatisfy(p -> assertThat(p.getCallId()).isEqualTo(call.callId));
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 1_000, 10_000, 60_000, 300_000})
    void aToolOfAnyTimeoutSurvivesTwoMinutes(long toolTimeoutMs) {
      // The sum of the default backoffs (1+2+4+8+16+30*4 = 151 s) alone outlasts two minutes.
      AgentDefinition agent = published("get_weather").setToolTimeoutMs(toolTimeoutMs).build();
      Instant back = T0.plus(Duration.ofSeconds(120));
      Outage outage = workerAwayUntil(Call.TOOL, agent, back);
      Send live = outage.live();
      Instant answerAt = live.at().isAfter(back) ? live.at() : back;
      assertThat(answerAt).isBefore(live.deadline());
      Call.TOOL.assertProceeded(Call.TOOL.answer(outage.state(), answerAt));
    }

    @Test
    void theIncidentsToolCallNowSurvivesTheWorkerRestart() {
      // get_weather timed out after 10 s; its worker came back after 35-45 s; 3 attempts without a wait were spent by 30 s.
      AgentDefinition agent = published("get_weather").setToolTimeoutMs(10_000).build();
      Outage outage = workerAwayUntil(Call.TOOL, agent, T0.plusSeconds(45));
      assertThat(outage.sends()).extracting(s -> Duration.between(T0, s.at()).toSeconds()).containsExactly(0L, 11L, 23L, 37L);
    }
  }

  @Nested
  class WhenTheBudgetIsSpent {
    static Transition neverAnswered(AgentDefinition agent) {
      RunState s = Call.TOOL.send(agent).state();
      for (int guard = 0; guard < 1_000; guard++) {
        PendingCall p = pending(s, Call.TOOL.callId);
        Transition t = apply(s, new RunEvent.DeadlinePassed(p.getCallId()), p.getDeadline());
        if (t.state().getStatus() != RunStatus.RUNNING) {
          return t;
        }
        s = t.state();
      }
      throw new AssertionError("the call was retried forever");
    }

    @Test
    void theRunFailsWhenTheAttemptsAreUsedUp() {
      // sends at 0, 11, 23, 37, 55, 81, 121, 161, 201, 241 s; the tenth times out at 251 s
      Transition failed = neverAnswered(published("get_weather").setToolTimeoutMs(10_000).build());
      assertThat(failed.state().getStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(failed.state().getError()).isEqualTo("tool get_weather (call run-1:t1.1) got no answer after 10 attempt(s)"
          + " over 4m11s; retry budget (attempts 10, budget 10m) spent");
      assertThat(timeouts(failed)).singleElement().satisfies(t -> {
        assertThat(t.getAttempt()).isEqualTo(10);
        assertThat(t.getWillRetry()).isFalse();
        assertThat(t.getResendAt()).isNull();
      });
      assertThat(failed.effectsOf(Effect.Finish.class)).singleElement()
          .satisfies(f -> assertThat(f.result().getError()).isEqualTo(failed.state().getError()));
      assertThat(failed.state().getPending()).isEmpty();
    }

    @Test
    void theRunFailsWhenTheBudgetRunsOutFirstAndNoSendIsScheduledPastIt() {
      // 60 s attempts: sends at 0, 61, 123, 187, 255, 331, 421, 511 s; the ninth would be due at 601 s,
      // past the 10 m budget, so it goes out when the budget ends, and its timeout ends the run.
      AgentDefinition agent = published("get_weather").build();
      RunState s = Call.TOOL.send(agent).state();
      List<Long> sentAt = new ArrayList<>(List.of(0L));
      Transition t;
      do {
        PendingCall p = pending(s, Call.TOOL.callId);
        t = apply(s, new RunEvent.DeadlinePassed(p.getCallId()), p.getDeadline());
        if (!sends(t, Call.TOOL.callId, p.getDeadline()).isEmpty()) {
          sentAt.add(Duration.between(T0, p.getDeadline()).toSeconds());
        }
        s = t.state();
      } while (s.getStatus() == RunStatus.RUNNING);
      assertThat(sentAt).containsExactly(0L, 61L, 123L, 187L, 255L, 331L, 421L, 511L, 600L);
      assertThat(s.getError()).isEqualTo("tool get_weather (call run-1:t1.1) got no answer after 9 attempt(s) over 11m;"
          + " retry budget (attempts 10, budget 10m) spent");
    }

    @Test
    void eachKindHasItsOwnPolicy() {
      RetryPolicy three = RetryPolicy.newBuilder().setAttempts(3).setBudgetMs(3_600_000L).build();
      AgentDefinition agent = published("get_weather").setToolTimeoutMs(10_000)
          .setRetry(RetryPolicies.newBuilder().setTool(three).build()).build();
      Transition failed = neverAnswered(agent);
      assertThat(failed.state().getError()).isEqualTo("tool get_weather (call run-1:t1.1) got no answer after 3 attempt(s)"
          + " over 33s; retry budget (attempts 3, budget 1h) spent");
      assertThat(Retries.policy(agent, CallKind.MODEL).getAttempts()).isEqualTo(10);
    }

    @Test
    void aTimerThatFiresLateStillResendsOnce() {
      // The runner itself was away for 5 minutes, past a 1-minute budget: the attempt that was due
      // at 10 s is sent again rather than failing the run, since its answer may be waiting unread.
      RetryPolicy oneMinute = RetryPolicy.newBuilder().setBudgetMs(60_000L).build();
      AgentDefinition agent = published("get_weather").setToolTimeoutMs(10_000)
          .setRetry(RetryPolicies.newBuilder().setTool(oneMinute).build()).build();
      RunState s = Call.TOOL.send(agent).state();
      Instant late = T0.plus(Duration.ofMinutes(5));
      Transition resent = apply(s, new RunEvent.DeadlinePassed(Call.TOOL.callId), late);
      assertThat(sends(resent, Call.TOOL.callId, late)).singleElement().satisfies(x -> {
        assertThat(x.attempt()).isEqualTo(2);
        assertThat(x.deadline()).isEqualTo(late.plusSeconds(10));
      });
      Transition failed = apply(resent.state(), new RunEvent.DeadlinePassed(Call.TOOL.callId), late.plusSeconds(10));
      assertThat(failed.state().getStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(failed.state().getError()).contains("after 2 attempt(s) over 5m10s").contains("budget 1m) spent");
    }
  }

  @Nested
  class BackingOff {
    @Test
    void aTimedOutCallWaitsThenGoesOutAgainWithTheSameCallId() {
      AgentDefinition agent = published("get_weather").setToolTimeoutMs(10_000).build();
      RunState s = Call.TOOL.send(agent).state();
      Instant due = T0.plusSeconds(10);
      Transition timedOut = apply(s, new RunEvent.DeadlinePassed(Call.TOOL.callId), due);
      assertThat(sends(timedOut, Call.TOOL.callId, due)).isEmpty();
      assertThat(timeouts(timedOut)).singleElement().satisfies(t -> {
        assertThat(t.getKind()).isEqualTo(CallKind.TOOL);
        assertThat(t.getAttempt()).isEqualTo(1);
        assertThat(t.getWillRetry()).isTrue();
        assertThat(t.getResendAt()).isEqualTo(due.plusSeconds(1));
      });
      PendingCall waiting = pending(timedOut.state(), Call.TOOL.callId);
      assertThat(waiting.getBackingOff()).isTrue();
      assertThat(waiting.getDeadline()).isEqualTo(due.plusSeconds(1));
      assertThat(waiting.getFirstSentAt()).isEqualTo(T0);
      assertThat(timedOut.state().getStatus()).isEqualTo(RunStatus.RUNNING);

      assertThat(RunStateMachine.apply(timedOut.state(), new RunEvent.DeadlinePassed(Call.TOOL.callId), due.plusMillis(999)).changed())
          .isFalse();
      Instant resendAt = due.plusSeconds(1);
      Transition resent = apply(timedOut.state(), new RunEvent.DeadlinePassed(Call.TOOL.callId), resendAt);
      assertThat(sends(resent, Call.TOOL.callId, resendAt)).singleElement()
          .isEqualTo(new Send(2, resendAt, resendAt.plusSeconds(10), CITY));
      assertThat(resent.effectsOf(Effect.Publish.class)).singleElement()
          .satisfies(p -> assertThat(p.event().getStep()).isInstanceOfSatisfying(ToolCallRequested.class,
              r -> assertThat(r.getAttempt()).isEqualTo(2)));
      PendingCall again = pending(resent.state(), Call.TOOL.callId);
      assertThat(again.getBackingOff()).isFalse();
      assertThat(again.getFirstSentAt()).isEqualTo(T0);
    }

    @Test
    void anAnswerThatArrivesWhileBackingOffIsTaken() {
      AgentDefinition agent = published("get_weather").setToolTimeoutMs(10_000).build();
      RunState s = Call.TOOL.send(agent).state();
      RunState waiting = apply(s, new RunEvent.DeadlinePassed(Call.TOOL.callId), T0.plusSeconds(10)).state();
      assertThat(pending(waiting, Call.TOOL.callId).getBackingOff()).isTrue();

      Transition answered = Call.TOOL.answer(waiting, T0.plusMillis(10_500));
      Call.TOOL.assertProceeded(answered);
      assertThat(answered.effectsOf(Effect.SendToolCall.class)).isEmpty();
      // the resend timer that was due finds nothing to send
      assertThat(RunStateMachine.apply(answered.state(), new RunEvent.DeadlinePassed(Call.TOOL.callId), T0.plusSeconds(11)).changed())
          .isFalse();
    }

    @Test
    void aRetryableModelErrorBacksOffToo() {
      RunState s = Call.MODEL.send(published().build()).state();
      Instant at = T0.plusSeconds(2);
      Transition failed = apply(s, new RunEvent.ModelAnswered(Fixtures.modelError(RUN, "run-1:m1", true)), at);
      assertThat(failed.effectsOf(Effect.SendModelCall.class)).isEmpty();
      assertThat(failed.effectsOf(Effect.Publish.class)).singleElement().satisfies(p -> assertThat(p.event().getStep())
          .isInstanceOfSatisfying(ModelFailed.class, f -> assertThat(f.getResendAt()).isEqualTo(at.plusSeconds(1))));
      assertThat(pending(failed.state(), "run-1:m1").getBackingOff()).isTrue();

      // a late error of the same call while it waits changes nothing about the wait
      Transition again = apply(failed.state(), new RunEvent.ModelAnswered(Fixtures.modelError(RUN, "run-1:m1", true)), at.plusMillis(500));
      assertThat(pending(again.state(), "run-1:m1")).isEqualTo(pending(failed.state(), "run-1:m1"));

      Transition resent = apply(again.state(), new RunEvent.DeadlinePassed("run-1:m1"), at.plusSeconds(1));
      assertThat(resent.effectsOf(Effect.SendModelCall.class)).singleElement()
          .satisfies(m -> assertThat(m.call().getAttempt()).isEqualTo(2));
      assertThat(resent.effectsOf(Effect.Publish.class)).singleElement()
          .satisfies(p -> assertThat(p.event().getStep()).isInstanceOf(ModelCallRequested.class));
    }

    @Test
    void anOutputCheckSentBeforeV3CannotBeResentAndFailsClosedSayingWhy() {
      RunState v3 = Call.OUTPUT_CHECK.send(Call.OUTPUT_CHECK.agent()).state();
      List<PendingCall> noContent = v3.getPending().stream()
          .map(p -> PendingCall.newBuilder(p).setContent(null).setFirstSentAt(null).build()).toList();
      RunState v2 = RunState.newBuilder(v3).setSchemaVersion(2).setPending(noContent).build();
      Transition t = apply(v2, new RunEvent.DeadlinePassed(Call.OUTPUT_CHECK.callId), T0.plusSeconds(30));
      assertThat(timeouts(t)).singleElement().satisfies(x -> assertThat(x.getWillRetry()).isFalse());
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(t.state().getError()).isEqualTo("OUTPUT guardrail check run-1:m1:out got no answer after 1 attempt(s) over 30s;"
          + " its content was not kept (the check was sent before RunState v3), so it cannot be re-sent; failing closed");
    }

    @Test
    void aGuardrailCheckOfEveryStageCarriesItsContentAgain() {
      for (Call call : List.of(Call.INPUT_CHECK, Call.OUTPUT_CHECK, Call.TOOL_INPUT_CHECK, Call.TOOL_OUTPUT_CHECK)) {
        Transition first = call.send(call.agent());
        String content = sends(first, call.callId, T0).get(0).payload();
        RunState s = apply(first.state(), new RunEvent.DeadlinePassed(call.callId), T0.plusSeconds(30)).state();
        Transition resent = apply(s, new RunEvent.DeadlinePassed(call.callId), T0.plusSeconds(31));
        assertThat(sends(resent, call.callId, T0.plusSeconds(31))).as("%s", call).singleElement().satisfies(x -> {
          assertThat(x.attempt()).isEqualTo(2);
          assertThat(x.payload()).isEqualTo(content);
        });
      }
    }
  }
}
