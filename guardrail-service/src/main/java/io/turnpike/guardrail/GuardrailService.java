package io.turnpike.guardrail;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.schema.PartitionProgress;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeSpans;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordTooLargeException;
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
 * The guardrail service: consumes {@link GuardrailCheck}s from {@code turnpike.guardrail.requests},
 * judges each with the {@link GuardrailEngine} on its own virtual thread, and answers one
 * {@link GuardrailVerdict} on {@code turnpike.guardrail.results} (key runId, headers
 * {@code turnpike.type}, {@code turnpike.trace-id}, {@code turnpike.call-id}).
 *
 * <ul>
 *   <li>At most {@code concurrency} checks are in flight; records fetched beyond that wait in a local
 *       backlog and the partitions are paused while it is not empty, so the poll loop never blocks.
 *   <li>At-least-once: offsets are committed only up to the lowest record not yet answered, and an
 *       answered check's offset is committed at once. After a crash a check may be answered twice;
 *       the orchestrator ignores a verdict whose callId is no longer pending.
 *   <li>A check whose deadline has passed is skipped (the orchestrator has already timed it out).
 *   <li>A record that cannot be decoded goes to {@code turnpike.dead-letters} with the
 *       {@code turnpike.dlq.*} headers.
 * </ul>
 * Verdicts and logs never carry the content of a blocked check; logs carry ids, outcome and reason.
 */
