package io.turnpike.console;

import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.WorkspaceEntry;
import io.turnpike.avro.WorkspaceEntryType;
import io.turnpike.avro.WorkspaceManifest;
import io.turnpike.avro.WorkspaceRecord;
import io.turnpike.schema.AvroSerde;
import io.turnpike.schema.Topics;
import java.time.Instant;
import java.util.Map;
import java.util.function.BiConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The console's materialized views, one small topology: the latest RunState of every run, a summary per run
 * with a newest-first index, every run's steps, runs known only by their result (refused at submission), and
 * who sent each approval decision.
 * The processors only decode and put: queries run on the HTTP server's threads (interactive queries), and the
 * one side effect, telling live subscribers of a new step, is a non-blocking hand-off ({@link LiveSteps}).
 */
public final class ConsoleTopology {
  private static final Logger LOG = LoggerFactory.getLogger(ConsoleTopology.class);

  /** runId → the RunState's bytes as they were on turnpike.run-state (decoded when queried). */
  public static final String RUN_STATES = "console-run-states";
  /** runId → {@link RunSummary} as JSON. */
  public static final String SUMMARIES = "console-run-summaries";
  /** {@link #orderKey} (newest first) → runId. */
  public static final String INDEX = "console-run-index";
  /** {@code runId|seq (19 digits)} → {@link Timeline.Entry} as JSON. */
  public static final String STEPS = "console-run-steps";

  /** sessionId (a run's id) → its latest workspace snapshot's file list as JSON ({@link #filesJson}). */
  public static final String WORKSPACES = "console-workspaces";

  /** {@code runId|callId} → who decided that approval ({@code RunCommand.issuedBy}; the first decision sent). */
  public static final String DECISIONS = "console-decisions";

  /** RunStates may be as large as the orchestrator's producer allows; the changelog takes what the topic took. */
  static final String MAX_RECORD_BYTES = String.valueOf(8 * 1024 * 1024);

  private static final long MAX_MILLIS = 9_999_999_999_999L;

  private ConsoleTopology() {}

