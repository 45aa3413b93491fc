package io.turnpike.memory;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryCommand;
import io.turnpike.avro.MemoryCommandType;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryConsolidation;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryLine;
import io.turnpike.avro.RunStatus;
import io.turnpike.devkit.MemoryScript;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Phase 2, edits and forgetting on the real topology (TopologyTestDriver), answered by the devkit's scripted
 * phase-two model as the consolidation worker would be.
 */
class MemoryTopologyTest {
  private static final String SCOPE = "helper";
  private static final MemoryConfig CONFIG = Fixtures.config(3, 60_000L, 64, true);

  private TurnpikeSerdes serdes;
  private MemorySerdes memory;
  private TopologyTestDriver driver;
  private TestInputTopic<String, byte[]> candidates;
  private TestInputTopic<String, byte[]> results;
  private TestInputTopic<String, byte[]> commands;
  private TestInputTopic<String, byte[]> runStates;
  private TestOutputTopic<String, byte[]> documents;
  private TestOutputTopic<String, byte[]> requests;
  private TestOutputTopic<String, byte[]> deadLetters;
  private Instant t0;
  private TestClock clock;

  @BeforeEach
  void start() throws Exception {
    serdes = TurnpikeSerdes.forUrl("mock://memory-topology-" + UUID.randomUUID());
    memory = MemorySerdes.using(serdes.registry());
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, "memory-test");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("memory-topology").toString());
    t0 = Instant.parse("2026-12-03T10:00:00Z");
    clock = new TestClock(t0);
    driver = new TopologyTestDriver(MemoryTopology.build(serdes.runState(), memory, Duration.ofSeconds(1), Duration.ofMinutes(5),
        clock), p, t0);
    var ss = new StringSerializer();
    var bs = new ByteArraySerializer();
    candidates = driver.createInputTopic(Topics.MEMORY_CANDIDATES.name(), ss, bs);
    results = driver.createInputTopic(Topics.MEMORY_CONSOLIDATION_RESULTS.name(), ss, bs);
    commands = driver.createInputTopic(Topics.MEMORY_COMMANDS.name(), ss, bs);
    runStates = driver.createInputTopic(Topics.RUN_STATE.name(), ss, bs);
    var sd = new StringDeserializer();
    var bd = new ByteArrayDeserializer();
    documents = driver.createOutputTopic(Topics.MEMORY.name(), sd, bd);
    requests = driver.createOutputTopic(Topics.MEMORY_CONSOLIDATION_REQUESTS.name(), sd, bd);
    deadLetters = driver.createOutputTopic(Topics.DEAD_LETTERS.name(), sd, bd);
  }

  @AfterEach
  void stop() {
    driver.close();
  }

  private void send(MemoryCandidates batch) {
    candidates.pipeInput(batch.getScope(), memory.candidates().serialize(Topics.MEMORY_CANDIDATES.name(), batch));
  }

  private void command(String key, MemoryCommand c) {
    commands.pipeInput(key, memory.command().serialize(Topics.MEMORY_COMMANDS.name(), c));
  }

  private MemoryConsolidation nextRequest() {
    return memory.consolidation().deserialize(Topics.MEMORY_CONSOLIDATION_REQUESTS.name(), requests.readValue());
  }

  /** What the consolidation worker does, with the scripted model. */
  private MemoryConsolidation answer(MemoryConsolidation request) {
    return Consolidation.answer(request, scriptedPhaseTwo(request), true, Instant.now());
  }

  private static String scriptedPhaseTwo(MemoryConsolidation request) {
    return MemoryScriptAccess.consolidate(Consolidation.input(request));
  }

  private void reply(MemoryConsolidation answer) {
    results.pipeInput(answer.getScope(), memory.consolidation().serialize(Topics.MEMORY_CONSOLIDATION_RESULTS.name(), answer));
  }

  private List<MemoryDocument> docs() {
    return documents.readValuesToList().stream().map(v -> memory.document().deserialize(Topics.MEMORY.name(), v)).toList();
  }

  private MemoryDocument consolidateThreeRuns() {
    send(Fixtures.batch(SCOPE, "run-1", CONFIG, t0, "The user lives in Oslo"));
    send(Fixtures.batch(SCOPE, "run-2", CONFIG, t0.plusSeconds(1), "The user prefers: window seats"));
    assertThat(requests.isEmpty()).as("no consolidation below the threshold").isTrue();
    send(Fixtures.batch(SCOPE, "run-3", CONFIG, t0.plusSeconds(2), "The user prefers: aisle seats", "The user lives in Oslo."));
    MemoryConsolidation req = nextRequest();
    assertThat(req.getCandidates()).hasSize(4);
    assertThat(requests.isEmpty()).isTrue();
    reply(answer(req));
    List<MemoryDocument> docs = docs();
    assertThat(docs).hasSize(1);
    return docs.get(0);
  }

  @Test
  void consolidatesAtTheThresholdMergingDuplicatesTowardTheNewest() {
    MemoryDocument doc = consolidateThreeRuns();
    assertThat(doc.getVersion()).isEqualTo(1);
    assertThat(doc.getLines()).extracting(MemoryLine::getText)
        .containsExactly("The user lives in Oslo.", "The user prefers: aisle seats");
    assertThat(doc.getLines().get(0).getSources()).containsExactly("run-1", "run-3");
    assertThat(doc.getLines().get(1).getSources()).containsExactly("run-2", "run-3");
    assertThat(doc.getLines()).extracting(MemoryLine::getId).containsExactly("L1", "L2");
    assertThat(doc.getPendingCandidates()).isZero();
  }

  @Test
  void redeliveredExtractionsAndAnswersChangeNothing() {
    send(Fixtures.batch(SCOPE, "run-1", CONFIG, t0, "A"));
    send(Fixtures.batch(SCOPE, "run-1", CONFIG, t0, "A"));
    send(Fixtures.batch(SCOPE, "run-1", CONFIG, t0, "A"));
    assertThat(requests.isEmpty()).as("one extraction delivered three times is one candidate").isTrue();
    send(Fixtures.batch(SCOPE, "run-2", CONFIG, t0, "B"));
    send(Fixtures.batch(SCOPE, "run-3", CONFIG, t0, "C"));
    MemoryConsolidation req = nextRequest();
    MemoryConsolidation ans = answer(req);
    reply(ans);
    reply(ans); // the worker is at least once
    assertThat(docs()).hasSize(1);
    assertThat(requests.isEmpty()).isTrue();
  }

  @Test
  void theAgeThresholdConsolidatesFewerCandidatesByThePunctuator() {
    send(Fixtures.batch(SCOPE, "run-1", CONFIG, t0, "A"));
    advance(Duration.ofSeconds(30));
    assertThat(requests.isEmpty()).as("not yet a minute old").isTrue();
    advance(Duration.ofSeconds(40));
    MemoryConsolidation req = nextRequest();
    assertThat(req.getCandidates()).hasSize(1);
  }

  private void advance(Duration d) {
    clock.advance(d);
    driver.advanceWallClockTime(d);
  }

  @Test
  void atMostMaxRawCandidatesGoIntoOneConsolidationAndTheRestFollow() {
    MemoryConfig small = Fixtures.config(2, null, 2, true);
    send(Fixtures.batch(SCOPE, "run-1", small, t0, "A", "B", "C"));
    MemoryConsolidation first = nextRequest();
    assertThat(first.getCandidates()).extracting(c -> c.getText()).containsExactly("A", "B");
    reply(answer(first));
    assertThat(docs().get(0).getPendingCandidates()).as("C waits: one is below the threshold").isEqualTo(1);
    assertThat(requests.isEmpty()).isTrue();
    send(Fixtures.batch(SCOPE, "run-2", small, t0.plusSeconds(1), "D"));
    MemoryConsolidation second = nextRequest();
    assertThat(second.getCandidates()).extracting(c -> c.getText()).containsExactly("C", "D");
    assertThat(second.getLines()).hasSize(2);
  }

  @Test
  void memoryUpdateEditsAndRemovesLinesAtOnceWithTheEditingRunAsSource() {
    consolidateThreeRuns();
    runStates.pipeInput("run-9", serdes.runState().serialize(Topics.RUN_STATE.name(),
        Fixtures.finished("run-9", Fixtures.agent(SCOPE, CONFIG), RunStatus.RUNNING, null, "hi", null)));
    command("run-9", MemoryCommand.newBuilder().setCommandId("run-9:t1.1").setType(MemoryCommandType.UPDATE_LINE)
        .setRunId("run-9").setLineId("L1").setText("The user moved to Bergen").setReason("stale").setRequestedAt(t0).build());
    MemoryDocument edited = docs().get(0);
    assertThat(edited.getVersion()).isEqualTo(2);
    MemoryLine l1 = edited.getLines().get(0);
    assertThat(l1.getText()).isEqualTo("The user moved to Bergen");
    assertThat(l1.getSources()).containsExactly("run-1", "run-3", "run-9");
    assertThat(l1.getEditReason()).isEqualTo("stale");
    // The same call delivered again is applied once.
    command("run-9", MemoryCommand.newBuilder().setCommandId("run-9:t1.1").setType(MemoryCommandType.UPDATE_LINE)
        .setRunId("run-9").setLineId("L1").setText("The user moved to Bergen").setReason("stale").setRequestedAt(t0).build());
    assertThat(documents.isEmpty()).isTrue();
    command(SCOPE, MemoryCommand.newBuilder().setCommandId("cli-1").setType(MemoryCommandType.REMOVE_LINE).setScope(SCOPE)
        .setLineId("L2").setReason("wrong").setRequestedAt(t0).build());
    assertThat(docs().get(0).getLines()).extracting(MemoryLine::getId).containsExactly("L1");
  }

  @Test
  void badCommandsAreDeadLetteredWithTheReason() {
    consolidateThreeRuns();
    command("run-unknown", MemoryCommand.newBuilder().setCommandId("x").setType(MemoryCommandType.REMOVE_LINE).setRunId("run-unknown")
        .setLineId("L1").setReason("r").setRequestedAt(t0).build());
    command(SCOPE, MemoryCommand.newBuilder().setCommandId("y").setType(MemoryCommandType.REMOVE_LINE).setScope(SCOPE)
        .setLineId("L77").setReason("r").setRequestedAt(t0).build());
    commands.pipeInput("junk", new byte[] {1, 2, 3});
    command(SCOPE, MemoryCommand.newBuilder().setCommandId("z").setType(MemoryCommandType.UPDATE_LINE).setScope(SCOPE)
        .setLineId("L1").setText("y".repeat(100_000)).setReason("r").setRequestedAt(t0).build());
    List<TestRecord<String, byte[]>> dl = deadLetters.readRecordsToList();
    assertThat(dl).hasSize(4);
    assertThat(reason(dl.get(0))).contains("run run-unknown has no memory scope");
    assertThat(reason(dl.get(1))).contains("has no line 'L77'");
    assertThat(reason(dl.get(2))).contains("cannot decode the memory command");
    assertThat(reason(dl.get(3))).contains("a memory line is at most 500 characters; the new text has 100000");
    assertThat(documents.isEmpty()).isTrue();
  }

  @Test
  void badCandidateRecordsAreDeadLetteredAndTheScopeGoesOn() {
    candidates.pipeInput(SCOPE, new byte[] {0, 0, 0, 0, 9, 1});
    MemoryCandidates wrongKey = Fixtures.batch("other", "run-1", CONFIG, t0, "A");
    candidates.pipeInput(SCOPE, memory.candidates().serialize(Topics.MEMORY_CANDIDATES.name(), wrongKey));
    List<TestRecord<String, byte[]>> dl = deadLetters.readRecordsToList();
    assertThat(dl).hasSize(2);
    assertThat(reason(dl.get(0))).contains("cannot use the record");
    assertThat(reason(dl.get(1))).contains("is not its scope 'other'");
    assertThat(TurnpikeHeaders.get(dl.get(1).headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.MEMORY_CANDIDATES.name());
    consolidateThreeRuns();
  }

  private static String reason(TestRecord<String, byte[]> r) {
    return TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_REASON);
  }

  @Test
  void forgettingARunRemovesExactlyTheLinesRestingOnlyOnItAndItsPendingCandidates() {
    send(Fixtures.batch(SCOPE, "run-1", CONFIG, t0, "Only from run one"));
    send(Fixtures.batch(SCOPE, "run-2", CONFIG, t0.plusSeconds(1), "Shared fact"));
    send(Fixtures.batch(SCOPE, "run-3", CONFIG, t0.plusSeconds(2), "Shared fact", "Only from run three"));
    reply(answer(nextRequest()));
    assertThat(docs().get(0).getLines()).hasSize(3);
    send(Fixtures.batch(SCOPE, "run-4", CONFIG, t0.plusSeconds(3), "Pending from run four"));
    MemoryCommand forget = Commands.forgetRun("run-3", t0);
    command(Commands.key(forget), forget);
    // At once: run 3's own line is gone, and so is the shared one (its text may hold what run 3 said) ...
    MemoryDocument after = docs().get(0);
    assertThat(after.getLines()).extracting(MemoryLine::getText).containsExactly("Only from run one");
    assertThat(after.getChange()).isEqualTo("run run-3 forgotten; 1 line(s) that rested partly on it are re-consolidated "
        + "from what is left");
    // ... until it is re-consolidated from run 2's evidence alone, below the threshold (2 candidates of 3).
    MemoryConsolidation rebuild = nextRequest();
    assertThat(rebuild.getCandidates()).extracting(c -> c.getCandidateId()).containsExactly("run-2@5#0", "run-4@5#0");
    assertThat(rebuild.getLines()).extracting(MemoryLine::getText).containsExactly("Only from run one");
    reply(answer(rebuild));
    MemoryDocument rebuilt = docs().get(0);
    assertThat(rebuilt.getLines()).extracting(MemoryLine::getText)
        .containsExactly("Only from run one", "Shared fact", "Pending from run four");
    assertThat(rebuilt.getLines().get(1).getSources()).containsExactly("run-2");
    assertThat(rebuilt.getLines().get(1).getEvidence()).containsExactly("run-2@5#0");
    assertThat(rebuilt.getChange()).contains("rebuilding after a forget");
    assertThat(requests.isEmpty()).isTrue();
    // Forget again: nothing left to change, nothing published.
    command(Commands.key(forget), Commands.forgetRun("run-3", t0));
    assertThat(documents.isEmpty()).isTrue();
    // Run 4's line rests only on it: forgetting it removes the line; a late candidate of it is dropped on arrival.
    command("forget:run:run-4", Commands.forgetRun("run-4", t0));
    assertThat(docs().get(0).getLines()).extracting(MemoryLine::getText).containsExactly("Only from run one", "Shared fact");
    assertThat(requests.isEmpty()).as("nothing to rebuild").isTrue();
    send(Fixtures.batch(SCOPE, "run-4", CONFIG, t0.plusSeconds(9), "Late", "from", "run four"));
    assertThat(requests.isEmpty()).as("the forgotten run's late candidates never reach a consolidation").isTrue();
  }

  @Test
  void forgettingTheRunThatChangedALineRebuildsItFromTheRunsLeft() {
    // Run 2 contradicted run 1; the consolidated line says what run 2 said, resting on both.
    send(Fixtures.batch(SCOPE, "run-1", CONFIG, t0, "The user prefers: window seats", "The user lives in Oslo"));
    send(Fixtures.batch(SCOPE, "run-2", CONFIG, t0.plusSeconds(1), "The user prefers: aisle seats"));
    reply(answer(nextRequest()));
    MemoryDocument before = docs().get(0);
    assertThat(before.getLines()).extracting(MemoryLine::getText).containsExactly("The user prefers: aisle seats",
        "The user lives in Oslo");
    assertThat(before.getLines().get(0).getSources()).containsExactly("run-1", "run-2");
    command("forget:run:run-2", Commands.forgetRun("run-2", t0));
    MemoryDocument forgotten = docs().get(0);
    assertThat(forgotten.getLines()).extracting(MemoryLine::getText).containsExactly("The user lives in Oslo");
    assertThat(forgotten.getLines().stream().map(MemoryLine::getText)).noneMatch(t -> t.contains("aisle"));
    reply(answer(nextRequest()));
    MemoryDocument after = docs().get(0);
    assertThat(after.getLines()).extracting(MemoryLine::getText)
        .containsExactlyInAnyOrder("The user lives in Oslo", "The user prefers: window seats");
    assertThat(after.getLines()).allSatisfy(l -> assertThat(l.getSources()).containsExactly("run-1"));
    // Nothing run 2 said is left in the scope's state: not in lines, evidence, archive or pending (only its
    // id, among the extractions already taken, so a redelivery is not taken again).
    String state = driver.<String, io.turnpike.avro.MemoryScopeState>getKeyValueStore(MemoryTopology.SCOPES).get(SCOPE).toString();
    assertThat(state).doesNotContain("aisle").doesNotContain("run-2@5#");
  }

  @Test
  void anEditIsEvidenceTooWhenAnotherRunIsForgotten() {
    send(Fixtures.batch(SCOPE, "run-1", CONFIG, t0.minusSeconds(30), "The user prefers: tea"));
    send(Fixtures.batch(SCOPE, "run-2", CONFIG, t0.minusSeconds(20), "The user prefers: tea."));
    send(Fixtures.batch(SCOPE, "run-3", CONFIG, t0.minusSeconds(10), "The user lives in Oslo"));
    reply(answer(nextRequest()));
    assertThat(docs().get(0).getLines().get(0).getSources()).containsExactly("run-1", "run-2");
    command("run-9", MemoryCommand.newBuilder().setCommandId("run-9:t1.1").setType(MemoryCommandType.UPDATE_LINE)
        .setRunId("run-9").setScope(SCOPE).setLineId("L1").setText("The user prefers: coffee").setReason("changed their mind")
        .setRequestedAt(t0).build());
    assertThat(docs().get(0).getLines().get(0).getSources()).containsExactly("run-1", "run-2", "run-9");
    command("forget:run:run-1", Commands.forgetRun("run-1", t0));
    assertThat(docs().get(0).getLines()).extracting(MemoryLine::getText).containsExactly("The user lives in Oslo");
    MemoryConsolidation rebuild = nextRequest();
    assertThat(rebuild.getCandidates()).extracting(c -> c.getCandidateId()).containsExactly("run-2@5#0", "edit:run-9:t1.1");
    reply(answer(rebuild));
    // Rebuilt from run 2's candidate and run 9's edit: the edit is newer, so it wins; run 1 is gone.
    MemoryLine drink = docs().get(0).getLines().stream().filter(l -> l.getText().contains("prefers")).findFirst().orElseThrow();
    assertThat(drink.getText()).isEqualTo("The user prefers: coffee");
    assertThat(drink.getSources()).containsExactly("run-2", "run-9");
  }

  @Test
  void forgettingAUserClearsTheirScopeAndTheirRunsElsewhere() {
    MemoryConfig perUser = Fixtures.config(1, null, 64, true);
    send(Fixtures.batch("helper/alice", "run-a", perUser, t0, "Alice likes tea"));
    reply(answer(nextRequest()));
    send(Fixtures.batch("helper/bob", "run-b", perUser, t0, "Bob likes coffee"));
    reply(answer(nextRequest()));
    docs();
    command("forget:user:alice", Commands.forgetUser("alice", t0));
    List<MemoryDocument> changed = docs();
    assertThat(changed).hasSize(1);
    assertThat(changed.get(0).getScope()).isEqualTo("helper/alice");
    assertThat(changed.get(0).getLines()).isEmpty();
  }

  @Test
  void anEditDuringAConsolidationMakesItsAnswerStaleAndItIsAskedAgain() {
    consolidateThreeRuns();
    send(Fixtures.batch(SCOPE, "run-4", CONFIG, t0, "D"));
    send(Fixtures.batch(SCOPE, "run-5", CONFIG, t0, "E"));
    send(Fixtures.batch(SCOPE, "run-6", CONFIG, t0, "F"));
    MemoryConsolidation inFlight = nextRequest();
    command(SCOPE, MemoryCommand.newBuilder().setCommandId("cli-2").setType(MemoryCommandType.REMOVE_LINE).setScope(SCOPE)
        .setLineId("L2").setReason("wrong").setRequestedAt(t0).build());
    assertThat(docs()).hasSize(1);
    reply(answer(inFlight)); // made from version 1; the document is at 2 now
    assertThat(documents.isEmpty()).as("a stale answer is not applied").isTrue();
    MemoryConsolidation again = nextRequest();
    assertThat(again.getSequence()).isEqualTo(inFlight.getSequence() + 1);
    assertThat(again.getLines()).extracting(MemoryLine::getId).containsExactly("L1");
    reply(answer(again));
    MemoryDocument doc = docs().get(0);
    assertThat(doc.getLines()).extracting(MemoryLine::getText).containsExactly("The user lives in Oslo.", "D", "E", "F");
    assertThat(doc.getVersion()).isEqualTo(3);
  }

  /** The scripted model's phase-two logic (package-private in devkit) through its public entry point. */
  static final class MemoryScriptAccess {
    static String consolidate(String input) {
      var script = MemoryScript.around(r -> io.turnpike.devkit.ScriptedReply.text("unused"));
      var raw = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
      raw.putObject("text").putObject("format").put("name", MemoryScript.PHASE_TWO);
      var view = new io.turnpike.devkit.ModelRequestView("responses", "m", "i",
          List.of(new io.turnpike.devkit.InputItem.Message("user", input)), List.of(), raw);
      return script.reply(view).text();
    }
  }
}
