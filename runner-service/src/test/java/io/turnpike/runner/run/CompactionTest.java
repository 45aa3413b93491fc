package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CompactionMode;
import io.turnpike.avro.CompactionPolicy;
import io.turnpike.avro.ConversationCompacted;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ReasoningItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.Usage;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** The compaction capability, on the pure state machine: when, what is compacted, and what the model sees after. */
class CompactionTest {
  private static final String RUN = "run-1";
  private static final String OUTPUT = "x".repeat(1_000);

  /** 1,024 tokens, half of it the threshold: about two turns of 1,000-character outputs. */
  private static AgentDefinition agent(CompactionPolicy policy) {
    return AgentDefinition.newBuilder(Fixtures.agent(50, "fetch")).setCompaction(policy).build();
  }

  private static CompactionPolicy policy() {
    return CompactionPolicy.newBuilder().setContextWindow(1_024L).setThreshold(0.5).setKeepRecentItems(2).build();
  }

  private static Transition on(RunState s, RunEvent e) {
    return RunStateMachine.apply(s, e, T0.plusSeconds(1));
  }

  private static List<ModelCall> modelCalls(Transition t) {
    return t.effectsOf(Effect.SendModelCall.class).stream().map(Effect.SendModelCall::call).toList();
  }

  private static List<Object> steps(Transition t) {
    return t.effectsOf(Effect.Publish.class).stream().map(p -> p.event().getStep()).toList();
  }

