package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.ChildRunFinished;
import io.turnpike.avro.ChildRunStarted;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.ParentRun;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolPhase;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.ToolSpec;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Agents as tools, as transitions of the pure state machine: the parent's side and the child's. */
class AgentToolsTest {
  static final String RUN = "run-1";
  static final String CALL = "run-1:t1.1";
  static final String CHILD = "run-1:t1.1/specialist";
  static final String ARGS = "{\"input\":\"Weather in Oslo tomorrow?\"}";

  static ToolSpec agentTool(String name, String agent) {
    return ToolSpec.newBuilder().setName(name).setKind(ToolKind.AGENT).setAgent(agent)
        .setParametersJson("{\"type\":\"object\",\"properties\":{\"input\":{\"type\":\"string\"}},\"required\":[\"input\"]}")
        .build();
  }

  static AgentDefinition boss(ToolSpec... tools) {
    return AgentDefinition.newBuilder(Fixtures.agent(5)).setName("boss").setTools(List.of(tools)).build();
  }

  static AgentDefinition specialist() {
    return AgentDefinition.newBuilder(Fixtures.agent(5)).setName("specialist").build();
  }

  static Transition on(RunState s, RunEvent e) {
    return RunStateMachine.apply(s, e, T0.plusSeconds(1));
  }

  static List<Object> steps(Transition t) {
    return t.effectsOf(Effect.Publish.class).stream().map(p -> p.event().getStep()).toList();
  }