public final class GuardrailService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GuardrailService.class);

  static final String RESULT_TYPE = "GuardrailVerdict";
  private static final Duration POLL = Duration.ofMillis(50);
  private static final long COMMIT_INTERVAL_MS = 200;

  private final GuardrailConfig config;
  private final TurnpikeSerdes serdes;
  private final GuardrailEngine engine;
  private final boolean ownsEngine;
  private final KafkaConsumer<String, byte[]> consumer;
  private final KafkaProducer<String, byte[]> producer;
  private final Semaphore permits;
  private final ExecutorService checks;

  private final ConcurrentLinkedQueue<Finished> finished = new ConcurrentLinkedQueue<>();
  private final Map<TopicPartition, PartitionProgress> progress = new HashMap<>();
  private final ArrayDeque<Work> backlog = new ArrayDeque<>();
  private final Set<TopicPartition> paused = new HashSet<>();
  private long lastCommitMs;
  private boolean finishedSinceCommit;

  private final Object lifecycle = new Object();
  private volatile boolean running;
  private volatile Throwable failure;
  private Thread loop;
  private boolean closed;

  private final AtomicLong answered = new AtomicLong();
  private final AtomicLong deadLettered = new AtomicLong();
  private final AtomicLong expired = new AtomicLong();
  private final AtomicLong assignments = new AtomicLong();

  private final Telemetry telemetry;
  private final AutoCloseable consumerMetrics;
  private final AutoCloseable readiness;

  private record Work(ConsumerRecord<String, byte[]> record, GuardrailCheck check, PartitionProgress progress) {}

  private record Finished(PartitionProgress progress, long offset) {}

  /**
   * @param engine the engine to judge with; closed with the service when {@code ownsEngine}
   */
  public GuardrailService(GuardrailConfig config, GuardrailEngine engine, boolean ownsEngine,
      Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides) {
    this(config, engine, ownsEngine, consumerOverrides, producerOverrides, Telemetry.noop("guardrail-service"));
  }

  /** As above, with verdict counts, a span per check, consumer metrics and readiness on {@code telemetry} (the caller closes it). */
  public GuardrailService(GuardrailConfig config, GuardrailEngine engine, boolean ownsEngine,
      Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides, Telemetry telemetry) {
    this.config = config;
    this.telemetry = telemetry;
    this.serdes = TurnpikeSerdes.forUrl(config.schemaRegistryUrl());
    this.engine = engine;
    this.ownsEngine = ownsEngine;
    this.permits = new Semaphore(config.concurrency());
    this.checks = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("turnpike-guardrail-check-", 0).factory());
    Properties cp = consumerProps(config);
    cp.putAll(consumerOverrides);
    Properties pp = producerProps(config);
    pp.putAll(producerOverrides);
    this.consumer = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer());
    try {
      this.producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
    } catch (RuntimeException e) {
      consumer.close();
      throw e;
    }
    this.consumerMetrics = telemetry.bindKafkaClient(consumer);
    this.readiness = telemetry.readiness("guardrail-service", () -> running && assignments.get() > 0);
  }

  /** A service with its own engine (custom guardrails found with ServiceLoader), not yet started. */
  public static GuardrailService create(GuardrailConfig config) {
    return new GuardrailService(config, GuardrailEngine.create(config), true, Map.of(), Map.of());
  }

  /**
   * Starts the service configured from {@code settings} ({@code turnpike.guardrail.*}, see
   * {@link GuardrailConfig}). Needs no model: model guardrails connect on first use.
   */
  public static GuardrailService start(Settings settings) {
    return start(settings, Telemetry.noop("guardrail-service"));
  }

  public static GuardrailService start(Settings settings, Telemetry telemetry) {
    GuardrailConfig config = GuardrailConfig.from(settings);
    GuardrailEngine engine = GuardrailEngine.create(config);
    try {
      return new GuardrailService(config, engine, true, settings.consumerTuning(), settings.producerTuning(), telemetry)
          .start();
    } catch (RuntimeException e) {
      engine.close();
      throw e;
    }
  }

  public static void main(String[] args) throws InterruptedException {
    Settings settings = Settings.fromEnvironment();
    Telemetry telemetry = Telemetry.create("guardrail-service", settings);
    GuardrailService service;
    try {
      service = start(settings, telemetry);
    } catch (RuntimeException e) {
      telemetry.close();
      throw e;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        service.close();
      } finally {
        telemetry.close();
      }
    }, "turnpike-guardrail-shutdown"));
    Thread.currentThread().join();
  }

  static Properties consumerProps(GuardrailConfig config) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, config.groupId() + "-consumer");
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(Math.max(config.concurrency(), 50)));
    return p;
  }

  static Properties producerProps(GuardrailConfig config) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ProducerConfig.CLIENT_ID_CONFIG, config.groupId() + "-producer");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
    // A verdict repeats the checked content (ALLOW/REDACT): allow as much as the broker does by default.
    p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(8 * 1024 * 1024));
    return p;
  }

  /** Subscribes and starts the poll loop on its own thread. */
  public GuardrailService start() {
    // Fail here, clearly, if the registry is unreachable, and learn the ids of today's schemas so that
    // decoding the usual records never waits for the registry.
    serdes.guardrailCheck().schemaId(Topics.GUARDRAIL_REQUESTS.name());
    serdes.guardrailVerdict().schemaId(Topics.GUARDRAIL_RESULTS.name());
    synchronized (lifecycle) {
      if (loop != null || closed) {
        throw new IllegalStateException("the guardrail service was already started");
      }
      running = true;
      loop = Thread.ofPlatform().name("turnpike-guardrail-service").start(this::runLoop);
      log.info("guardrail service started: group {}, concurrency {}, guardrail types {}, model {}", config.groupId(),
          config.concurrency(), engine.types(), config.model());
      return this;
    }
  }

  public GuardrailEngine engine() {
    return engine;
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

  public long deadLettered() {
    return deadLettered.get();
  }

  public long expired() {
    return expired.get();
  }

  public long assignments() {
    return assignments.get();
  }

  public int inFlight() {
    return config.concurrency() - permits.availablePermits();
  }

  // ---------------------------------------------------------------- poll thread

  private void runLoop() {
    try {
      consumer.subscribe(List.of(Topics.GUARDRAIL_REQUESTS.name()), new Rebalance());
      while (running) {
        applyFinished();
        dispatch();
        updatePause();
        commit(false);
        ConsumerRecords<String, byte[]> records;
        try {
          records = consumer.poll(POLL);
        } catch (WakeupException e) {
          continue;
        }
        for (ConsumerRecord<String, byte[]> r : records) {
          accept(r);
        }
        dispatch();
      }
    } catch (Throwable t) {
      failure = t;
      log.error("guardrail service loop stopped", t);
    } finally {
      running = false;
      shutdown();
    }
  }

  private void accept(ConsumerRecord<String, byte[]> r) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    PartitionProgress p = progress.computeIfAbsent(tp, k -> new PartitionProgress());
    p.received(r.offset());
    GuardrailCheck check;
    try {
      if (r.value() == null) {
        throw new IllegalArgumentException("the record has no value");
      }
      check = serdes.guardrailCheck().deserialize(r.topic(), r.value());
    } catch (Exception e) {
      deadLetter(r, e, p);
      return;
    }
    if (isExpired(check)) {
      skipExpired(check);
      p.finished(r.offset());
      return;
    }
    backlog.add(new Work(r, check, p));
  }

  private static boolean isExpired(GuardrailCheck check) {
    return check.getDeadline() != null && check.getDeadline().isBefore(Instant.now());
  }

  private void skipExpired(GuardrailCheck check) {
    expired.incrementAndGet();
    log.warn("skipping guardrail check {} of run {} (attempt {}): its deadline {} has passed", check.getCallId(),
        check.getRunId(), check.getAttempt(), check.getDeadline());
  }

  private void dispatch() {
    while (!backlog.isEmpty() && permits.tryAcquire()) {
      Work w = backlog.poll();
      try {
        checks.execute(() -> process(w));
      } catch (RuntimeException e) {
        permits.release();
        backlog.addFirst(w);
        throw e;
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
      offsets.forEach((tp, o) -> progress.get(tp).committed(o.offset()));
    } else {
      offsets.forEach((tp, o) -> progress.get(tp).committed(o.offset()));
      consumer.commitAsync(offsets, (done, e) -> {
        if (e != null) {
          log.warn("offset commit failed (a later commit will cover it): {}", e.toString());
        }
      });
    }
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
      assignments.incrementAndGet();
      for (TopicPartition tp : partitions) {
        progress.put(tp, new PartitionProgress());
      }
      log.info("guardrail service assigned {}", partitions);
    }

    private void forget(Collection<TopicPartition> partitions) {
      backlog.removeIf(w -> partitions.contains(new TopicPartition(w.record().topic(), w.record().partition())));
      partitions.forEach(progress::remove);
      paused.removeAll(partitions);
    }
  }

  private void shutdown() {
    int dropped = backlog.size();
    backlog.clear();
    checks.shutdown();
    try {
      if (!checks.awaitTermination(config.closeTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn("{} guardrail checks still in flight after {}; they will be judged again after a restart",
            inFlight(), config.closeTimeout());
        checks.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      checks.shutdownNow();
    }
    try {
      producer.flush();
    } catch (RuntimeException e) {
      log.warn("cannot flush verdicts: {}", e.toString());
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
    closeQuietly(readiness, "readiness check");
    closeQuietly(consumerMetrics, "consumer metrics");
    closeQuietly(consumer, "consumer");
    closeQuietly(producer, "producer");
    if (ownsEngine) {
      closeQuietly(engine, "engine");
    }
    log.info("guardrail service stopped ({} answered, {} dead-lettered, {} expired, {} not started)", answered.get(),
        deadLettered.get(), expired.get(), dropped);
  }

  private static void closeQuietly(AutoCloseable c, String what) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("cannot close the {}: {}", what, e.toString());
    }
  }

  // ---------------------------------------------------------------- check threads

  private void process(Work w) {
    Span span = telemetry.tracing().consumerSpan(TurnpikeSpans.GUARDRAIL_CHECK, w.record().headers())
        .setAttribute(TurnpikeSpans.RUN_ID, w.check().getRunId())
        .setAttribute(TurnpikeSpans.CALL_ID, w.check().getCallId())
        .setAttribute(TurnpikeSpans.GUARDRAIL_STAGE, String.valueOf(w.check().getStage()))
        .startSpan();
    try {
      GuardrailCheck check = w.check();
      if (isExpired(check)) {
        skipExpired(check);
        finished.add(new Finished(w.progress(), w.record().offset()));
        return;
      }
      GuardrailVerdict verdict;
      try {
        verdict = engine.evaluate(check);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return; // closing: judged again after a restart
      } catch (RuntimeException e) {
        // The engine should not throw; answer anyway (fail closed) so the run is not left waiting.
        log.error("guardrail check {} of run {} failed unexpectedly", check.getCallId(), check.getRunId(), e);
        verdict = GuardrailVerdict.newBuilder().setRunId(check.getRunId()).setCallId(check.getCallId())
            .setStage(check.getStage()).setOutcome(GuardrailOutcome.TRIP).setGuardrail(GuardrailEngine.SERVICE)
            .setReason("the guardrail service failed: " + e.getClass().getSimpleName()).setContent(null)
            .setFindings(List.of()).build();
      }
      recordVerdict(span, check, verdict);
      if (verdict.getOutcome() != GuardrailOutcome.ALLOW) {
        log.info("check {} of run {} ({}): {} by '{}': {}", check.getCallId(), check.getRunId(), check.getStage(),
            verdict.getOutcome(), verdict.getGuardrail(), verdict.getReason());
      }
      byte[] value = serdes.guardrailVerdict().serialize(Topics.GUARDRAIL_RESULTS.name(), verdict);
      Headers headers = new RecordHeaders();
      TurnpikeHeaders.put(headers, TurnpikeHeaders.TYPE, RESULT_TYPE);
      TurnpikeHeaders.put(headers, TurnpikeHeaders.TRACE_ID,
          TurnpikeHeaders.get(w.record().headers(), TurnpikeHeaders.TRACE_ID));
      TurnpikeHeaders.put(headers, TurnpikeHeaders.CALL_ID, check.getCallId());
      KafkaTracing.inject(span, headers);
      Sent sent = send(new ProducerRecord<>(Topics.GUARDRAIL_RESULTS.name(), null, check.getRunId(), value, headers),
          "verdict of check " + check.getCallId());
      if (sent == Sent.TOO_LARGE) {
        // The verdict repeats (or grows) the content; past the topic's size limit, answer without it.
        log.warn("verdict of check {} of run {} is too large to publish ({} bytes); answering TRIP", check.getCallId(),
            check.getRunId(), value.length);
        GuardrailVerdict small = GuardrailVerdict.newBuilder(verdict).setOutcome(GuardrailOutcome.TRIP)
            .setGuardrail(GuardrailEngine.SERVICE)
            .setReason("the verdict (" + value.length + " bytes with the content) is too large to publish")
            .setContent(null)
            .setFindings(verdict.getFindings().subList(0, Math.min(50, verdict.getFindings().size())))
            .build();
        value = serdes.guardrailVerdict().serialize(Topics.GUARDRAIL_RESULTS.name(), small);
        sent = send(new ProducerRecord<>(Topics.GUARDRAIL_RESULTS.name(), null, check.getRunId(), value, headers),
            "verdict of check " + check.getCallId());
      }
      if (sent == Sent.SENT) {
        answered.incrementAndGet();
        finished.add(new Finished(w.progress(), w.record().offset()));
        consumer.wakeup();
      }
    } catch (RuntimeException e) {
      KafkaTracing.fail(span, e);
      log.error("guardrail check {} failed unexpectedly; it will be judged again after a restart",
          w.check().getCallId(), e);
    } finally {
      span.end();
      permits.release();
    }
  }

  /**
   * One count per guardrail of the check, with that guardrail's own outcome (its most severe
   * finding, ALLOW without one), so a guardrail that never fires still shows how often it judged.
   */
  private void recordVerdict(Span span, GuardrailCheck check, GuardrailVerdict verdict) {
    Map<String, GuardrailOutcome> outcomes = new java.util.LinkedHashMap<>();
    for (var spec : check.getGuardrails()) {
      outcomes.put(spec.getName(), GuardrailOutcome.ALLOW);
    }
    for (var finding : verdict.getFindings()) {
      outcomes.merge(finding.getGuardrail(), finding.getOutcome(), (a, b) -> a.ordinal() >= b.ordinal() ? a : b);
    }
    if (verdict.getGuardrail() != null && verdict.getOutcome() != GuardrailOutcome.ALLOW) {
      outcomes.merge(verdict.getGuardrail(), verdict.getOutcome(), (a, b) -> a.ordinal() >= b.ordinal() ? a : b);
    }
    outcomes.forEach((name, outcome) -> telemetry.metrics().guardrailVerdict(name, outcome.name()));
    span.setAttribute(TurnpikeSpans.VERDICT, verdict.getOutcome().name());
    if (verdict.getGuardrail() != null) {
      span.setAttribute(TurnpikeSpans.GUARDRAIL, verdict.getGuardrail());
    }
    if (GuardrailEngine.SERVICE.equals(verdict.getGuardrail())) {
      span.setStatus(StatusCode.ERROR, String.valueOf(verdict.getReason()));
    }
  }

  private enum Sent { SENT, GAVE_UP, TOO_LARGE }

  /**
   * Sends and waits for the broker's acknowledgement, retrying while the service runs; a record too
   * large for the topic is not retried.
   */
  private Sent send(ProducerRecord<String, byte[]> record, String what) {
    Duration backoff = Duration.ofMillis(200);
    while (true) {
      try {
        producer.send(record).get();
        return Sent.SENT;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return Sent.GAVE_UP;
      } catch (ExecutionException | RuntimeException e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        if (cause instanceof RecordTooLargeException) {
          return Sent.TOO_LARGE;
        }
        if (!running) {
          log.warn("cannot send the {} while closing: {}", what, cause.toString());
          return Sent.GAVE_UP;
        }
        log.warn("cannot send the {}, retrying in {}: {}", what, backoff, cause.toString());
        try {
          Thread.sleep(backoff);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return Sent.GAVE_UP;
        }
        backoff = backoff.multipliedBy(2).compareTo(Duration.ofSeconds(10)) > 0 ? Duration.ofSeconds(10)
            : backoff.multipliedBy(2);
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
    TurnpikeHeaders.put(headers, TurnpikeHeaders.DLQ_REASON, "cannot decode a GuardrailCheck: " + error.getMessage());
    ProducerRecord<String, byte[]> out = new ProducerRecord<>(Topics.DEAD_LETTERS.name(), null, r.key(), r.value(),
        headers);
    long offset = r.offset();
    checks.execute(() -> {
      Sent sent = send(out, "dead letter of " + r.topic() + "-" + r.partition() + "@" + offset);
      if (sent == Sent.TOO_LARGE) {
        log.error("dead letter of {}-{}@{} is too large for {}; dropped", r.topic(), r.partition(), offset,
            Topics.DEAD_LETTERS.name());
      }
      if (sent != Sent.GAVE_UP) {
        deadLettered.incrementAndGet();
        finished.add(new Finished(p, offset));
        consumer.wakeup();
      }
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Stops polling, waits for checks in flight (up to closeTimeout), flushes, commits and closes. */
  @Override
  public void close() {
    Thread t;
    synchronized (lifecycle) {
      if (closed) {
        return;
      }
      closed = true;
      running = false;
      t = loop;
    }
    if (t == null) {
      closeQuietly(consumer, "consumer");
      closeQuietly(producer, "producer");
      if (ownsEngine) {
        closeQuietly(engine, "engine");
      }
      checks.shutdownNow();
      return;
    }
    try {
      if (!t.join(config.closeTimeout().plusSeconds(30))) {
        log.warn("the guardrail service loop did not stop in time");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
