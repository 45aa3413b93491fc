package io.turnpike.runner.run;

import static io.turnpike.runner.run.Fixtures.T0;
import static io.turnpike.runner.run.SdkFeaturesTest.RUN;
import static io.turnpike.runner.run.SdkFeaturesTest.answer;
import static io.turnpike.runner.run.SdkFeaturesTest.call;
import static io.turnpike.runner.run.SdkFeaturesTest.on;
import static io.turnpike.runner.run.SdkFeaturesTest.start;
import static io.turnpike.runner.run.SdkFeaturesTest.text;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.avro.TurnEvent;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Hosted tool calls in the state machine: recorded as already run, images kept once, replayed with the conversation. */
class HostedCallsTest {
  static final byte[] IMAGE = {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3, 4};

  static HostedToolCallItem search() {
    return HostedToolCallItem.newBuilder().setItemId("ws_1").setType("web_search_call").setStatus("completed")
        .setJson("{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"completed\",\"action\":{\"type\":\"search\",\"query\":\"q\"}}")
        .setSummary("searched \"q\"").build();
  }

  static HostedToolCallItem image(byte[] bytes, String id) {
    return HostedToolCallItem.newBuilder().setItemId(id).setType("image_generation_call").setStatus("completed")
        .setJson("{\"type\":\"image_generation_call\",\"id\":\"" + id + "\",\"status\":\"completed\",\"result\":null}")
        .setSummary("generated an image").setImage(ImageContent.newBuilder().setMimeType("image/png")
            .setData(ByteBuffer.wrap(bytes)).setSha256(Images.sha256(bytes)).setSize(bytes.length).build()).build();
  }

  static List<Object> responded(Transition t) {
    return t.effectsOf(Effect.Publish.class).stream().map(p -> p.event().getStep())
        .filter(ModelResponded.class::isInstance).map(s -> ((ModelResponded) s).getOutput()).findFirst().orElseThrow();
  }

  @Test
  void hostedCallsAreRecordedNotRunAndTheSameImageIsKeptOnce() {
    Transition t = start(Fixtures.agent(5, "get_weather"));
    t = RunStateMachine.apply(t.state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", search(), image(IMAGE, "ig_1"),
        call("call_1", "get_weather")), Map.of(), 1024), T0.plusSeconds(1));
    // only the function call goes to a worker
    assertThat(t.effectsOf(Effect.Publish.class)).extracting(p -> p.event().getStep())
        .filteredOn(ToolCallRequested.class::isInstance).hasSize(1);
    assertThat(t.state().getImages()).singleElement().satisfies(i -> assertThat(i.getData()).isNotNull());
    HostedToolCallItem kept = (HostedToolCallItem) t.state().getItems().get(2);
    assertThat(kept.getImage().getData()).as("the item refers to the image").isNull();
    assertThat(kept.getAgent()).isEqualTo("weather");
    assertThat(((HostedToolCallItem) responded(t).get(1)).getImage().getData()).as("so does the event").isNull();

    t = on(t.state(), new RunEvent.ToolAnswered(Fixtures.toolResult(RUN, RUN + ":t1.1", "get_weather", "sunny")));
    ModelCall next = t.effectsOf(Effect.SendModelCall.class).getFirst().call();
    assertThat(next.getInput()).extracting(o -> o.getClass().getSimpleName()).containsExactly("MessageItem",
        "HostedToolCallItem", "HostedToolCallItem", "FunctionCallItem", "FunctionCallOutputItem");
    HostedToolCallItem replayed = (HostedToolCallItem) next.getInput().get(2);
    assertThat(replayed.getImage().getData()).as("the model call gets the bytes back").isNotNull();

    // the same image again is not kept twice; an answer of hosted calls only completes with empty text
    t = RunStateMachine.apply(t.state(), new RunEvent.ModelAnswered(answer(RUN + ":m2", image(IMAGE, "ig_2")), Map.of(), 1024),
        T0.plusSeconds(3));
    assertThat(t.state().getImages()).hasSize(1);
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(t.state().getFinalOutput()).isEmpty();
  }

  @Test
  void anImageOverTheBudgetIsNotKeptAndTheItemSaysSo() {
    Transition t = start(Fixtures.agent(5));
    t = RunStateMachine.apply(t.state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", image(IMAGE, "ig_1"), text("Drawn.")),
        Map.of(), 4), T0.plusSeconds(1));
    assertThat(t.state().getImages()).isEmpty();
    HostedToolCallItem item = (HostedToolCallItem) t.state().getItems().get(1);
    assertThat(item.getImage().getData()).isNull();
    assertThat(item.getImage().getSha256()).isEqualTo(Images.sha256(IMAGE));
    assertThat(item.getSummary()).contains("was not kept").contains("turnpike.runner.max-image-bytes");
  }

  @Test
  void underOutputGuardrailsTheHostedCallsAreRecordedAndOnlyTheTextWaits() {
    AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5)).setGuardrails(List.of(GuardrailSpec.newBuilder()
        .setName("pii").setStage(GuardrailStage.OUTPUT).setType("pii").setAction(GuardrailAction.BLOCK).build())).build();
    Transition t = start(agent);
    t = on(t.state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", search(), text("Sunny, says the web."))));
    assertThat(t.state().getItems()).extracting(o -> o.getClass().getSimpleName()).containsExactly("MessageItem", "HostedToolCallItem");
    assertThat(responded(t)).extracting(o -> o.getClass().getSimpleName()).containsExactly("HostedToolCallItem", "MessageItem");
    assertThat(t.state().getStatus()).isEqualTo(RunStatus.RUNNING);
    assertThat(t.effectsOf(Effect.Publish.class)).extracting(p -> p.event().getStep().getClass().getSimpleName())
        .contains("GuardrailCheckRequested");
  }

  @Test
  void removeToolCallsLeavesHostedCallsBehindToo() {
    AgentDefinition triage = AgentDefinition.newBuilder(Fixtures.agent(5)).setName("triage").setHandoffs(List.of("billing"))
        .setHandoffInputFilter(io.turnpike.avro.HandoffInputFilter.REMOVE_TOOL_CALLS).build();
    AgentDefinition billing = AgentDefinition.newBuilder(Fixtures.agent(5)).setName("billing").build();
    Transition t = start(triage);
    t = on(t.state(), new RunEvent.ModelAnswered(answer(RUN + ":m1", search(), call("call_1", "transfer_to_billing")),
        Map.of("billing", billing)));
    assertThat(t.effectsOf(Effect.SendModelCall.class).getFirst().call().getInput())
        .extracting(o -> o.getClass().getSimpleName()).containsExactly("MessageItem");
  }

  @Test
  void aTurnEventWithHostedItemsAndCitationsRoundTripsInAvro() throws Exception {
    io.turnpike.avro.MessageItem cited = io.turnpike.avro.MessageItem.newBuilder(text("Sunny.")).setAnnotations(List.of(
        io.turnpike.avro.Annotation.newBuilder().setType("url_citation").setUrl("https://yr.no").setStartIndex(0).setEndIndex(6)
            .build())).build();
    TurnEvent e = TurnEvent.newBuilder().setRunId(RUN).setSeq(1).setTurn(1).setAgent("a").setAt(T0)
        .setStep(new ModelResponded(RUN + ":m1", List.of(search(), cited), null)).build();
    assertThat(TurnEvent.fromByteBuffer(e.toByteBuffer())).isEqualTo(e);
  }
}
