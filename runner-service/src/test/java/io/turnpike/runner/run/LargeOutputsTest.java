package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolCall;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Tool outputs out of line: what the store keeps, what the state machine sees, and that each is written once. */
class LargeOutputsTest {
  private static final String RUN = "run-1";

  private static RunState withOutputs(String... outputs) {
    Transition t = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request(RUN, "go"), Fixtures.agent(60, "fetch"), "t"), T0);
    int turn = 1;
    for (String output : outputs) {
      t = RunStateMachine.apply(t.state(), new RunEvent.ModelAnswered(Fixtures.toolCalls(RUN, RUN + ":m" + turn++, "fetch", "{}")), T0);
      ToolCall call = t.effectsOf(Effect.SendToolCall.class).get(0).call();
      t = RunStateMachine.apply(t.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, call.getCallId(), "fetch", output)), T0);
    }
    return t.state();
  }

  private static List<FunctionCallOutputItem> outputs(RunState s) {
    return s.getItems().stream().filter(i -> i instanceof FunctionCallOutputItem).map(i -> (FunctionCallOutputItem) i).toList();
  }

  @Test
  void largeOutputsAreStoredOnceAsReferencesAndComeBackWhole() {
    String big = "é".repeat(20_000); // 40,000 UTF-8 bytes
    RunState full = withOutputs("small", big, big);

    LargeOutputs.Split split = LargeOutputs.split(full, 2048);
    List<FunctionCallOutputItem> stored = outputs(split.stored());
    assertThat(stored.get(0).getOutput()).isEqualTo("small");
    assertThat(stored.get(0).getOutputRef()).isNull();
    assertThat(stored.get(1).getOutput()).startsWith(big.substring(0, LargeOutputs.PREVIEW_CHARS))
        .endsWith("[... 40000 bytes in all; the rest is kept out of the RunState (turnpike.turn-events has it whole)]")
        .hasSizeLessThan(LargeOutputs.PREVIEW_CHARS + 120);
    assertThat(stored.get(1).getOutputRef().getSize()).isEqualTo(40_000);
    assertThat(stored.get(2).getOutputRef()).isEqualTo(stored.get(1).getOutputRef());
    assertThat(split.added()).hasSize(1); // the same output twice is kept once
    assertThat(LargeOutputs.references(split.stored())).containsExactly(stored.get(1).getOutputRef().getSha256());

    Map<String, byte[]> blobs = new HashMap<>(split.added());
    RunState loaded = LargeOutputs.withOutputs(split.stored(), blobs::get);
    assertThat(outputs(loaded)).extracting(FunctionCallOutputItem::getOutput).containsExactly("small", big, big);
    // loaded outputs keep their reference: storing the state again writes nothing new
    LargeOutputs.Split again = LargeOutputs.split(loaded, 2048);
    assertThat(again.added()).isEmpty();
    assertThat(again.stored().getItems()).isEqualTo(split.stored().getItems());
    assertThat(split.added().values().iterator().next()).isEqualTo(big.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void aStateWithoutLargeOutputsIsStoredAsItIs() {
    RunState full = withOutputs("a", "b");
    assertThat(LargeOutputs.split(full, 2048).stored()).isSameAs(full);
    assertThat(LargeOutputs.withOutputs(full, sha -> null)).isSameAs(full);
  }

  @Test
  void aMissingOutputIsSaidSoRatherThanLost() {
    RunState stored = LargeOutputs.split(withOutputs("z".repeat(5000)), 2048).stored();
    RunState loaded = LargeOutputs.withOutputs(stored, sha -> null);
    assertThat(outputs(loaded).get(0).getOutput()).contains("missing from the runner's run-blobs store");
  }

  @Test
  void theStoredStateIsSmallWhateverTheOutputsWeigh() {
    String[] outputs = new String[40];
    for (int i = 0; i < outputs.length; i++) {
      outputs[i] = i + ":" + "y".repeat(20_480);
    }
    RunState full = withOutputs(outputs);
    byte[] fullBytes = OrchestratorTopologyTest.SERDES.runState().encode(full);
    byte[] storedBytes = OrchestratorTopologyTest.SERDES.runState().encode(LargeOutputs.split(full, 2048).stored());
    assertThat(fullBytes.length).isGreaterThan(800_000);
    assertThat(storedBytes.length).isLessThan(40 * 700 + 8_000); // a preview per output, not the outputs
  }
}
