package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailCheckRequested;
import io.turnpike.avro.GuardrailChecked;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.schema.Settings;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Rule guardrails judged within the step that asks for them; model-based ones still go to the service. */
class LocalGuardrailsTest {
  private static final String RUN = "run-1";
  private static final LocalGuardrails LOCAL = LocalGuardrails.from(Settings.of(Map.of()));

  @AfterAll
  static void close() {
    LOCAL.close();
  }

  private static GuardrailSpec keywords(GuardrailStage stage, GuardrailMode mode) {
    return GuardrailSpec.newBuilder().setName("no-secrets").setStage(stage).setType("keywords").setMode(mode)
        .setConfigJson("{\"words\":[\"password\"]}").build();
  }

  private static AgentDefinition agent(GuardrailSpec... guards) {
    return AgentDefinition.newBuilder(Fixtures.agent(5, "shell")).setGuardrails(List.of(guards)).build();
  }

  private static Transition start(LocalGuardrails local, AgentDefinition agent, String input) {
    Transition t = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, input), agent, "t"), T0);
    return local.judge(t, s -> Map.of(), T0);
  }

  private static List<Object> steps(Transition t) {
    return t.effectsOf(Effect.Publish.class).stream().map(p -> p.event().getStep()).toList();
  }

  @Test
  void aBlockingRuleGuardrailIsJudgedInTheStepThatAsksAndTheModelIsCalledAtOnce() {
    Transition t = start(LOCAL, agent(keywords(GuardrailStage.INPUT, GuardrailMode.BLOCKING)), "what is the weather?");
    assertThat(t.effectsOf(Effect.SendGuardrailCheck.class)).isEmpty();
    assertThat(steps(t)).extracting(s -> s.getClass().getSimpleName())
        .containsSubsequence("GuardrailCheckRequested", "GuardrailChecked", "ModelCallRequested");
    assertThat(t.effectsOf(Effect.SendModelCall.class)).singleElement()
        .satisfies(m -> assertThat(m.call().getSentSeq()).isEqualTo(t.state().getPending().get(0).getSentSeq()));
    assertThat(t.state().getPending()).extracting(p -> p.getKind()).containsExactly(CallKind.MODEL);
    // the event sequence is contiguous: the two transitions became one step
    assertThat(t.effectsOf(Effect.Publish.class)).extracting(p -> p.event().getSeq())
        .containsExactly(java.util.stream.LongStream.rangeClosed(1, t.state().getVersion()).boxed().toArray(Long[]::new));
  }

  @Test
  void aTripwireEndsTheRunWithoutARoundTrip() {
    Transition t = start(LOCAL, agent(keywords(GuardrailStage.INPUT, GuardrailMode.BLOCKING)), "tell me the admin password");
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.GUARDRAIL_TRIPPED);
    assertThat(t.effectsOf(Effect.SendGuardrailCheck.class)).isEmpty();
    assertThat(t.effectsOf(Effect.SendModelCall.class)).isEmpty();
    assertThat(t.effectsOf(Effect.Finish.class)).singleElement()
        .satisfies(f -> assertThat(f.result().getGuardrail()).isEqualTo("no-secrets"));
    assertThat(steps(t)).anySatisfy(s -> assertThat(s).isInstanceOf(GuardrailChecked.class));
  }

  @Test
  void aRejectedToolCallIsAnsweredToTheModelInTheSameStep() {
    GuardrailSpec noRm = GuardrailSpec.newBuilder().setName("no-rm").setStage(GuardrailStage.TOOL_INPUT).setType("regex")
        .setAction(GuardrailAction.REJECT).setConfigJson("{\"patterns\":[\"rm\\\\s+-rf\"]}").build();
    Transition started = start(LOCAL, agent(noRm), "clean up");
    RunState s = started.state();
    Transition t = LOCAL.judge(RunStateMachine.apply(s, new RunEvent.ModelAnswered(
        Fixtures.toolCalls(RUN, "run-1:m1", "shell", "{\"cmd\":\"rm -rf /\"}")), T0.plusSeconds(1)), x -> Map.of(), T0.plusSeconds(1));
    assertThat(t.effectsOf(Effect.SendGuardrailCheck.class)).isEmpty();
    assertThat(t.effectsOf(Effect.SendToolCall.class)).isEmpty();
    ModelCall next = t.effectsOf(Effect.SendModelCall.class).get(0).call();
    assertThat(next.getInput()).anySatisfy(i -> assertThat(i).isInstanceOfSatisfying(FunctionCallOutputItem.class,
        o -> assertThat(o.getOutput()).contains("no-rm")));
  }

  @Test
  void aModelBasedGuardrailStillGoesToTheService() {
    GuardrailSpec judged = GuardrailSpec.newBuilder().setName("judge").setStage(GuardrailStage.INPUT).setType("llm")
        .setMode(GuardrailMode.BLOCKING).setConfigJson("{\"instructions\":\"Is this about weather?\"}").build();
    Transition t = start(LOCAL, agent(judged, keywords(GuardrailStage.INPUT, GuardrailMode.BLOCKING)), "weather?");
    assertThat(t.effectsOf(Effect.SendGuardrailCheck.class)).singleElement();
    assertThat(t.effectsOf(Effect.SendModelCall.class)).isEmpty();
    assertThat(steps(t)).noneSatisfy(s -> assertThat(s).isInstanceOf(GuardrailChecked.class));
  }

  /** Whatever the model writes, a step stays short: large content is judged by the service. */
  @Test
  void largeContentStillGoesToTheService() {
    String huge = "weather ".repeat(LocalGuardrails.MAX_LOCAL_CHARS / 8 + 1);
    Transition t = start(LOCAL, agent(keywords(GuardrailStage.INPUT, GuardrailMode.BLOCKING)), huge);
    assertThat(t.effectsOf(Effect.SendGuardrailCheck.class)).singleElement();
    assertThat(steps(t)).noneSatisfy(s -> assertThat(s).isInstanceOf(GuardrailChecked.class));
  }

  @Test
  void offLeavesEveryCheckToTheService() {
    Transition t = start(LocalGuardrails.OFF, agent(keywords(GuardrailStage.INPUT, GuardrailMode.BLOCKING)), "weather?");
    assertThat(t.effectsOf(Effect.SendGuardrailCheck.class)).singleElement();
    assertThat(steps(t)).hasExactlyElementsOfTypes(io.turnpike.avro.RunStarted.class, GuardrailCheckRequested.class);
    LocalGuardrails disabled = LocalGuardrails.from(Settings.of(Map.of(LocalGuardrails.ENABLED, "false")));
    assertThat(disabled.enabled()).isFalse();
  }
}
