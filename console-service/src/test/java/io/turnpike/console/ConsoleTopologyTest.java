package io.turnpike.console;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStarted;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.Usage;
import io.turnpike.avro.WorkspaceEntry;
import io.turnpike.avro.WorkspaceEntryType;
import io.turnpike.avro.WorkspaceManifest;
import io.turnpike.avro.WorkspaceRecord;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The views' rules without a broker: result-only runs, the newest-first index, tombstones, steps in order. */
class ConsoleTopologyTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://console-topology");
  static final Instant T0 = Instant.parse("2026-12-03T10:00:00Z");

  TopologyTestDriver driver;
  TestInputTopic<String, byte[]> states;
  TestInputTopic<String, byte[]> results;
  TestInputTopic<String, byte[]> events;
  final List<Timeline.Entry> live = new ArrayList<>();

  @BeforeEach
  void start() {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, "console-topology-test");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    driver = new TopologyTestDriver(ConsoleTopology.build(SERDES.runState(), SERDES.turnEvent(), SERDES.runResult(), SERDES.runCommand(),
        SERDES.workspaceRecord(),
        (runId, e) -> live.add(e)), p);
    states = driver.createInputTopic(Topics.RUN_STATE.name(), new StringSerializer(), new ByteArraySerializer());
    results = driver.createInputTopic(Topics.RUN_RESULTS.name(), new StringSerializer(), new ByteArraySerializer());
    events = driver.createInputTopic(Topics.TURN_EVENTS.name(), new StringSerializer(), new ByteArraySerializer());
  }

  @AfterEach
  void stop() {
    driver.close();
  }

  @Test
  void aWorkspaceIsItsLatestSnapshotsFileListAndChunksAreSkipped() throws Exception {
    TestInputTopic<String, byte[]> workspaces = driver.createInputTopic(Topics.WORKSPACES.name(), new StringSerializer(),
        new ByteArraySerializer());
    workspaces.pipeInput("chunk:abc", new byte[] {9, 9, 9}); // not even decoded
    workspaces.pipeInput("session:r1", manifest("r1", 2, List.of(
        WorkspaceEntry.newBuilder().setPath("src").setType(WorkspaceEntryType.DIR).build(),
        WorkspaceEntry.newBuilder().setPath("src/app.py").setType(WorkspaceEntryType.FILE).setSize(42).build(),
        WorkspaceEntry.newBuilder().setPath("latest").setType(WorkspaceEntryType.LINK).setTarget("src/app.py").build())));
    workspaces.pipeInput("session:r1", manifest("r1", 1, List.of())); // an older snapshot arriving late
    KeyValueStore<String, String> files = driver.getKeyValueStore(ConsoleTopology.WORKSPACES);
    var json = RunSummary.JSON.readTree(files.get("r1"));
    assertThat(json.path("snapshotId").asText()).isEqualTo("r1@2");
    assertThat(json.path("files").toString()).isEqualTo("[{\"path\":\"src\",\"type\":\"dir\"},"
        + "{\"path\":\"src/app.py\",\"type\":\"file\",\"size\":42},{\"path\":\"latest\",\"type\":\"link\",\"target\":\"src/app.py\"}]");
    workspaces.pipeInput("session:r1", (byte[]) null);
    assertThat(files.get("r1")).isNull();
    assertThat(files.get("abc")).isNull();
  }

  private static byte[] manifest(String session, long seq, List<WorkspaceEntry> entries) {
    WorkspaceManifest m = WorkspaceManifest.newBuilder().setSessionId(session).setSeq(seq).setSnapshotId(session + "@" + seq)
        .setCreatedAt(T0).setBackend("local").setEntries(entries).build();
    return SERDES.workspaceRecord().serialize(Topics.WORKSPACES.name(), WorkspaceRecord.newBuilder().setEntry(m).build());
  }

  @Test
  void aRunKnownOnlyByItsResultIsListedUntilItsStateArrives() {
    results.pipeInput("r1", SERDES.runResult().serialize(Topics.RUN_RESULTS.name(), RunResult.newBuilder().setRunId("r1")
        .setStatus(RunStatus.FAILED).setAgent("ghost").setError("agent 'ghost' is not published")
        .setFinishedAt(T0.plusSeconds(5)).build()));
    RunSummary refused = summary("r1");
    assertThat(refused.fromState()).isFalse();
    assertThat(refused.status()).isEqualTo("FAILED");
    assertThat(refused.error()).contains("ghost");

    states.pipeInput("r1", SERDES.runState().serialize(Topics.RUN_STATE.name(), state("r1", RunStatus.RUNNING, T0)));
    assertThat(summary("r1").fromState()).isTrue();
    assertThat(index()).extracting(kv -> kv.value).containsExactly("r1"); // the result's index line was replaced

    // a later interim result does not override the state
    results.pipeInput("r1", SERDES.runResult().serialize(Topics.RUN_RESULTS.name(), RunResult.newBuilder().setRunId("r1")
        .setStatus(RunStatus.INTERRUPTED).setFinishedAt(T0.plusSeconds(9)).build()));
    assertThat(summary("r1").status()).isEqualTo("RUNNING");
  }

  @Test
  void theIndexIsNewestFirstAndATombstoneRemovesTheRun() {
    states.pipeInput("old", SERDES.runState().serialize(Topics.RUN_STATE.name(), state("old", RunStatus.COMPLETED, T0)));
    states.pipeInput("new", SERDES.runState().serialize(Topics.RUN_STATE.name(), state("new", RunStatus.RUNNING, T0.plusSeconds(60))));
    states.pipeInput("mid", SERDES.runState().serialize(Topics.RUN_STATE.name(), state("mid", RunStatus.RUNNING, T0.plusSeconds(30))));
    assertThat(index()).extracting(kv -> kv.value).containsExactly("new", "mid", "old");

    states.pipeInput("mid", (byte[]) null);
    assertThat(index()).extracting(kv -> kv.value).containsExactly("new", "old");
    KeyValueStore<String, String> summaries = driver.getKeyValueStore(ConsoleTopology.SUMMARIES);
    assertThat(summaries.get("mid")).isNull();
  }

  @Test
  void stepsAreKeptInSeqOrderAndHandedToFollowers() {
    for (long seq : new long[] {2, 10, 1}) {
      Object step = seq == 10 ? new RunFinished(RunStatus.COMPLETED, "ok", null) : new RunStarted(1, "hello");
      events.pipeInput("r2", SERDES.turnEvent().serialize(Topics.TURN_EVENTS.name(), TurnEvent.newBuilder().setRunId("r2")
          .setSeq(seq).setTurn(0).setAgent("a").setAt(T0.plusSeconds(seq)).setStep(step).build()));
    }
    KeyValueStore<String, String> steps = driver.getKeyValueStore(ConsoleTopology.STEPS);
    List<Long> seqs = new ArrayList<>();
    try (var it = steps.prefixScan("r2|", new StringSerializer())) {
      it.forEachRemaining(kv -> seqs.add(Timeline.Entry.fromJson(kv.value).seq()));
    }
    assertThat(seqs).containsExactly(1L, 2L, 10L); // 19-digit seq keys sort numerically
    assertThat(live).extracting(Timeline.Entry::seq).containsExactly(2L, 10L, 1L);
    assertThat(live.get(1).summary()).isEqualTo("run finished COMPLETED: \"ok\"");
    assertThat(live.get(1).kind()).isEqualTo("run");
  }

  RunSummary summary(String runId) {
    KeyValueStore<String, String> summaries = driver.getKeyValueStore(ConsoleTopology.SUMMARIES);
    return RunSummary.fromJson(summaries.get(runId));
  }

  List<KeyValue<String, String>> index() {
    KeyValueStore<String, String> index = driver.getKeyValueStore(ConsoleTopology.INDEX);
    List<KeyValue<String, String>> out = new ArrayList<>();
    try (var it = index.all()) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  static RunState state(String runId, RunStatus status, Instant created) {
    return RunState.newBuilder()
        .setSchemaVersion(5).setRunId(runId).setStatus(status)
        .setAgent(AgentDefinition.newBuilder().setName("a").setVersion(1).setModel("m").build())
        .setInput("hi").setTurn(1).setItems(List.of()).setPending(List.of())
        .setUsage(Usage.newBuilder().build())
        .setMetadata(Map.of()).setCreatedAt(created).setUpdatedAt(created.plusSeconds(1)).setVersion(3)
        .build();
  }
}
