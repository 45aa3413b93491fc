package io.turnpike.runner.run;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ParentRun;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.Usage;
import io.turnpike.schema.DeadLetter;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.RunRequestJson;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.schema.registry.SchemaRegistryException;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeMetrics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The I/O edge around {@link RunStateMachine}: decodes the records of every input topic into
 * {@link RunEvent}s, loads and stores the run's {@link RunState}, turns effects into records on the
 * output topics, keeps the deadline index, and dead-letters what it cannot use. Everything it emits
 * for one input commits atomically with the state change (exactly_once_v2).
 *
 * <p>Nothing may stop a partition. A write that Kafka refuses fails the whole transaction, and the
 * input comes back after the thread is replaced, so every record is checked against what its topic
 * takes ({@link RecordLimits}) before anything is written: dead letters are cut
 * ({@link DeadLetter}), answers over {@code turnpike.runner.max-answer-bytes} become errors the run
 * sees ({@link AnswerLimit}), and a transition whose writes would still be too large is replaced by
 * one that fits. What Kafka refuses anyway is remembered ({@link SendFailures}) and handled on the
 * input's second pass.
 */
final class RunOrchestrator implements Processor<String, byte[], String, byte[]> {
  private static final Logger LOG = LoggerFactory.getLogger(RunOrchestrator.class);
  private static final int MAX_TIMERS_PER_PUNCTUATION = 10_000;

  private final Duration timerInterval;
  private final TurnpikeSerdes serdes;
  private final RunTelemetry telemetry;
  private final TurnpikeMetrics metrics;
  private final Map<String, Integer> partitions;
  /**
   * Topics already warned about. Shared by every processor of the JVM: Streams makes one processor per
   * task (per partition), and a producer with the wrong partitioner is one fact per topic, not per partition.
   */
  private static final Set<String> REROUTED_TOPICS = java.util.concurrent.ConcurrentHashMap.newKeySet();
  /** The trace context of the records {@link #prepare} is encoding; null outside it. */
  private SpanContext outgoing;
  private ProcessorContext<String, byte[]> context;
  private KeyValueStore<String, RunState> runs;
  private KeyValueStore<String, String> timers;
  private KeyValueStore<String, byte[]> agents;
  /** Tool outputs kept out of line ({@link LargeOutputs}), key {@code <runId>|<sha256>}. */
  private KeyValueStore<String, byte[]> blobs;
  private String blobChangelog;
  private int inlineOutputBytes;
  private McpTools mcpTools;
  private KeyValueStore<String, byte[]> memories;
  private io.turnpike.schema.AvroSerde<io.turnpike.avro.MemoryDocument> memoryDocuments;
  private SendFailures failures;
  private LocalGuardrails localGuardrails = LocalGuardrails.OFF;
  private RecordLimits limits;
  private String changelog;
  private int maxAnswerBytes;
  private long maxImageBytes;

  RunOrchestrator(Duration timerInterval, TurnpikeSerdes serdes) {
    this(timerInterval, serdes, Telemetry.noop("orchestrator"));
  }

  RunOrchestrator(Duration timerInterval, TurnpikeSerdes serdes, Telemetry telemetry) {
    this(timerInterval, serdes, telemetry, Map.of());
  }

  RunOrchestrator(Duration timerInterval, TurnpikeSerdes serdes, Telemetry telemetry, Map<String, Integer> partitions) {
    this.timerInterval = timerInterval;
    this.serdes = serdes;
    this.telemetry = new RunTelemetry(telemetry);
    this.metrics = telemetry.metrics();
    this.partitions = Map.copyOf(partitions);
  }

  @Override
  public void init(ProcessorContext<String, byte[]> context) {
    this.context = context;
    this.runs = context.getStateStore(OrchestratorTopology.RUN_STORE);
    this.timers = context.getStateStore(OrchestratorTopology.TIMER_STORE);
    this.agents = context.getStateStore(OrchestratorTopology.AGENT_STORE);
    this.blobs = context.getStateStore(OrchestratorTopology.BLOB_STORE);
    this.memories = context.getStateStore(RunMemories.STORE);
    this.mcpTools = new McpTools(context.getStateStore(McpTools.STORE), serdes);
    this.memoryDocuments = io.turnpike.schema.MemorySerdes.using(serdes.registry()).document();
    Map<String, Object> configs = context.appConfigs();
    this.failures = SendFailures.from(configs);
    this.localGuardrails = LocalGuardrails.from(configs);
    this.changelog = context.applicationId() + "-" + OrchestratorTopology.RUN_STORE + "-changelog";
    this.limits = RecordLimits.from(configs, changelog, failures);
    this.maxAnswerBytes = OrchestratorConfig.maxAnswerBytes(configs);
    this.maxImageBytes = OrchestratorConfig.maxImageBytes(configs);
    this.inlineOutputBytes = OrchestratorConfig.inlineOutputBytes(configs);
    this.blobChangelog = context.applicationId() + "-" + OrchestratorTopology.BLOB_STORE + "-changelog";
    context.schedule(timerInterval, PunctuationType.WALL_CLOCK_TIME, this::fireDeadlines);
  }

