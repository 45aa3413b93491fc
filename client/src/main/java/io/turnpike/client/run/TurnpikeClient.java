package io.turnpike.client.run;

import io.turnpike.avro.ApprovalRequested;
import io.turnpike.avro.ApprovalResolved;
import io.turnpike.avro.ModelStreamDelta;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.TraceIds;
import io.turnpike.client.TurnpikeException;
import io.turnpike.client.internal.KafkaSupport;
import io.turnpike.client.internal.TopicReader;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Starts, watches and steers runs over Kafka. Thread-safe; every wait opens its own short-lived,
 * group-less consumer, so waits may run in parallel.
 *
 * <pre>{@code
 * try (TurnpikeClient client = new TurnpikeClient("localhost:9092", "http://localhost:8081")) {
 *   String runId = client.submit("travel-assistant", null, "Weather in Lisbon?", Map.of());
 *   client.follow(runId, e -> System.out.println(e.getStep()), Duration.ofMinutes(5));
 *   RunResult result = client.awaitResult(runId, Duration.ofMinutes(5));
 * }
 * }</pre>
 */
public final class TurnpikeClient implements AutoCloseable {
  /** Records of a run are looked for from this long before its submission (clock skew between hosts). */
  static final Duration SKEW = Duration.ofMinutes(5);

  private final String bootstrap;
  private final TurnpikeSerdes serdes;
  private final Duration sendTimeout;
  private final Map<String, Instant> submittedAt = new ConcurrentHashMap<>();
  private KafkaProducer<String, byte[]> producer;

  /** A client of the cluster at {@code bootstrapServers} whose schemas live at {@code schemaRegistryUrl}. */
  public TurnpikeClient(String bootstrapServers, String schemaRegistryUrl) {
    this(bootstrapServers, schemaRegistryUrl, Duration.ofSeconds(30));
  }

  /** {@code sendTimeout} bounds each produce (submit, cancel, ...). */
  public TurnpikeClient(String bootstrapServers, String schemaRegistryUrl, Duration sendTimeout) {
    this.bootstrap = Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    this.serdes = TurnpikeSerdes.forUrl(schemaRegistryUrl);
    this.sendTimeout = sendTimeout;
  }

  /** The serdes this client encodes and decodes with (bound to its schema registry). */
  public TurnpikeSerdes serdes() {
    return serdes;
  }

  public String bootstrapServers() {
    return bootstrap;
  }

  /** Fails with a readable {@link TurnpikeException} when no broker answers within {@code timeout}. */
  public void checkConnection(Duration timeout) {
    KafkaSupport.requireReachable(bootstrap, timeout, java.util.List.of(Topics.RUN_REQUESTS.name(),
        Topics.RUN_COMMANDS.name(), Topics.RUN_RESULTS.name(), Topics.TURN_EVENTS.name(), Topics.RUN_STATE.name()));
  }

  /** Starts a run of the current version of {@code agent}. */
  public String submit(String agent, String input) {
    return submit(agent, null, input, Map.of());
  }

  /**
   * Starts a run with a new runId (a UUID).
   *
   * @param version  the agent version, or null for the current one
   * @param metadata free-form labels carried by the run (may be null)
   * @return the runId
   */
  public String submit(String agent, Integer version, String input, Map<String, String> metadata) {
    RunRequest req = RunRequest.newBuilder()
        .setRunId(UUID.randomUUID().toString())
        .setAgent(Objects.requireNonNull(agent, "agent"))
        .setAgentVersion(version)
        .setInput(Objects.requireNonNull(input, "input"))
        .setMetadata(metadata == null ? Map.of() : Map.copyOf(metadata))
        .setRequestedAt(Instant.now())
        .build();
    return submit(req);
  }

