package io.turnpike.console;

import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunState;
import io.turnpike.schema.AvroSerde;
import io.turnpike.schema.Topics;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * Reads the console's views (interactive queries on {@link ConsoleTopology}'s stores). Called on HTTP
 * threads; throws {@link org.apache.kafka.streams.errors.InvalidStateStoreException} while the stores are
 * being restored or rebalanced (the API answers 503).
 */
final class RunQuery {
  static final int MAX_LIMIT = 500;
  /** Above every index key ({@code <13 digits>|runId}): '~' sorts after '|'. */
  private static final String LAST_KEY = "9999999999999~";

  private final KafkaStreams streams;
  private final AvroSerde<RunState> states;

  RunQuery(KafkaStreams streams, AvroSerde<RunState> states) {
    this.streams = streams;
    this.states = states;
  }

  /** A page of the run list, newest first; {@code next} is the cursor of the following page, or null. */
  record Page(List<RunSummary> runs, String next) {}

  /** A pending approval of some run, as {@code GET /api/approvals} lists it. */
  record Approval(String runId, String callId, String tool, String arguments, String reason, String agent, String since) {}

  Page list(Set<String> statuses, String agent, int limit, String after) {
    Predicate<RunSummary> keep = s -> (statuses.isEmpty() || statuses.contains(s.status()))
        && (agent == null || agent.equals(s.agent()));
    String from = after == null ? null : decodeCursor(after);
    List<RunSummary> page = new ArrayList<>();
    String lastKey = null;
    boolean more = false;
    ReadOnlyKeyValueStore<String, String> summaries = store(ConsoleTopology.SUMMARIES);
    try (MergedIterator it = new MergedIterator(indexPartitions(from))) {
      while (it.hasNext()) {
        KeyValue<String, String> kv = it.next();
        if (kv.key.equals(from)) {
          continue;
        }
        String json = summaries.get(kv.value);
        if (json == null) {
          continue; // the index ran ahead of a deletion
        }
        RunSummary s = RunSummary.fromJson(json);
        if (!keep.test(s)) {
          continue;
        }
        if (page.size() == limit) {
          more = true;
          break;
        }
        page.add(s);
        lastKey = kv.key;
      }
    }
    return new Page(page, more ? encodeCursor(lastKey) : null);
  }

  Optional<RunSummary> summary(String runId) {
    ReadOnlyKeyValueStore<String, String> summaries = store(ConsoleTopology.SUMMARIES);
    String json = summaries.get(runId);
    return Optional.ofNullable(json).map(RunSummary::fromJson);
  }

  Optional<RunState> state(String runId) {
    ReadOnlyKeyValueStore<String, byte[]> runStates = store(ConsoleTopology.RUN_STATES);
    byte[] bytes = runStates.get(runId);
    return bytes == null ? Optional.empty() : Optional.of(states.deserialize(Topics.RUN_STATE.name(), bytes));
  }

  /** The file list of the run's latest workspace snapshot (JSON, see ConsoleTopology.filesJson), if it has one. */
  Optional<String> files(String runId) {
    ReadOnlyKeyValueStore<String, String> files = store(ConsoleTopology.WORKSPACES);
    return Optional.ofNullable(files.get(runId));
  }

  /** The run's steps in order, those after {@code afterSeq} only. */
  List<Timeline.Entry> history(String runId, long afterSeq) {
    List<Timeline.Entry> out = new ArrayList<>();
    ReadOnlyKeyValueStore<String, String> steps = store(ConsoleTopology.STEPS);
    try (KeyValueIterator<String, String> it = steps.prefixScan(runId + "|", new StringSerializer())) {
      while (it.hasNext()) {
        Timeline.Entry e = Timeline.Entry.fromJson(it.next().value);
        if (e.seq() > afterSeq) {
          out.add(withDecider(runId, e));
        }
      }
    }
    return out;
  }

  /**
   * An ApprovalResolved step with who decided, looked up when read: the command and the step are on two
   * topics, and the command's side may be materialized after the step.
   */
  Timeline.Entry withDecider(String runId, Timeline.Entry e) {
    if (!"ApprovalResolved".equals(e.type()) || e.callId() == null || e.by() != null) {
      return e;
    }
    ReadOnlyKeyValueStore<String, String> decisions = store(ConsoleTopology.DECISIONS);
    return e.decidedBy(decisions.get(ConsoleTopology.decisionKey(runId, e.callId())));
  }