  @Override
  public void process(Record<String, byte[]> record) {
    String topic = context.recordMetadata().map(RecordMetadata::topic).orElse("?");
    if (refusedBefore(record, topic) || misrouted(record, topic)) {
      return;
    }
    Span span = telemetry.startEvent(record.headers(), topic, record.key());
    try (Scope ignored = span.makeCurrent()) {
      apply(record, topic);
    } finally {
      span.end();
    }
  }

  /**
   * An input whose writes Kafka refused before, for another reason than their size (see
   * {@link SendFailures}; a size is handled by the learned limits): set it aside instead of failing
   * the transaction again, and when even its dead letter was refused, or it keeps coming back, skip it.
   */
  private boolean refusedBefore(Record<String, byte[]> record, String topic) {
    Optional<RecordMetadata> m = context.recordMetadata();
    SendFailures.Refusals r = m.isEmpty() ? null : failures.of(new SendFailures.Source(topic, m.get().partition(), m.get().offset()));
    if (r == null || r.sizeOnly() && r.count() < 3) {
      return false;
    }
    if (r.deadLetterRefused() || r.count() >= 3) {
      drop(record, topic, "Kafka refused what processing it wrote " + r.count() + " time(s), its dead letter included: "
          + r.lastError());
    } else {
      deadLetter(record, topic, "Kafka refused what processing it wrote: " + r.lastError(), null);
    }
    return true;
  }

  /**
   * A record on another partition than Kafka's default partitioner gives its runId would meet no state
   * here ("no run with this id") while its run waits elsewhere: send it, unchanged, to the right one.
   */
  private boolean misrouted(Record<String, byte[]> record, String topic) {
    Integer count = partitions.get(topic);
    if (count == null || count < 2 || record.key() == null) {
      return false;
    }
    // the producer's own function for a keyed record, so "expected" cannot drift from Kafka's
    int expected = BuiltInPartitioner.partitionForKey(record.key().getBytes(StandardCharsets.UTF_8), count);
    int actual = context.recordMetadata().map(RecordMetadata::partition).orElse(expected);
    if (actual == expected) {
      return false;
    }
    if (REROUTED_TOPICS.add(topic)) {
      LOG.warn("a producer to {} does not use Kafka's default partitioner (runId {} came on partition {}, not {});"
          + " moving such records (librdkafka clients: set partitioner=murmur2_random)", topic, record.key(), actual, expected);
    }
    Headers h = new RecordHeaders(record.headers().toArray());
    TurnpikeHeaders.put(h, "turnpike.rerouted-from", topic + "-" + actual);
    int size = RecordLimits.estimate(record.key().getBytes(StandardCharsets.UTF_8), record.value(), h);
    if (size > limits.ofInput(topic)) {
      // Set aside here; its run lives elsewhere, so no RunResult can be published for it from here.
      deadLetter(record, topic, "on partition " + actual + ", not " + expected + " where run " + record.key()
          + " lives, and at " + AnswerLimit.bytes(size) + " too large to move there (the orchestrator writes up to "
          + AnswerLimit.bytes(limits.ofInput(topic)) + ")", null);
      return true;
    }
    context.forward(new Record<>(record.key(), record.value(), record.timestamp(), h), OrchestratorTopology.rerouteSink(topic));
    return true;
  }

  private void apply(Record<String, byte[]> record, String topic) {
    String runId = record.key();
    if (runId == null || runId.isBlank()) {
      deadLetter(record, topic, "missing key: records on " + topic + " must be keyed by runId", null);
      return;
    }
    if (record.value() == null) {
      deadLetter(record, topic, "null value (tombstones are not accepted on " + topic + ")", null);
      return;
    }
    Instant now = now();
    RunState state = load(runId);
    RunEvent event;
    try {
      event = decode(topic, record, runId, state);
    } catch (BadRecord bad) {
      deadLetter(record, topic, bad.getMessage(), bad.getCause());
      if (bad.failRun && state == null) {
        publishOrphanFailure(runId, bad.agent, bad.getMessage(), now, bad.request);
      }
      return;
    }
    if (event == null) {
      return;
    }
    if (state != null) {
      state = refreshMemory(state, now);
    }
    // An answer over the limit: the record is set aside and the run gets an error in its place.
    String tooLarge = null;
    if (AnswerLimit.applies(event) && record.value().length > maxAnswerBytes) {
      tooLarge = AnswerLimit.tooLarge(event, record.value().length, maxAnswerBytes);
      event = AnswerLimit.refusal(event, tooLarge);
    }
    Transition t;
    try {
      t = judgeLocally(RunStateMachine.apply(state, event, now), now);
    } catch (RuntimeException e) {
      LOG.error("state machine failed on run {} from {}", runId, topic, e);
      deadLetter(record, topic, "internal error: " + e, e);
      return;
    }
    if (t.isRejected()) {
      deadLetter(record, topic, tooLarge == null ? t.rejection() : "answer too large: " + tooLarge + "; " + t.rejection(), null);
      return;
    }
    Writes writes = prepare(t, now);
    if (writes.overflow() != null) {
      overflowed(record, topic, state, event, tooLarge, writes.overflow(), now);
      return;
    }
    if (tooLarge != null) {
      deadLetter(record, topic, "answer too large: " + tooLarge, null);
    }
    commit(state, writes);
    telemetry.committed(state, t, event, now);
  }