  static RunState parentWaiting(AgentDefinition boss) {
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(
        RunRequest.newBuilder(Fixtures.request(RUN, "Plan my trip")).setAgent("boss").build(), boss, "trace-p"), T0).state();
    return on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "ask_specialist", ARGS))).state();
  }

  static ToolResult childOutcome(RunStatus status, String output) {
    return ToolResult.newBuilder().setRunId(RUN).setCallId(CALL).setName("ask_specialist").setOutput(output)
        .setIsError(status != RunStatus.COMPLETED).setChildRunId(CHILD).setChildStatus(status).build();
  }

  @Test
  void aCallOfAnAgentToolStartsAChildRunWithAnIdDerivedFromTheCall() {
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(
        RunRequest.newBuilder(Fixtures.request(RUN, "Plan my trip")).setAgent("boss").setMetadata(Map.of("ticket", "T-1"))
            .setUser("ada").build(),
        boss(agentTool("ask_specialist", "specialist")), "trace-p"), T0).state();
    Transition t = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "ask_specialist", ARGS)));

    assertThat(t.effectsOf(Effect.SendToolCall.class)).as("no tool worker is asked").isEmpty();
    RunRequest child = t.effectsOf(Effect.StartChildRun.class).get(0).request();
    assertThat(t.effectsOf(Effect.StartChildRun.class)).hasSize(1);
    assertThat(child.getRunId()).isEqualTo(CHILD);
    assertThat(child.getAgent()).isEqualTo("specialist");
    assertThat(child.getAgentVersion()).isNull();
    assertThat(child.getInput()).isEqualTo("Weather in Oslo tomorrow?");
    assertThat(child.getMetadata()).containsEntry("ticket", "T-1");
    assertThat(child.getUser()).as("the same person's run").isEqualTo("ada");
    assertThat(child.getParent()).isEqualTo(new ParentRun(RUN, CALL, "ask_specialist", RUN, 1, List.of("boss"), "trace-p"));

    RunState after = t.state();
    assertThat(after.getStatus()).isEqualTo(RunStatus.RUNNING);
    assertThat(after.getPending()).as("no deadline unless the tool has a timeout").isEmpty();
    assertThat(after.getToolCalls()).singleElement().satisfies(c -> {
      assertThat(c.getKind()).isEqualTo(ToolKind.AGENT);
      assertThat(c.getPhase()).isEqualTo(ToolPhase.RUNNING);
    });
    assertThat(after.getChildren()).singleElement().satisfies(c -> {
      assertThat(c.getRunId()).isEqualTo(CHILD);
      assertThat(c.getCallId()).isEqualTo(CALL);
      assertThat(c.getAgent()).isEqualTo("specialist");
      assertThat(c.getStatus()).isEqualTo(RunStatus.RUNNING);
    });
    assertThat(steps(t)).last().isInstanceOfSatisfying(ChildRunStarted.class, e -> {
      assertThat(e.getCallId()).isEqualTo(CALL);
      assertThat(e.getChildRunId()).isEqualTo(CHILD);
      assertThat(e.getAgent()).isEqualTo("specialist");
    });
  }

  @Test
  void theChildRunKeepsItsParentAndAnswersItWhenItCompletes() {
    RunRequest req = RunRequest.newBuilder().setRunId(CHILD).setAgent("specialist").setInput("Weather in Oslo tomorrow?")
        .setRequestedAt(T0).setParent(new ParentRun(RUN, CALL, "ask_specialist", RUN, 1, List.of("boss"), "trace-p")).build();
    RunState child = RunStateMachine.apply(null, new RunEvent.Started(req, specialist(), "trace-c"), T0).state();
    assertThat(child.getParent().getRunId()).isEqualTo(RUN);

    Transition done = on(child, new RunEvent.ModelAnswered(Fixtures.text(CHILD, CHILD + ":m1", "Sunny, 21C.")));
    assertThat(done.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(done.effectsOf(Effect.AnswerParent.class)).singleElement().satisfies(a -> {
      ToolResult r = a.result();
      assertThat(r.getRunId()).isEqualTo(RUN);
      assertThat(r.getCallId()).isEqualTo(CALL);
      assertThat(r.getName()).isEqualTo("ask_specialist");
      assertThat(r.getOutput()).isEqualTo("Sunny, 21C.");
      assertThat(r.getIsError()).isFalse();
      assertThat(r.getChildRunId()).isEqualTo(CHILD);
      assertThat(r.getChildStatus()).isEqualTo(RunStatus.COMPLETED);
    });
    assertThat(done.effectsOf(Effect.Finish.class)).as("the child has its own result").hasSize(1);

    Transition failed = on(child, new RunEvent.ModelAnswered(Fixtures.modelError(CHILD, CHILD + ":m1", false)));
    assertThat(failed.effectsOf(Effect.AnswerParent.class)).singleElement().satisfies(a -> {
      assertThat(a.result().getIsError()).isTrue();
      assertThat(a.result().getChildStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(a.result().getOutput()).startsWith("error: agent 'specialist' (run " + CHILD + ") ended FAILED: model call")
          .contains("model_http_400");
    });
  }

  @Test
  void aChildWithAnOutputTypeAnswersWithItsJson() {
    AgentDefinition typed = AgentDefinition.newBuilder(specialist())
        .setOutputType(new OutputType("forecast", "{\"type\":\"object\"}", true, "abc")).build();
    RunRequest req = RunRequest.newBuilder().setRunId(CHILD).setAgent("specialist").setInput("x").setRequestedAt(T0)
        .setParent(new ParentRun(RUN, CALL, "ask_specialist", RUN, 1, List.of("boss"), null)).build();
    RunState child = RunStateMachine.apply(null, new RunEvent.Started(req, typed, "t"), T0).state();
    Transition done = on(child, new RunEvent.ModelAnswered(Fixtures.text(CHILD, CHILD + ":m1", "{\"sky\":\"clear\"}")));
    assertThat(done.effectsOf(Effect.AnswerParent.class).get(0).result().getOutput()).isEqualTo("{\"sky\":\"clear\"}");
  }

  @Test
  void theChildsOutcomeIsTheToolsOutputAndTheParentGoesOn() {
    RunState waiting = parentWaiting(boss(agentTool("ask_specialist", "specialist")));
    Transition t = on(waiting, new RunEvent.ChildAnswered(childOutcome(RunStatus.COMPLETED, "Sunny, 21C.")));

    assertThat(steps(t)).hasExactlyElementsOfTypes(ChildRunFinished.class, ToolCallCompleted.class, ModelCallRequested.class);
    assertThat(t.state().getChildren()).singleElement().satisfies(c -> {
      assertThat(c.getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(c.getFinishedAt()).isEqualTo(T0.plusSeconds(1));
    });
    ModelCall next = t.effectsOf(Effect.SendModelCall.class).get(0).call();
    assertThat(next.getInput().get(next.getInput().size() - 1)).isInstanceOfSatisfying(FunctionCallOutputItem.class, o -> {
      assertThat(o.getName()).isEqualTo("ask_specialist");
      assertThat(o.getOutput()).isEqualTo("Sunny, 21C.");
      assertThat(o.getIsError()).isFalse();
    });

    // the same outcome again (a child continued by a message, a redelivery) changes nothing
    Transition again = on(t.state(), new RunEvent.ChildAnswered(childOutcome(RunStatus.COMPLETED, "Rain.")));
    assertThat(steps(again)).singleElement().isInstanceOf(ResultIgnored.class);
    assertThat(again.effectsOf(Effect.SendModelCall.class)).isEmpty();
  }

  @Test
  void aFailedChildIsAnErrorOutputTheModelSees() {
    RunState waiting = parentWaiting(boss(agentTool("ask_specialist", "specialist")));
    String why = "error: agent 'specialist' (run " + CHILD + ") ended FAILED: max turns exceeded";
    Transition t = on(waiting, new RunEvent.ChildAnswered(childOutcome(RunStatus.FAILED, why)));
    assertThat(steps(t).get(0)).isInstanceOfSatisfying(ChildRunFinished.class, f -> {
      assertThat(f.getStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(f.getError()).isEqualTo(why);
    });
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.RUNNING);
    assertThat(t.state().getItems()).filteredOn(FunctionCallOutputItem.class::isInstance).singleElement()
        .isInstanceOfSatisfying(FunctionCallOutputItem.class, o -> {
          assertThat(o.getIsError()).isTrue();
          assertThat(o.getOutput()).isEqualTo(why);
        });
  }

  @Test
  void anAnswerNamingAnotherChildOrAnAnswerOfAWorkerIsIgnored() {
    RunState waiting = parentWaiting(boss(agentTool("ask_specialist", "specialist")));
    ToolResult forged = ToolResult.newBuilder(childOutcome(RunStatus.COMPLETED, "x")).setChildRunId("other").build();
    assertThat(steps(on(waiting, new RunEvent.ChildAnswered(forged)))).singleElement().isInstanceOf(ResultIgnored.class);
    // a tool worker's answer with the call's id is not the child's outcome
    assertThat(steps(on(waiting, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, CALL, "ask_specialist", "y")))))
        .singleElement().isInstanceOf(ResultIgnored.class);
  }

  @Test
  void cancellingTheParentCancelsItsRunningChildren() {
    RunState waiting = parentWaiting(boss(agentTool("ask_specialist", "specialist")));
    Transition t = on(waiting, new RunEvent.CommandReceived(Fixtures.command(RUN, RunCommandType.CANCEL)));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.CANCELLED);
    RunCommand cancel = t.effectsOf(Effect.CancelChildRun.class).get(0).command();
    assertThat(t.effectsOf(Effect.CancelChildRun.class)).hasSize(1);
    assertThat(cancel.getRunId()).isEqualTo(CHILD);
    assertThat(cancel.getType()).isEqualTo(RunCommandType.CANCEL);
    assertThat(cancel.getMessage()).isEqualTo("parent run run-1 ended CANCELLED: cancelled by command cmd-1");
    assertThat(t.state().getChildren()).singleElement().satisfies(c -> assertThat(c.getStatus()).isEqualTo(RunStatus.CANCELLED));
    assertThat(t.effectsOf(Effect.AnswerParent.class)).as("a top-level run answers no one").isEmpty();

    // the cancelled child's outcome then arrives: ignored
    Transition late = on(t.state(), new RunEvent.ChildAnswered(childOutcome(RunStatus.CANCELLED, "error: cancelled")));
    assertThat(steps(late)).singleElement().isInstanceOf(ResultIgnored.class);
  }

  @Test
  void aChildThatIsCancelledAnswersItsParentWithAnError() {
    RunRequest req = RunRequest.newBuilder().setRunId(CHILD).setAgent("specialist").setInput("x").setRequestedAt(T0)
        .setParent(new ParentRun(RUN, CALL, "ask_specialist", RUN, 1, List.of("boss"), null)).build();
    RunState child = RunStateMachine.apply(null, new RunEvent.Started(req, specialist(), "t"), T0).state();
    RunCommand cancel = RunCommand.newBuilder(Fixtures.command(CHILD, RunCommandType.CANCEL)).setMessage("not needed").build();
    Transition t = on(child, new RunEvent.CommandReceived(cancel));
    assertThat(t.effectsOf(Effect.AnswerParent.class)).singleElement().satisfies(a -> {
      assertThat(a.result().getChildStatus()).isEqualTo(RunStatus.CANCELLED);
      assertThat(a.result().getOutput()).isEqualTo("error: agent 'specialist' (run " + CHILD + ") ended CANCELLED: not needed");
    });
  }

  @Test
  void anAgentAlreadyRunningAboveTheCallIsACycle() {
    // a child of "boss" whose agent "specialist" calls boss as a tool
    AgentDefinition calling = AgentDefinition.newBuilder(specialist()).setTools(List.of(agentTool("ask_boss", "boss"))).build();
    RunRequest req = RunRequest.newBuilder().setRunId(CHILD).setAgent("specialist").setInput("x").setRequestedAt(T0)
        .setParent(new ParentRun(RUN, CALL, "ask_specialist", RUN, 1, List.of("boss"), null)).build();
    RunState child = RunStateMachine.apply(null, new RunEvent.Started(req, calling, "t"), T0).state();
    Transition t = on(child, new RunEvent.ModelAnswered(Fixtures.toolCalls(CHILD, CHILD + ":m1", "ask_boss", "{\"input\":\"hi\"}")));
    assertThat(t.effectsOf(Effect.StartChildRun.class)).isEmpty();
    assertThat(steps(t)).filteredOn(ToolCallCompleted.class::isInstance).singleElement()
        .isInstanceOfSatisfying(ToolCallCompleted.class, c -> {
          assertThat(c.getIsError()).isTrue();
          assertThat(c.getOutput()).isEqualTo("error: cannot call agent 'boss' as a tool: it is already running above this call"
              + " (boss -> specialist -> boss); agent tools must not form a cycle");
        });
    assertThat(t.state().getChildren()).isEmpty();
  }

  @Test
  void runsNestAtMostFiveDeep() {
    AgentDefinition deep = AgentDefinition.newBuilder(specialist()).setName("a5")
        .setTools(List.of(agentTool("ask_specialist", "specialist"))).build();
    RunRequest req = RunRequest.newBuilder().setRunId("deep").setAgent("a5").setInput("x").setRequestedAt(T0)
        .setParent(new ParentRun("up", "up:t1.1", "t", "root", 5, List.of("a0", "a1", "a2", "a3", "a4"), null)).build();
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(req, deep, "t"), T0).state();
    Transition t = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls("deep", "deep:m1", "ask_specialist", ARGS)));
    assertThat(t.effectsOf(Effect.StartChildRun.class)).isEmpty();
    assertThat(steps(t)).filteredOn(ToolCallCompleted.class::isInstance).singleElement()
        .isInstanceOfSatisfying(ToolCallCompleted.class, c -> assertThat(c.getOutput()).isEqualTo(
            "error: cannot call agent 'specialist' as a tool: runs nest at most 5 deep, and this run is at depth 5"
                + " (a0 -> a1 -> a2 -> a3 -> a4 -> a5)"));

    // one level up it may
    RunRequest shallower = RunRequest.newBuilder(req).setRunId("d4").setParent(
        new ParentRun("up", "up:t1.1", "t", "root", 4, List.of("a0", "a1", "a2", "a3"), null)).build();
    RunState s4 = RunStateMachine.apply(null, new RunEvent.Started(shallower, deep, "t"), T0).state();
    Transition ok = on(s4, new RunEvent.ModelAnswered(Fixtures.toolCalls("d4", "d4:m1", "ask_specialist", ARGS)));
    assertThat(ok.effectsOf(Effect.StartChildRun.class)).singleElement().satisfies(c -> {
      assertThat(c.request().getParent().getDepth()).isEqualTo(5);
      assertThat(c.request().getParent().getRootRunId()).isEqualTo("root");
      assertThat(c.request().getParent().getAgents()).containsExactly("a0", "a1", "a2", "a3", "a5");
    });
  }

  @Test
  void aTimeoutCancelsTheChildAndTellsTheModel() {
    ToolSpec timed = ToolSpec.newBuilder(agentTool("ask_specialist", "specialist")).setTimeoutMs(60_000L).build();
    RunState waiting = parentWaiting(boss(timed));
    assertThat(waiting.getPending()).singleElement().satisfies(p -> {
      assertThat(p.getKind()).isEqualTo(CallKind.AGENT);
      assertThat(p.getCallId()).isEqualTo(CALL);
      assertThat(p.getDeadline()).isEqualTo(T0.plusSeconds(61));
    });
    Instant late = T0.plusSeconds(62);
    Transition t = RunStateMachine.apply(waiting, new RunEvent.DeadlinePassed(CALL), late);
    assertThat(steps(t).get(0)).isInstanceOfSatisfying(CallTimedOut.class, c -> {
      assertThat(c.getKind()).isEqualTo(CallKind.AGENT);
      assertThat(c.getWillRetry()).isFalse();
    });
    assertThat(t.effectsOf(Effect.StartChildRun.class)).as("never re-sent").isEmpty();
    assertThat(t.effectsOf(Effect.CancelChildRun.class)).singleElement()
        .satisfies(c -> assertThat(c.command().getRunId()).isEqualTo(CHILD));
    assertThat(steps(t)).filteredOn(ToolCallCompleted.class::isInstance).singleElement()
        .isInstanceOfSatisfying(ToolCallCompleted.class, c -> assertThat(c.getOutput())
            .isEqualTo("error: agent 'specialist' did not finish within 1m1s (the tool's timeout); its run " + CHILD
                + " was cancelled"));
    assertThat(t.effectsOf(Effect.SendModelCall.class)).hasSize(1);
  }

  @Test
  void anAgentToolWaitsForItsApprovalLikeAnyTool() {
    ToolSpec gated = ToolSpec.newBuilder(agentTool("ask_specialist", "specialist")).setNeedsApproval(true).build();
    RunState waiting = parentWaiting(boss(gated));
    assertThat(waiting.getStatus()).isEqualTo(RunStatus.INTERRUPTED);
    assertThat(waiting.getChildren()).isEmpty();
    RunCommand approve = RunCommand.newBuilder(Fixtures.command(RUN, RunCommandType.APPROVE)).setCallId(CALL).build();
    Transition t = on(waiting, new RunEvent.CommandReceived(approve));
    assertThat(t.effectsOf(Effect.StartChildRun.class)).singleElement()
        .satisfies(c -> assertThat(c.request().getRunId()).isEqualTo(CHILD));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.RUNNING);
  }

  @Test
  void theChildIsAskedTheInputOrTheArgumentsOfAToolWithItsOwnParameters() {
    assertThat(ChildRuns.input("{\"input\":\"hi\"}")).isEqualTo("hi");
    assertThat(ChildRuns.input("{\"city\":\"Oslo\",\"days\":2}")).isEqualTo("{\"city\":\"Oslo\",\"days\":2}");
    assertThat(ChildRuns.input("{}")).isEmpty();
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(
        RunRequest.newBuilder(Fixtures.request(RUN, "x")).setAgent("boss").build(), boss(agentTool("ask_specialist", "specialist")),
        "t"), T0).state();
    Transition t = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "ask_specialist", "{\"input\":\"  \"}")));
    assertThat(t.effectsOf(Effect.StartChildRun.class)).isEmpty();
    assertThat(steps(t)).filteredOn(ToolCallCompleted.class::isInstance).singleElement()
        .isInstanceOfSatisfying(ToolCallCompleted.class, c -> assertThat(c.getOutput())
            .startsWith("error: agent tool 'ask_specialist' needs an input for agent 'specialist'"));
  }

  @Test
  void aParentThatFailsForAnotherReasonCancelsItsChildToo() {
    RunState waiting = parentWaiting(boss(agentTool("ask_specialist", "specialist")));
    Transition t = on(waiting, new RunEvent.Abandoned("too large"));
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(t.effectsOf(Effect.CancelChildRun.class)).singleElement()
        .satisfies(c -> assertThat(c.command().getMessage()).isEqualTo("parent run run-1 ended FAILED: too large"));
    assertThat(steps(t)).last().isInstanceOf(RunFinished.class);
  }
}
