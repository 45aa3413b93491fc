package io.turnpike.memory;

import io.turnpike.avro.MemoryCandidate;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryCommand;
import io.turnpike.avro.MemoryCommandType;
import io.turnpike.avro.MemoryConsolidation;
import io.turnpike.avro.MemoryScopeState;
import io.turnpike.avro.RunState;
import io.turnpike.schema.AvroSerde;
import io.turnpike.schema.DeadLetter;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.registry.SchemaRegistryException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.StreamPartitioner;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phase 2 and memory commands as one Kafka Streams topology (exactly_once_v2): a state change and every
 * record it causes (the new MemoryDocument, a consolidation request, a dead letter) commit together.
 * No I/O happens here: the phase-two model is called by {@link ConsolidationWorker}, whose answer comes
 * back on {@code turnpike.memory.consolidation.results}.
 *
 * <pre>
 * turnpike.run-state ──▶ run scopes (runId → scope) ◀── turnpike.memory.commands (key runId / scope / forget:*)
 *                                                        │ edits: routed to their scope; forgets: to every partition
 *                                                        ▼ (repartition: memory-scope-commands)
 * turnpike.memory.candidates ──┐
 * consolidation.results ───────┼──▶ scopes (MemoryBook per scope) ──▶ turnpike.memory, consolidation.requests, dead letters
 * scope commands ──────────────┘     + punctuator: age threshold, unanswered consolidations
 * </pre>
 */
public final class MemoryTopology {
  private static final Logger log = LoggerFactory.getLogger(MemoryTopology.class);

  public static final String RUN_SCOPES = "memory-run-scopes";
  public static final String SCOPES = "memory-scopes";
  public static final String FORGOTTEN = "memory-forgotten";
  public static final String SCOPE_COMMANDS = "memory-scope-commands";

  /** A record to write: its topic and value; key and headers travel on the Streams record. */
  record Emit(String topic, byte[] value) {}

  private MemoryTopology() {}