  /**
   * memory.liveUpdate: before a running run takes its next input, a newer document of its memory scope
   * (in the local store) becomes a step of its own, so the model calls that input leads to carry it.
   * A refresh that would not fit the record limits is skipped: the run goes on with what it has.
   */
  private RunState refreshMemory(RunState state, Instant now) {
    io.turnpike.avro.RunMemory newer = RunMemories.newer(memories, memoryDocuments, state);
    if (newer == null) {
      return state;
    }
    RunEvent refreshed = new RunEvent.MemoryRefreshed(newer);
    Transition t = transition(state, refreshed, now);
    if (t == null || !t.changed()) {
      return state;
    }
    Writes writes = prepare(t, now);
    if (writes.overflow() != null) {
      LOG.warn("run {}: memory {} version {} not taken in: {}", state.getRunId(), newer.getScope(), newer.getVersion(),
          writes.overflow());
      return state;
    }
    commit(state, writes);
    telemetry.committed(state, t, refreshed, now);
    return t.state();
  }

  /**
   * One input must not stall the partition: what its transition would write does not fit, so write
   * something that does. A run that cannot start fails; a command is refused; an answer becomes an
   * error the run sees, and a run that cannot take even that is ended.
   */
  private void overflowed(Record<String, byte[]> record, String topic, RunState state, RunEvent event, String tooLarge,
      Overflow overflow, Instant now) {
    String runId = record.key();
    if (state == null) {
      String reason = "run " + runId + " cannot start: " + overflow;
      deadLetter(record, topic, reason, null);
      RunRequest req = event instanceof RunEvent.Started s ? s.request() : null;
      publishOrphanFailure(runId, req == null ? null : req.getAgent(), reason, now, req);
    } else if (!AnswerLimit.applies(event)) {
      deadLetter(record, topic, "refused: " + overflow, null);
    } else if (tooLarge != null) {
      deadLetter(record, topic, "answer too large: " + tooLarge, null);
      endRun(state, AnswerLimit.what(event) + " was refused, and even the error does not fit: " + overflow, now);
    } else {
      String why = AnswerLimit.what(event) + " was " + AnswerLimit.bytes(record.value().length) + ", too large for the run: "
          + overflow;
      deadLetter(record, topic, "answer too large: " + why, null);
      RunEvent refusal = AnswerLimit.refusal(event, why);
      Transition instead = transition(state, refusal, now);
      Writes fitting = instead == null || instead.isRejected() ? null : prepare(instead, now);
      if (fitting != null && fitting.overflow() == null) {
        commit(state, fitting);
        telemetry.committed(state, instead, refusal, now);
      } else {
        endRun(state, why, now);
      }
    }
  }

  /**
   * Ends a run that cannot go on within the limits: FAILED, with {@code reason} as its error. Its state is no larger
   * than the last one written, so it fits unless the limits shrank since; then the run is left as it
   * was and the partition goes on.
   */
  private void endRun(RunState state, String reason, Instant now) {
    String message = "stopped by the orchestrator: " + reason;
    RunEvent cancel = new RunEvent.Abandoned(message);
    Transition t = transition(state, cancel, now);
    Writes writes = t == null || t.isRejected() ? null : prepare(t, now);
    if (writes != null && writes.after() == null) {
      LOG.warn("run {} is already {}; not stopping it ({})", state.getRunId(), state.getStatus(), reason);
    } else if (writes != null && writes.overflow() == null) {
      LOG.warn("run {} {}", state.getRunId(), message);
      commit(state, writes);
      telemetry.committed(state, t, cancel, now);
    } else if (endLean(state, message, writes == null ? "no transition" : writes.overflow().toString(), now)) {
      return;
    } else {
      LOG.error("run {} cannot go on within the record limits and cannot be ended either ({}); leaving it as it was",
          state.getRunId(), writes == null ? "no transition" : writes.overflow());
    }
  }