  /** Starts a run from a complete request (the caller chose the runId). */
  public String submit(RunRequest request) {
    String runId = request.getRunId();
    if (submittedAt.size() > 10_000) {
      submittedAt.clear();
    }
    submittedAt.put(runId, Instant.now());
    send(Topics.RUN_REQUESTS.name(), runId, request, serdes.runRequest(), "RunRequest", null,
        "submitting run " + runId + " of " + request.getAgent());
    return runId;
  }

  /**
   * Waits for the run's outcome on {@code turnpike.run-results}: the first result with a final status
   * (COMPLETED, FAILED, CANCELLED, GUARDRAIL_TRIPPED), or an INTERRUPTED result when it is the newest
   * one the run has (the run waits for an approval).
   *
   * @throws RunTimeoutException if no such result arrives within {@code timeout}
   */
  public RunResult awaitResult(String runId, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (TopicReader<RunResult> reader = openAt(Topics.RUN_RESULTS.name(), serdes.runResult(), runId)) {
      Map<TopicPartition, Long> end = reader.endOffsets();
      RunResult latest = null;
      while (System.nanoTime() < deadline) {
        for (TopicReader.Entry<RunResult> e : reader.poll(Duration.ofMillis(200))) {
          if (runId.equals(e.key()) && e.value() != null) {
            latest = e.value();
            if (isTerminal(latest.getStatus())) {
              return latest;
            }
          }
        }
        if (latest != null && latest.getStatus() == RunStatus.INTERRUPTED && reader.reached(end)) {
          return latest;
        }
      }
    }
    throw new RunTimeoutException(runId, "run " + runId + " has no result after " + KafkaSupport.human(timeout)
        + " (it may still be running: see `turnpike runs show " + runId + "`)");
  }

  /**
   * Calls {@code onEvent} for each step of the run, in order (from its start, also when the run began
   * before this call), and returns the terminal {@code RunFinished} event.
   *
   * @throws RunTimeoutException if the run does not finish within {@code timeout}
   */
  public TurnEvent follow(String runId, Consumer<TurnEvent> onEvent, Duration timeout) {
    return follow(runId, onEvent, timeout, () -> false);
  }

  /**
   * As {@link #follow(String, Consumer, Duration)}, but also returns (with null) as soon as
   * {@code stopWhen} is true, checked a few times a second; e.g. when the run was interrupted for an
   * approval, which no turn event announces.
   */
  public TurnEvent follow(String runId, Consumer<TurnEvent> onEvent, Duration timeout, BooleanSupplier stopWhen) {
    long deadline = System.nanoTime() + timeout.toNanos();
    long lastSeq = Long.MIN_VALUE;
    try (TopicReader<TurnEvent> reader = openAt(Topics.TURN_EVENTS.name(), serdes.turnEvent(), runId)) {
      while (System.nanoTime() < deadline) {
        if (stopWhen.getAsBoolean()) {
          return null;
        }
        for (TopicReader.Entry<TurnEvent> e : reader.poll(Duration.ofMillis(200))) {
          TurnEvent ev = e.value();
          if (!runId.equals(e.key()) || ev == null || ev.getSeq() <= lastSeq) {
            continue;
          }
          lastSeq = ev.getSeq();
          onEvent.accept(ev);
          if (ev.getStep() instanceof RunFinished f && isTerminal(f.getStatus())) {
            return ev;
          }
        }
      }
    }
    throw new RunTimeoutException(runId, "run " + runId + " did not finish within " + KafkaSupport.human(timeout)
        + " (it may still be running: see `turnpike runs show " + runId + "`)");
  }

  /**
   * Calls {@code onEvent} for each new step of the run, in order, until the run finishes or is
   * interrupted: it waits for a human decision on at least one tool call ({@code ApprovalRequested}
   * not yet followed by {@code ApprovalResolved}) and every step committed so far was delivered.
   *
   * @param since where to start: null for the run's first step (a run just submitted, or one started
   *              before this call); a snapshot of the run to deliver only the steps after it (its
   *              pending approvals count as waiting), e.g. before sending it an approval or a message
   * @throws RunTimeoutException if it neither finishes nor is interrupted within {@code timeout}
   */
  public FollowOutcome followUntilSettled(String runId, RunState since, Consumer<TurnEvent> onEvent, Duration timeout) {
    return followUntilSettled(runId, since, onEvent, null, timeout);
  }

