package io.turnpike.runner.model;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.schema.PartitionProgress;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeSpans;
import java.time.Clock;
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
 * The model worker of the runner: consumes {@link ModelCall}s from {@code turnpike.model.requests},
 * calls the model through a {@link ModelClient} on one virtual thread per call, and answers a
 * {@link ModelResult} on {@code turnpike.model.results} (key runId, headers {@code turnpike.type},
 * {@code turnpike.trace-id}, {@code turnpike.call-id}).
 *
 * <ul>
 *   <li>At most {@code concurrency} calls are in flight. Records fetched beyond that wait in a local
 *       backlog and the assigned partitions are paused while it is not empty; the poll loop never
 *       blocks, so the consumer stays in its group.
 *   <li>At-least-once: offsets are committed (manually, per partition) only up to the lowest record
 *       not yet finished, after its result was acknowledged by the broker. After a crash a call may
 *       be answered twice; the orchestrator ignores results whose callId is no longer pending.
 *   <li>A call whose deadline has passed is skipped (logged, committed, not answered): the
 *       orchestrator has already timed it out.
 *   <li>A record that cannot be decoded goes to {@code turnpike.dead-letters} with its key, raw value
 *       and the {@code turnpike.dlq.*} headers, and is committed.
 *   <li>{@link #close()} stops polling, waits up to {@code closeTimeout} for calls in flight, flushes
 *       the producer and commits what is finished.
 * </ul>
 */
public final class ModelInvoker implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ModelInvoker.class);

  static final String RESULT_TYPE = "ModelResult";
  private static final Duration POLL = Duration.ofMillis(50);
  private static final long COMMIT_INTERVAL_MS = 200;
  private boolean finishedSinceCommit;

  private final ModelInvokerConfig config;
  private final TurnpikeSerdes serdes;
  private final ModelClient client;
  private final KafkaConsumer<String, byte[]> consumer;
  private final KafkaProducer<String, byte[]> producer;
  private final Semaphore permits;
  private final ExecutorService calls;
  private final Clock clock;

  /** Finished records, handed from call threads to the poll thread. */
  private final ConcurrentLinkedQueue<Finished> finished = new ConcurrentLinkedQueue<>();
  /** Poll-thread state. */
  private final Map<TopicPartition, PartitionProgress> progress = new HashMap<>();
  private final ArrayDeque<Work> backlog = new ArrayDeque<>();
  private final Set<TopicPartition> paused = new HashSet<>();
  private long lastCommitMs;

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
  private final AutoCloseable producerMetrics;
  private final AutoCloseable readiness;

  private record Work(ConsumerRecord<String, byte[]> record, ModelCall call, PartitionProgress progress) {}

  private record Finished(PartitionProgress progress, long offset) {}

  public ModelInvoker(ModelInvokerConfig config, ModelClient client) {
    this(config, client, Map.of(), Map.of());
  }

  /**
   * @param consumerOverrides extra or replacing Kafka consumer properties (security settings, say)
   * @param producerOverrides extra or replacing Kafka producer properties
   */
  public ModelInvoker(ModelInvokerConfig config, ModelClient client, Map<String, ?> consumerOverrides,
      Map<String, ?> producerOverrides) {
    this(config, client, consumerOverrides, producerOverrides, Telemetry.noop("model-invoker"));
  }

  /** As above, with model latency, tokens, a span per call, Kafka client metrics and readiness on {@code telemetry}. */
  public ModelInvoker(ModelInvokerConfig config, ModelClient client, Map<String, ?> consumerOverrides,
      Map<String, ?> producerOverrides, Telemetry telemetry) {
    this.config = config;
    this.telemetry = telemetry;
    this.serdes = TurnpikeSerdes.forUrl(config.schemaRegistryUrl());
    this.client = client;
    this.clock = Clock.systemUTC();
    this.permits = new Semaphore(config.concurrency());
    this.calls = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("turnpike-model-call-", 0).factory());
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
    this.producerMetrics = telemetry.bindKafkaClient(producer);
    // Ready once the group has been joined; a spare instance with no partitions is ready too.
    this.readiness = telemetry.readiness("model-invoker", () -> running && assignments.get() > 0);
  }

  /** An invoker with an {@link OpenAiModelClient} built from the same configuration. */
  public static ModelInvoker create(ModelInvokerConfig config) {
    return new ModelInvoker(config, new OpenAiModelClient(config));
  }

  public static ModelInvoker create(Settings settings) {
    return create(settings, Telemetry.noop("model-invoker"));
  }

  public static ModelInvoker create(Settings settings, Telemetry telemetry) {
    ModelInvokerConfig config = ModelInvokerConfig.from(settings);
    return new ModelInvoker(config, new OpenAiModelClient(config), settings.consumerTuning(), settings.producerTuning(),
        telemetry);
  }

  static Properties consumerProps(ModelInvokerConfig config) {
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

  static Properties producerProps(ModelInvokerConfig config) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ProducerConfig.CLIENT_ID_CONFIG, config.groupId() + "-producer");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    return p;
  }

  /** Subscribes and starts the poll loop on its own thread. */
  public ModelInvoker start() {
    // Fail here, clearly, if the registry is unreachable, and learn the ids of today's schemas so that
    // decoding the usual records never waits for the registry.
    serdes.modelCall().schemaId(Topics.MODEL_REQUESTS.name());
    serdes.modelResult().schemaId(Topics.MODEL_RESULTS.name());
    synchronized (lifecycle) {
      if (loop != null || closed) {
        throw new IllegalStateException("the model invoker was already started");
      }
      running = true;
      loop = Thread.ofPlatform().name("turnpike-model-invoker").start(this::runLoop);
      log.info("model invoker started: {}", config);
      return this;
    }
  }

  public boolean isRunning() {
    return running;
  }

  /** What stopped the loop, if it stopped on its own. */
  public Throwable failure() {
    return failure;
  }

  /** Results produced so far. */
  public long answered() {
    return answered.get();
  }

  public long deadLettered() {
    return deadLettered.get();
  }

  /** Calls skipped because their deadline had passed. */
  public long expired() {
    return expired.get();
  }

  /** How many times partitions were assigned to this invoker (1 when it never lost its group). */
  public long assignments() {
    return assignments.get();
  }

  /** Calls in flight (model call or result produce under way). */
  public int inFlight() {
    return config.concurrency() - permits.availablePermits();
  }

  // ---------------------------------------------------------------- poll thread

  private void runLoop() {
    try {
      consumer.subscribe(List.of(Topics.MODEL_REQUESTS.name()), new Rebalance());
      while (running) {
        applyFinished();
        dispatch();
        updatePause();
        commit(false);
        ConsumerRecords<String, byte[]> records;
        try {
          records = consumer.poll(POLL);
        } catch (WakeupException e) {
          continue; // a call finished: apply and commit it first
        }
        for (ConsumerRecord<String, byte[]> r : records) {
          accept(r);
        }
        dispatch();
      }
    } catch (Throwable t) {
      failure = t;
      log.error("model invoker loop stopped", t);
    } finally {
      running = false;
      shutdown();
    }
  }

  private void accept(ConsumerRecord<String, byte[]> r) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    PartitionProgress p = progress.computeIfAbsent(tp, k -> new PartitionProgress());
    p.received(r.offset());
    ModelCall call;
    try {
      if (r.value() == null) {
        throw new IllegalArgumentException("the record has no value");
      }
      call = serdes.modelCall().deserialize(r.topic(), r.value());
    } catch (Exception e) {
      deadLetter(r, e, p);
      return;
    }
    if (isExpired(call)) {
      skipExpired(call);
      p.finished(r.offset());
      return;
    }
    backlog.add(new Work(r, call, p));
  }

  private boolean isExpired(ModelCall call) {
    return call.getDeadline() != null && call.getDeadline().isBefore(Instant.now(clock));
  }

  private void skipExpired(ModelCall call) {
    expired.incrementAndGet();
    log.warn("skipping model call {} of run {} (attempt {}): its deadline {} has passed", call.getCallId(),
        call.getRunId(), call.getAttempt(), call.getDeadline());
  }

  private void dispatch() {
    while (!backlog.isEmpty() && permits.tryAcquire()) {
      Work w = backlog.poll();
      try {
        calls.execute(() -> process(w));
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
        log.debug("{} calls waiting for a free slot; paused {}", backlog.size(), toPause);
      }
    } else if (!paused.isEmpty()) {
      consumer.resume(paused);
      log.debug("resumed {}", paused);
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
    long now = clock.millis();
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
      log.info("model invoker assigned {}", partitions);
    }

    private void forget(Collection<TopicPartition> partitions) {
      // Calls already running still answer (a harmless duplicate if the new owner answers too);
      // calls not yet started are left to the partition's next owner.
      backlog.removeIf(w -> partitions.contains(new TopicPartition(w.record().topic(), w.record().partition())));
      partitions.forEach(progress::remove);
      paused.removeAll(partitions);
      log.info("model invoker released {}", partitions);
    }
  }

  private void shutdown() {
    int dropped = backlog.size();
    backlog.clear();
    calls.shutdown();
    try {
      if (!calls.awaitTermination(config.closeTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn("{} model calls still in flight after {}; they will be answered again after a restart",
            inFlight(), config.closeTimeout());
        calls.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      calls.shutdownNow();
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
        commit(true); // a finished call's wake-up was still pending; throwing it cleared it
      }
    } catch (RuntimeException e) {
      log.warn("cannot commit offsets on close: {}", e.toString());
    }
    closeQuietly(readiness, "readiness check");
    closeQuietly(consumerMetrics, "consumer metrics");
    closeQuietly(producerMetrics, "producer metrics");
    closeQuietly(consumer, "consumer");
    closeQuietly(producer, "producer");
    closeQuietly(client, "model client");
    log.info("model invoker stopped ({} answered, {} dead-lettered, {} expired, {} not started)", answered.get(),
        deadLettered.get(), expired.get(), dropped);
  }

  private static void closeQuietly(AutoCloseable c, String what) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("cannot close the {}: {}", what, e.toString());
    }
  }

  // ---------------------------------------------------------------- call threads

  private void process(Work w) {
    Span span = telemetry.tracing().consumerSpan(TurnpikeSpans.MODEL_CALL, w.record().headers())
        .setAttribute(TurnpikeSpans.RUN_ID, w.call().getRunId())
        .setAttribute(TurnpikeSpans.CALL_ID, w.call().getCallId())
        .setAttribute(TurnpikeSpans.AGENT, w.call().getAgent())
        .setAttribute(TurnpikeSpans.GEN_AI_REQUEST_MODEL, w.call().getModel())
        .startSpan();
    try {
      ModelCall call = w.call();
      if (isExpired(call)) {
        skipExpired(call);
        span.setAttribute(TurnpikeSpans.OUTCOME, "expired");
        finished.add(new Finished(w.progress(), w.record().offset()));
        return;
      }
      ModelResult result;
      long started = System.nanoTime();
      try {
        result = client.invoke(call);
      } catch (RuntimeException e) {
        // A ModelClient should not throw; answer anyway so the run is not left waiting.
        result = OpenAiModelClient.failed(call, ModelErrors.fromException(e, ModelErrors.Redactor.NONE));
      }
      record(span, call, result, Duration.ofNanos(System.nanoTime() - started));
      result.setRunId(call.getRunId());
      result.setCallId(call.getCallId());
      byte[] value;
      try {
        value = serdes.modelResult().serialize(Topics.MODEL_RESULTS.name(), result);
      } catch (RuntimeException e) {
        log.error("cannot encode the result of call {}", call.getCallId(), e);
        value = serdes.modelResult().serialize(Topics.MODEL_RESULTS.name(), OpenAiModelClient.failed(call,
            ErrorInfo.newBuilder().setCode(ModelErrors.ERROR).setMessage("cannot encode the model's result: "
                + e.getMessage()).setRetryable(false).build()));
      }
      Headers headers = new RecordHeaders();
      TurnpikeHeaders.put(headers, TurnpikeHeaders.TYPE, RESULT_TYPE);
      TurnpikeHeaders.put(headers, TurnpikeHeaders.TRACE_ID,
          TurnpikeHeaders.get(w.record().headers(), TurnpikeHeaders.TRACE_ID));
      TurnpikeHeaders.put(headers, TurnpikeHeaders.CALL_ID, call.getCallId());
      KafkaTracing.inject(span, headers);
      if (send(new ProducerRecord<>(Topics.MODEL_RESULTS.name(), null, call.getRunId(), value, headers),
          "result of call " + call.getCallId())) {
        answered.incrementAndGet();
        finished.add(new Finished(w.progress(), w.record().offset()));
        // Commit the answered call's offset now rather than at the next interval: a crash after
        // this point must not make the next owner call the model again for an answered turn.
        consumer.wakeup();
      }
    } catch (RuntimeException e) {
      KafkaTracing.fail(span, e);
      log.error("model call {} failed unexpectedly; it will be retried after a restart", w.call().getCallId(), e);
    } finally {
      span.end();
      permits.release();
    }
  }

  private void record(Span span, ModelCall call, ModelResult result, Duration latency) {
    long in = result.getUsage() == null ? 0 : result.getUsage().getInputTokens();
    long out = result.getUsage() == null ? 0 : result.getUsage().getOutputTokens();
    boolean ok = result.getError() == null;
    telemetry.metrics().modelCall(call.getModel(), latency, ok, in, out);
    span.setAttribute(TurnpikeSpans.GEN_AI_INPUT_TOKENS, in);
    span.setAttribute(TurnpikeSpans.GEN_AI_OUTPUT_TOKENS, out);
    if (!ok) {
      span.setAttribute(TurnpikeSpans.ERROR_TYPE, String.valueOf(result.getError().getCode()));
      span.setStatus(StatusCode.ERROR, String.valueOf(result.getError().getMessage()));
    }
  }

  /**
   * Sends and waits for the broker's acknowledgement, retrying while the invoker runs. Returns false
   * when it gave up (the record then stays uncommitted and is handled again after a restart).
   */
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
    TurnpikeHeaders.put(headers, TurnpikeHeaders.DLQ_REASON, "cannot decode a ModelCall: " + error.getMessage());
    ProducerRecord<String, byte[]> out = new ProducerRecord<>(Topics.DEAD_LETTERS.name(), null, r.key(), r.value(),
        headers);
    long offset = r.offset();
    // Sent from a virtual thread so the poll loop does not wait for the acknowledgement.
    calls.execute(() -> {
      if (send(out, "dead letter of " + r.topic() + "-" + r.partition() + "@" + offset)) {
        deadLettered.incrementAndGet();
        finished.add(new Finished(p, offset));
      }
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Stops polling, waits for calls in flight (up to closeTimeout), flushes, commits and closes. */
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
      closeQuietly(client, "model client");
      calls.shutdownNow();
      return;
    }
    try {
      if (!t.join(config.closeTimeout().plusSeconds(30))) {
        log.warn("the model invoker loop did not stop in time");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
