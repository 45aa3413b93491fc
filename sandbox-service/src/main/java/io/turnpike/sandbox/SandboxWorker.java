package io.turnpike.sandbox;

import io.opentelemetry.context.Context;
import io.turnpike.schema.PartitionProgress;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka side of the sandbox service: consumes {@link SandboxCommand}s from
 * {@code turnpike.sandbox.requests}, hands them to the {@link SessionManager} and answers each with a
 * {@link SandboxResult} on {@code turnpike.sandbox.results} (key runId; headers type, trace id, call id).
 * <ul>
 *   <li>Commands of one session run in order; sessions run concurrently, up to {@code maxSessions}.
 *       A command for a session that cannot be made live waits in a backlog, and the assigned
 *       partitions are paused while it is not empty (backpressure: never a rejected run).
 *   <li>At-least-once: offsets are committed only up to the lowest record not finished, promptly after
 *       each answer. A redelivered command is answered from the session's record (kept with each
 *       snapshot) rather than run again.
 *   <li>A command past its deadline is skipped (the runner has timed it out and will resend it);
 *       an undecodable record goes to {@code turnpike.dead-letters}.
 * </ul>
 */
public final class SandboxWorker implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SandboxWorker.class);
  static final String RESULT_TYPE = "SandboxResult";
  private static final Duration POLL = Duration.ofMillis(50);
  private static final long COMMIT_INTERVAL_MS = 200;

  private final SandboxConfig config;
  private final TurnpikeSerdes serdes;
  private final KafkaConsumer<String, byte[]> consumer;
  private final KafkaProducer<String, byte[]> producer;
  private final WorkspaceStore store;
  private final SessionManager sessions;
  private final ExecutorService senders = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("turnpike-sandbox-dlq-", 0).factory());

  private record Finished(PartitionProgress progress, long offset) {}

  private final ConcurrentLinkedQueue<Finished> finished = new ConcurrentLinkedQueue<>();
  private final Map<TopicPartition, PartitionProgress> progress = new HashMap<>();
  private final ArrayDeque<SessionManager.Work> backlog = new ArrayDeque<>();
  private final Set<TopicPartition> paused = new HashSet<>();
  private boolean finishedSinceCommit;
  private long lastCommitMs;
  private final int maxQueued;

  private final Object lifecycle = new Object();
  private volatile boolean running;
  private volatile Throwable failure;
  private Thread loop;
  private boolean closed;

  private final AtomicLong answered = new AtomicLong();
  private final AtomicLong expired = new AtomicLong();
  private final AtomicLong deadLettered = new AtomicLong();
  private final AtomicLong pauses = new AtomicLong();

  private final List<AutoCloseable> telemetryHandles = new ArrayList<>();
  private volatile boolean joined;

  public SandboxWorker(SandboxConfig config, Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides) {
    this(config, consumerOverrides, producerOverrides, Telemetry.noop("sandbox-service"));
  }

  /** As above, with live sessions, a span per command, Kafka client metrics and readiness on {@code telemetry} (the caller closes it). */
  public SandboxWorker(SandboxConfig config, Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides,
      Telemetry telemetry) {
    this.config = config;
    this.serdes = TurnpikeSerdes.forUrl(config.schemaRegistryUrl());
    this.maxQueued = Math.max(100, config.maxSessions() * 8);
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    cp.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
    cp.put(ConsumerConfig.CLIENT_ID_CONFIG, config.groupId() + "-consumer");
    cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "100");
    cp.putAll(consumerOverrides);
    Properties pp = new Properties();
    pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    pp.put(ProducerConfig.CLIENT_ID_CONFIG, config.groupId() + "-producer");
    pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    pp.put(ProducerConfig.ACKS_CONFIG, "all");
    pp.put(ProducerConfig.LINGER_MS_CONFIG, "0");
    pp.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(config.maxImageBytes() + 1024 * 1024));
    pp.putAll(producerOverrides);
    this.consumer = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer());
    this.producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
    Map<String, Object> storeProps = new HashMap<>();
    producerOverrides.forEach((k, v) -> {
      if (!k.equals(ProducerConfig.LINGER_MS_CONFIG)) {
        storeProps.put(k, v);
      }
    });
    this.store = new WorkspaceStore(config.bootstrapServers(), config.schemaRegistryUrl(), storeProps, config.chunkBytes());
    this.sessions = new SessionManager(config, store, this::answer, consumer::wakeup, telemetry);
    for (String backend : List.of("local", "docker")) {
      telemetryHandles.add(telemetry.metrics().sandboxSessions(backend, () -> sessions.liveSessions(backend)));
    }
    telemetryHandles.add(telemetry.bindKafkaClient(consumer));
    telemetryHandles.add(telemetry.bindKafkaClient(producer));
    telemetryHandles.add(telemetry.readiness("sandbox-worker", () -> running && joined));
  }

  public SandboxWorker start() {
    // Fail here, clearly, if the registry is unreachable, and learn the ids of today's schemas so that
    // decoding the usual records never waits for the registry.
    serdes.sandboxCommand().schemaId(Topics.SANDBOX_REQUESTS.name());
    serdes.sandboxResult().schemaId(Topics.SANDBOX_RESULTS.name());
    synchronized (lifecycle) {
      if (loop != null || closed) {
        throw new IllegalStateException("the sandbox worker was already started");
      }
      running = true;
      loop = Thread.ofPlatform().name("turnpike-sandbox-worker").start(this::runLoop);
      return this;
    }
  }

  public boolean isRunning() {
    return running;
  }

  public Throwable failure() {
    return failure;
  }

  public long answered() {
    return answered.get();
  }

  public long expired() {
    return expired.get();
  }

  public long deadLettered() {
    return deadLettered.get();
  }

  /** How many times consumption was paused because no session slot was free. */
  public long pauses() {
    return pauses.get();
  }

  public int liveSessions() {
    return sessions.liveSessions();
  }

  public List<String> liveSessionIds() {
    return sessions.liveSessionIds();
  }

  SessionManager sessions() {
    return sessions;
  }

  // ---------------------------------------------------------------- poll thread

  private void runLoop() {
    try {
      consumer.subscribe(List.of(Topics.SANDBOX_REQUESTS.name()), new Rebalance());
      while (running) {
        applyFinished();
        dispatch();
        updatePause();
        commit(false);
        sessions.reapIdle();
        try {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(POLL)) {
            accept(r);
          }
        } catch (WakeupException e) {
          continue;
        }
        dispatch();
      }
    } catch (Throwable t) {
      failure = t;
      log.error("sandbox worker loop stopped", t);
    } finally {
      running = false;
      shutdown();
    }
  }

  private void accept(ConsumerRecord<String, byte[]> r) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    PartitionProgress p = progress.computeIfAbsent(tp, k -> new PartitionProgress());
    p.received(r.offset());
    SandboxCommand cmd;
    try {
      if (r.value() == null) {
        throw new IllegalArgumentException("the record has no value");
      }
      cmd = serdes.sandboxCommand().deserialize(r.topic(), r.value());
    } catch (Exception e) {
      deadLetter(r, e, p);
      return;
    }
    if (cmd.getDeadline() != null && cmd.getDeadline().isBefore(Instant.now())) {
      expired.incrementAndGet();
      log.warn("skipping sandbox command {} of run {} ({}): its deadline {} has passed", cmd.getCallId(), cmd.getRunId(),
          cmd.getTool(), cmd.getDeadline());
      p.finished(r.offset());
      return;
    }
    backlog.add(new SessionManager.Work(cmd, tp, r.offset(), p, TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TRACE_ID),
        KafkaTracing.parentOf(r.headers())));
  }

  /** Hands backlog commands to their sessions, keeping each session's order. */
  private void dispatch() {
    if (backlog.isEmpty()) {
      return;
    }
    Set<String> blocked = new HashSet<>();
    Iterator<SessionManager.Work> it = backlog.iterator();
    while (it.hasNext()) {
      SessionManager.Work w = it.next();
      String id = w.sessionId();
      if (blocked.contains(id)) {
        continue;
      }
      if (sessions.queued() >= maxQueued) {
        return;
      }
      if (sessions.offer(w)) {
        it.remove();
      } else {
        blocked.add(id);
      }
    }
  }

  private void updatePause() {
    Set<TopicPartition> assigned = consumer.assignment();
    paused.retainAll(assigned);
    if (!backlog.isEmpty()) {
      Set<TopicPartition> toPause = new HashSet<>(assigned);
      toPause.removeAll(paused);
      if (!toPause.isEmpty()) {
        consumer.pause(toPause);
        paused.addAll(toPause);
        pauses.incrementAndGet();
        log.debug("{} commands wait for a session slot; paused {}", backlog.size(), toPause);
      }
    } else if (!paused.isEmpty()) {
      consumer.resume(paused);
      paused.clear();
    }
  }

  private void applyFinished() {
    Finished f;
    while ((f = finished.poll()) != null) {
      f.progress().finished(f.offset());
      finishedSinceCommit = true;
    }
  }

  private void commit(boolean sync) {
    long now = System.currentTimeMillis();
    if (!sync && !finishedSinceCommit && now - lastCommitMs < COMMIT_INTERVAL_MS) {
      return;
    }
    finishedSinceCommit = false;
    lastCommitMs = now;
    commit(progress.keySet(), sync);
  }

  private void commit(Collection<TopicPartition> partitions, boolean sync) {
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    for (TopicPartition tp : partitions) {
      PartitionProgress p = progress.get(tp);
      long next = p == null ? -1 : p.advance();
      if (next >= 0) {
        offsets.put(tp, new OffsetAndMetadata(next));
      }
    }
    if (offsets.isEmpty()) {
      return;
    }
    if (sync) {
      consumer.commitSync(offsets);
    } else {
      consumer.commitAsync(offsets, (done, e) -> {
        if (e != null) {
          log.warn("offset commit failed (a later commit will cover it): {}", e.toString());
        }
      });
    }
    offsets.forEach((tp, o) -> progress.get(tp).committed(o.offset()));
  }

  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      applyFinished();
      try {
        commit(partitions, true);
      } catch (RuntimeException e) {
        log.warn("cannot commit revoked partitions {}: {}", partitions, e.toString());
      }
      forget(partitions);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      forget(partitions);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      for (TopicPartition tp : partitions) {
        progress.put(tp, new PartitionProgress());
      }
      joined = true;
      log.info("sandbox worker assigned {}", partitions);
    }

    private void forget(Collection<TopicPartition> partitions) {
      backlog.removeIf(w -> partitions.contains(w.tp()));
      sessions.revoke(partitions);
      partitions.forEach(progress::remove);
      paused.removeAll(partitions);
      log.info("sandbox worker released {}", partitions);
    }
  }

  // ---------------------------------------------------------------- session threads

  /** Sends a command's answer and marks the command finished (called on the session's thread). */
  private void answer(SessionManager.Work w, SandboxResult result) {
    Headers headers = new RecordHeaders();
    TurnpikeHeaders.put(headers, TurnpikeHeaders.TYPE, RESULT_TYPE);
    TurnpikeHeaders.put(headers, TurnpikeHeaders.TRACE_ID, w.traceId());
    TurnpikeHeaders.put(headers, TurnpikeHeaders.CALL_ID, result.getCallId());
    KafkaTracing.inject(Context.current(), headers);
    byte[] value;
    try {
      value = serdes.sandboxResult().serialize(Topics.SANDBOX_RESULTS.name(), result);
    } catch (RuntimeException e) {
      log.error("cannot encode the result of {}", result.getCallId(), e);
      value = serdes.sandboxResult().serialize(Topics.SANDBOX_RESULTS.name(),
          SessionManager.error(w.cmd(), w.sessionId(), "cannot encode the result: " + e.getMessage()));
    }
    boolean sent;
    try {
      sent = send(new ProducerRecord<>(Topics.SANDBOX_RESULTS.name(), null, w.cmd().getRunId(), value, headers),
          "result of " + result.getCallId());
    } catch (org.apache.kafka.common.errors.RecordTooLargeException e) {
      log.warn("the result of {} is too large for {} ({} bytes); answering with an error", result.getCallId(),
          Topics.SANDBOX_RESULTS.name(), value.length);
      SandboxResult small = SessionManager.error(w.cmd(), w.sessionId(), "the result (" + value.length
          + " bytes) is larger than the topic " + Topics.SANDBOX_RESULTS.name() + " accepts; ask for less (a smaller "
          + "image, a line range, less output)");
      sent = send(new ProducerRecord<>(Topics.SANDBOX_RESULTS.name(), null, w.cmd().getRunId(),
          serdes.sandboxResult().serialize(Topics.SANDBOX_RESULTS.name(), small), headers), "result of " + result.getCallId());
    }
    if (sent) {
      answered.incrementAndGet();
      finished.add(new Finished(w.progress(), w.offset()));
      consumer.wakeup(); // commit now: a restart must not run an answered command again
    }
  }

  private boolean send(ProducerRecord<String, byte[]> record, String what) {
    Duration backoff = Duration.ofMillis(200);
    while (true) {
      try {
        producer.send(record).get();
        return true;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      } catch (ExecutionException | RuntimeException e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        if (cause instanceof org.apache.kafka.common.errors.RecordTooLargeException tooLarge) {
          throw tooLarge; // retrying cannot help
        }
        if (!running) {
          log.warn("cannot send the {} while closing: {}", what, cause.toString());
          return false;
        }
        log.warn("cannot send the {}, retrying in {}: {}", what, backoff, cause.toString());
        try {
          Thread.sleep(backoff);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return false;
        }
        backoff = backoff.multipliedBy(2).compareTo(Duration.ofSeconds(10)) > 0 ? Duration.ofSeconds(10) : backoff.multipliedBy(2);
      }
    }
  }

  private void deadLetter(ConsumerRecord<String, byte[]> r, Exception error, PartitionProgress p) {
    log.warn("dead-lettering {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), error.toString());
    Headers headers = new RecordHeaders();
    for (Header h : r.headers()) {
      headers.add(h);
    }
    TurnpikeHeaders.put(headers, TurnpikeHeaders.DLQ_TOPIC, r.topic());
    TurnpikeHeaders.put(headers, TurnpikeHeaders.DLQ_PARTITION, String.valueOf(r.partition()));
    TurnpikeHeaders.put(headers, TurnpikeHeaders.DLQ_OFFSET, String.valueOf(r.offset()));
    TurnpikeHeaders.put(headers, TurnpikeHeaders.DLQ_ERROR, error.getClass().getName());
    TurnpikeHeaders.put(headers, TurnpikeHeaders.DLQ_REASON, "cannot decode a SandboxCommand: " + error.getMessage());
    ProducerRecord<String, byte[]> out = new ProducerRecord<>(Topics.DEAD_LETTERS.name(), null, r.key(), r.value(), headers);
    long offset = r.offset();
    senders.execute(() -> {
      if (send(out, "dead letter of " + r.topic() + "-" + r.partition() + "@" + offset)) {
        deadLettered.incrementAndGet();
        finished.add(new Finished(p, offset));
      }
    });
  }

  // ---------------------------------------------------------------- lifecycle

  private void shutdown() {
    backlog.clear();
    sessions.close();
    senders.shutdown();
    try {
      senders.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      producer.flush();
    } catch (RuntimeException e) {
      log.warn("cannot flush results: {}", e.toString());
    }
    applyFinished();
    try {
      try {
        commit(true);
      } catch (WakeupException e) {
        commit(true);
      }
    } catch (RuntimeException e) {
      log.warn("cannot commit offsets on close: {}", e.toString());
    }
    telemetryHandles.forEach(h -> closeQuietly(h, "telemetry"));
    closeQuietly(consumer, "consumer");
    closeQuietly(producer, "producer");
    closeQuietly(store, "workspace store");
    log.info("sandbox worker stopped ({} answered, {} expired, {} dead-lettered)", answered.get(), expired.get(),
        deadLettered.get());
  }

  private static void closeQuietly(AutoCloseable c, String what) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("cannot close the {}: {}", what, e.toString());
    }
  }

  @Override
  public void close() {
    Thread t;
    synchronized (lifecycle) {
      if (closed) {
        return;
      }
      closed = true;
      t = loop;
      if (t == null) {
        closeQuietly(consumer, "consumer");
        closeQuietly(producer, "producer");
        closeQuietly(store, "workspace store");
        sessions.close();
        return;
      }
    }
    // Let commands in flight finish (they are answered), then stop the loop.
    running = false;
    consumer.wakeup();
    try {
      if (!t.join(config.closeTimeout().plusSeconds(30))) {
        log.warn("the sandbox worker loop did not stop in time");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