  /**
   * As {@link #followUntilSettled(String, RunState, Consumer, Duration)}, and also calls {@code onDelta}
   * with the pieces of the run's streamed model answers ({@code turnpike.model.stream}) as they arrive,
   * interleaved with the steps: a model call's deltas are delivered before the step that records its
   * answer. Runs that do not stream have none; a cluster without the stream topic just has no deltas.
   *
   * @param onDelta null for steps only
   */
  public FollowOutcome followUntilSettled(String runId, RunState since, Consumer<TurnEvent> onEvent,
      Consumer<ModelStreamDelta> onDelta, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (DeltaReader deltas = onDelta == null ? null : DeltaReader.open(this, runId, since, onDelta)) {
      return followUntilSettled(runId, since, onEvent, deltas, deadline, timeout);
    }
  }

  private FollowOutcome followUntilSettled(String runId, RunState since, Consumer<TurnEvent> onEvent, DeltaReader deltas,
      long deadline, Duration timeout) {
    long lastSeq = since == null ? Long.MIN_VALUE : since.getVersion();
    java.util.Set<String> waiting = new java.util.LinkedHashSet<>();
    if (since != null) {
      since.getApprovals().forEach(a -> waiting.add(a.getCallId()));
    }
    boolean seenNew = false;
    boolean failedResult = false;
    TurnEvent last = null;
    TopicReader<TurnEvent> reader = since == null
        ? openAt(Topics.TURN_EVENTS.name(), serdes.turnEvent(), runId)
        : TopicReader.openForKey(bootstrap, Topics.TURN_EVENTS.name(), serdes.turnEvent(), runId, Duration.ofSeconds(15));
    // A request refused at submission (unknown agent, undecodable) gets a FAILED result and no step at all:
    // watch the run's results too until its first step, or a follow would wait for its whole timeout.
    TopicReader<RunResult> refusals = since == null ? openAt(Topics.RUN_RESULTS.name(), serdes.runResult(), runId) : null;
    try (reader; refusals) {
      if (since != null) {
        reader.fromTime(since.getUpdatedAt().minus(SKEW));
      }
      while (System.nanoTime() < deadline) {
        if (deltas != null) {
          deltas.poll(Duration.ofMillis(50));
        }
        if (refusals != null && !seenNew && !failedResult) {
          for (TopicReader.Entry<RunResult> r : refusals.poll(Duration.ZERO)) {
            failedResult |= runId.equals(r.key()) && r.value() != null && r.value().getStatus() == RunStatus.FAILED;
          }
        }
        for (TopicReader.Entry<TurnEvent> e : reader.poll(Duration.ofMillis(deltas == null ? 200 : 50))) {
          TurnEvent ev = e.value();
          if (!runId.equals(e.key()) || ev == null || ev.getSeq() <= lastSeq) {
            continue;
          }
          lastSeq = ev.getSeq();
          last = ev;
          seenNew = true;
          if (deltas != null && DeltaReader.endsModelCall(ev)) {
            deltas.drain(e.timestamp()); // the answer's deltas were written before the answer: show them first
          }
          onEvent.accept(ev);
          switch (ev.getStep()) {
            case ApprovalRequested a -> waiting.add(a.getCallId());
            case ApprovalResolved a -> waiting.remove(a.getCallId());
            case RunFinished f when isTerminal(f.getStatus()) -> {
              return new FollowOutcome(FollowOutcome.Kind.FINISHED, ev, List.of());
            }
            default -> { }
          }
        }
        // A FAILED result and, with every step committed with it read, no step: refused at submission.
        if (failedResult && !seenNew && reader.reached(reader.endOffsets())) {
          return new FollowOutcome(FollowOutcome.Kind.FINISHED, null, List.of());
        }
        // Waiting for a human, and everything committed so far was read: nothing more will come by itself.
        if (!waiting.isEmpty() && seenNew && reader.reached(reader.endOffsets())) {
          return new FollowOutcome(FollowOutcome.Kind.INTERRUPTED, last, new ArrayList<>(waiting));
        }
      }
    }
    throw new RunTimeoutException(runId, "run " + runId + " did not finish within " + KafkaSupport.human(timeout)
        + " (it may still be running: see `turnpike runs show " + runId + "`)");
  }

