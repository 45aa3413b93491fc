package io.turnpike.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.EventOffset;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryKind;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.devkit.MemoryScript;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Phase 1 without I/O: the transcript the model reads, and its answer turned into candidates with provenance. */
class ExtractionTest {
  private static final EventOffset SOURCE = new EventOffset("turnpike.run-state", 2, 41L);
  private static final Instant NOW = Instant.parse("2026-12-03T10:00:00Z");

  private static RunState run() {
    RunState s = Fixtures.finished("run-7", Fixtures.agent("helper", Fixtures.config(3, null, 64, true)), RunStatus.COMPLETED,
        "alice", "I prefer window seats", null);
    List<Object> items = new ArrayList<>(s.getItems());
    items.add(new FunctionCallItem("c1", "get_weather", "{\"city\":\"Oslo\"}", null));
    items.add(FunctionCallOutputItem.newBuilder().setToolCallId("c1").setName("get_weather").setOutput("sunny").setIsError(false).build());
    items.add(MessageItem.newBuilder().setRole(Role.ASSISTANT).setText("Sunny in Oslo").build());
    s.setItems(items);
    return s;
  }

  @Test
  void theTranscriptNumbersItemsAndCountsTurns() {
    Transcript t = Transcript.of(run());
    assertThat(t.render()).contains("[0] user: I prefer window seats").contains("[1] tool call get_weather {\"city\":\"Oslo\"}")
        .contains("[2] tool output get_weather: sunny").contains("[3] assistant: Sunny in Oslo");
    assertThat(t.turnOf(List.of(0))).isZero();
    assertThat(t.turnOf(List.of(1, 2))).isEqualTo(1);
    assertThat(t.turnOf(List.of(3))).isEqualTo(2);
  }

  @Test
  void candidatesCarryProvenanceAndDeterministicIds() {
    RunState s = run();
    Transcript t = Transcript.of(s);
    String answer = """
        {"candidates":[
          {"kind":"preference","text":"The user prefers window seats","confidence":0.9,"items":[0, 99]},
          {"kind":"fact","text":"unsure","confidence":0.1,"items":[]},
          {"kind":"pitfall","text":"Weather tool needs a city","confidence":0.7,"items":[1,2]}]}""";
    MemoryCandidates out = Extraction.candidates(s, "helper/alice", t, answer, SOURCE, "small", true, NOW);
    assertThat(out.getExtractionId()).isEqualTo("run-7@5");
    assertThat(out.getCandidates()).hasSize(2);
    var first = out.getCandidates().get(0);
    assertThat(first.getCandidateId()).isEqualTo("run-7@5#0");
    assertThat(first.getKind()).isEqualTo(MemoryKind.PREFERENCE);
    assertThat(first.getProvenance().getItems()).as("an item that does not exist is not cited").containsExactly(0);
    assertThat(first.getProvenance().getUser()).isEqualTo("alice");
    assertThat(first.getProvenance().getEvents()).containsExactly(SOURCE);
    assertThat(first.getProvenance().getModel()).isEqualTo("small");
    assertThat(first.getProvenance().getScripted()).isTrue();
    assertThat(out.getCandidates().get(1).getCandidateId()).isEqualTo("run-7@5#1");
    assertThat(out.getCandidates().get(1).getProvenance().getTurn()).isEqualTo(1);
    // The same answer again names the same candidates.
    assertThat(Extraction.candidates(s, "helper/alice", t, answer, SOURCE, "small", true, NOW)).isEqualTo(out);
  }

  @Test
  void nothingWorthKeepingAndBadAnswers() {
    RunState s = run();
    Transcript t = Transcript.of(s);
    assertThat(Extraction.candidates(s, "helper", t, "{\"candidates\":[]}", SOURCE, "m", false, NOW).getCandidates()).isEmpty();
    assertThatThrownBy(() -> Extraction.candidates(s, "helper", t, "sorry, no JSON", SOURCE, "m", false, NOW))
        .hasMessageContaining("not JSON");
    assertThatThrownBy(() -> Extraction.candidates(s, "helper", t, "{\"memories\":[]}", SOURCE, "m", false, NOW))
        .hasMessageContaining("no candidates array");
  }

  @Test
  void theScriptedPhaseOneModelFollowsTheSchemaAndCanFindNothing() {
    RunState s = run();
    Transcript t = Transcript.of(s);
    String scripted = MemoryScriptAccess.extract(Extraction.input(s, t));
    MemoryCandidates out = Extraction.candidates(s, "helper", t, scripted, SOURCE, "m", true, NOW);
    assertThat(out.getCandidates()).singleElement().satisfies(c -> {
      assertThat(c.getText()).isEqualTo(MemoryScript.LABEL + " The user prefers: window seats");
      assertThat(c.getProvenance().getItems()).containsExactly(0);
    });
    RunState dull = Fixtures.finished("run-8", s.getAgent(), RunStatus.COMPLETED, null, "hello, nothing to remember here", "hi");
    assertThat(Extraction.candidates(dull, "helper", Transcript.of(dull),
        MemoryScriptAccess.extract(Extraction.input(dull, Transcript.of(dull))), SOURCE, "m", true, NOW).getCandidates()).isEmpty();
  }

  static final class MemoryScriptAccess {
    static String extract(String input) {
      var raw = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
      raw.putObject("text").putObject("format").put("name", MemoryScript.PHASE_ONE);
      var view = new io.turnpike.devkit.ModelRequestView("responses", "m", "i",
          List.of(new io.turnpike.devkit.InputItem.Message("user", input)), List.of(), raw);
      return MemoryScript.around(r -> io.turnpike.devkit.ScriptedReply.text("unused")).reply(view).text();
    }
  }
}