  /** Runs {@code turns} tool turns (a call of fetch, its 1,000-character output) and returns the last transition. */
  private static Transition toolTurns(AgentDefinition agent, int turns) {
    Transition t = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Fetch everything"), agent, "t"), T0);
    for (int turn = 1; turn <= turns; turn++) {
      t = on(t.state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, RUN + ":m" + turn, "fetch", "{\"n\":" + turn + "}")));
      ToolCall call = t.effectsOf(Effect.SendToolCall.class).get(0).call();
      t = on(t.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, call.getCallId(), "fetch", turn + ":" + OUTPUT)));
    }
    return t;
  }

  private static ModelResult summary(String callId, String text) {
    return ModelResult.newBuilder().setRunId(RUN).setCallId(callId)
        .setOutput(List.of(new MessageItem(Role.ASSISTANT, text, null, List.of())))
        .setUsage(Usage.newBuilder().setInputTokens(600L).setOutputTokens(20L).setTotalTokens(620L).build()).build();
  }

  @Test
  void belowTheThresholdTheModelIsAskedAsUsual() {
    Transition t = toolTurns(agent(policy()), 1);
    assertThat(modelCalls(t)).extracting(ModelCall::getCallId).containsExactly(RUN + ":m2");
  }

  @Test
  void nearTheWindowTheOldestItemsAreSummarizedFirstThenTheTurnsCallCarriesTheSummary() {
    Transition t = toolTurns(agent(policy()), 2);
    // user message, call 1, output 1, call 2, output 2: over 512 tokens, so the oldest three are summarized
    ModelCall compact = modelCalls(t).get(0);
    assertThat(modelCalls(t)).hasSize(1);
    assertThat(compact.getCallId()).isEqualTo(RUN + ":m3:compact");
    assertThat(compact.getInstructions()).isEqualTo(Compaction.DEFAULT_INSTRUCTIONS);
    assertThat(compact.getTools()).isEmpty();
    assertThat(compact.getInput()).hasSize(4);
    assertThat(compact.getInput().get(2)).isInstanceOfSatisfying(FunctionCallOutputItem.class,
        o -> assertThat(o.getOutput()).startsWith("1:"));
    assertThat(compact.getInput().get(3)).isInstanceOfSatisfying(MessageItem.class,
        m -> assertThat(m.getText()).contains("Summarize"));
    assertThat(steps(t)).last().isInstanceOfSatisfying(ModelCallRequested.class,
        r -> assertThat(r.getCallId()).isEqualTo(RUN + ":m3:compact"));
    assertThat(t.state().getTurn()).isEqualTo(3);
    assertThat(t.state().getContext().getCompacting()).isEqualTo(3);

    Transition done = on(t.state(), new RunEvent.ModelAnswered(summary(RUN + ":m3:compact", "The user wants everything; fetch 1 gave x.")));
    assertThat(steps(done)).first().isInstanceOfSatisfying(ConversationCompacted.class, c -> {
      assertThat(c.getCompactedItems()).isEqualTo(3);
      assertThat(c.getKeptItems()).isEqualTo(2);
      assertThat(c.getContextWindow()).isEqualTo(1_024L);
      assertThat(c.getTokensAfter()).isLessThan(c.getTokensBefore());
      assertThat(c.getSummary()).isEqualTo("The user wants everything; fetch 1 gave x.");
    });
    ModelCall next = modelCalls(done).get(0);
    assertThat(next.getCallId()).isEqualTo(RUN + ":m3");
    assertThat(next.getTools()).extracting(s -> s.getName()).containsExactly("fetch");
    assertThat(next.getInput()).hasSize(3);
    assertThat(next.getInput().get(0)).isInstanceOfSatisfying(MessageItem.class, m -> {
      assertThat(m.getRole()).isEqualTo(Role.USER);
      assertThat(m.getText()).startsWith(Compaction.SUMMARY_PREFIX).endsWith("fetch 1 gave x.");
    });
    assertThat(next.getInput().get(1)).isInstanceOf(FunctionCallItem.class);
    assertThat(next.getInput().get(2)).isInstanceOfSatisfying(FunctionCallOutputItem.class,
        o -> assertThat(o.getOutput()).startsWith("2:"));
    RunState after = done.state();
    assertThat(after.getItems()).hasSize(3);
    assertThat(after.getContext().getCompactions()).isEqualTo(1);
    assertThat(after.getContext().getCompactedItems()).isEqualTo(3L);
    assertThat(after.getContext().getCompacting()).isZero();
    assertThat(after.getUsage().getModelCalls()).isEqualTo(3); // two turns and the summary; the turn's own call is pending
  }

  @Test
  void aRunKeepsOneSummaryHoweverLongItRuns() {
    AgentDefinition agent = agent(policy());
    Transition t = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Fetch everything"), agent, "t"), T0);
    int summaries = 0;
    for (int turn = 1; turn <= 40; turn++) {
      t = on(t.state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, RUN + ":m" + turn, "fetch", "{}")));
      ToolCall call = t.effectsOf(Effect.SendToolCall.class).get(0).call();
      t = on(t.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, call.getCallId(), "fetch", turn + ":" + OUTPUT)));
      ModelCall sent = modelCalls(t).get(0);
      if (Compaction.isCall(sent.getCallId())) {
        summaries++;
        t = on(t.state(), new RunEvent.ModelAnswered(summary(sent.getCallId(), "summary " + summaries)));
      }
      assertThat(t.state().getItems()).hasSizeLessThanOrEqualTo(5);
      assertThat(t.state().getItems().stream().filter(i -> i instanceof MessageItem m
          && m.getText().startsWith(Compaction.SUMMARY_PREFIX))).hasSizeLessThanOrEqualTo(1);
    }
    assertThat(summaries).isGreaterThan(10);
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.RUNNING);
    assertThat(t.state().getTurn()).isEqualTo(41);
  }

  @Test
  void aMessageGivenWhileTheSummaryIsWrittenGoesWithTheTurnsCall() {
    Transition t = toolTurns(agent(policy()), 2);
    Transition queued = on(t.state(), new RunEvent.CommandReceived(io.turnpike.avro.RunCommand.newBuilder(
        Fixtures.command(RUN, io.turnpike.avro.RunCommandType.USER_MESSAGE)).setMessage("also page 9").build()));
    assertThat(queued.state().getQueuedMessages()).containsExactly("also page 9");
    Transition done = on(queued.state(), new RunEvent.ModelAnswered(summary(RUN + ":m3:compact", "pages 1 and 2")));
    assertThat(modelCalls(done).get(0).getInput().getLast()).isInstanceOfSatisfying(MessageItem.class,
        m -> assertThat(m.getText()).isEqualTo("also page 9"));
    assertThat(done.state().getQueuedMessages()).isEmpty();
  }

  @Test
  void anEmptySummaryCompactsNothingAndTheTurnGoesOn() {
    Transition t = toolTurns(agent(policy()), 2);
    Transition done = on(t.state(), new RunEvent.ModelAnswered(summary(RUN + ":m3:compact", "")));
    assertThat(steps(done)).noneMatch(s -> s instanceof ConversationCompacted);
    assertThat(modelCalls(done).get(0).getInput()).hasSize(5);
  }

  @Test
  void aCompactionCallThatTimesOutIsSentAgainAsACompactionCall() {
    Transition t = toolTurns(agent(policy()), 2);
    Instant late = T0.plusSeconds(120);
    Transition retried = RunStateMachine.apply(t.state(), new RunEvent.DeadlinePassed(RUN + ":m3:compact"), late);
    ModelCall again = modelCalls(retried).get(0);
    assertThat(again.getCallId()).isEqualTo(RUN + ":m3:compact");
    assertThat(again.getAttempt()).isEqualTo(2);
    assertThat(again.getInstructions()).isEqualTo(Compaction.DEFAULT_INSTRUCTIONS);
    assertThat(again.getInput()).hasSize(4);
  }

  @Test
  void theDynamicPolicyCountsTheTokensTheModelReported() {
    CompactionPolicy dynamic = CompactionPolicy.newBuilder(policy()).setMode(CompactionMode.DYNAMIC).build();
    Transition t = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Fetch"), agent(dynamic), "t"), T0);
    // small items, but the model says the input already took 900 tokens (images, a long system prompt...)
    ModelResult answer = ModelResult.newBuilder(Fixtures.toolCalls(RUN, RUN + ":m1", "fetch", "{}"))
        .setUsage(Usage.newBuilder().setInputTokens(900L).setOutputTokens(5L).setTotalTokens(905L).build()).build();
    t = on(t.state(), new RunEvent.ModelAnswered(answer));
    assertThat(t.state().getContext().getLastInputTokens()).isEqualTo(900L);
    ToolCall call = t.effectsOf(Effect.SendToolCall.class).get(0).call();
    t = on(t.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, call.getCallId(), "fetch", "small")));
    // static would not compact three short items; dynamic sees 900+ tokens, but there is nothing it may cut yet
    assertThat(modelCalls(t)).extracting(ModelCall::getCallId).containsExactly(RUN + ":m2");

    Transition st = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Fetch"), agent(policy()), "t"), T0);
    st = on(st.state(), new RunEvent.ModelAnswered(answer));
    assertThat(Compaction.inputTokens(new Step(st.state(), T0), policy())).isLessThan(512);
    assertThat(Compaction.inputTokens(new Step(t.state(), T0), dynamic)).isGreaterThan(900);
  }

  @Nested
  class TheCut {
    private final FunctionCallItem call1 = new FunctionCallItem("c1", "fetch", "{}", null);
    private final FunctionCallItem call2 = new FunctionCallItem("c2", "fetch", "{}", null);
    private final FunctionCallOutputItem out1 = new FunctionCallOutputItem("c1", "fetch", "a", false, List.of(), null);
    private final FunctionCallOutputItem out2 = new FunctionCallOutputItem("c2", "fetch", "b", false, List.of(), null);
    private final MessageItem user = new MessageItem(Role.USER, "go", null, List.of());
    private final MessageItem said = new MessageItem(Role.ASSISTANT, "ok", null, List.of());

    @Test
    void neverPartsParallelCallsFromTheirOutputs() {
      // user | call1 call2 out1 out2 | said: keeping 2 would cut between out1 and out2
      List<Object> items = List.of(user, call1, call2, out1, out2, said);
      assertThat(Compaction.cut(items, 2)).isEqualTo(1);
      assertThat(Compaction.cut(items, 1)).isEqualTo(5);
    }

    @Test
    void neverPartsReasoningFromTheCallItPrecedes() {
      ReasoningItem r = ReasoningItem.newBuilder().setItemId("rs_1").setSummary(List.of()).build();
      List<Object> items = List.of(user, said, r, call1, out1);
      assertThat(Compaction.cut(items, 2)).isEqualTo(2);
    }

    @Test
    void isZeroWhenNoBoundaryIsLeft() {
      assertThat(Compaction.cut(List.of(call1, out1), 1)).isZero();
    }
  }
}