  /**
   * The run's latest snapshot from the compacted {@code turnpike.run-state}: only the run's partition is
   * read, newest records first, so the cost does not grow with the number of runs.
   */
  public Optional<RunState> runState(String runId) {
    return Optional.ofNullable(TopicReader.latestForKey(bootstrap, Topics.RUN_STATE.name(), serdes.runState(), runId,
        Duration.ofSeconds(30)));
  }

  /**
   * The run's newest record on {@code turnpike.run-results} (an interim INTERRUPTED one or its final
   * outcome), or empty. The only trace of a request refused at submission (unknown agent, undecodable):
   * it gets a FAILED result but never a RunState.
   */
  public Optional<RunResult> latestResult(String runId) {
    return Optional.ofNullable(TopicReader.latestForKey(bootstrap, Topics.RUN_RESULTS.name(), serdes.runResult(), runId,
        Duration.ofSeconds(30)));
  }

  /**
   * Every step of the run committed so far, in order: its partition of {@code turnpike.turn-events} from
   * the run's start to the end offsets of the moment of the call.
   *
   * @throws TurnpikeException if that read takes longer than {@code budget}
   */
  public List<TurnEvent> history(String runId, Duration budget) {
    long deadline = System.nanoTime() + budget.toNanos();
    List<TurnEvent> events = new ArrayList<>();
    long lastSeq = Long.MIN_VALUE;
    try (TopicReader<TurnEvent> reader = openAt(Topics.TURN_EVENTS.name(), serdes.turnEvent(), runId)) {
      Map<TopicPartition, Long> end = reader.endOffsets();
      while (!reader.reached(end)) {
        if (System.nanoTime() > deadline) {
          throw new TurnpikeException("read budget of " + KafkaSupport.human(budget) + " spent reading the steps of run "
              + runId + " from " + Topics.TURN_EVENTS.name() + " (" + events.size() + " found so far)");
        }
        for (TopicReader.Entry<TurnEvent> e : reader.poll(Duration.ofMillis(200))) {
          TurnEvent ev = e.value();
          if (runId.equals(e.key()) && ev != null && ev.getSeq() > lastSeq && e.offset() < end.getOrDefault(e.partition(), 0L)) {
            lastSeq = ev.getSeq();
            events.add(ev);
          }
        }
      }
    }
    return events;
  }

  /**
   * The latest snapshot of every run on the compacted {@code turnpike.run-state} (one per runId,
   * read from the beginning of the topic), by runId.
   */
  public Map<String, RunState> runStates() {
    return runStates(Duration.ofSeconds(60));
  }

  /**
   * As {@link #runStates()}, giving up after {@code budget}.
   *
   * @throws TurnpikeException when the read takes longer, saying how far it got
   */
  public Map<String, RunState> runStates(Duration budget) {
    return TopicReader.latestByKey(bootstrap, Topics.RUN_STATE.name(), serdes.runState(), k -> true, budget);
  }

  /** Asks the runner to cancel the run; returns the command id. */
  public String cancel(String runId, String reason) {
    return command(runId, RunCommandType.CANCEL, null, reason, false, null);
  }

