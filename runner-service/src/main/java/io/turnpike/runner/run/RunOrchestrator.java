package io.turnpike.runner.run;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.Usage;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.RunRequestJson;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.schema.registry.SchemaRegistryException;
import io.turnpike.telemetry.Telemetry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.HashSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
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
 */
final class RunOrchestrator implements Processor<String, byte[], String, byte[]> {
  private static final Logger LOG = LoggerFactory.getLogger(RunOrchestrator.class);
  private static final int MAX_TIMERS_PER_PUNCTUATION = 10_000;

  private final Duration timerInterval;
  private final TurnpikeSerdes serdes;
  private final RunTelemetry telemetry;
  private final Map<String, Integer> partitions;
  private final Set<String> reroutedTopics = new HashSet<>();
  /** The trace context of the records {@link #commit} is sending; null outside it. */
  private SpanContext outgoing;
  private ProcessorContext<String, byte[]> context;
  private KeyValueStore<String, RunState> runs;
  private KeyValueStore<String, String> timers;
  private KeyValueStore<String, byte[]> agents;

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
    this.partitions = Map.copyOf(partitions);
  }

  @Override
  public void init(ProcessorContext<String, byte[]> context) {
    this.context = context;
    this.runs = context.getStateStore(OrchestratorTopology.RUN_STORE);
    this.timers = context.getStateStore(OrchestratorTopology.TIMER_STORE);
    this.agents = context.getStateStore(OrchestratorTopology.AGENT_STORE);
    context.schedule(timerInterval, PunctuationType.WALL_CLOCK_TIME, this::fireDeadlines);
  }

  @Override
  public void process(Record<String, byte[]> record) {
    String topic = context.recordMetadata().map(RecordMetadata::topic).orElse("?");
    if (misrouted(record, topic)) {
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
    if (reroutedTopics.add(topic)) {
      LOG.warn("a producer to {} does not use Kafka's default partitioner (runId {} came on partition {}, not {});"
          + " moving such records (librdkafka clients: set partitioner=murmur2_random)", topic, record.key(), actual, expected);
    }
    Headers h = new RecordHeaders(record.headers().toArray());
    TurnpikeHeaders.put(h, "turnpike.rerouted-from", topic + "-" + actual);
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
    RunState state = runs.get(runId);
    RunEvent event;
    try {
      event = decode(topic, record, runId, state);
    } catch (BadRecord bad) {
      deadLetter(record, topic, bad.getMessage(), bad.getCause());
      if (bad.failRun && state == null) {
        publishOrphanFailure(runId, bad.agent, bad.getMessage(), now);
      }
      return;
    }
    if (event == null) {
      return;
    }
    Transition t;
    try {
      t = RunStateMachine.apply(state, event, now);
    } catch (RuntimeException e) {
      LOG.error("state machine failed on run {} from {}", runId, topic, e);
      deadLetter(record, topic, "internal error: " + e, e);
      return;
    }
    if (t.isRejected()) {
      deadLetter(record, topic, t.rejection(), null);
      return;
    }
    commit(state, t, now);
    telemetry.committed(state, t, event, now);
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
        throw new BadRecord("run " + runId + " has an empty input", null, true, req.getAgent());
      }
      if (state != null) {
        return new RunEvent.Started(req, state.getAgent(), null);
      }
      AgentDefinition agent = lookupAgent(req);
      String trace = TurnpikeHeaders.get(record.headers(), TurnpikeHeaders.TRACE_ID);
      return new RunEvent.Started(req, agent, trace != null ? trace : traceIdFor(runId));
    }
    if (topic.equals(Topics.RUN_COMMANDS.name())) {
      RunCommand cmd = decodeOrFail(() -> serdes.runCommand().decode(record.value()), topic, false);
      return new RunEvent.CommandReceived(cmd);
    }
    if (topic.equals(Topics.MODEL_RESULTS.name())) {
      ModelResult res = decodeOrFail(() -> serdes.modelResult().decode(record.value()), topic, false);
      return new RunEvent.ModelAnswered(res, handoffAgents(state, res.getOutput()));
    }
    if (topic.equals(Topics.SANDBOX_RESULTS.name())) {
      return new RunEvent.SandboxAnswered(decodeOrFail(() -> serdes.sandboxResult().decode(record.value()), topic, false));
    }
    if (topic.equals(Topics.GUARDRAIL_RESULTS.name())) {
      GuardrailVerdict verdict = decodeOrFail(() -> serdes.guardrailVerdict().decode(record.value()), topic, false);
      return new RunEvent.GuardrailAnswered(verdict, state == null ? Map.of() : handoffAgents(state, state.getHeld()));
    }
    if (topic.equals(Topics.TOOL_RESULTS.name())) {
      ToolResult res = decodeOrFail(() -> serdes.toolResult().decode(record.value()), topic, false);
      return new RunEvent.ToolAnswered(res);
    }
    throw new BadRecord("orchestrator does not consume " + topic, null, false, null);
  }

  private AgentDefinition lookupAgent(RunRequest req) throws BadRecord {
    byte[] bytes = agents.get(req.getAgent());
    if (bytes == null) {
      throw new BadRecord("unknown agent '" + req.getAgent() + "' (publish it to " + Topics.AGENTS.name() + " first)",
          null, true, req.getAgent());
    }
    AgentDefinition agent;
    try {
      agent = serdes.agentDefinition().decode(bytes);
    } catch (SchemaRegistryException e) {
      if (e.isTransient()) {
        throw e; // retried by Streams (see decodeOrFail)
      }
      throw new BadRecord("agent '" + req.getAgent() + "' has an undecodable definition: " + e.getMessage(), e, true, req.getAgent());
    } catch (RuntimeException e) {
      throw new BadRecord("agent '" + req.getAgent() + "' has an undecodable definition: " + e.getMessage(), e, true, req.getAgent());
    }
    if (req.getAgentVersion() != null && !Objects.equals(req.getAgentVersion(), agent.getVersion())) {
      throw new BadRecord("agent '" + req.getAgent() + "' version " + req.getAgentVersion()
          + " is not available (current version is " + agent.getVersion() + ")", null, true, req.getAgent());
    }
    return agent;
  }

  /** The current definitions of the agents a model answer hands off to: the state machine cannot look them up. */
  private Map<String, AgentDefinition> handoffAgents(RunState state, List<Object> output) {
    Map<String, AgentDefinition> found = new HashMap<>();
    for (String name : RunStateMachine.handoffTargets(state, output)) {
      byte[] bytes = agents.get(name);
      if (bytes != null) {
        try {
          found.put(name, serdes.agentDefinition().decode(bytes));
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

    BadRecord(String message, Throwable cause, boolean failRun, String agent) {
      super(message, cause);
      this.failRun = failRun;
      this.agent = agent;
    }
  }

  // --- effects --------------------------------------------------------------------------------

  private void commit(RunState before, Transition t, Instant now) {
    if (!t.changed()) {
      return;
    }
    RunState after = t.state();
    String runId = after.getRunId();
    String trace = after.getTraceId();
    runs.put(runId, after);
    updateTimers(before, after);
    long ts = now.toEpochMilli();
    outgoing = RunTelemetry.outgoing(after);
    try {
      send(runId, trace, after, t, ts);
    } finally {
      outgoing = null;
    }
  }

  private void send(String runId, String trace, RunState after, Transition t, long ts) {
    for (Effect effect : t.effects()) {
      switch (effect) {
        case Effect.SendModelCall m -> forward(OrchestratorTopology.SINK_MODEL_REQUESTS, runId,
            serdes.modelCall().encode(m.call()), ts, headers("ModelCall", trace, m.call().getCallId()));
        case Effect.SendToolCall c -> forward(OrchestratorTopology.SINK_TOOL_REQUESTS, runId,
            serdes.toolCall().encode(c.call()), ts, headers("ToolCall", trace, c.call().getCallId()));
        case Effect.SendSandboxCommand c -> forward(OrchestratorTopology.SINK_SANDBOX_REQUESTS, runId,
            serdes.sandboxCommand().encode(c.command()), ts, headers("SandboxCommand", trace, c.command().getCallId()));
        case Effect.SendGuardrailCheck c -> forward(OrchestratorTopology.SINK_GUARDRAIL_REQUESTS, runId,
            serdes.guardrailCheck().encode(c.check()), ts, headers("GuardrailCheck", trace, c.check().getCallId()));
        case Effect.Publish p -> forward(OrchestratorTopology.SINK_TURN_EVENTS, runId,
            serdes.turnEvent().encode(p.event()), ts, headers(p.event().getStep().getClass().getSimpleName(), trace, null));
        case Effect.Finish f -> forward(OrchestratorTopology.SINK_RUN_RESULTS, runId,
            serdes.runResult().encode(f.result()), ts, headers("RunResult", trace, null));
      }
    }
    forward(OrchestratorTopology.SINK_RUN_STATE, runId, serdes.runState().encode(RunStateMachine.published(after)), ts,
        headers("RunState", trace, null));
  }

  private void publishOrphanFailure(String runId, String agent, String reason, Instant now) {
    RunResult result = RunResult.newBuilder()
        .setRunId(runId)
        .setStatus(RunStatus.FAILED)
        .setAgent(agent)
        .setError(reason)
        .setTurns(0)
        .setUsage(new Usage(0L, 0L, 0L, 0))
        .setFinishedAt(now)
        .build();
    telemetry.rejected(result);
    forward(OrchestratorTopology.SINK_RUN_RESULTS, runId, serdes.runResult().encode(result), now.toEpochMilli(),
        headers("RunResult", traceIdFor(runId), null));
  }

  private void forward(String sink, String key, byte[] value, long ts, Headers headers) {
    context.forward(new Record<>(key, value, ts, headers), sink);
  }

  private void deadLetter(Record<String, byte[]> record, String topic, String reason, Throwable error) {
    LOG.warn("dead-lettering record from {} (key {}): {}", topic, record.key(), reason);
    Span.current().setStatus(StatusCode.ERROR, reason);
    Headers h = new RecordHeaders(record.headers().toArray());
    TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_TOPIC, topic);
    context.recordMetadata().ifPresent(m -> {
      TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_PARTITION, String.valueOf(m.partition()));
      TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_OFFSET, String.valueOf(m.offset()));
    });
    TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_REASON, reason);
    TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_ERROR, error == null ? "rejected" : error.getClass().getName());
    context.forward(new Record<>(record.key(), record.value(), record.timestamp(), h), OrchestratorTopology.SINK_DEAD_LETTERS);
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
      RunState state = runs.get(runId);
      if (state == null) {
        continue;
      }
      Span span = telemetry.startDeadline(state, callId);
      try (Scope ignored = span.makeCurrent()) {
        RunEvent event = new RunEvent.DeadlinePassed(callId);
        Transition t = RunStateMachine.apply(state, event, now);
        if (t.changed()) {
          commit(state, t, now);
          telemetry.committed(state, t, event, now);
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
