package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.RunRequest;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the state machine puts in a ModelCall for streaming and the model provider: the invoker needs nothing else. */
class StreamingDecisionTest {
  static ModelCall firstCall(RunRequest request, AgentDefinition agent) {
    Transition t = RunStateMachine.apply(null, new RunEvent.Started(request, agent, "trace-1"), T0);
    return t.effectsOf(Effect.SendModelCall.class).getFirst().call();
  }

  static RunRequest request(boolean stream) {
    return RunRequest.newBuilder(Fixtures.request("run-1", "Weather in Oslo?")).setStream(stream).build();
  }

  static AgentDefinition streamingAgent() {
    return AgentDefinition.newBuilder(Fixtures.agent(5)).setModelSettings(ModelSettings.newBuilder().setStream(true).build())
        .build();
  }

  @Test
  void aCallStreamsWhenTheRunOrTheAgentAsks() {
    assertThat(firstCall(request(false), Fixtures.agent(5)).getStream()).isFalse();
    assertThat(firstCall(request(true), Fixtures.agent(5)).getStream()).isTrue();
    assertThat(firstCall(request(false), streamingAgent()).getStream()).isTrue();
    Transition t = RunStateMachine.apply(null, new RunEvent.Started(request(true), Fixtures.agent(5), null), T0);
    assertThat(t.state().getStream()).as("kept for the run's later calls").isTrue();
  }

  @Test
  void anAnswerUnderAnOutputGuardrailIsNeverStreamed() {
    GuardrailSpec out = GuardrailSpec.newBuilder().setName("pii-out").setStage(GuardrailStage.OUTPUT).setType("pii")
        .setAction(GuardrailAction.REDACT).build();
    GuardrailSpec in = GuardrailSpec.newBuilder(out).setName("no-secrets").setStage(GuardrailStage.INPUT)
        .setType("keywords").setAction(GuardrailAction.BLOCK).setConfigJson("{\"words\":[\"x\"]}").build();
    assertThat(firstCall(request(true), AgentDefinition.newBuilder(streamingAgent()).setGuardrails(List.of(out)).build())
        .getStream()).isFalse();
    assertThat(firstCall(request(true), AgentDefinition.newBuilder(Fixtures.agent(5)).setGuardrails(List.of(in)).build())
        .getStream()).isTrue();
  }

  @Test
  void theCallNamesTheAgentsProvider() {
    assertThat(firstCall(request(false), Fixtures.agent(5)).getModelProvider()).isNull();
    assertThat(firstCall(request(false), AgentDefinition.newBuilder(Fixtures.agent(5)).setModelProvider("local-llama").build())
        .getModelProvider()).isEqualTo("local-llama");
  }
}
