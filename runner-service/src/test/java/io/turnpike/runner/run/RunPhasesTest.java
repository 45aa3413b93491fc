package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRequested;
import io.turnpike.avro.ApprovalRule;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.HandoffOccurred;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelOutputHeld;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolSpec;
import io.turnpike.schema.AvroSerde;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.schema.Capabilities;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** Sandbox routing, guardrails, approvals, handoffs, follow-up messages and old RunState versions. */
class RunPhasesTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://topology-test");
  private static final String RUN = "run-1";

  static Transition on(RunState s, RunEvent e) {
    return RunStateMachine.apply(s, e, T0.plusSeconds(1));
  }

  static Transition start(AgentDefinition agent, String input) {
    return RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, input), agent, "t"), T0);
  }

  static List<Object> steps(Transition t) {
    return t.effectsOf(Effect.Publish.class).stream().map(p -> p.event().getStep()).toList();
  }

  static List<ModelCall> modelCalls(Transition t) {
    return t.effectsOf(Effect.SendModelCall.class).stream().map(Effect.SendModelCall::call).toList();
  }

  static List<GuardrailCheck> checks(Transition t) {
    return t.effectsOf(Effect.SendGuardrailCheck.class).stream().map(Effect.SendGuardrailCheck::check).toList();
  }

  static List<ToolCall> toolCalls(Transition t) {
    return t.effectsOf(Effect.SendToolCall.class).stream().map(Effect.SendToolCall::call).toList();
  }

  static GuardrailSpec guard(String name, GuardrailStage stage, GuardrailMode mode) {
    return GuardrailSpec.newBuilder().setName(name).setStage(stage).setType("regex").setMode(mode).build();
  }

  static GuardrailVerdict verdict(String callId, GuardrailStage stage, GuardrailOutcome outcome, String guardrail, String content) {
    return GuardrailVerdict.newBuilder().setRunId(RUN).setCallId(callId).setStage(stage).setOutcome(outcome)
        .setGuardrail(guardrail).setReason(outcome == GuardrailOutcome.ALLOW ? null : "matched something").setContent(content).build();
  }

  static AgentDefinition with(AgentDefinition a, List<GuardrailSpec> guards) {
    return AgentDefinition.newBuilder(a).setGuardrails(guards).build();
  }

  static String serialized(RunState s) {
    return new String(SERDES.runState().encode(s), StandardCharsets.UTF_8);
  }

  /** The state but its pending calls, where output under judgement waits for its verdict. */
  static RunState withoutPending(RunState s) {
    return RunState.newBuilder(s).setPending(List.of()).build();
  }

  @Nested
  class Sandbox {
    @Test
    void capabilityToolsAreOfferedAndRoutedToTheSandbox() {
      AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5)).setCapabilities(List.of("filesystem", "shell")).build();
      Transition t = start(agent, "write a file");
      ModelCall call = modelCalls(t).get(0);
      assertThat(call.getTools()).extracting(ToolSpec::getName).contains("read_file", "write_file", "apply_patch", "shell");
      assertThat(call.getInstructions()).contains("Be brief.").contains("workspace");

      Transition asked = on(t.state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "write_file", "{\"path\":\"a.txt\",\"content\":\"hi\"}")));
      assertThat(toolCalls(asked)).isEmpty();
      SandboxCommand cmd = asked.effectsOf(Effect.SendSandboxCommand.class).get(0).command();
      assertThat(cmd.getTool()).isEqualTo("write_file");
      assertThat(cmd.getSessionId()).isEqualTo(RUN);
      assertThat(cmd.getCallId()).isEqualTo("run-1:t1.1");

      byte[] png = {(byte) 0x89, 'P', 'N', 'G'};
      Transition done = on(asked.state(), new RunEvent.SandboxAnswered(SandboxResult.newBuilder().setRunId(RUN).setCallId(cmd.getCallId())
          .setSessionId(RUN).setTool("write_file").setOutput("wrote 2 bytes").setImages(List.of(ImageContent.newBuilder().setMimeType("image/png").setData(ByteBuffer.wrap(png)).build())).build()));
      assertThat(modelCalls(done)).singleElement().satisfies(c -> assertThat(c.getInput().get(2))
          .isInstanceOfSatisfying(FunctionCallOutputItem.class, o -> {
            assertThat(o.getOutput()).isEqualTo("wrote 2 bytes");
            assertThat(o.getImages()).hasSize(1);
          }));
      // a tool-worker answer cannot answer a sandbox call
      assertThat(steps(on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, cmd.getCallId(), "write_file", "x")))))
          .singleElement().isInstanceOf(io.turnpike.avro.ResultIgnored.class);
    }
  }

  @Nested
  class InputGuardrails {
    @Test
    void parallelTripwireDiscardsTheHeldAnswer() {
      AgentDefinition agent = with(Fixtures.agent(5), List.of(guard("no-secrets", GuardrailStage.INPUT, GuardrailMode.PARALLEL)));
      Transition t = start(agent, "tell me the password");
      assertThat(checks(t)).singleElement().satisfies(c -> {
        assertThat(c.getStage()).isEqualTo(GuardrailStage.INPUT);
        assertThat(c.getContent()).isEqualTo("tell me the password");
      });
      assertThat(modelCalls(t)).hasSize(1); // in parallel

      Transition held = on(t.state(), new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "The password is hunter2")));
      assertThat(steps(held)).singleElement().isInstanceOf(ModelOutputHeld.class);
      assertThat(held.effectsOf(Effect.Finish.class)).isEmpty();
      // kept in the runner's store, but output under judgement reaches no topic users read
      assertThat(serialized(held.state())).contains("hunter2");
      assertThat(serialized(RunStateMachine.published(held.state()))).doesNotContain("hunter2");

      Transition tripped = on(held.state(), new RunEvent.GuardrailAnswered(verdict("run-1:in", GuardrailStage.INPUT, GuardrailOutcome.TRIP, "no-secrets", null)));
      assertThat(tripped.state().getStatus()).isEqualTo(RunStatus.GUARDRAIL_TRIPPED);
      assertThat(tripped.state().getHeld()).isEmpty();
      assertThat(serialized(tripped.state())).doesNotContain("hunter2");
      RunResult result = tripped.effectsOf(Effect.Finish.class).get(0).result();
      assertThat(result.getGuardrail()).isEqualTo("no-secrets");
      assertThat(result.getError()).contains("no-secrets").contains("input");
      assertThat(result.getFinalOutput()).isNull();
    }

    @Test
    void parallelAllowReleasesTheHeldAnswer() {
      AgentDefinition agent = with(Fixtures.agent(5), List.of(guard("g", GuardrailStage.INPUT, GuardrailMode.PARALLEL)));
      RunState s = start(agent, "hi").state();
      s = on(s, new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "hello"))).state();
      Transition t = on(s, new RunEvent.GuardrailAnswered(verdict("run-1:in", GuardrailStage.INPUT, GuardrailOutcome.ALLOW, null, "hi")));
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(t.state().getFinalOutput()).isEqualTo("hello");
    }

    @Test
    void blockingModeWaitsThenRedactsTheInput() {
      AgentDefinition agent = with(Fixtures.agent(5), List.of(guard("pii", GuardrailStage.INPUT, GuardrailMode.BLOCKING)));
      Transition t = start(agent, "mail bob@example.com");
      assertThat(modelCalls(t)).isEmpty();
      Transition v = on(t.state(), new RunEvent.GuardrailAnswered(verdict("run-1:in", GuardrailStage.INPUT, GuardrailOutcome.REDACT, "pii", "mail [EMAIL]")));
      assertThat(modelCalls(v)).singleElement().satisfies(c ->
          assertThat(((MessageItem) c.getInput().get(0)).getText()).isEqualTo("mail [EMAIL]"));
      assertThat(serialized(v.state())).doesNotContain("bob@example.com");
    }
  }

  @Nested
  class OutputGuardrails {
    AgentDefinition agent = with(Fixtures.agent(5), List.of(guard("pii-out", GuardrailStage.OUTPUT, GuardrailMode.PARALLEL)));

    @Test
    void finalAnswerIsJudgedBeforeItLandsAnywhere() {
      RunState s = start(agent, "who?").state();
      Transition t = on(s, new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "Call 555-0100 now")));
      assertThat(checks(t)).singleElement().satisfies(c -> assertThat(c.getContent()).isEqualTo("Call 555-0100 now"));
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      // Only the pending check keeps it, so that a check that gets no answer can be sent again; and
      // only in the runner's store: the state users read on turnpike.run-state goes without it.
      assertThat(serialized(withoutPending(t.state()))).doesNotContain("555-0100");
      assertThat(t.state().getPending()).singleElement().satisfies(p -> assertThat(p.getContent()).isEqualTo("Call 555-0100 now"));
      assertThat(serialized(RunStateMachine.published(t.state()))).doesNotContain("555-0100");
      assertThat(RunStateMachine.published(t.state()).getPending()).singleElement()
          .satisfies(p -> assertThat(p.getCallId()).isEqualTo("run-1:m1:out"));
      assertThat(t.effectsOf(Effect.Publish.class)).noneSatisfy(p ->
          assertThat(p.event().toString()).contains("555-0100"));

      Transition redacted = on(t.state(), new RunEvent.GuardrailAnswered(verdict("run-1:m1:out", GuardrailStage.OUTPUT, GuardrailOutcome.REDACT, "pii-out", "Call [PHONE] now")));
      assertThat(redacted.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(redacted.state().getFinalOutput()).isEqualTo("Call [PHONE] now");
      assertThat(serialized(redacted.state())).doesNotContain("555-0100");
    }

    @Test
    void blockedOutputLeavesOnlyAMarker() {
      RunState s = on(start(agent, "who?").state(), new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "secret stuff"))).state();
      Transition t = on(s, new RunEvent.GuardrailAnswered(verdict("run-1:m1:out", GuardrailStage.OUTPUT, GuardrailOutcome.TRIP, "pii-out", null)));
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.GUARDRAIL_TRIPPED);
      assertThat(serialized(t.state())).doesNotContain("secret stuff").contains("[output blocked by guardrail pii-out]");
    }

    @Test
    void aLostOutputVerdictIsAskedForAgainThenFailsClosed() {
      RunState s = on(start(agent, "who?").state(), new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "Sunny in Oslo"))).state();
      Transition again = RunStateMachine.apply(s, new RunEvent.DeadlinePassed("run-1:m1:out"), T0.plusSeconds(60));
      assertThat(checks(again)).singleElement().satisfies(c -> {
        assertThat(c.getCallId()).isEqualTo("run-1:m1:out");
        assertThat(c.getAttempt()).isEqualTo(2);
        assertThat(c.getContent()).isEqualTo("Sunny in Oslo");
      });
      Transition t = RunStateMachine.apply(again.state(), new RunEvent.DeadlinePassed("run-1:m1:out"), T0.plusSeconds(91));
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(t.state().getError()).isEqualTo("OUTPUT guardrail check run-1:m1:out got no answer after 2 attempt(s) over 1m30s;"
          + " retry budget (attempts 2, budget 10m) spent; failing closed");
      assertThat(serialized(t.state())).doesNotContain("Sunny in Oslo");
    }
  }

  @Nested
  class ToolGuardrails {
    AgentDefinition agent = with(Fixtures.agent(5, "get_weather"), List.of(
        GuardrailSpec.newBuilder().setName("no-rm").setStage(GuardrailStage.TOOL_INPUT).setType("regex").setTools(List.of("get_weather")).build(),
        GuardrailSpec.newBuilder().setName("clean-out").setStage(GuardrailStage.TOOL_OUTPUT).setType("pii").build()));

    @Test
    void rejectedToolInputIsAnErrorTheModelSees() {
      RunState s = on(start(agent, "go").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"rm -rf\"}"))).state();
      assertThat(s.getPending()).singleElement().satisfies(p -> assertThat(p.getCallId()).isEqualTo("run-1:t1.1:in"));
      Transition t = on(s, new RunEvent.GuardrailAnswered(verdict("run-1:t1.1:in", GuardrailStage.TOOL_INPUT, GuardrailOutcome.REJECT, "no-rm", "that command is not allowed")));
      assertThat(toolCalls(t)).isEmpty();
      assertThat(modelCalls(t)).singleElement().satisfies(c -> assertThat(c.getInput().get(2))
          .isInstanceOfSatisfying(FunctionCallOutputItem.class, o -> {
            assertThat(o.getIsError()).isTrue();
            assertThat(o.getOutput()).isEqualTo("that command is not allowed");
          }));
    }

    @Test
    void toolOutputIsRedactedBeforeTheModelSeesIt() {
      RunState s = on(start(agent, "go").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{}"))).state();
      s = on(s, new RunEvent.GuardrailAnswered(verdict("run-1:t1.1:in", GuardrailStage.TOOL_INPUT, GuardrailOutcome.ALLOW, null, "{}"))).state();
      Transition out = on(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t1.1", "get_weather", "sunny, call 555-0100")));
      assertThat(checks(out)).singleElement().satisfies(c -> assertThat(c.getStage()).isEqualTo(GuardrailStage.TOOL_OUTPUT));
      assertThat(serialized(withoutPending(out.state()))).doesNotContain("555-0100");
      assertThat(serialized(RunStateMachine.published(out.state()))).doesNotContain("555-0100");
      Transition t = on(out.state(), new RunEvent.GuardrailAnswered(verdict("run-1:t1.1:out", GuardrailStage.TOOL_OUTPUT, GuardrailOutcome.REDACT, "clean-out", "sunny, call [PHONE]")));
      assertThat(modelCalls(t)).singleElement().satisfies(c -> assertThat(((FunctionCallOutputItem) c.getInput().get(2)).getOutput()).isEqualTo("sunny, call [PHONE]"));
      assertThat(serialized(t.state())).doesNotContain("555-0100");
    }
  }

  @Nested
  class Approvals {
    AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5, "get_weather", "delete_city"))
        .setApprovalRules(List.of(new ApprovalRule("get_weather", "Paris")))
        .build();

    RunCommand cmd(RunCommandType type, String callId, boolean always, String message) {
      return RunCommand.newBuilder().setRunId(RUN).setCommandId("c").setType(type).setCallId(callId).setAlways(always)
          .setMessage(message).setIssuedAt(T0).build();
    }

    @Test
    void aRuleMatchInterruptsAndApprovalResumes() {
      RunState s = start(agent, "go").state();
      Transition t = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"Paris\"}")));
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.INTERRUPTED);
      assertThat(t.state().getApprovals()).singleElement().satisfies(a -> {
        assertThat(a.getCallId()).isEqualTo("run-1:t1.1");
        assertThat(a.getArguments()).contains("Paris");
      });
      assertThat(t.state().getPending()).isEmpty(); // nothing waits in memory or on a timer
      assertThat(steps(t)).last().isInstanceOf(ApprovalRequested.class);
      RunResult interim = t.effectsOf(Effect.Finish.class).get(0).result();
      assertThat(interim.getStatus()).isEqualTo(RunStatus.INTERRUPTED);
      assertThat(interim.getInterruptions()).hasSize(1);

      Transition approved = on(t.state(), new RunEvent.CommandReceived(cmd(RunCommandType.APPROVE, "run-1:t1.1", false, null)));
      assertThat(approved.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(toolCalls(approved)).singleElement().satisfies(c -> assertThat(c.getArguments()).contains("Paris"));
      assertThat(approved.effectsOf(Effect.Finish.class)).isEmpty();
    }

    @Test
    void rejectionMessageReachesTheModel() {
      RunState s = on(start(agent, "go").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"Paris\"}"))).state();
      Transition t = on(s, new RunEvent.CommandReceived(cmd(RunCommandType.REJECT, "run-1:t1.1", false, "use Lyon instead")));
      assertThat(toolCalls(t)).isEmpty();
      assertThat(modelCalls(t)).singleElement().satisfies(c -> assertThat(((FunctionCallOutputItem) c.getInput().get(2)).getOutput())
          .contains("rejected").contains("use Lyon instead"));
    }

    @Test
    void twoApprovalsResolvedOneByOne() {
      AgentDefinition both = AgentDefinition.newBuilder(agent).setTools(List.of(
          ToolSpec.newBuilder().setName("get_weather").setNeedsApproval(true).build(),
          ToolSpec.newBuilder().setName("delete_city").setNeedsApproval(true).build())).build();
      RunState s = on(start(both, "go").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1",
          "get_weather", "{}", "delete_city", "{}"))).state();
      assertThat(s.getApprovals()).hasSize(2);
      Transition first = on(s, new RunEvent.CommandReceived(cmd(RunCommandType.APPROVE, "run-1:t1.2", false, null)));
      assertThat(first.state().getStatus()).isEqualTo(RunStatus.INTERRUPTED);
      assertThat(toolCalls(first)).extracting(ToolCall::getName).containsExactly("delete_city");
      RunState afterTool = on(first.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t1.2", "delete_city", "gone"))).state();
      assertThat(afterTool.getPending()).isEmpty();
      Transition second = on(afterTool, new RunEvent.CommandReceived(cmd(RunCommandType.REJECT, "run-1:t1.1", false, null)));
      assertThat(second.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(modelCalls(second)).hasSize(1);
    }

    @Test
    void alwaysSticksForTheRestOfTheRun() {
      RunState s = on(start(agent, "go").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"Paris\"}"))).state();
      s = on(s, new RunEvent.CommandReceived(cmd(RunCommandType.APPROVE, "run-1:t1.1", true, null))).state();
      s = on(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t1.1", "get_weather", "rain"))).state();
      Transition again = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m2", "get_weather", "{\"city\":\"Paris\"}")));
      assertThat(again.state().getApprovals()).isEmpty();
      assertThat(toolCalls(again)).hasSize(1);
    }

    @Test
    void anApprovalDeadlineRejectsTheCall() {
      AgentDefinition timed = AgentDefinition.newBuilder(agent).setApprovalTimeoutMs(60_000L).build();
      RunState s = on(start(timed, "go").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"Paris\"}"))).state();
      assertThat(s.getPending()).singleElement().satisfies(p -> assertThat(p.getCallId()).isEqualTo("run-1:t1.1:approval"));
      assertThat(RunStateMachine.apply(s, new RunEvent.DeadlinePassed("run-1:t1.1:approval"), T0.plusSeconds(30)).changed()).isFalse();
      Transition t = RunStateMachine.apply(s, new RunEvent.DeadlinePassed("run-1:t1.1:approval"), T0.plusSeconds(62));
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(t.state().getApprovals()).isEmpty();
      assertThat(modelCalls(t)).singleElement().satisfies(c -> assertThat(((FunctionCallOutputItem) c.getInput().get(2)).getOutput())
          .contains("no human approved this call within PT1M"));
    }

    @Test
    void anApprovalDeadlineCanFailTheRun() {
      AgentDefinition timed = AgentDefinition.newBuilder(agent).setApprovalTimeoutMs(60_000L)
          .setApprovalTimeoutAction(io.turnpike.avro.ApprovalTimeoutAction.FAIL).build();
      RunState s = on(start(timed, "go").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"Paris\"}"))).state();
      Transition t = RunStateMachine.apply(s, new RunEvent.DeadlinePassed("run-1:t1.1:approval"), T0.plusSeconds(62));
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(t.state().getError()).contains("no human approved or rejected");
    }

    @Test
    void approvingRemovesTheDeadline() {
      AgentDefinition timed = AgentDefinition.newBuilder(agent).setApprovalTimeoutMs(60_000L).build();
      RunState s = on(start(timed, "go").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "get_weather", "{\"city\":\"Paris\"}"))).state();
      RunState approved = on(s, new RunEvent.CommandReceived(cmd(RunCommandType.APPROVE, "run-1:t1.1", false, null))).state();
      assertThat(approved.getPending()).extracting(p -> p.getCallId()).containsExactly("run-1:t1.1");
    }

    @Test
    void unknownApprovalIsRejectedAsAValue() {
      RunState s = start(agent, "go").state();
      assertThat(on(s, new RunEvent.CommandReceived(cmd(RunCommandType.APPROVE, "nope", false, null))).rejection())
          .contains("no pending approval nope");
    }
  }

  @Nested
  class Handoffs {
    @Test
    void handoffSwitchesTheAgentAndRecordsIt() {
      AgentDefinition triage = AgentDefinition.newBuilder(Fixtures.agent(5)).setName("triage").setHandoffs(List.of("billing")).build();
      AgentDefinition billing = AgentDefinition.newBuilder(Fixtures.agent(5, "refund")).setName("billing").setVersion(7)
          .setInstructions("You handle billing.").build();
      Transition t = start(triage, "I want a refund");
      assertThat(modelCalls(t).get(0).getTools()).extracting(ToolSpec::getName).contains("transfer_to_billing");
      Transition h = on(t.state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "transfer_to_billing", "{}"),
          Map.of("billing", billing)));
      assertThat(steps(h)).anySatisfy(e -> assertThat(e).isInstanceOf(HandoffOccurred.class));
      assertThat(h.state().getAgent().getName()).isEqualTo("billing");
      assertThat(h.state().getHandoffs()).singleElement().satisfies(r -> {
        assertThat(r.getFromAgent()).isEqualTo("triage");
        assertThat(r.getToVersion()).isEqualTo(7);
      });
      ModelCall next = modelCalls(h).get(0);
      assertThat(next.getAgent()).isEqualTo("billing");
      assertThat(next.getInstructions()).isEqualTo("You handle billing.");
      assertThat(next.getTools()).extracting(ToolSpec::getName).containsExactly("refund");
    }

    @Test
    void anInputFilterTrimsWhatTheTargetSees() {
      AgentDefinition triage = AgentDefinition.newBuilder(Fixtures.agent(5, "lookup")).setName("triage").setHandoffs(List.of("billing"))
          .setHandoffInputFilter(io.turnpike.avro.HandoffInputFilter.REMOVE_TOOL_CALLS).build();
      AgentDefinition billing = AgentDefinition.newBuilder(Fixtures.agent(5)).setName("billing").build();
      RunState s = on(start(triage, "refund please").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "lookup", "{}"))).state();
      s = on(s, new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, "run-1:t1.1", "lookup", "order 42"))).state();
      Transition h = on(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m2", "transfer_to_billing", "{}"), Map.of("billing", billing)));
      assertThat(modelCalls(h).get(0).getInput()).singleElement().isInstanceOfSatisfying(MessageItem.class,
          m -> assertThat(m.getText()).isEqualTo("refund please"));
    }

    @Test
    void handoffToAnUnknownAgentIsAnErrorTheModelSees() {
      AgentDefinition triage = AgentDefinition.newBuilder(Fixtures.agent(5)).setName("triage").setHandoffs(List.of("ghost")).build();
      Transition h = on(start(triage, "x").state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, "run-1:m1", "transfer_to_ghost", "{}")));
      assertThat(h.state().getAgent().getName()).isEqualTo("triage");
      assertThat(((FunctionCallOutputItem) modelCalls(h).get(0).getInput().get(2)).getOutput()).contains("no agent named 'ghost'");
    }
  }

  @Nested
  class FollowUps {
    @Test
    void aUserMessageContinuesACompletedRun() {
      RunState done = on(start(Fixtures.agent(1), "hi").state(), new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m1", "hello"))).state();
      RunCommand msg = RunCommand.newBuilder().setRunId(RUN).setCommandId("m").setType(RunCommandType.USER_MESSAGE)
          .setMessage("and tomorrow?").setIssuedAt(T0).build();
      Transition t = on(done, new RunEvent.CommandReceived(msg));
      assertThat(t.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(modelCalls(t)).singleElement().satisfies(c -> {
        assertThat(c.getCallId()).isEqualTo("run-1:m2");
        assertThat(c.getInput()).hasSize(3);
      });
      // maxTurns counts from the follow-up: the agent allows 1 model call per message
      Transition answered = on(t.state(), new RunEvent.ModelAnswered(Fixtures.text(RUN, "run-1:m2", "cloudy")));
      assertThat(answered.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
    }
  }

  @Nested
  class OlderVersions {
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {1, 2, 3, 4, 5, 6})
    void everyGoldenRunStateDecodesAndResumes(int version) throws Exception {
      Schema writer;
      byte[] bytes;
      try (InputStream schema = getClass().getResourceAsStream("/fixtures/run-state/v" + version + "-RunState.avsc");
           InputStream data = getClass().getResourceAsStream("/fixtures/run-state/v" + version + "-waiting-for-tool.bin")) {
        writer = new Schema.Parser().parse(schema);
        bytes = data.readAllBytes();
      }
      AvroSerde<RunState> serde = AvroSerde.legacy(RunState.class).withWriterSchema(writer);
      RunState old = serde.decode(bytes);
      assertThat(old.getSchemaVersion()).isEqualTo(version);
      assertThat(old.getPending()).singleElement().satisfies(p -> assertThat(p.getCallId()).isEqualTo("golden-1:t1.1"));
      assertThat(old.getToolCalls()).hasSize(version == 1 ? 0 : 1); // v1 had no per-call phases
      PendingCall upgraded = RunStateUpgrade.upgrade(old).getPending().get(0);
      // before v3 the first send was not recorded: the upgrade counts the budget from the current attempt's send
      assertThat(upgraded.getFirstSentAt()).isEqualTo(T0.plusSeconds(1));
      assertThat(upgraded.getBackingOff()).isEqualTo(version >= 3); // the v3 fixture's first attempt timed out
      // and it resumes: the tool answer it waited for leads to the next model call
      Transition t = RunStateMachine.apply(old, new RunEvent.ToolAnswered(
          Fixtures.toolResult("golden-1", "golden-1:t1.1", "get_weather", "sunny")), T0.plusSeconds(5));
      assertThat(t.state().getSchemaVersion()).isEqualTo(RunStateMachine.SCHEMA_VERSION);
      assertThat(modelCalls(t)).singleElement().satisfies(c -> {
        assertThat(c.getCallId()).isEqualTo("golden-1:m2");
        assertThat(((FunctionCallOutputItem) c.getInput().get(2)).getOutput()).isEqualTo("sunny");
      });
    }

    static RunState decode(String fixture, int version) throws Exception {
      try (InputStream schema = RunPhasesTest.class.getResourceAsStream("/fixtures/run-state/v" + version + "-RunState.avsc");
           InputStream data = RunPhasesTest.class.getResourceAsStream("/fixtures/run-state/" + fixture)) {
        return AvroSerde.legacy(RunState.class).withWriterSchema(new Schema.Parser().parse(schema)).decode(data.readAllBytes());
      }
    }

    @Test
    void theV6FixtureKeepsItsOutputsOutOfLineAndItsCompactionAndResumesWhenTheSummaryArrives() throws Exception {
      RunState stored = decode("v6-compacting.bin", 6);
      assertThat(stored.getSchemaVersion()).isEqualTo(6);
      assertThat(stored.getAgent().getCompaction().getContextWindow()).isEqualTo(4_096L);
      List<FunctionCallOutputItem> outputs = stored.getItems().stream().filter(i -> i instanceof FunctionCallOutputItem)
          .map(i -> (FunctionCallOutputItem) i).toList();
      assertThat(outputs).isNotEmpty().allSatisfy(o -> {
        assertThat(o.getOutput()).startsWith("page ").contains("3000 bytes in all").hasSizeLessThan(700); // a preview
        assertThat(o.getOutputRef().getSize()).isEqualTo(3_000);
      });
      PendingCall compact = stored.getPending().getFirst();
      assertThat(Compaction.isCall(compact.getCallId())).isTrue();
      int compacting = stored.getContext().getCompacting();
      assertThat(compacting).isGreaterThan(1);

      // a restarted runner puts the outputs back from its blob store and takes the summary
      java.util.Map<String, byte[]> blobs = new java.util.HashMap<>();
      for (int n = 1; n <= outputs.size(); n++) {
        byte[] page = GoldenFixtureWriter.page(n).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        blobs.put(Images.sha256(page), page);
      }
      RunState loaded = LargeOutputs.withOutputs(stored, blobs::get);
      Transition t = RunStateMachine.apply(loaded, new RunEvent.ModelAnswered(Fixtures.text("golden-6", compact.getCallId(),
          "pages 1 to 2 fetched")), T0.plusSeconds(60));
      assertThat(t.state().getSchemaVersion()).isEqualTo(RunStateMachine.SCHEMA_VERSION);
      assertThat(t.state().getContext().getCompactions()).isEqualTo(1);
      ModelCall next = modelCalls(t).getFirst();
      assertThat(next.getCallId()).isEqualTo(compact.getCallId().replace(Compaction.CALL_SUFFIX, ""));
      assertThat(((io.turnpike.avro.MessageItem) next.getInput().getFirst()).getText()).endsWith("pages 1 to 2 fetched");
      assertThat(next.getInput()).hasSize(stored.getItems().size() - compacting + 1);
      assertThat(((FunctionCallOutputItem) next.getInput().getLast()).getOutput()).isEqualTo(GoldenFixtureWriter.page(outputs.size()));
    }

    @Test
    void theV5FixtureKeepsItsHostedCallChildRunAndStreamingAndResumesWhenTheChildAnswers() throws Exception {
      RunState s = decode("v5-child-and-hosted.bin", 5);
      assertThat(s.getSchemaVersion()).isEqualTo(5);
      assertThat(s.getUser()).isEqualTo("ada");
      assertThat(s.getStream()).isTrue();
      assertThat(s.getAgent().getModelProvider()).isEqualTo("local-llama");
      assertThat(s.getItems()).extracting(i -> i.getClass().getSimpleName())
          .containsExactly("MessageItem", "HostedToolCallItem", "FunctionCallItem");
      io.turnpike.avro.HostedToolCallItem searched = (io.turnpike.avro.HostedToolCallItem) s.getItems().get(1);
      assertThat(searched.getType()).isEqualTo("web_search_call");
      assertThat(searched.getJson()).contains("Oslo museums");
      assertThat(s.getChildren()).singleElement().satisfies(c -> {
        assertThat(c.getAgent()).isEqualTo("specialist");
        assertThat(c.getStatus()).isEqualTo(RunStatus.RUNNING);
      });
      String callId = s.getChildren().getFirst().getCallId();
      String childRunId = s.getChildren().getFirst().getRunId();
      // a restarted runner gets the child's outcome: the next model call replays the hosted call,
      // carries the child's answer, streams and goes to the agent's provider
      Transition t = RunStateMachine.apply(s, new RunEvent.ChildAnswered(io.turnpike.avro.ToolResult.newBuilder()
          .setRunId("golden-5").setCallId(callId).setName("ask_specialist").setOutput("Sunny, 18 C")
          .setChildRunId(childRunId).setChildStatus(RunStatus.COMPLETED).build()), T0.plusSeconds(60));
      assertThat(t.state().getSchemaVersion()).isEqualTo(RunStateMachine.SCHEMA_VERSION);
      assertThat(t.state().getChildren().getFirst().getStatus()).isEqualTo(RunStatus.COMPLETED);
      ModelCall next = modelCalls(t).getFirst();
      assertThat(next.getStream()).isTrue();
      assertThat(next.getModelProvider()).isEqualTo("local-llama");
      assertThat(next.getInput()).extracting(i -> i.getClass().getSimpleName())
          .containsExactly("MessageItem", "HostedToolCallItem", "FunctionCallItem", "FunctionCallOutputItem");
      assertThat(((io.turnpike.avro.HostedToolCallItem) next.getInput().get(1)).getItemId()).isEqualTo("ws_golden");
      assertThat(((FunctionCallOutputItem) next.getInput().get(3)).getOutput()).isEqualTo("Sunny, 18 C");
    }

    @Test
    void theV4FixtureKeepsItsReasoningImageAndToolUseAndResumesAfterARestart() throws Exception {
      RunState s = decode("v4-new-items.bin", 4);
      assertThat(s.getSchemaVersion()).isEqualTo(4);
      assertThat(s.getAgent().getOutputType().getName()).isEqualTo("trip_plan");
      assertThat(s.getAgent().getModelSettings().getReasoning().getEffort()).isEqualTo("high");
      assertThat(s.getToolUsers()).containsExactly("planner");
      assertThat(s.getItems()).extracting(i -> i.getClass().getSimpleName())
          .containsExactly("MessageItem", "ReasoningItem", "FunctionCallItem", "FunctionCallOutputItem");
      assertThat(((io.turnpike.avro.ReasoningItem) s.getItems().get(1)).getEncryptedContent()).isEqualTo("enc:Z29sZGVu");
      assertThat(s.getImages()).singleElement().satisfies(i -> {
        assertThat(Images.bytes(i.getData())).isEqualTo(GoldenFixtureWriter.PNG);
        assertThat(i.getSha256()).isEqualTo(Images.sha256(GoldenFixtureWriter.PNG));
      });
      FunctionCallOutputItem viewed = (FunctionCallOutputItem) s.getItems().get(3);
      assertThat(viewed.getImages()).singleElement().satisfies(i -> {
        assertThat(i.getData()).isNull();
        assertThat(i.getSha256()).isEqualTo(s.getImages().getFirst().getSha256());
      });
      assertThat(s.getUsage().getCachedInputTokens()).isEqualTo(768);
      assertThat(s.getUsage().getReasoningTokens()).isEqualTo(96);

      // a runner restarted while the second model call was out sends it again as it was:
      // the reasoning replayed with its encrypted content, the image with its bytes, no tool choice
      PendingCall m2 = s.getPending().getFirst();
      assertThat(m2.getCallId()).isEqualTo("golden-4:m2");
      Transition timedOut = RunStateMachine.apply(s, new RunEvent.DeadlinePassed("golden-4:m2"), m2.getDeadline());
      Transition resent = RunStateMachine.apply(timedOut.state(), new RunEvent.DeadlinePassed("golden-4:m2"),
          timedOut.state().getPending().getFirst().getDeadline());
      ModelCall again = modelCalls(resent).getFirst();
      assertThat(again.getAttempt()).isEqualTo(2);
      assertThat(again.getOutputType().getName()).isEqualTo("trip_plan");
      assertThat(again.getSettings().getToolChoice()).isNull();
      assertThat(((io.turnpike.avro.ReasoningItem) again.getInput().get(1)).getEncryptedContent()).isEqualTo("enc:Z29sZGVu");
      assertThat(((FunctionCallOutputItem) again.getInput().get(3)).getImages()).singleElement()
          .satisfies(i -> assertThat(Images.bytes(i.getData())).isEqualTo(GoldenFixtureWriter.PNG));

      // and its structured answer completes the run
      Transition done = RunStateMachine.apply(resent.state(), new RunEvent.ModelAnswered(Fixtures.text("golden-4", "golden-4:m2",
          "{\"city\":\"Oslo\"}")), T0.plusSeconds(400));
      assertThat(done.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(done.state().getStructuredOutput().getSchemaName()).isEqualTo("trip_plan");
    }
  }
}
