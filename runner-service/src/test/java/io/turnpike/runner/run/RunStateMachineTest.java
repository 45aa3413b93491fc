package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.CallKind;
import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStarted;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.avro.TurnEvent;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunStateMachineTest {
  private static final String RUN = "run-1";

  private static Transition start(int maxTurns, String... tools) {
    return RunStateMachine.apply(null,
        new RunEvent.Started(Fixtures.request(RUN, "Weather in Oslo?"), Fixtures.agent(maxTurns, tools), "trace-1"), T0);
  }

  private static List<Object> steps(Transition t) {
    return t.effectsOf(Effect.Publish.class).stream().map(p -> p.event().getStep()).toList();
  }

  private static List<ModelCall> modelCalls(Transition t) {
    return t.effectsOf(Effect.SendModelCall.class).stream().map(Effect.SendModelCall::call).toList();
  }

  private static List<ToolCall> toolCalls(Transition t) {
    return t.effectsOf(Effect.SendToolCall.class).stream().map(Effect.SendToolCall::call).toList();
  }

  private static Transition on(RunState s, RunEvent e) {
    return RunStateMachine.apply(s, e, T0.plusSeconds(1));
  }

  @Test
  void startPinsTheAgentAndAsksTheModel() {
    Transition t = start(5, "get_weather");
    RunState s = t.state();
    assertThat(s.getStatus()).isEqualTo(RunStatus.RUNNING);
    assertThat(s.getAgent().getVersion()).isEqualTo(3);
    assertThat(s.getTurn()).isEqualTo(1);
    assertThat(s.getTraceId()).isEqualTo("trace-1");
    assertThat(s.getPending()).singleElement().satisfies(p -> {
      assertThat(p.getCallId()).isEqualTo("run-1:m1");
      assertThat(p.getKind()).isEqualTo(CallKind.MODEL);
      assertThat(p.getDeadline()).isEqualTo(T0.plusSeconds(30));
    });
    assertThat(steps(t)).hasExactlyElementsOfTypes(RunStarted.class, ModelCallRequested.class);
    ModelCall call = modelCalls(t).get(0);
    assertThat(call.getCallId()).isEqualTo("run-1:m1");
    assertThat(call.getInstructions()).isEqualTo("Be brief.");
    assertThat(call.getInput()).hasSize(1);
    assertThat(call.getTools()).extracting(tl -> tl.getName()).containsExactly("get_weather");
    assertThat(t.effectsOf(Effect.Publish.class)).extracting(p -> p.event().getSeq()).containsExactly(1L, 2L);
    assertThat(s.getVersion()).isEqualTo(2L);
  }

  @Test
  void textAnswerCompletesTheRun() {
    RunState s = start(5).state();
    Transition t = on(s, new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "Sunny, 21C.")));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(t.state().getFinalOutput()).isEqualTo("Sunny, 21C.");
    assertThat(t.state().getPending()).isEmpty();
    assertThat(t.state().getUsage().getTotalTokens()).isEqualTo(15L);
    assertThat(steps(t)).hasExactlyElementsOfTypes(ModelResponded.class, RunFinished.class);
    RunResult result = t.effectsOf(Effect.Finish.class).get(0).result();
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Sunny, 21C.");
    assertThat(result.getTurns()).isEqualTo(1);
    assertThat(result.getAgentVersion()).isEqualTo(3);
  }

  @Test
  void toolCallsWaitForEveryResultThenFeedThemBack() {
    RunState s = start(5, "get_weather", "get_time").state();
    Transition t = on(s, new RunEvent.ModelAnswered(
        Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"Oslo\"}", "get_time", "{\"city\":\"Oslo\"}")));
    s = t.state();
    assertThat(toolCalls(t)).extracting(ToolCall::getCallId).containsExactly("run-1:t1.1", "run-1:t1.2");
    assertThat(toolCalls(t).get(0).getArguments()).isEqualTo("{\"city\":\"Oslo\"}");
    assertThat(s.getPending()).extracting(p -> p.getKind()).containsExactly(CallKind.TOOL, CallKind.TOOL);
    assertThat(modelCalls(t)).isEmpty();

    Transition first = on(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t1.2", "get_time", "14:00")));
    assertThat(modelCalls(first)).isEmpty();
    assertThat(first.state().getPending()).hasSize(1);

    Transition second = on(first.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t1.1", "get_weather", "sunny")));
    assertThat(steps(second)).hasExactlyElementsOfTypes(ToolCallCompleted.class, ModelCallRequested.class);
    ModelCall next = modelCalls(second).get(0);
    assertThat(next.getCallId()).isEqualTo("run-1:m2");
    // user message, two function calls, two outputs: in the order of the calls, not of their arrival
    assertThat(next.getInput()).hasSize(5);
    assertThat(next.getInput().subList(3, 5)).extracting(o -> ((FunctionCallOutputItem) o).getToolCallId())
        .containsExactly("fc_run-1:m1_0", "fc_run-1:m1_2");
    assertThat(next.getInput().get(4)).isInstanceOfSatisfying(FunctionCallOutputItem.class,
        o -> assertThat(o.getOutput()).isEqualTo("14:00"));
    assertThat(second.state().getTurn()).isEqualTo(2);
  }

  @Test
  void duplicateAndLateResultsAreIgnored() {
    RunState s = start(5).state();
    RunState done = on(s, new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "ok"))).state();
    Transition dup = on(done, new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "other")));
    assertThat(dup.state().getFinalOutput()).isEqualTo("ok");
    assertThat(dup.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(steps(dup)).singleElement().isInstanceOf(ResultIgnored.class);
    assertThat(dup.effectsOf(Effect.Finish.class)).isEmpty();

    Transition stray = on(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t9.9", "x", "y")));
    assertThat(steps(stray)).singleElement().isInstanceOfSatisfying(ResultIgnored.class,
        r -> assertThat(r.getReason()).contains("not pending"));
    assertThat(stray.state().getPending()).isEqualTo(s.getPending());
    assertThat(modelCalls(stray)).isEmpty();
  }

  /**
   * The invoker may answer a send from a transaction that was then aborted (it reads before the commit):
   * only the answer to the send the run committed to, by sentSeq, is taken.
   */
  @Test
  void onlyTheAnswerToTheCommittedSendIsTaken() {
    Transition t = start(5);
    RunState s = t.state();
    ModelCall call = modelCalls(t).get(0);
    assertThat(call.getSentSeq()).isEqualTo(2L).isEqualTo(s.getPending().get(0).getSentSeq());

    ModelResult stale = Fixtures.text(RUN, "run-1:m1", "answer to an aborted send");
    stale.setSentSeq(7L);
    Transition ignored = on(s, new RunEvent.ModelAnswered(stale));
    assertThat(steps(ignored)).singleElement().isInstanceOfSatisfying(ResultIgnored.class,
        r -> assertThat(r.getReason()).contains("not committed").contains("sentSeq 7").contains("is 2"));
    assertThat(ignored.state().getStatus()).isEqualTo(RunStatus.RUNNING);
    assertThat(ignored.state().getPending()).isEqualTo(s.getPending());

    ModelResult committed = Fixtures.text(RUN, "run-1:m1", "the answer");
    committed.setSentSeq(call.getSentSeq());
    Transition taken = on(ignored.state(), new RunEvent.ModelAnswered(committed));
    assertThat(taken.state().getFinalOutput()).isEqualTo("the answer");

    // an invoker that does not copy sentSeq (0) is still answered
    Transition old = on(s, new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "from an older invoker")));
    assertThat(old.state().getFinalOutput()).isEqualTo("from an older invoker");
  }

  @Test
  void aRetryAsksWithTheSentSeqOfTheFirstAttempt() {
    RunState s = start(5).state();
    long first = s.getPending().get(0).getSentSeq();
    Transition retry = on(s, new RunEvent.ModelAnswered(Fixtures.modelError(RUN, "run-1:m1", true)));
    Transition resent = RunStateMachine.apply(retry.state(), new RunEvent.DeadlinePassed("run-1:m1"), T0.plusSeconds(120));
    List<ModelCall> calls = new java.util.ArrayList<>(modelCalls(retry));
    calls.addAll(modelCalls(resent));
    assertThat(calls).singleElement().satisfies(c -> {
      assertThat(c.getAttempt()).isEqualTo(2);
      assertThat(c.getSentSeq()).isEqualTo(first);
    });
  }

  @Test
  void aModelAnswerIsNotTakenAsAToolAnswer() {
    RunState s = start(5).state();
    Transition t = on(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:m1", "x", "y")));
    assertThat(steps(t)).singleElement().isInstanceOf(ResultIgnored.class);
    assertThat(t.state().getPending()).hasSize(1);
  }

  @Test
  void retryableModelErrorIsRetriedWithTheSameCallIdThenFails() {
    RunState s = start(5).state();
    Transition retry = on(s, new RunEvent.ModelAnswered(Fixtures.modelError(RUN, "run-1:m1", true)));
    assertThat(steps(retry)).hasExactlyElementsOfTypes(ModelFailed.class, ModelCallRequested.class);
    assertThat(modelCalls(retry)).singleElement().satisfies(c -> {
      assertThat(c.getCallId()).isEqualTo("run-1:m1");
      assertThat(c.getAttempt()).isEqualTo(2);
    });
    Transition fail = on(retry.state(), new RunEvent.ModelAnswered(Fixtures.modelError(RUN, "run-1:m1", true)));
    assertThat(fail.state().getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(fail.state().getError()).isEqualTo("model call run-1:m1 failed after 2 attempt(s) over 1s: model_http_503: boom;"
        + " retry budget (attempts 2, budget 10m) spent");
  }

  @Test
  void nonRetryableModelErrorFailsAtOnce() {
    RunState s = start(5).state();
    Transition t = on(s, new RunEvent.ModelAnswered(Fixtures.modelError(RUN, "run-1:m1", false)));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(t.effectsOf(Effect.Finish.class)).singleElement()
        .satisfies(f -> assertThat(f.result().getError()).contains("model_http_400"));
  }

  @Test
  void deadlineResendsThenFailsTheRun() {
    RunState s = start(5).state();
    Instant early = T0.plusSeconds(29);
    assertThat(RunStateMachine.apply(s, new RunEvent.DeadlinePassed("run-1:m1"), early).changed()).isFalse();

    Instant late = T0.plusSeconds(31);
    Transition retry = RunStateMachine.apply(s, new RunEvent.DeadlinePassed("run-1:m1"), late);
    assertThat(steps(retry)).hasExactlyElementsOfTypes(CallTimedOut.class, ModelCallRequested.class);
    assertThat(steps(retry).get(0)).isInstanceOfSatisfying(CallTimedOut.class, c -> {
      assertThat(c.getWillRetry()).isTrue();
      assertThat(c.getResendAt()).isEqualTo(late); // no backoff in this agent's policy
    });
    assertThat(retry.state().getPending().get(0).getDeadline()).isEqualTo(late.plus(Duration.ofSeconds(30)));
    assertThat(modelCalls(retry)).singleElement().satisfies(c -> assertThat(c.getAttempt()).isEqualTo(2));

    Transition fail = RunStateMachine.apply(retry.state(), new RunEvent.DeadlinePassed("run-1:m1"), late.plusSeconds(31));
    assertThat(fail.state().getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(steps(fail).get(0)).isInstanceOfSatisfying(CallTimedOut.class, c -> {
      assertThat(c.getWillRetry()).isFalse();
      assertThat(c.getResendAt()).isNull();
    });
    assertThat(fail.state().getError())
        .isEqualTo("model call run-1:m1 got no answer after 2 attempt(s) over 1m2s; retry budget (attempts 2, budget 10m) spent");
    assertThat(fail.state().getPending()).isEmpty();
  }

  @Test
  void toolDeadlineResendsTheSameArguments() {
    RunState s = on(start(5, "get_weather").state(), new RunEvent.ModelAnswered(
        Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"Rome\"}"))).state();
    Transition t = RunStateMachine.apply(s, new RunEvent.DeadlinePassed("run-1:t1.1"), T0.plusSeconds(12));
    assertThat(toolCalls(t)).singleElement().satisfies(c -> {
      assertThat(c.getArguments()).isEqualTo("{\"city\":\"Rome\"}");
      assertThat(c.getAttempt()).isEqualTo(2);
      assertThat(c.getCallId()).isEqualTo("run-1:t1.1");
    });
    Transition fail = RunStateMachine.apply(t.state(), new RunEvent.DeadlinePassed("run-1:t1.1"), T0.plusSeconds(40));
    assertThat(fail.state().getError()).contains("tool get_weather").contains("2 attempt(s)");
  }

  @Test
  void maxTurnsFailsTheRunWithAClearReason() {
    RunState s = start(2, "get_weather").state();
    s = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{}"))).state();
    s = on(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t1.1", "get_weather", "rain"))).state();
    assertThat(s.getTurn()).isEqualTo(2);
    s = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m2", "get_weather", "{}"))).state();
    Transition t = on(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t2.1", "get_weather", "rain")));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(t.state().getError()).contains("max turns exceeded").contains("maxTurns=2");
    assertThat(modelCalls(t)).isEmpty();
  }

  @Test
  void unknownToolIsAnErrorTheModelSees() {
    RunState s = start(5, "get_weather").state();
    Transition t = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "launch_rockets", "{}")));
    assertThat(toolCalls(t)).isEmpty();
    assertThat(modelCalls(t)).singleElement().satisfies(c -> assertThat(c.getInput().get(2))
        .isInstanceOfSatisfying(FunctionCallOutputItem.class, o -> {
          assertThat(o.getIsError()).isTrue();
          assertThat(o.getOutput()).contains("unknown tool 'launch_rockets'").contains("get_weather");
        }));
  }

  @Test
  void emptyModelOutputFailsTheRun() {
    RunState s = start(5).state();
    Transition t = on(s, new RunEvent.ModelAnswered(io.turnpike.avro.ModelResult.newBuilder(Fixtures.text(RUN, "run-1:m1", "x")).setOutput(List.of()).build()));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.FAILED);
  }

  @Test
  void cancelEndsTheRunAndLateAnswersAreIgnored() {
    RunState s = start(5).state();
    Transition t = on(s, new RunEvent.CommandReceived(Fixtures.command(RUN, RunCommandType.CANCEL)));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.CANCELLED);
    assertThat(t.state().getPending()).isEmpty();
    assertThat(t.effectsOf(Effect.Finish.class)).singleElement()
        .satisfies(f -> assertThat(f.result().getStatus()).isEqualTo(RunStatus.CANCELLED));
    Transition late = on(t.state(), new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "too late")));
    assertThat(late.state().getStatus()).isEqualTo(RunStatus.CANCELLED);
    assertThat(steps(late)).singleElement().isInstanceOfSatisfying(ResultIgnored.class,
        r -> assertThat(r.getReason()).isEqualTo("run already CANCELLED"));
    assertThat(on(t.state(), new RunEvent.CommandReceived(Fixtures.command(RUN, RunCommandType.CANCEL))).changed()).isFalse();
  }

  @Test
  void anAbandonedRunFailsWithTheReasonOnceAndLateAnswersAreIgnored() {
    RunState s = start(5).state();
    Transition t = on(s, new RunEvent.Abandoned("stopped by the orchestrator: too large"));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(t.state().getPending()).isEmpty();
    assertThat(t.effectsOf(Effect.Finish.class)).singleElement()
        .satisfies(f -> assertThat(f.result().getError()).isEqualTo("stopped by the orchestrator: too large"));
    assertThat(on(t.state(), new RunEvent.Abandoned("again")).changed()).isFalse();
    Transition late = on(t.state(), new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "too late")));
    assertThat(late.state().getStatus()).isEqualTo(RunStatus.FAILED);
  }

  @Test
  void unsupportedCommandsAreRejectedAsValues() {
    RunState s = start(5).state();
    Transition t = on(s, new RunEvent.CommandReceived(Fixtures.command(RUN, RunCommandType.APPROVE)));
    assertThat(t.isRejected()).isTrue();
    assertThat(t.rejection()).contains("APPROVE");
  }

  @Test
  void repeatedRequestIsIdempotentButReuseIsRejected() {
    RunState s = start(5).state();
    Transition same = on(s, new RunEvent.Started(Fixtures.request(RUN, "Weather in Oslo?"), Fixtures.agent(5), null));
    assertThat(same.changed()).isFalse();
    assertThat(same.isRejected()).isFalse();
    Transition other = on(s, new RunEvent.Started(Fixtures.request(RUN, "Something else"), Fixtures.agent(5), null));
    assertThat(other.rejection()).contains("already exists");
  }

  @Test
  void eventsForUnknownRunsAreRejected() {
    Transition t = RunStateMachine.apply(null, new RunEvent.ModelAnswered(Fixtures.text("nope", "nope:m1", "x")), T0);
    assertThat(t.isRejected()).isTrue();
  }

  @Test
  void turnEventsAreNumberedWithTheStateVersion() {
    Transition t1 = start(5, "get_weather");
    Transition t2 = on(t1.state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{}")));
    List<TurnEvent> events = t2.effectsOf(Effect.Publish.class).stream().map(Effect.Publish::event).toList();
    assertThat(events).extracting(TurnEvent::getSeq).containsExactly(3L, 4L);
    assertThat(events.get(1).getStep()).isInstanceOf(ToolCallRequested.class);
    assertThat(t2.state().getVersion()).isEqualTo(4L);
    // the input state is not mutated
    assertThat(t1.state().getVersion()).isEqualTo(2L);
    assertThat(t1.state().getItems()).hasSize(1);
  }
}