  public static Topology build(AvroSerde<RunState> states, AvroSerde<TurnEvent> events, AvroSerde<RunResult> results,
      AvroSerde<RunCommand> commands, AvroSerde<WorkspaceRecord> workspaces, BiConsumer<String, Timeline.Entry> onStep) {
    Topology t = new Topology();
    StringDeserializer keys = new StringDeserializer();
    ByteArrayDeserializer values = new ByteArrayDeserializer();
    t.addSource("run-state", keys, values, Topics.RUN_STATE.name());
    t.addSource("run-results", keys, values, Topics.RUN_RESULTS.name());
    t.addSource("turn-events", keys, values, Topics.TURN_EVENTS.name());
    t.addProcessor("runs", () -> new RunStates(states), "run-state");
    t.addProcessor("results", () -> new Results(results), "run-results");
    t.addProcessor("steps", () -> new Steps(events, onStep), "turn-events");
    t.addSource("run-commands", keys, values, Topics.RUN_COMMANDS.name());
    t.addProcessor("decisions", () -> new Decisions(commands), "run-commands");
    t.addSource("workspaces", keys, values, Topics.WORKSPACES.name());
    t.addProcessor("workspace-files", () -> new WorkspaceFiles(workspaces), "workspaces");

    StoreBuilder<KeyValueStore<String, byte[]>> runStates = Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(RUN_STATES), Serdes.String(), Serdes.ByteArray())
        .withLoggingEnabled(Map.of("max.message.bytes", MAX_RECORD_BYTES));
    t.addStateStore(runStates, "runs");
    t.addStateStore(stringStore(SUMMARIES), "runs", "results");
    t.addStateStore(stringStore(INDEX), "runs", "results");
    t.addStateStore(stringStore(STEPS), "steps");
    t.addStateStore(stringStore(DECISIONS), "decisions");
    t.addStateStore(stringStore(WORKSPACES).withLoggingEnabled(Map.of("max.message.bytes", MAX_RECORD_BYTES)),
        "workspace-files");
    return t;
  }

  private static StoreBuilder<KeyValueStore<String, String>> stringStore(String name) {
    return Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(name), Serdes.String(), Serdes.String());
  }

  /** Sorts newest first: the creation time counted down from the largest 13-digit millisecond value. */
  static String orderKey(Instant createdAt, String runId) {
    return String.format("%013d|%s", MAX_MILLIS - Math.max(0, createdAt.toEpochMilli()), runId);
  }

  static String stepKey(String runId, long seq) {
    return runId + "|" + String.format("%019d", seq);
  }

  /** Puts a summary and keeps the index in step (a run's creation time may differ between result and state). */
  static void putSummary(KeyValueStore<String, String> summaries, KeyValueStore<String, String> index, RunSummary s,
      RunSummary before) {
    String key = orderKey(s.created(), s.runId());
    if (before != null) {
      String old = orderKey(before.created(), before.runId());
      if (!old.equals(key)) {
        index.delete(old);
      }
    }
    summaries.put(s.runId(), s.toJson());
    index.put(key, s.runId());
  }

  private static final class RunStates implements Processor<String, byte[], Void, Void> {
    private final AvroSerde<RunState> serde;
    private KeyValueStore<String, byte[]> states;
    private KeyValueStore<String, String> summaries;
    private KeyValueStore<String, String> index;

    RunStates(AvroSerde<RunState> serde) {
      this.serde = serde;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      states = context.getStateStore(RUN_STATES);
      summaries = context.getStateStore(SUMMARIES);
      index = context.getStateStore(INDEX);
    }

    @Override
    public void process(Record<String, byte[]> r) {
      String runId = r.key();
      if (runId == null) {
        return;
      }
      String beforeJson = summaries.get(runId);
      RunSummary before = beforeJson == null ? null : RunSummary.fromJson(beforeJson);
      if (r.value() == null) { // a tombstone: the run was deleted from the compacted topic
        states.delete(runId);
        summaries.delete(runId);
        if (before != null) {
          index.delete(orderKey(before.created(), runId));
        }
        return;
      }
      RunState state;
      try {
        state = serde.deserialize(Topics.RUN_STATE.name(), r.value());
      } catch (RuntimeException e) {
        LOG.warn("console: skipping an undecodable RunState of run {}: {}", runId, e.toString());
        return;
      }
      states.put(runId, r.value());
      putSummary(summaries, index, RunSummary.of(state), before);
    }
  }

  private static final class Results implements Processor<String, byte[], Void, Void> {
    private final AvroSerde<RunResult> serde;
    private KeyValueStore<String, String> summaries;
    private KeyValueStore<String, String> index;

    Results(AvroSerde<RunResult> serde) {
      this.serde = serde;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      summaries = context.getStateStore(SUMMARIES);
      index = context.getStateStore(INDEX);
    }

    @Override
    public void process(Record<String, byte[]> r) {
      if (r.key() == null || r.value() == null) {
        return;
      }
      String beforeJson = summaries.get(r.key());
      RunSummary before = beforeJson == null ? null : RunSummary.fromJson(beforeJson);
      if (before != null && before.fromState()) {
        return; // the RunState says more, and says it first or at the same time (one transaction)
      }
      RunResult result;
      try {
        result = serde.deserialize(Topics.RUN_RESULTS.name(), r.value());
      } catch (RuntimeException e) {
        LOG.warn("console: skipping an undecodable RunResult of run {}: {}", r.key(), e.toString());
        return;
      }
      putSummary(summaries, index, RunSummary.of(result), before);
    }
  }

  /** Who sent each approve or reject (the runner's ApprovalResolved does not say; the command does). */
  private static final class Decisions implements Processor<String, byte[], Void, Void> {
    private final AvroSerde<RunCommand> serde;
    private KeyValueStore<String, String> decisions;

    Decisions(AvroSerde<RunCommand> serde) {
      this.serde = serde;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      decisions = context.getStateStore(DECISIONS);
    }

    @Override
    public void process(Record<String, byte[]> r) {
      if (r.key() == null || r.value() == null) {
        return;
      }
      RunCommand c;
      try {
        c = serde.deserialize(Topics.RUN_COMMANDS.name(), r.value());
      } catch (RuntimeException e) {
        return; // the runner dead-letters it; nothing to show
      }
      if ((c.getType() == RunCommandType.APPROVE || c.getType() == RunCommandType.REJECT) && c.getCallId() != null
          && c.getIssuedBy() != null) {
        decisions.putIfAbsent(decisionKey(r.key(), c.getCallId()), c.getIssuedBy());
      }
    }
  }

  /**
   * The files of each session's latest snapshot. The topic mostly carries file chunks (key {@code chunk:...}),
   * skipped by key before anything is decoded; a manifest (key {@code session:<id>}) becomes its file list.
   */
  private static final class WorkspaceFiles implements Processor<String, byte[], Void, Void> {
    private static final String SESSION = "session:";
    private final AvroSerde<WorkspaceRecord> serde;
    private KeyValueStore<String, String> files;

    WorkspaceFiles(AvroSerde<WorkspaceRecord> serde) {
      this.serde = serde;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      files = context.getStateStore(WORKSPACES);
    }

    @Override
    public void process(Record<String, byte[]> r) {
      if (r.key() == null || !r.key().startsWith(SESSION)) {
        return;
      }
      String session = r.key().substring(SESSION.length());
      if (r.value() == null) {
        files.delete(session);
        return;
      }
      try {
        if (serde.deserialize(Topics.WORKSPACES.name(), r.value()).getEntry() instanceof WorkspaceManifest m) {
          String before = files.get(session);
          if (before == null || RunSummary.JSON.readTree(before).path("seq").asLong() <= m.getSeq()) {
            files.put(session, filesJson(m));
          }
        }
      } catch (Exception e) {
        LOG.warn("console: skipping an undecodable workspace manifest of session {}: {}", session, e.toString());
      }
    }
  }

  /** {@code {"snapshotId","seq","createdAt","backend","files":[{"path","type","size"}]}}: what the API serves. */
  static String filesJson(WorkspaceManifest m) {
    com.fasterxml.jackson.databind.node.ObjectNode out = RunSummary.JSON.createObjectNode()
        .put("snapshotId", m.getSnapshotId()).put("seq", m.getSeq()).put("createdAt", m.getCreatedAt().toString())
        .put("backend", m.getBackend());
    com.fasterxml.jackson.databind.node.ArrayNode list = out.putArray("files");
    for (WorkspaceEntry e : m.getEntries()) {
      com.fasterxml.jackson.databind.node.ObjectNode f = list.addObject().put("path", e.getPath())
          .put("type", e.getType().name().toLowerCase(java.util.Locale.ROOT));
      if (e.getType() == WorkspaceEntryType.FILE) {
        f.put("size", e.getSize());
      } else if (e.getType() == WorkspaceEntryType.LINK) {
        f.put("target", e.getTarget());
      }
    }
    return out.toString();
  }

  static String decisionKey(String runId, String callId) {
    return runId + "|" + callId;
  }

  private static final class Steps implements Processor<String, byte[], Void, Void> {
    private final AvroSerde<TurnEvent> serde;
    private final BiConsumer<String, Timeline.Entry> onStep;
    private KeyValueStore<String, String> steps;

    Steps(AvroSerde<TurnEvent> serde, BiConsumer<String, Timeline.Entry> onStep) {
      this.serde = serde;
      this.onStep = onStep;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      steps = context.getStateStore(STEPS);
    }

    @Override
    public void process(Record<String, byte[]> r) {
      if (r.key() == null || r.value() == null) {
        return;
      }
      Timeline.Entry entry;
      try {
        entry = Timeline.entry(serde.deserialize(Topics.TURN_EVENTS.name(), r.value()));
      } catch (RuntimeException e) {
        LOG.warn("console: skipping an undecodable turn event of run {}: {}", r.key(), e.toString());
        return;
      }
      steps.put(stepKey(r.key(), entry.seq()), entry.toJson());
      onStep.accept(r.key(), entry);
    }
  }
}