  /**
   * The last way to end a run whose state no longer fits: FAILED, with the reason, and its state without
   * the conversation (which stays in turnpike.turn-events), so a run never stays RUNNING unwritable.
   */
  private boolean endLean(RunState state, String message, String why, Instant now) {
    RunEvent cancel = new RunEvent.Abandoned(message + "; its state did not fit either (" + why
        + "), so the conversation was left out of it (see turnpike.turn-events)");
    RunState lean = RunStateMachine.withoutConversation(state);
    Transition t = transition(lean, cancel, now);
    Writes writes = t == null || t.isRejected() ? null : prepare(t, now);
    if (writes == null || writes.after() == null || writes.overflow() != null) {
      return false;
    }
    LOG.warn("run {} {} (ended without its conversation: {})", state.getRunId(), message, why);
    commit(state, writes);
    telemetry.committed(state, t, cancel, now);
    return true;
  }

  /** A run's state as the state machine works on it: its large tool outputs read back from the blob store. */
  private RunState load(String runId) {
    RunState stored = runs.get(runId);
    return stored == null ? null : LargeOutputs.withOutputs(stored, sha -> blobs.get(LargeOutputs.key(runId, sha)));
  }

  /** The state machine's answer, or null (logged) when it throws. */
  private static Transition transition(RunState state, RunEvent event, Instant now) {
    try {
      return RunStateMachine.apply(state, event, now);
    } catch (RuntimeException e) {
      LOG.error("state machine failed on run {}", state == null ? "?" : state.getRunId(), e);
      return null;
    }
  }

  // --- decoding -------------------------------------------------------------------------------

  private RunEvent decode(String topic, Record<String, byte[]> record, String runId, RunState state) throws BadRecord {
    if (topic.equals(Topics.RUN_REQUESTS.name())) {
      RunRequest req = RunRequestJson.isJson(record.headers())
          ? decodeOrFail(() -> RunRequestJson.parse(record.value(), runId, Instant.ofEpochMilli(record.timestamp())), topic, true)
          : decodeOrFail(() -> serdes.runRequest().decode(record.value()), topic, true);
      if (!runId.equals(req.getRunId())) {
        throw new BadRecord("key '" + runId + "' does not match runId '" + req.getRunId() + "'", null, true, req.getAgent());
      }
      if (req.getInput() == null || req.getInput().isBlank()) {
        throw new BadRecord("run " + runId + " has an empty input", null, req);
      }
      if (state != null) {
        return new RunEvent.Started(req, state.getAgent(), null);
      }
      AgentDefinition agent = lookupAgent(req);
      String trace = TurnpikeHeaders.get(record.headers(), TurnpikeHeaders.TRACE_ID);
      return new RunEvent.Started(req, agent, trace != null ? trace : traceIdFor(runId),
          RunMemories.read(memories, memoryDocuments, agent, req.getUser()));
    }
    if (topic.equals(Topics.RUN_COMMANDS.name())) {
      RunCommand cmd = decodeOrFail(() -> serdes.runCommand().decode(record.value()), topic, false);
      return new RunEvent.CommandReceived(cmd);
    }
    if (topic.equals(Topics.MODEL_RESULTS.name())) {
      ModelResult res = decodeOrFail(() -> serdes.modelResult().decode(record.value()), topic, false);
      return new RunEvent.ModelAnswered(res, handoffAgents(state, res.getOutput()), maxImageBytes);
    }
    if (topic.equals(Topics.SANDBOX_RESULTS.name())) {
      return new RunEvent.SandboxAnswered(decodeOrFail(() -> serdes.sandboxResult().decode(record.value()), topic, false),
          maxImageBytes);
    }
    if (topic.equals(Topics.GUARDRAIL_RESULTS.name())) {
      GuardrailVerdict verdict = decodeOrFail(() -> serdes.guardrailVerdict().decode(record.value()), topic, false);
      return new RunEvent.GuardrailAnswered(verdict, state == null ? Map.of() : handoffAgents(state, state.getHeld()));
    }
    if (topic.equals(Topics.TOOL_RESULTS.name())) {
      ToolResult res = decodeOrFail(() -> serdes.toolResult().decode(record.value()), topic, false);
      return res.getChildRunId() != null ? new RunEvent.ChildAnswered(res) : new RunEvent.ToolAnswered(res, maxImageBytes);
    }
    throw new BadRecord("orchestrator does not consume " + topic, null, false, null);
  }

