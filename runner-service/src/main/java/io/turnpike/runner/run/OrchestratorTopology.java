package io.turnpike.runner.run;

import io.turnpike.avro.RunState;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The run orchestrator's topology, readable in one place:
 *
 * <pre>
 *   turnpike.run-requests ───┐                          ┌─▶ turnpike.model.requests
 *   turnpike.run-commands ───┤                          ├─▶ turnpike.tool.requests
 *   turnpike.model.results ──┤                          ├─▶ turnpike.sandbox.requests
 *   turnpike.tool.results ───┼─▶ RunOrchestrator ───────┼─▶ turnpike.guardrail.requests
 *   turnpike.sandbox.results ┤   [run-state, timers]    ├─▶ turnpike.turn-events
 *   turnpike.guardrail.results   (agents: global store) ├─▶ turnpike.run-results
 *                                                       ├─▶ turnpike.run-state
 *   turnpike.agents ─▶ agents (global)                  └─▶ turnpike.dead-letters
 * </pre>
 *
 * Agents as tools: the processor also writes to three of its own inputs, keyed by another run (a
 * child's RunRequest and CANCEL, a child's outcome as a ToolResult for its parent), in the same
 * transaction as the transition that causes them.
 *
 * Values are read as bytes and decoded inside the processor so that a bad record becomes a dead
 * letter (with a FAILED RunResult where a run is known) instead of stopping the stream; no record,
 * whatever its size, stops a partition (see {@link RunOrchestrator} and {@link DeadLetterProductionHandler},
 * which {@link Orchestrator#streamsProperties} configures).
 */
public final class OrchestratorTopology {
  public static final String RUN_STORE = "run-state";
  public static final String TIMER_STORE = "run-timers";
  /** Large tool outputs, once each, out of the RunState ({@link LargeOutputs}). */
  public static final String BLOB_STORE = "run-blobs";
  public static final String AGENT_STORE = "agents";

  static final String SINK_MODEL_REQUESTS = "model-requests";
  static final String SINK_TOOL_REQUESTS = "tool-requests";
  static final String SINK_TURN_EVENTS = "turn-events";
  static final String SINK_RUN_RESULTS = "run-results";
  static final String SINK_RUN_STATE = "run-state-out";
  static final String SINK_DEAD_LETTERS = "dead-letters";
  static final String SINK_SANDBOX_REQUESTS = "sandbox-requests";
  static final String SINK_GUARDRAIL_REQUESTS = "guardrail-requests";
  /** Agents as tools: a child run's request and cancel, and a child's outcome for its parent (keyed by that run). */
  static final String SINK_CHILD_RUN_REQUESTS = "child-run-requests";
  static final String SINK_CHILD_RUN_COMMANDS = "child-run-commands";
  static final String SINK_PARENT_ANSWERS = "parent-answers";

  private static final String PROCESSOR = "orchestrator";

  /** The runId-keyed topics the orchestrator reads; they must be partitioned alike. */
  public static final List<String> INPUTS = List.of(Topics.RUN_REQUESTS.name(), Topics.RUN_COMMANDS.name(),
      Topics.MODEL_RESULTS.name(), Topics.TOOL_RESULTS.name(), Topics.SANDBOX_RESULTS.name(),
      Topics.GUARDRAIL_RESULTS.name());

  static String rerouteSink(String topic) {
    return "reroute-" + topic;
  }

  private OrchestratorTopology() {}

  /**
   * @param timerInterval how often pending-call deadlines are checked (wall clock)
   * @param serdes        the wire-format serdes, bound to the schema registry
   */
  public static Topology build(Duration timerInterval, TurnpikeSerdes serdes) {
    return build(timerInterval, serdes, Telemetry.noop("orchestrator"));
  }

  /** As above, recording run metrics and spans to {@code telemetry}. */
  public static Topology build(Duration timerInterval, TurnpikeSerdes serdes, Telemetry telemetry) {
    return build(timerInterval, serdes, telemetry, Map.of());
  }

  /**
   * As above; {@code partitions} (input topic → partition count) lets the orchestrator spot records that
   * a producer put on another partition than Kafka's default partitioner would (librdkafka clients such
   * as kcat use CRC32 unless told otherwise) and move them where the run's state lives.
   */
  public static Topology build(Duration timerInterval, TurnpikeSerdes serdes, Telemetry telemetry,
      Map<String, Integer> partitions) {
    Topology topology = new Topology();
    StringDeserializer keys = new StringDeserializer();
    ByteArrayDeserializer values = new ByteArrayDeserializer();
    topology.addSource("run-requests-in", keys, values, Topics.RUN_REQUESTS.name());
    topology.addSource("run-commands-in", keys, values, Topics.RUN_COMMANDS.name());
    topology.addSource("model-results-in", keys, values, Topics.MODEL_RESULTS.name());
    topology.addSource("tool-results-in", keys, values, Topics.TOOL_RESULTS.name());
    topology.addSource("sandbox-results-in", keys, values, Topics.SANDBOX_RESULTS.name());
    topology.addSource("guardrail-results-in", keys, values, Topics.GUARDRAIL_RESULTS.name());
    topology.addProcessor(PROCESSOR, () -> new RunOrchestrator(timerInterval, serdes, telemetry, partitions),
        "run-requests-in", "run-commands-in", "model-results-in", "tool-results-in", "sandbox-results-in", "guardrail-results-in");
    // The changelog takes what turnpike.run-state takes, and the processor holds every RunState, as the
    // store keeps it, to that limit (RecordLimits). Streams applies it when it creates the topic only.
    topology.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(RUN_STORE), Serdes.String(), serdes.runState())
        .withLoggingEnabled(Map.of("max.message.bytes", String.valueOf(RecordLimits.runStateBytes()))), PROCESSOR);
    topology.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(TIMER_STORE), Serdes.String(), Serdes.String()), PROCESSOR);
    // Written in the same transaction as the state that refers to it; each output once, so its changelog
    // (compacted, deleted outputs tombstoned) grows with what runs keep, not with their steps.
    topology.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(BLOB_STORE), Serdes.String(), Serdes.ByteArray())
        .withLoggingEnabled(Map.of("max.message.bytes", String.valueOf(RecordLimits.runStateBytes()))), PROCESSOR);

    // Agent definitions: every instance needs every agent, whatever runs it owns.
    latestPerKey(topology, AGENT_STORE, Topics.AGENTS.name(), "agents");
    // Memory (issue #13): every scope's latest document, joined with each new run from local state.
    latestPerKey(topology, RunMemories.STORE, Topics.MEMORY.name(), "memory");
    // MCP tools (issue #14): each MCP server's tool list, to expand an agent's MCP servers when a run starts.
    latestPerKey(topology, McpTools.STORE, Topics.MCP_TOOLS.name(), "mcp-tools");

    StringSerializer keyOut = new StringSerializer();
    ByteArraySerializer valueOut = new ByteArraySerializer();
    topology.addSink(SINK_MODEL_REQUESTS, Topics.MODEL_REQUESTS.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_TOOL_REQUESTS, Topics.TOOL_REQUESTS.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_TURN_EVENTS, Topics.TURN_EVENTS.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_RUN_RESULTS, Topics.RUN_RESULTS.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_RUN_STATE, Topics.RUN_STATE.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_DEAD_LETTERS, Topics.DEAD_LETTERS.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_SANDBOX_REQUESTS, Topics.SANDBOX_REQUESTS.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_GUARDRAIL_REQUESTS, Topics.GUARDRAIL_REQUESTS.name(), keyOut, valueOut, PROCESSOR);
    // Agents as tools: the orchestrator writes to its own inputs, keyed by the other run, in the same transaction.
    topology.addSink(SINK_CHILD_RUN_REQUESTS, Topics.RUN_REQUESTS.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_CHILD_RUN_COMMANDS, Topics.RUN_COMMANDS.name(), keyOut, valueOut, PROCESSOR);
    topology.addSink(SINK_PARENT_ANSWERS, Topics.TOOL_RESULTS.name(), keyOut, valueOut, PROCESSOR);
    // No partitioner given: Streams uses Kafka's default (murmur2 of the key), the one co-partitioning needs.
    for (String input : INPUTS) {
      topology.addSink(rerouteSink(input), input, keyOut, valueOut, PROCESSOR);
    }
    return topology;
  }

  /**
   * A global store of {@code topic}: the latest value per key, a tombstone removes the key. Values stay raw
   * bytes so that restoring the store (which bypasses the processor) gives the same content.
   */
  private static void latestPerKey(Topology topology, String store, String topic, String name) {
    topology.addGlobalStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(store), Serdes.String(), Serdes.ByteArray()).withLoggingDisabled(),
        name + "-in", new StringDeserializer(), new ByteArrayDeserializer(), topic, name + "-loader", () -> new LatestPerKey(store));
  }

  private static final class LatestPerKey implements Processor<String, byte[], Void, Void> {
    private final String name;
    private KeyValueStore<String, byte[]> store;

    LatestPerKey(String name) {
      this.name = name;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      store = context.getStateStore(name);
    }

    @Override
    public void process(Record<String, byte[]> record) {
      if (record.key() == null) {
        return;
      }
      if (record.value() == null) {
        store.delete(record.key());
      } else {
        store.put(record.key(), record.value());
      }
    }
  }
}
