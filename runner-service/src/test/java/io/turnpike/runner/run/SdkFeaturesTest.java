package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static io.turnpike.runner.run.RunPhasesTest.checks;
import static io.turnpike.runner.run.RunPhasesTest.guard;
import static io.turnpike.runner.run.RunPhasesTest.modelCalls;
import static io.turnpike.runner.run.RunPhasesTest.steps;
import static io.turnpike.runner.run.RunPhasesTest.toolCalls;
import static io.turnpike.runner.run.RunPhasesTest.verdict;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.ReasoningItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolUseBehavior;
import io.turnpike.avro.ToolUseMode;
import io.turnpike.avro.Usage;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * What agents ported from the OpenAI Agents SDK rely on, in the state machine: structured output,
 * toolUseBehavior and resetToolChoice with the SDK's meanings, reasoning items kept and replayed,
 * images kept once per run, per-call usage.
 */
class SdkFeaturesTest {
  static final String RUN = "run-1";
  static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],"
      + "\"additionalProperties\":false}";
  static final OutputType TRIP = OutputType.newBuilder().setName("trip").setSchemaJson(SCHEMA).setSha256("ab12").build();

  static Transition start(AgentDefinition agent) {
    return RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Weather in Oslo?"), agent, "t"), T0);
  }

  static Transition on(RunState s, RunEvent e) {
    return RunStateMachine.apply(s, e, T0.plusSeconds(1));
  }

  static Transition on(RunState s, RunEvent e, Instant at) {
    return RunStateMachine.apply(s, e, at);
  }

  static ModelResult answer(String callId, Object... output) {
    return ModelResult.newBuilder().setRunId(RUN).setCallId(callId).setOutput(new ArrayList<>(Arrays.asList(output)))
        .setUsage(Usage.newBuilder().setInputTokens(100).setOutputTokens(20).setTotalTokens(120).setModelCalls(1)
            .setCachedInputTokens(64).setReasoningTokens(12).build())
        .build();
  }

  static FunctionCallItem call(String id, String name) {
    return new FunctionCallItem(id, name, "{\"city\":\"Oslo\"}", null);
  }

  static MessageItem text(String t) {
    return new MessageItem(Role.ASSISTANT, t, null, java.util.List.of());
  }

  static RunResult result(Transition t) {
    return t.effectsOf(Effect.Finish.class).getLast().result();
  }

  static AgentDefinition behaving(ToolUseMode mode, String... stopAt) {
    return AgentDefinition.newBuilder(Fixtures.agent(5, "get_weather", "get_time"))
        .setToolUseBehavior(new ToolUseBehavior(mode, List.of(stopAt))).build();
  }

  @Nested
  class StructuredOutput {
    @Test
    void theModelCallCarriesTheOutputTypeAndTheAnswerIsKeptAsStructuredJson() {
      AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5)).setOutputType(TRIP).build();
      Transition t = start(agent);
      assertThat(modelCalls(t)).singleElement().satisfies(c -> assertThat(c.getOutputType()).isEqualTo(TRIP));

      Transition done = on(t.state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", text("{\"city\":\"Oslo\"}"))));
      assertThat(done.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(done.state().getFinalOutput()).isEqualTo("{\"city\":\"Oslo\"}");
      assertThat(done.state().getStructuredOutput().getJson()).isEqualTo("{\"city\":\"Oslo\"}");
      assertThat(done.state().getStructuredOutput().getSchemaName()).isEqualTo("trip");
      assertThat(done.state().getStructuredOutput().getSchemaSha256()).isEqualTo("ab12");
      assertThat(result(done).getStructuredOutput()).isEqualTo(done.state().getStructuredOutput());
    }

    @Test
    void anAgentWithoutOutputTypeHasNoStructuredOutput() {
      Transition t = start(Fixtures.agent(5));
      Transition done = on(t.state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", text("{\"city\":\"Oslo\"}"))));
      assertThat(done.state().getStructuredOutput()).isNull();
      assertThat(result(done).getStructuredOutput()).isNull();
    }

    @Test
    void anInvalidAnswerIsRetriedCountingItsTokensThenFailsWithTheInvokersReason() {
      AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5)).setOutputType(TRIP).build(); // 2 attempts, no backoff
      Transition t = start(agent);
      ModelResult invalid = ModelResult.newBuilder(answer(RUN + ":m1")).setOutput(List.of())
          .setError(new ErrorInfo("model_output_invalid", "the final answer does not follow output type 'trip' (schema sha256 ab12):"
              + " 1 violation: $: required property 'city' not found", true)).build();
      Transition retried = on(t.state(), new RunEvent.ModelAnswered(invalid));
      assertThat(modelCalls(retried)).singleElement().satisfies(c -> assertThat(c.getAttempt()).isEqualTo(2));
      assertThat(steps(retried)).filteredOn(ModelFailed.class::isInstance).singleElement()
          .satisfies(f -> assertThat(((ModelFailed) f).getUsage().getOutputTokens()).isEqualTo(20));
      assertThat(retried.state().getUsage().getModelCalls()).isEqualTo(1);
      assertThat(retried.state().getUsage().getReasoningTokens()).isEqualTo(12);

      Transition failed = on(retried.state(), new RunEvent.ModelAnswered(invalid), T0.plusSeconds(2));
      assertThat(failed.state().getStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(failed.state().getError()).contains("model call run-1:m1 failed after 2 attempt(s)")
          .contains("model_output_invalid").contains("output type 'trip'").contains("required property 'city'")
          .contains("retry budget");
      assertThat(failed.state().getUsage().getModelCalls()).isEqualTo(2);
    }

    @Test
    void anAnswerAllowedByOutputGuardrailsIsStructuredARedactedOneIsNot() {
      AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5)).setOutputType(TRIP)
          .setGuardrails(List.of(guard("pii", GuardrailStage.OUTPUT, GuardrailMode.PARALLEL))).build();
      Transition asked = on(start(agent).state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", text("{\"city\":\"Oslo\"}"))));
      String check = checks(asked).getFirst().getCallId();

      Transition allowed = on(asked.state(), new RunEvent.GuardrailAnswered(
          verdict(check, GuardrailStage.OUTPUT, GuardrailOutcome.ALLOW, null, "{\"city\":\"Oslo\"}")));
      assertThat(allowed.state().getStructuredOutput().getJson()).isEqualTo("{\"city\":\"Oslo\"}");

      Transition redacted = on(asked.state(), new RunEvent.GuardrailAnswered(
          verdict(check, GuardrailStage.OUTPUT, GuardrailOutcome.REDACT, "pii", "{\"city\":\"[REDACTED]\"}")));
      assertThat(redacted.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(redacted.state().getFinalOutput()).isEqualTo("{\"city\":\"[REDACTED]\"}");
      assertThat(redacted.state().getStructuredOutput()).isNull();
    }

    @Test
    void aFollowUpMessageClearsTheLastStructuredOutput() {
      AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5)).setOutputType(TRIP).build();
      Transition done = on(start(agent).state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", text("{\"city\":\"Oslo\"}"))));
      RunCommand more = RunCommand.newBuilder(Fixtures.command(RUN, RunCommandType.USER_MESSAGE)).setMessage("And Rome?").build();
      Transition again = on(done.state(), new RunEvent.CommandReceived(more));
      assertThat(again.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(again.state().getStructuredOutput()).isNull();
    }
  }

  @Nested
  class ToolUse {
    @Test
    void runLlmAgainIsTheDefault() {
      Transition asked = on(start(Fixtures.agent(5, "get_weather")).state(),
          new RunEvent.ModelAnswered(answer(RUN + ":m1", call("c1", "get_weather"))));
      Transition answered = on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
      assertThat(answered.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(modelCalls(answered)).hasSize(1);
    }

    @Test
    void stopOnFirstToolMakesTheFirstCallsOutputTheFinalOutputWhateverOrderTheAnswersCome() {
      Transition asked = on(start(behaving(ToolUseMode.STOP_ON_FIRST_TOOL)).state(),
          new RunEvent.ModelAnswered(answer(RUN + ":m1", call("c1", "get_weather"), call("c2", "get_time"))));
      assertThat(toolCalls(asked)).hasSize(2);
      // the second call answers first: the run waits for the turn's last output, then takes the first call's
      Transition second = on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.2", "get_time", "14:05")));
      assertThat(second.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      Transition first = on(second.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
      assertThat(first.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(first.state().getFinalOutput()).isEqualTo("sunny");
      assertThat(first.state().getStructuredOutput()).isNull();
      assertThat(modelCalls(first)).isEmpty();
      assertThat(result(first).getFinalOutput()).isEqualTo("sunny");
      // the output is the tool's, already in the conversation: no assistant message is made up
      assertThat(first.state().getItems()).noneMatch(i -> i instanceof MessageItem m && m.getRole() == Role.ASSISTANT);
    }

    @Test
    void reasoningBetweenTheCallsDoesNotSplitTheTurn() {
      ReasoningItem thought = ReasoningItem.newBuilder().setItemId("rs_a").setEncryptedContent("e").build();
      ReasoningItem second = ReasoningItem.newBuilder().setItemId("rs_b").setEncryptedContent("e").build();
      Transition asked = on(start(behaving(ToolUseMode.STOP_ON_FIRST_TOOL)).state(),
          new RunEvent.ModelAnswered(answer(RUN + ":m1", thought, call("c1", "get_weather"), second, call("c2", "get_time"))));
      Transition b = on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.2", "get_time", "14:05")));
      Transition a = on(b.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
      assertThat(a.state().getFinalOutput()).isEqualTo("sunny");
    }

    @Test
    void stopAtToolsStopsOnlyAtANamedTool() {
      AgentDefinition agent = behaving(ToolUseMode.STOP_AT_TOOLS, "get_time");
      Transition weather = on(start(agent).state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", call("c1", "get_weather"))));
      Transition next = on(weather.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
      assertThat(next.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(modelCalls(next)).hasSize(1);

      Transition both = on(next.state(), new RunEvent.ModelAnswered(answer(RUN + ":m2", call("c2", "get_weather"), call("c3", "get_time"))));
      Transition a = on(both.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t2.1", "get_weather", "rain")));
      Transition b = on(a.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t2.2", "get_time", "14:05")));
      assertThat(b.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(b.state().getFinalOutput()).isEqualTo("14:05");
    }

    @Test
    void aCallOfAnUnknownToolDoesNotStopTheRun() {
      Transition asked = on(start(behaving(ToolUseMode.STOP_ON_FIRST_TOOL)).state(),
          new RunEvent.ModelAnswered(answer(RUN + ":m1", call("c1", "teleport"))));
      assertThat(asked.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(modelCalls(asked)).singleElement().satisfies(c -> assertThat(c.getCallId()).isEqualTo(RUN + ":m2"));
    }

    @Test
    void aHandoffInTheTurnWinsOverStopOnFirstTool() {
      AgentDefinition agent = AgentDefinition.newBuilder(behaving(ToolUseMode.STOP_ON_FIRST_TOOL)).setHandoffs(List.of("billing")).build();
      AgentDefinition billing = AgentDefinition.newBuilder(Fixtures.agent(5)).setName("billing").build();
      Transition asked = on(start(agent).state(), new RunEvent.ModelAnswered(
          answer(RUN + ":m1", call("c1", "get_weather"), call("c2", "transfer_to_billing")), java.util.Map.of("billing", billing)));
      Transition done = on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
      assertThat(done.state().getStatus()).isEqualTo(RunStatus.RUNNING);
      assertThat(done.state().getAgent().getName()).isEqualTo("billing");
      assertThat(modelCalls(done)).hasSize(1);
    }

    @Test
    void aToolsFinalOutputGoesThroughOutputGuardrailsAndIsNotAnAssistantMessage() {
      AgentDefinition agent = AgentDefinition.newBuilder(behaving(ToolUseMode.STOP_ON_FIRST_TOOL))
          .setGuardrails(List.of(guard("pii", GuardrailStage.OUTPUT, GuardrailMode.PARALLEL))).build();
      Transition asked = on(start(agent).state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", call("c1", "get_weather"))));
      Transition answered = on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny, ann@x.io")));
      assertThat(checks(answered)).singleElement().satisfies(c -> {
        assertThat(c.getStage()).isEqualTo(GuardrailStage.OUTPUT);
        assertThat(c.getContent()).isEqualTo("sunny, ann@x.io");
      });
      Transition done = on(answered.state(), new RunEvent.GuardrailAnswered(verdict(checks(answered).getFirst().getCallId(),
          GuardrailStage.OUTPUT, GuardrailOutcome.REDACT, "pii", "sunny, [EMAIL]")));
      assertThat(done.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(done.state().getFinalOutput()).isEqualTo("sunny, [EMAIL]");
      assertThat(done.state().getItems()).noneMatch(i -> i instanceof MessageItem m && m.getRole() == Role.ASSISTANT);
    }
  }

  @Nested
  class ResetToolChoice {
    AgentDefinition requiring(boolean reset) {
      return AgentDefinition.newBuilder(Fixtures.agent(5, "get_weather"))
          .setModelSettings(ModelSettings.newBuilder().setToolChoice("required").build())
          .setResetToolChoice(reset).build();
    }

    @Test
    void afterTheAgentCalledAToolItsToolChoiceIsNoLongerSent() {
      Transition t = start(requiring(true));
      assertThat(modelCalls(t).getFirst().getSettings().getToolChoice()).isEqualTo("required");
      Transition asked = on(t.state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", call("c1", "get_weather"))));
      assertThat(asked.state().getToolUsers()).containsExactly("weather");
      Transition next = on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
      ModelCall second = modelCalls(next).getFirst();
      assertThat(second.getSettings().getToolChoice()).isNull();
      // the agent's own definition is untouched
      assertThat(next.state().getAgent().getModelSettings().getToolChoice()).isEqualTo("required");

      // a new exchange (a follow-up message) asks with the tool choice again, as a new Runner.run does
      Transition done = on(next.state(), new RunEvent.ModelAnswered(answer(RUN + ":m2", text("Sunny."))));
      RunCommand more = RunCommand.newBuilder(Fixtures.command(RUN, RunCommandType.USER_MESSAGE)).setMessage("And Rome?").build();
      Transition again = on(done.state(), new RunEvent.CommandReceived(more));
      assertThat(modelCalls(again).getFirst().getSettings().getToolChoice()).isEqualTo("required");
    }

    @Test
    void withoutResetTheToolChoiceStays() {
      Transition asked = on(start(requiring(false)).state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", call("c1", "get_weather"))));
      Transition next = on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
      assertThat(modelCalls(next).getFirst().getSettings().getToolChoice()).isEqualTo("required");
    }
  }

  @Nested
  class Reasoning {
    @Test
    void reasoningItemsAreKeptReplayedAndLeftOutOfTurnEventsEncryptedContent() {
      ReasoningItem thought = ReasoningItem.newBuilder().setItemId("rs_1").setEncryptedContent("enc:abc")
          .setSummary(List.of("check the weather")).build();
      Transition asked = on(start(Fixtures.agent(5, "get_weather")).state(),
          new RunEvent.ModelAnswered(answer(RUN + ":m1", thought, call("c1", "get_weather"))));
      assertThat(asked.state().getItems()).hasSize(3).element(1).isInstanceOfSatisfying(ReasoningItem.class, r -> {
        assertThat(r.getEncryptedContent()).isEqualTo("enc:abc");
        assertThat(r.getAgent()).isEqualTo("weather");
      });
      ModelResponded event = (ModelResponded) steps(asked).stream().filter(ModelResponded.class::isInstance).findFirst().orElseThrow();
      assertThat(event.getOutput().getFirst()).isInstanceOfSatisfying(ReasoningItem.class, r -> {
        assertThat(r.getEncryptedContent()).isNull();
        assertThat(r.getSummary()).containsExactly("check the weather");
      });
      assertThat(event.getUsage().getReasoningTokens()).isEqualTo(12);
      assertThat(event.getUsage().getCachedInputTokens()).isEqualTo(64);

      Transition next = on(asked.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
      assertThat(modelCalls(next).getFirst().getInput()).extracting(i -> i.getClass().getSimpleName())
          .containsExactly("MessageItem", "ReasoningItem", "FunctionCallItem", "FunctionCallOutputItem");
      assertThat(next.state().getUsage().getCachedInputTokens()).isEqualTo(64);
      assertThat(next.state().getUsage().getReasoningTokens()).isEqualTo(12);
    }
  }

  @Nested
  class Images {
    AgentDefinition viewer() {
      return AgentDefinition.newBuilder(Fixtures.agent(5)).setCapabilities(List.of("filesystem")).build();
    }

    ImageContent png(int size, byte fill) {
      byte[] bytes = new byte[size];
      Arrays.fill(bytes, fill);
      return ImageContent.newBuilder().setMimeType("image/png").setData(ByteBuffer.wrap(bytes)).build();
    }

    Transition viewed(RunState s, String modelCallId, String toolCallId, ImageContent image, long budget) {
      Transition asked = on(s, new RunEvent.ModelAnswered(answer(modelCallId, new FunctionCallItem(toolCallId, "view_image",
          "{\"path\":\"a.png\"}", null))));
      SandboxCommand cmd = asked.effectsOf(Effect.SendSandboxCommand.class).getFirst().command();
      return on(asked.state(), new RunEvent.SandboxAnswered(SandboxResult.newBuilder().setRunId(RUN).setCallId(cmd.getCallId())
          .setSessionId(RUN).setTool("view_image").setOutput("image a.png (image/png, " + image.getData().remaining() + " bytes)")
          .setImages(List.of(image)).build(), budget));
    }

    @Test
    void anImageIsKeptOnceReferredToByHashAndGivenBackToTheModel() {
      Transition first = viewed(start(viewer()).state(), RUN + ":m1", "c1", png(1000, (byte) 1), 4096);
      RunState s = first.state();
      assertThat(s.getImages()).singleElement().satisfies(i -> {
        assertThat(i.getSize()).isEqualTo(1000);
        assertThat(i.getSha256()).hasSize(64);
        assertThat(i.getData().remaining()).isEqualTo(1000);
      });
      String sha = s.getImages().getFirst().getSha256();
      FunctionCallOutputItem out = (FunctionCallOutputItem) s.getItems().getLast();
      assertThat(out.getImages()).singleElement().satisfies(i -> {
        assertThat(i.getData()).isNull();
        assertThat(i.getSha256()).isEqualTo(sha);
      });
      ToolCallCompleted completed = (ToolCallCompleted) steps(first).stream().filter(ToolCallCompleted.class::isInstance).findFirst().orElseThrow();
      assertThat(completed.getImages()).singleElement().satisfies(i -> assertThat(i.getData()).isNull());
      // the model call carries the bytes
      FunctionCallOutputItem sent = (FunctionCallOutputItem) modelCalls(first).getFirst().getInput().getLast();
      assertThat(sent.getImages()).singleElement().satisfies(i -> assertThat(i.getData().remaining()).isEqualTo(1000));
      // the public copy carries none
      RunState published = RunStateMachine.published(s);
      assertThat(published.getImages()).singleElement().satisfies(i -> {
        assertThat(i.getData()).isNull();
        assertThat(i.getSha256()).isEqualTo(sha);
      });

      // the same image again costs nothing more
      Transition second = viewed(s, RUN + ":m2", "c2", png(1000, (byte) 1), 4096);
      assertThat(second.state().getImages()).hasSize(1);
      assertThat(modelCalls(second).getFirst().getInput()).filteredOn(FunctionCallOutputItem.class::isInstance)
          .allSatisfy(o -> assertThat(((FunctionCallOutputItem) o).getImages().getFirst().getData()).isNotNull());
    }

    @Test
    void anImageOverTheRunsBudgetIsNotKeptAndTheModelIsTold() {
      Transition first = viewed(start(viewer()).state(), RUN + ":m1", "c1", png(3000, (byte) 1), 4096);
      Transition second = viewed(first.state(), RUN + ":m2", "c2", png(2000, (byte) 2), 4096);
      assertThat(second.state().getImages()).hasSize(1);
      FunctionCallOutputItem out = (FunctionCallOutputItem) second.state().getItems().getLast();
      assertThat(out.getImages()).isEmpty();
      assertThat(out.getOutput()).startsWith("image a.png").contains("was not kept")
          .contains("turnpike.runner.max-image-bytes").contains("4096 bytes");
    }
  }

  @Nested
  class Upgrade {
    @Test
    void aV3StatesInlineImagesMoveToTheStoreAndItsToolUsersAreInferred() {
      byte[] png = {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3};
      Transition asked = on(start(Fixtures.agent(5, "get_weather")).state(),
          new RunEvent.ModelAnswered(answer(RUN + ":m1", call("c1", "get_weather"))));
      List<Object> items = new ArrayList<>(asked.state().getItems());
      items.add(new FunctionCallOutputItem("c1", "get_weather", "a map", false,
          List.of(ImageContent.newBuilder().setMimeType("image/png").setData(ByteBuffer.wrap(png)).build()), null));
      RunState v3 = RunState.newBuilder(asked.state()).setSchemaVersion(3).setItems(items).setImages(List.of())
          .setToolUsers(List.of()).build();

      RunState v4 = RunStateUpgrade.upgrade(v3);
      assertThat(v4.getSchemaVersion()).isEqualTo(RunStateMachine.SCHEMA_VERSION);
      assertThat(v4.getToolUsers()).containsExactly("weather");
      assertThat(v4.getImages()).singleElement().satisfies(i -> {
        assertThat(i.getSize()).isEqualTo(png.length);
        assertThat(io.turnpike.runner.run.Images.bytes(i.getData())).isEqualTo(png);
      });
      FunctionCallOutputItem out = (FunctionCallOutputItem) v4.getItems().getLast();
      assertThat(out.getImages()).singleElement().satisfies(i -> {
        assertThat(i.getData()).isNull();
        assertThat(i.getSha256()).isEqualTo(v4.getImages().getFirst().getSha256());
      });
    }
  }
}