  private AgentDefinition lookupAgent(RunRequest req) throws BadRecord {
    byte[] bytes = agents.get(req.getAgent());
    if (bytes == null) {
      throw new BadRecord("unknown agent '" + req.getAgent() + "' (publish it to " + Topics.AGENTS.name() + " first)",
          null, req);
    }
    AgentDefinition agent;
    try {
      agent = serdes.agentDefinition().decode(bytes);
    } catch (SchemaRegistryException e) {
      if (e.isTransient()) {
        throw e; // retried by Streams (see decodeOrFail)
      }
      throw new BadRecord("agent '" + req.getAgent() + "' has an undecodable definition: " + e.getMessage(), e, req);
    } catch (RuntimeException e) {
      throw new BadRecord("agent '" + req.getAgent() + "' has an undecodable definition: " + e.getMessage(), e, req);
    }
    if (req.getAgentVersion() != null && !Objects.equals(req.getAgentVersion(), agent.getVersion())) {
      throw new BadRecord("agent '" + req.getAgent() + "' version " + req.getAgentVersion()
          + " is not available (current version is " + agent.getVersion() + ")", null, req);
    }
    agent = AgentView.withMcpTools(agent, mcpTools::list);
    List<String> missing = AgentView.missingMcpServers(agent);
    if (!missing.isEmpty()) {
      throw new BadRecord("agent '" + req.getAgent() + "' uses MCP server(s) " + missing + " with no tool list on "
          + Topics.MCP_TOOLS.name() + " (is the MCP gateway running, with them in its configuration?)", null, req);
    }
    return agent;
  }

  /** {@code t} with the guardrail checks that need no I/O answered here ({@link LocalGuardrails}). */
  private Transition judgeLocally(Transition t, Instant now) {
    return localGuardrails.judge(t, s -> handoffAgents(s, s.getHeld()), now);
  }

  /** The current definitions of the agents a model answer hands off to: the state machine cannot look them up. */
  private Map<String, AgentDefinition> handoffAgents(RunState state, List<Object> output) {
    Map<String, AgentDefinition> found = new HashMap<>();
    for (String name : RunStateMachine.handoffTargets(state, output)) {
      byte[] bytes = agents.get(name);
      if (bytes != null) {
        try {
          found.put(name, AgentView.withMcpTools(serdes.agentDefinition().decode(bytes), mcpTools::list));
        } catch (SchemaRegistryException e) {
          if (e.isTransient()) {
            throw e; // retried by Streams (see decodeOrFail)
          }
          LOG.warn("agent {} has an undecodable definition; the handoff will fail: {}", name, e.toString());
        } catch (RuntimeException e) {
          LOG.warn("agent {} has an undecodable definition; the handoff will fail: {}", name, e.toString());
        }
      }
    }
    return found;
  }

  private interface Decoder<T> {
    T decode();
  }

  private static <T> T decodeOrFail(Decoder<T> decoder, String topic, boolean failRun) throws BadRecord {
    try {
      return decoder.decode();
    } catch (SchemaRegistryException e) {
      if (e.isTransient()) {
        // A registry outage is not the record's fault: failing the stream thread makes Streams replace it
        // and read the record again from the last commit, instead of failing a run over it.
        throw e;
      }
      throw new BadRecord("undecodable record on " + topic + ": " + e.getMessage(), e, failRun, null);
    } catch (RuntimeException e) {
      throw new BadRecord("undecodable record on " + topic + ": " + e.getMessage(), e, failRun, null);
    }
  }

  /** A record the orchestrator cannot use; {@code failRun} when a RunResult FAILED should follow. */
  private static final class BadRecord extends Exception {
    final boolean failRun;
    final String agent;
    /** The run request, when it was decoded: a child run's parent must hear that it failed. */
    final RunRequest request;

    BadRecord(String message, Throwable cause, boolean failRun, String agent) {
      this(message, cause, failRun, agent, null);
    }

    BadRecord(String message, Throwable cause, boolean failRun, String agent, RunRequest request) {
      super(message, cause);
      this.failRun = failRun;
      this.agent = agent;
      this.request = request;
    }

    BadRecord(String message, Throwable cause, RunRequest request) {
      this(message, cause, true, request.getAgent(), request);
    }
  }

  // --- effects --------------------------------------------------------------------------------

  /** One record a transition writes; {@code key} null: the run's own id (only records for a child or parent run differ). */
  private record Write(String sink, String topic, String key, byte[] value, Headers headers) {
    Write(String sink, String topic, byte[] value, Headers headers) {
      this(sink, topic, null, value, headers);
    }
  }

  /**
   * Everything one transition writes, encoded; {@code after} is null when nothing changed.
   * {@code overflow} names the first record its topic would not take, null when everything fits.
   */
  private record Writes(RunState after, long timestamp, List<Write> records, Overflow overflow, LargeOutputs.Split stored) {}

  /** A record too large for its topic: what it is, how large, and what the topic takes. */
  private record Overflow(String what, String topic, int bytes, int limit) {
    @Override
    public String toString() {
      return what + " would be " + AnswerLimit.bytes(bytes) + ", over the " + AnswerLimit.bytes(limit) + " that " + topic
          + " takes";
    }
  }