  /** Every pending approval of every run, oldest first. */
  List<Approval> approvals() {
    List<Approval> out = new ArrayList<>();
    ReadOnlyKeyValueStore<String, String> summaries = store(ConsoleTopology.SUMMARIES);
    try (KeyValueIterator<String, String> it = summaries.all()) {
      while (it.hasNext()) {
        RunSummary s = RunSummary.fromJson(it.next().value);
        if (s.pendingApprovals() == 0 || !s.fromState()) {
          continue;
        }
        state(s.runId()).ifPresent(st -> {
          for (PendingApproval a : st.getApprovals()) {
            out.add(new Approval(st.getRunId(), a.getCallId(), a.getTool(), a.getArguments(), a.getReason(),
                st.getAgent() == null ? null : st.getAgent().getName(), a.getRequestedAt().toString()));
          }
        });
      }
    }
    out.sort((a, b) -> a.since().compareTo(b.since()));
    return out;
  }

  /** Whether the run ever asked for approval of this call (then an absent pending approval was decided already). */
  boolean everRequested(String runId, String callId) {
    return history(runId, Long.MIN_VALUE).stream()
        .anyMatch(e -> "ApprovalRequested".equals(e.type()) && callId.equals(e.callId()));
  }

  /**
   * The index of each local partition from {@code from} on. A store queried without a partition chains its
   * partitions one after the other, so the newest-first order holds only within one; {@link MergedIterator}
   * merges them.
   */
  private List<KeyValueIterator<String, String>> indexPartitions(String from) {
    Set<Integer> partitions = new java.util.TreeSet<>();
    streams.metadataForLocalThreads().forEach(t -> t.activeTasks().forEach(task -> task.topicPartitions().forEach(tp -> {
      if (tp.topic().equals(Topics.RUN_STATE.name())) {
        partitions.add(tp.partition());
      }
    })));
    List<KeyValueIterator<String, String>> its = new ArrayList<>();
    try {
      for (int p : partitions) {
        ReadOnlyKeyValueStore<String, String> index = streams.store(StoreQueryParameters.fromNameAndType(
            ConsoleTopology.INDEX, QueryableStoreTypes.<String, String>keyValueStore()).withPartition(p));
        its.add(from == null ? index.all() : index.range(from, LAST_KEY));
      }
    } catch (RuntimeException e) {
      its.forEach(KeyValueIterator::close);
      throw e;
    }
    return its;
  }

  /** Sorted iterators merged into one sorted by key (k-way merge). */
  static final class MergedIterator implements java.util.Iterator<KeyValue<String, String>>, AutoCloseable {
    private final List<KeyValueIterator<String, String>> sources;
    private final java.util.PriorityQueue<Head> heads = new java.util.PriorityQueue<>(
        java.util.Comparator.comparing((Head h) -> h.kv.key));

    private record Head(KeyValue<String, String> kv, KeyValueIterator<String, String> source) {}

    MergedIterator(List<KeyValueIterator<String, String>> sources) {
      this.sources = sources;
      sources.forEach(this::advance);
    }

    private void advance(KeyValueIterator<String, String> source) {
      if (source.hasNext()) {
        heads.add(new Head(source.next(), source));
      }
    }

    @Override
    public boolean hasNext() {
      return !heads.isEmpty();
    }

    @Override
    public KeyValue<String, String> next() {
      Head h = heads.remove();
      advance(h.source);
      return h.kv;
    }

    @Override
    public void close() {
      sources.forEach(KeyValueIterator::close);
    }
  }

  private <V> ReadOnlyKeyValueStore<String, V> store(String name) {
    return streams.store(StoreQueryParameters.fromNameAndType(name, QueryableStoreTypes.<String, V>keyValueStore()));
  }

  static String encodeCursor(String key) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(key.getBytes(StandardCharsets.UTF_8));
  }

  static String decodeCursor(String cursor) {
    try {
      String key = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.UTF_8);
      if (!key.matches("\\d{13}\\|.+")) {
        throw new IllegalArgumentException("bad cursor");
      }
      return key;
    } catch (IllegalArgumentException e) {
      throw new BadRequest("'after' is not a cursor this console gave out: " + Timeline.cut(cursor, 80));
    }
  }
}