  public static Topology build(AvroSerde<RunState> runStates, MemorySerdes serdes, Duration tick, Duration resendAfter,
      Clock clock) {
    StreamsBuilder b = new StreamsBuilder();
    Serde<String> str = Serdes.String();
    Serde<byte[]> bytes = Serdes.ByteArray();
    b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(RUN_SCOPES), str, str));
    // Cached: a scope written many times within one commit goes to its changelog once.
    b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(SCOPES), str, serdes.scopeState()).withCachingEnabled());
    b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(FORGOTTEN), str, Serdes.Long()));
    Serde<Emit> emits = Serdes.serdeFrom((topic, e) -> e.value(), (topic, data) -> {
      throw new UnsupportedOperationException("emits are only written");
    });
    Produced<String, Emit> out = Produced.with(str, emits);

    b.stream(Topics.RUN_STATE.name(), Consumed.with(str, bytes).withName("memory-run-state"))
        .process(() -> new RunScopeRecorder(runStates), Named.as("memory-run-scope-recorder"), RUN_SCOPES);

    KStream<String, Emit> routed = b.stream(Topics.MEMORY_COMMANDS.name(), Consumed.with(str, bytes).withName("memory-commands"))
        .process(() -> new CommandRouter(serdes.command()), Named.as("memory-command-router"), RUN_SCOPES);
    var branches = routed.split(Named.as("memory-routed-"))
        .branch((k, e) -> e.topic() != null, Branched.as("emit"))
        .defaultBranch(Branched.as("scope"));
    branches.get("memory-routed-emit").to((k, e, ctx) -> e.topic(), out);
    KStream<String, byte[]> scopeCommands = branches.get("memory-routed-scope")
        .mapValues(Emit::value, Named.as("memory-routed-value"))
        .repartition(Repartitioned.<String, byte[]>as(SCOPE_COMMANDS).withKeySerde(str).withValueSerde(bytes)
            .withStreamPartitioner(new ScopePartitioner()));

    KStream<String, byte[]> candidates = b.stream(Topics.MEMORY_CANDIDATES.name(), Consumed.with(str, bytes).withName("memory-candidates"));
    KStream<String, byte[]> results = b.stream(Topics.MEMORY_CONSOLIDATION_RESULTS.name(),
        Consumed.with(str, bytes).withName("memory-consolidation-results"));
    candidates.merge(results, Named.as("memory-merge-results")).merge(scopeCommands, Named.as("memory-merge-commands"))
        .process(() -> new ScopeProcessor(serdes, tick, resendAfter, clock), Named.as("memory-scopes-processor"), SCOPES, FORGOTTEN)
        .to((k, e, ctx) -> e.topic(), out);
    return b.build();
  }

  /** Forgets go to every partition (each holds its own scopes); everything else to its scope's, as the producer's partitioner would. */
  static final class ScopePartitioner implements StreamPartitioner<String, byte[]> {
    @Override
    public Optional<Set<Integer>> partitions(String topic, String key, byte[] value, int numPartitions) {
      if (key != null && key.startsWith(Scopes.FORGET_PREFIX)) {
        return Optional.of(IntStream.range(0, numPartitions).boxed().collect(Collectors.toSet()));
      }
      byte[] k = key == null ? new byte[0] : key.getBytes(java.nio.charset.StandardCharsets.UTF_8);
      return Optional.of(Set.of(Utils.toPositive(Utils.murmur2(k)) % numPartitions));
    }
  }

  // ------------------------------------------------------------------------------------ run scopes

  /** Keeps runId → scope for runs of agents with memory.write, so an edit naming only its run finds its scope. */
  static final class RunScopeRecorder implements Processor<String, byte[], Void, Void> {
    private final AvroSerde<RunState> serde;
    private KeyValueStore<String, String> scopes;

    RunScopeRecorder(AvroSerde<RunState> serde) {
      this.serde = serde;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      scopes = context.getStateStore(RUN_SCOPES);
    }

    @Override
    public void process(Record<String, byte[]> r) {
      if (r.key() == null) {
        return;
      }
      if (r.value() == null) {
        scopes.delete(r.key());
        return;
      }
      RunState s;
      try {
        s = serde.deserialize(Topics.RUN_STATE.name(), r.value());
      } catch (SchemaRegistryException e) {
        throw e; // the registry is away: the task fails and the record is read again
      } catch (RuntimeException e) {
        return; // not ours to dead-letter: the runner owns turnpike.run-state
      }
      String scope = Scopes.writes(s.getAgent()) ? Scopes.of(s.getAgent(), s.getUser()) : null;
      if (scope != null && !scope.equals(scopes.get(r.key()))) {
        scopes.put(r.key(), scope);
      }
    }
  }

  /** Resolves an edit's scope (its own, else its run's) and sends forgets everywhere; refuses what it cannot place. */
  static final class CommandRouter implements Processor<String, byte[], String, Emit> {
    private final AvroSerde<MemoryCommand> serde;
    private ProcessorContext<String, Emit> context;
    private KeyValueStore<String, String> scopes;

    CommandRouter(AvroSerde<MemoryCommand> serde) {
      this.serde = serde;
    }

    @Override
    public void init(ProcessorContext<String, Emit> context) {
      this.context = context;
      scopes = context.getStateStore(RUN_SCOPES);
    }

    @Override
    public void process(Record<String, byte[]> r) {
      if (r.value() == null) {
        deadLetter(context, r, "the record has no value", "rejected");
        return;
      }
      MemoryCommand c;
      try {
        c = serde.deserialize(Topics.MEMORY_COMMANDS.name(), r.value());
      } catch (SchemaRegistryException e) {
        throw e;
      } catch (RuntimeException e) {
        deadLetter(context, r, "cannot decode the memory command: " + e.getMessage(), e.getClass().getName());
        return;
      }
      String problem = Commands.problem(c);
      if (problem != null) {
        deadLetter(context, r, problem, "rejected");
        return;
      }
      if (c.getType() == MemoryCommandType.FORGET_RUN || c.getType() == MemoryCommandType.FORGET_USER) {
        String key = Scopes.FORGET_PREFIX + (c.getType() == MemoryCommandType.FORGET_RUN ? "run:" + c.getRunId() : "user:" + c.getUser());
        context.forward(new Record<>(key, new Emit(null, r.value()), r.timestamp(), r.headers()));
        return;
      }
      String scope = c.getScope() != null ? c.getScope() : scopes.get(c.getRunId());
      if (scope == null) {
        deadLetter(context, r, "run " + c.getRunId() + " has no memory scope (an unknown run, or its agent has no memory.write)",
            "rejected");
        return;
      }
      context.forward(new Record<>(scope, new Emit(null, r.value()), r.timestamp(), r.headers()));
    }
  }

  // ------------------------------------------------------------------------------------ scopes

  static final class ScopeProcessor implements Processor<String, byte[], String, Emit> {
    private final MemorySerdes serdes;
    private final Duration tick;
    private final Duration resendAfter;
    private final Clock clock;
    private ProcessorContext<String, Emit> context;
    private KeyValueStore<String, MemoryScopeState> scopes;
    private KeyValueStore<String, Long> forgotten;

    ScopeProcessor(MemorySerdes serdes, Duration tick, Duration resendAfter, Clock clock) {
      this.serdes = serdes;
      this.tick = tick;
      this.resendAfter = resendAfter;
      this.clock = clock;
    }

    @Override
    public void init(ProcessorContext<String, Emit> context) {
      this.context = context;
      scopes = context.getStateStore(SCOPES);
      forgotten = context.getStateStore(FORGOTTEN);
      context.schedule(tick, PunctuationType.WALL_CLOCK_TIME, this::punctuate);
    }

    @Override
    public void process(Record<String, byte[]> r) {
      String topic = context.recordMetadata().map(RecordMetadata::topic).orElse("");
      if (r.value() == null || r.key() == null) {
        deadLetter(context, r, r.key() == null ? "the record has no key (the memory scope)" : "the record has no value", "rejected");
        return;
      }
      Instant now = clock.instant();
      try {
        if (topic.equals(Topics.MEMORY_CANDIDATES.name())) {
          MemoryCandidates batch = serdes.candidates().deserialize(topic, r.value());
          if (!r.key().equals(batch.getScope())) {
            deadLetter(context, r, "the record's key '" + r.key() + "' is not its scope '" + batch.getScope() + "'", "rejected");
            return;
          }
          apply(r, r.key(), MemoryBook.candidates(scopes.get(r.key()), batch, this::isForgotten, now));
        } else if (topic.equals(Topics.MEMORY_CONSOLIDATION_RESULTS.name())) {
          MemoryConsolidation answer = serdes.consolidation().deserialize(topic, r.value());
          apply(r, r.key(), MemoryBook.consolidated(scopes.get(r.key()), answer, now));
        } else {
          MemoryCommand c = serdes.command().deserialize(Topics.MEMORY_COMMANDS.name(), r.value());
          if (r.key().startsWith(Scopes.FORGET_PREFIX)) {
            forget(r, c, now);
          } else {
            apply(r, r.key(), MemoryBook.edit(scopes.get(r.key()), c, now));
          }
        }
      } catch (SchemaRegistryException e) {
        throw e;
      } catch (RuntimeException e) {
        deadLetter(context, r, "cannot use the record: " + e.getMessage(), e.getClass().getName());
      }
    }

    private boolean isForgotten(MemoryCandidate c) {
      return forgotten.get("run:" + c.getProvenance().getRunId()) != null
          || (c.getProvenance().getUser() != null && forgotten.get("user:" + c.getProvenance().getUser()) != null);
    }

    /** A tombstone: remembered (so later candidates of it are dropped) and applied to every scope of this partition. */
    private void forget(Record<String, byte[]> r, MemoryCommand c, Instant now) {
      String key = c.getType() == MemoryCommandType.FORGET_RUN ? "run:" + c.getRunId() : "user:" + c.getUser();
      if (forgotten.get(key) == null) {
        forgotten.put(key, now.toEpochMilli());
      }
      List<String> names = new ArrayList<>();
      try (KeyValueIterator<String, MemoryScopeState> it = scopes.all()) {
        it.forEachRemaining(kv -> names.add(kv.key));
      }
      for (String scope : names) {
        apply(r, scope, MemoryBook.forget(scopes.get(scope), c, now));
      }
    }

    private void punctuate(long ts) {
      Instant now = clock.instant();
      List<KeyValue<String, MemoryScopeState>> all = new ArrayList<>();
      try (KeyValueIterator<String, MemoryScopeState> it = scopes.all()) {
        it.forEachRemaining(all::add);
      }
      for (KeyValue<String, MemoryScopeState> kv : all) {
        apply(new Record<>(kv.key, new byte[0], ts, new RecordHeaders()), kv.key, MemoryBook.tick(kv.value, now, resendAfter));
      }
    }

    private void apply(Record<String, byte[]> cause, String scope, MemoryBook.Outcome o) {
      if (o.rejected() != null) {
        deadLetter(context, cause, o.rejected(), "rejected");
        return;
      }
      if (o.state() != null) {
        scopes.put(scope, o.state());
      }
      long ts = cause.timestamp();
      if (o.document() != null) {
        context.forward(new Record<>(scope, new Emit(Topics.MEMORY.name(), serdes.document().serialize(Topics.MEMORY.name(), o.document())),
            ts, headers("MemoryDocument", cause.headers())));
        log.info("memory {} is now version {} ({} lines): {}", scope, o.document().getVersion(), o.document().getLines().size(),
            o.document().getChange());
      }
      if (o.request() != null) {
        String t = Topics.MEMORY_CONSOLIDATION_REQUESTS.name();
        Headers h = headers("MemoryConsolidation", cause.headers());
        TurnpikeHeaders.put(h, TurnpikeHeaders.CALL_ID, o.request().getRequestId());
        context.forward(new Record<>(scope, new Emit(t, serdes.consolidation().serialize(t, o.request())), ts, h));
        log.debug("memory {}: consolidation {} asked with {} candidate(s)", scope, o.request().getSequence(),
            o.request().getCandidates().size());
      }
    }
  }

  private static Headers headers(String type, Headers cause) {
    Headers h = new RecordHeaders();
    TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, type);
    String trace = cause == null ? null : TurnpikeHeaders.get(cause, TurnpikeHeaders.TRACE_ID);
    if (trace != null) {
      TurnpikeHeaders.put(h, TurnpikeHeaders.TRACE_ID, trace);
    }
    return h;
  }

  private static void deadLetter(ProcessorContext<String, Emit> context, Record<String, byte[]> r, String reason, String error) {
    RecordMetadata m = context.recordMetadata().orElse(null);
    log.warn("memory: dead-lettering {}: {}", m == null ? "a record" : m.topic() + "-" + m.partition() + "@" + m.offset(), reason);
    DeadLetter d = DeadLetter.of(m == null ? "" : m.topic(), m == null ? -1 : m.partition(), m == null ? -1 : m.offset(),
        r.key(), r.value(), r.headers(), reason + " (memory-service)", error);
    context.forward(new Record<>(d.key(), new Emit(Topics.DEAD_LETTERS.name(), d.value()), r.timestamp(), d.headers()));
  }

}