  /** Encodes what {@code t} writes and checks each record against its topic's limit; writes nothing. */
  private Writes prepare(Transition t, Instant now) {
    if (!t.changed()) {
      return new Writes(null, 0, List.of(), null, null);
    }
    RunState after = t.state();
    String trace = after.getTraceId();
    outgoing = RunTelemetry.outgoing(after);
    List<Write> records = new ArrayList<>();
    byte[] stored;
    // Large tool outputs are written once, to the blob store; the state refers to them (LargeOutputs).
    LargeOutputs.Split split = LargeOutputs.split(after, inlineOutputBytes);
    try {
      for (Effect effect : t.effects()) {
        records.add(switch (effect) {
          case Effect.SendModelCall m -> new Write(OrchestratorTopology.SINK_MODEL_REQUESTS, Topics.MODEL_REQUESTS.name(),
              serdes.modelCall().encode(m.call()), headers("ModelCall", trace, m.call().getCallId()));
          case Effect.SendToolCall c -> new Write(OrchestratorTopology.SINK_TOOL_REQUESTS, Topics.TOOL_REQUESTS.name(),
              serdes.toolCall().encode(c.call()), headers("ToolCall", trace, c.call().getCallId()));
          case Effect.SendSandboxCommand c -> new Write(OrchestratorTopology.SINK_SANDBOX_REQUESTS, Topics.SANDBOX_REQUESTS.name(),
              serdes.sandboxCommand().encode(c.command()), headers("SandboxCommand", trace, c.command().getCallId()));
          case Effect.SendGuardrailCheck c -> new Write(OrchestratorTopology.SINK_GUARDRAIL_REQUESTS, Topics.GUARDRAIL_REQUESTS.name(),
              serdes.guardrailCheck().encode(c.check()), headers("GuardrailCheck", trace, c.check().getCallId()));
          case Effect.Publish p -> new Write(OrchestratorTopology.SINK_TURN_EVENTS, Topics.TURN_EVENTS.name(),
              serdes.turnEvent().encode(p.event()), headers(p.event().getStep().getClass().getSimpleName(), trace, null));
          case Effect.Finish f -> new Write(OrchestratorTopology.SINK_RUN_RESULTS, Topics.RUN_RESULTS.name(),
              serdes.runResult().encode(f.result()), headers("RunResult", trace, null));
          // Agents as tools: records for another run, keyed by that run's id.
          case Effect.StartChildRun c -> new Write(OrchestratorTopology.SINK_CHILD_RUN_REQUESTS, Topics.RUN_REQUESTS.name(),
              c.request().getRunId(), serdes.runRequest().encode(c.request()),
              headers("RunRequest", traceIdFor(c.request().getRunId()), null));
          case Effect.CancelChildRun c -> new Write(OrchestratorTopology.SINK_CHILD_RUN_COMMANDS, Topics.RUN_COMMANDS.name(),
              c.command().getRunId(), serdes.runCommand().encode(c.command()),
              headers("RunCommand", traceIdFor(c.command().getRunId()), null));
          case Effect.AnswerParent a -> new Write(OrchestratorTopology.SINK_PARENT_ANSWERS, Topics.TOOL_RESULTS.name(),
              a.result().getRunId(), serdes.toolResult().encode(a.result()),
              headers("ToolResult", parentTrace(after, a.result().getRunId()), a.result().getCallId()));
        });
      }
      RunState published = RunStateMachine.published(split.stored());
      byte[] publishedBytes = serdes.runState().encode(published);
      records.add(new Write(OrchestratorTopology.SINK_RUN_STATE, Topics.RUN_STATE.name(), publishedBytes,
          headers("RunState", trace, null)));
      // The store, and so its changelog, keeps the full state: encoded again only where it differs.
      stored = published == split.stored() ? publishedBytes : serdes.runState().encode(split.stored());
    } finally {
      outgoing = null;
    }
    return new Writes(after, now.toEpochMilli(), records, overflow(after.getRunId(), records, stored, split.added()), split);
  }

  private Overflow overflow(String runId, List<Write> records, byte[] stored, Map<String, byte[]> outputs) {
    byte[] key = runId.getBytes(StandardCharsets.UTF_8);
    for (Map.Entry<String, byte[]> output : outputs.entrySet()) {
      int size = RecordLimits.estimate(LargeOutputs.key(runId, output.getKey()).getBytes(StandardCharsets.UTF_8),
          output.getValue(), null);
      if (size > limits.of(blobChangelog)) {
        return new Overflow("a tool output kept out of line", blobChangelog, size, limits.of(blobChangelog));
      }
    }
    for (Write w : records) {
      int size = RecordLimits.estimate(w.key() == null ? key : w.key().getBytes(StandardCharsets.UTF_8), w.value(), w.headers());
      int limit = limits.of(w.topic());
      if (size > limit) {
        return new Overflow(describe(w), w.topic(), size, limit);
      }
    }
    int logged = RecordLimits.estimate(key, stored, null);
    if (logged > limits.of(changelog)) {
      return new Overflow("the run's state", changelog, logged, limits.of(changelog));
    }
    return null;
  }