  /**
   * Sends one human decision or a cancel, recording who sent it ({@code RunCommand.issuedBy}); the one
   * producer path of the CLI's and the console's approve, reject and cancel. Returns the command id.
   *
   * @param type     APPROVE, REJECT or CANCEL
   * @param callId   the pending approval's callId (APPROVE, REJECT)
   * @param message  what the model is told (REJECT) or why (CANCEL); may be null
   * @param issuedBy who decided; null when unknown
   */
  public String decide(String runId, RunCommandType type, String callId, String message, boolean always, String issuedBy) {
    return command(runId, type, callId, message, always, issuedBy);
  }

  /** Approves a pending call ({@code always}: also future calls of that tool in this run). */
  public String approve(String runId, String callId, boolean always) {
    return command(runId, RunCommandType.APPROVE, callId, null, always, null);
  }

  /** Rejects a pending call; {@code message} is what the model is told. */
  public String reject(String runId, String callId, String message) {
    return reject(runId, callId, message, false);
  }

  /** Rejects a pending call ({@code always}: also future calls of that tool in this run); the model is told {@code message}. */
  public String reject(String runId, String callId, String message, boolean always) {
    return command(runId, RunCommandType.REJECT, callId, message, always, null);
  }

  /** Adds a user message to the run's conversation. */
  public String sendMessage(String runId, String message) {
    return command(runId, RunCommandType.USER_MESSAGE, null, message, false, null);
  }

  private String command(String runId, RunCommandType type, String callId, String message, boolean always,
      String issuedBy) {
    RunCommand cmd = RunCommand.newBuilder()
        .setRunId(runId)
        .setCommandId(UUID.randomUUID().toString())
        .setType(type)
        .setCallId(callId)
        .setMessage(message)
        .setAlways(always)
        .setIssuedAt(Instant.now())
        .setIssuedBy(issuedBy)
        .build();
    send(Topics.RUN_COMMANDS.name(), runId, cmd, serdes.runCommand(), "RunCommand", null,
        "sending " + type + " for run " + runId);
    return cmd.getCommandId();
  }

  /** COMPLETED, FAILED, CANCELLED or GUARDRAIL_TRIPPED. */
  public static boolean isTerminal(RunStatus status) {
    return status == RunStatus.COMPLETED || status == RunStatus.FAILED || status == RunStatus.CANCELLED
        || status == RunStatus.GUARDRAIL_TRIPPED;
  }

  <V> TopicReader<V> openAt(String topic, org.apache.kafka.common.serialization.Deserializer<V> d, String runId) {
    // A run's records are all on the partition of its key; for a run this client did not submit, its
    // RunState says when it started, so the read need not begin at the start of the topic.
    Instant at = submittedAt.get(runId);
    if (at == null) {
      at = runState(runId).map(RunState::getCreatedAt).orElse(null);
    }
    TopicReader<V> reader = TopicReader.openForKey(bootstrap, topic, d, runId, Duration.ofSeconds(15));
    try {
      return at == null ? reader.fromBeginning() : reader.fromTime(at.minus(SKEW));
    } catch (RuntimeException e) {
      reader.close();
      throw e;
    }
  }

  private <T extends SpecificRecord> void send(String topic, String key, T value, Serializer<T> ser, String type,
      String traceId, String what) {
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, key, ser.serialize(topic, value));
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.TYPE, type);
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.TRACE_ID, traceId != null ? traceId : TraceIds.newTraceId());
    KafkaSupport.await(producer().send(rec), sendTimeout, what);
  }

  private synchronized KafkaProducer<String, byte[]> producer() {
    if (producer == null) {
      producer = new KafkaProducer<>(KafkaSupport.producerConfig(bootstrap, "turnpike-client-" + UUID.randomUUID()));
    }
    return producer;
  }

  @Override
  public synchronized void close() {
    if (producer != null) {
      producer.close(Duration.ofSeconds(5));
      producer = null;
    }
  }
}
