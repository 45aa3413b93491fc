package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryRefreshed;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.RunMemory;
import io.turnpike.avro.RunState;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** memory.liveUpdate in the state machine: a newer memory becomes a step of its own, and the next model call carries it. */
class MemoryRefreshTest {
  static final String RUN = "run-live";

  static RunMemory memory(long version, String text) {
    return new RunMemory("weather", version, "## Memory (weather, version " + version + ")\n- " + text, Map.of());
  }

  static RunState waitingForTool() {
    AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5, "get_weather"))
        .setMemory(MemoryConfig.newBuilder().setRead(true).setLiveUpdate(true).build()).build();
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "Weather?"), agent, "trace",
        memory(1, "Oslo is rainy")), T0).state();
    return RunStateMachine.apply(s, new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, RUN + ":m1", "get_weather",
        "{\"city\":\"Oslo\"}")), T0.plusSeconds(1)).state();
  }

  @Test
  void aNewerMemoryIsAStepAndTheNextModelCallCarriesIt() {
    RunState waiting = waitingForTool();
    Transition t = RunStateMachine.apply(waiting, new RunEvent.MemoryRefreshed(memory(2, "Oslo is sunny")), T0.plusSeconds(2));

    assertThat(t.state().getMemory().getVersion()).isEqualTo(2);
    assertThat(t.state().getVersion()).isEqualTo(waiting.getVersion() + 1);
    assertThat(t.effectsOf(Effect.Publish.class)).singleElement()
        .satisfies(p -> assertThat(p.event().getStep()).isEqualTo(new MemoryRefreshed("weather", 1L, 2L)));
    assertThat(t.effectsOf(Effect.SendModelCall.class)).isEmpty(); // it only changes what later calls carry

    Transition answered = RunStateMachine.apply(t.state(), new RunEvent.ToolAnswered(
        Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")), T0.plusSeconds(3));
    ModelCall next = answered.effectsOf(Effect.SendModelCall.class).getFirst().call();
    assertThat(next.getInstructions()).contains("version 2").contains("Oslo is sunny").doesNotContain("rainy");
  }

  @Test
  void theSameOrAnOlderVersionAnotherScopeOrAnEndedRunChangeNothing() {
    RunState waiting = waitingForTool();
    assertThat(RunStateMachine.apply(waiting, new RunEvent.MemoryRefreshed(memory(1, "again")), T0).changed()).isFalse();
    assertThat(RunStateMachine.apply(waiting, new RunEvent.MemoryRefreshed(memory(0, "older")), T0).changed()).isFalse();
    RunMemory other = new RunMemory("billing", 9L, "## Memory (billing)", Map.of());
    assertThat(RunStateMachine.apply(waiting, new RunEvent.MemoryRefreshed(other), T0).changed()).isFalse();
    RunState ended = RunStateMachine.apply(waiting, new RunEvent.Abandoned("stop"), T0).state();
    assertThat(RunStateMachine.apply(ended, new RunEvent.MemoryRefreshed(memory(5, "late")), T0).changed()).isFalse();
  }
}