  private static String describe(Write w) {
    return switch (w.sink()) {
      case OrchestratorTopology.SINK_MODEL_REQUESTS -> "the model call (the whole conversation)";
      case OrchestratorTopology.SINK_TOOL_REQUESTS -> "a tool call";
      case OrchestratorTopology.SINK_SANDBOX_REQUESTS -> "a sandbox command";
      case OrchestratorTopology.SINK_GUARDRAIL_REQUESTS -> "a guardrail check";
      case OrchestratorTopology.SINK_TURN_EVENTS -> "a turn event";
      case OrchestratorTopology.SINK_RUN_RESULTS -> "the run's result";
      case OrchestratorTopology.SINK_RUN_STATE -> "the run's state";
      case OrchestratorTopology.SINK_CHILD_RUN_REQUESTS -> "a child run's request";
      case OrchestratorTopology.SINK_CHILD_RUN_COMMANDS -> "a child run's cancel command";
      case OrchestratorTopology.SINK_PARENT_ANSWERS -> "the answer to the parent run";
      default -> "a record";
    };
  }

  /** Stores the new state, keeps the deadline index in step and sends every record, in one transaction. */
  private void commit(RunState before, Writes writes) {
    RunState after = writes.after();
    if (after == null) {
      return;
    }
    String runId = after.getRunId();
    RunState stored = writes.stored().stored();
    writes.stored().added().forEach((sha, bytes) -> blobs.put(LargeOutputs.key(runId, sha), bytes));
    java.util.Set<String> dropped = LargeOutputs.references(before);
    dropped.removeAll(LargeOutputs.references(stored));
    dropped.forEach(sha -> blobs.delete(LargeOutputs.key(runId, sha))); // compacted away, or filtered by a handoff
    runs.put(runId, stored);
    updateTimers(before, after);
    for (Write w : writes.records()) {
      forward(w.sink(), w.key() == null ? runId : w.key(), w.value(), writes.timestamp(), w.headers());
    }
  }

  /**
   * A run that cannot start fails with {@code reason}; when it was another run's agent tool call
   * ({@code request.parent}), that run is answered too, or it would wait for the child forever.
   */
  private void publishOrphanFailure(String runId, String agent, String reason, Instant now, RunRequest request) {
    RunResult result = RunResult.newBuilder()
        .setRunId(runId)
        .setStatus(RunStatus.FAILED)
        .setAgent(agent)
        .setError(reason)
        .setTurns(0)
        .setUsage(Usage.newBuilder().build())
        .setFinishedAt(now)
        .build();
    telemetry.rejected(result);
    forward(OrchestratorTopology.SINK_RUN_RESULTS, runId, serdes.runResult().encode(result), now.toEpochMilli(),
        headers("RunResult", traceIdFor(runId), null));
    ParentRun parent = request == null ? null : request.getParent();
    if (parent != null) {
      ToolResult answer = ChildRuns.answer(parent, runId, agent, RunStatus.FAILED, null, reason, Duration.ZERO);
      String trace = parent.getTraceId() != null ? parent.getTraceId() : traceIdFor(parent.getRunId());
      forward(OrchestratorTopology.SINK_PARENT_ANSWERS, parent.getRunId(), serdes.toolResult().encode(answer),
          now.toEpochMilli(), headers("ToolResult", trace, parent.getCallId()));
    }
  }

  private void forward(String sink, String key, byte[] value, long ts, Headers headers) {
    context.forward(new Record<>(key, value, ts, headers), sink);
  }

  /**
   * Sets a record aside on {@code turnpike.dead-letters} ({@link DeadLetter}: body cut to fit, original
   * size and sha-256 in headers). A dead letter that still does not fit is skipped, never retried.
   */
  private void deadLetter(Record<String, byte[]> record, String topic, String reason, Throwable error) {
    LOG.warn("dead-lettering record from {} (key {}): {}", topic, record.key(), reason);
    Span.current().setStatus(StatusCode.ERROR, reason);
    int partition = context.recordMetadata().map(RecordMetadata::partition).orElse(-1);
    long offset = context.recordMetadata().map(RecordMetadata::offset).orElse(-1L);
    String errorName = error == null ? null : error.getClass().getName();
    DeadLetter letter = DeadLetter.of(topic, partition, offset, record.key(), record.value(), record.headers(), reason, errorName);
    int limit = limits.of(Topics.DEAD_LETTERS.name());
    if (size(letter) > limit) {
      // The original headers are the one part DeadLetter does not cut.
      letter = DeadLetter.of(topic, partition, offset, record.key(), record.value(), null,
          reason + " (original headers left out: too large)", errorName);
    }
    if (size(letter) > limit) {
      drop(record, topic, "its dead letter would be " + AnswerLimit.bytes(size(letter)) + ", over the "
          + AnswerLimit.bytes(limit) + " that " + Topics.DEAD_LETTERS.name() + " takes (" + reason + ")");
      return;
    }
    context.forward(new Record<>(letter.key(), letter.value(), record.timestamp(), letter.headers()),
        OrchestratorTopology.SINK_DEAD_LETTERS);
  }

  private static int size(DeadLetter letter) {
    return RecordLimits.estimate(letter.key() == null ? null : letter.key().getBytes(StandardCharsets.UTF_8), letter.value(),
        letter.headers());
  }

  /** The last resort for a record that cannot even be dead-lettered: skipped, logged, counted. */
  private void drop(Record<String, byte[]> record, String topic, String why) {
    Optional<RecordMetadata> m = context.recordMetadata();
    LOG.error("skipping record {}-{}@{} (key {}, {}) without a dead letter: {}", topic,
        m.map(RecordMetadata::partition).orElse(-1), m.map(RecordMetadata::offset).orElse(-1L), record.key(),
        AnswerLimit.bytes(record.value() == null ? 0 : record.value().length), why);
    Span.current().setStatus(StatusCode.ERROR, why);
    metrics.deadLetterDropped(topic);
  }

  private Headers headers(String type, String traceId, String callId) {
    Headers h = new RecordHeaders();
    h.add(TurnpikeHeaders.TYPE, type.getBytes(StandardCharsets.UTF_8));
    if (traceId != null) {
      h.add(TurnpikeHeaders.TRACE_ID, traceId.getBytes(StandardCharsets.UTF_8));
    }
    if (callId != null) {
      h.add(TurnpikeHeaders.CALL_ID, callId.getBytes(StandardCharsets.UTF_8));
    }
    RunTelemetry.inject(h, outgoing, traceId);
    return h;
  }

  /** The trace of the parent run an answer goes to: as the child's link names it, else the one derived from its id. */
  private static String parentTrace(RunState child, String parentRunId) {
    return child.getParent() != null && child.getParent().getTraceId() != null ? child.getParent().getTraceId()
        : traceIdFor(parentRunId);
  }

  static String traceIdFor(String runId) {
    return UUID.nameUUIDFromBytes(runId.getBytes(StandardCharsets.UTF_8)).toString().replace("-", "");
  }

  // --- deadlines ------------------------------------------------------------------------------

  static String timerKey(Instant deadline, String runId, String callId) {
    return String.format("%013d|%s|%s", deadline.toEpochMilli(), runId, callId);
  }

  private void updateTimers(RunState before, RunState after) {
    Map<String, Instant> old = deadlines(before);
    Map<String, Instant> now = deadlines(after);
    String runId = after.getRunId();
    old.forEach((callId, deadline) -> {
      if (!deadline.equals(now.get(callId))) {
        timers.delete(timerKey(deadline, runId, callId));
      }
    });
    now.forEach((callId, deadline) -> {
      if (!deadline.equals(old.get(callId))) {
        timers.put(timerKey(deadline, runId, callId), runId);
      }
    });
  }

  private static Map<String, Instant> deadlines(RunState state) {
    Map<String, Instant> m = new HashMap<>();
    if (state != null && !RunStateMachine.isTerminal(state.getStatus())) {
      for (PendingCall p : state.getPending()) {
        m.put(p.getCallId(), p.getDeadline());
      }
    }
    return m;
  }

  private void fireDeadlines(long wallClockMs) {
    Instant now = Instant.ofEpochMilli(wallClockMs);
    List<KeyValue<String, String>> due = new ArrayList<>();
    try (KeyValueIterator<String, String> it = timers.range("0", String.format("%013d|~", wallClockMs))) {
      while (it.hasNext() && due.size() < MAX_TIMERS_PER_PUNCTUATION) {
        due.add(it.next());
      }
    }
    for (KeyValue<String, String> timer : due) {
      timers.delete(timer.key);
      String[] parts = timer.key.split("\\|", 3);
      String runId = parts[1];
      String callId = parts[2];
      RunState state = load(runId);
      if (state == null) {
        continue;
      }
      Span span = telemetry.startDeadline(state, callId);
      try (Scope ignored = span.makeCurrent()) {
        RunEvent event = new RunEvent.DeadlinePassed(callId);
        Transition t = judgeLocally(RunStateMachine.apply(state, event, now), now);
        Writes writes = prepare(t, now);
        if (writes.overflow() == null) {
          commit(state, writes);
          if (t.changed()) {
            telemetry.committed(state, t, event, now);
          }
        } else {
          endRun(state, "after the deadline of " + callId + ", " + writes.overflow(), now);
        }
      } finally {
        span.end();
      }
    }
  }

  private Instant now() {
    return Instant.ofEpochMilli(context.currentSystemTimeMs());
  }
}
