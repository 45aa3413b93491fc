package io.turnpike.worker;

import io.micrometer.core.instrument.Counter;
import io.opentelemetry.context.Context;
import io.turnpike.schema.DeadLetter;
import io.turnpike.schema.PartitionProgress;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.registry.SchemaRegistryException;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one consume / handle / answer loop of every Turnpike worker (model invoker, tool workers,
 * sandbox, guardrail service). A {@link Worker} says how records become requests and answers become
 * records; an {@link Admission} runs the jobs. The loop owns the rest, the same way for every worker:
 *
 * <ul>
 *   <li><b>Backpressure.</b> Jobs the admission refuses wait in a backlog, in read order; while it is not
 *       empty the assigned partitions are paused. The poll thread never blocks, so the instance keeps its
 *       group membership however long the work takes.
 *   <li><b>At least once, committed after the answer.</b> A record's offset counts as finished only when
 *       its answer's send was acknowledged by the broker (or it was skipped or dead-lettered); commits go
 *       up to the lowest unfinished offset of each partition, and an offset counts as committed only
 *       when the commit succeeded. A finished job wakes the poll thread, so its offset is committed at
 *       once: a restart does not redo answered work.
 *   <li><b>Dead letters.</b> A record with no value or that cannot be decoded goes to
 *       {@code turnpike.dead-letters} ({@link DeadLetter}: body cut to fit, original size and sha-256).
 *       A dead letter that cannot be written is logged, counted and skipped, never retried forever.
 *       A registry outage is not the record's fault: the partition is paused and the record read again.
 *   <li><b>Sending.</b> Answers are sent without blocking anyone; a send that fails for a transient
 *       reason (a broker outage past the producer's own delivery timeout) is sent again with backoff
 *       for as long as the loop runs. An answer too large for the results topic, or not encodable, is
 *       replaced once by {@link Worker#replacement}; if that fails too, the answer is dropped (logged,
 *       counted) and the run's deadline and retry policy take over.
 *   <li><b>Rebalances.</b> Revoked partitions commit what is finished, their backlog is dropped and the
 *       admission is told; jobs still running finish and answer (a harmless duplicate at most).
 *   <li><b>Shutdown.</b> {@link #close} stops fetching, lets jobs in flight finish and answer for up to the
 *       close timeout, waits for their sends, commits, and closes. What did not finish stays uncommitted.
 *   <li><b>Health.</b> Ready once it has joined its group; live unless the loop died, in which case
 *       {@link WorkerOptions#onFatal} is called so a supervised process can exit and be restarted.
 * </ul>
 */
public final class WorkerLoop<T, R> implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(WorkerLoop.class);

  private static final Duration POLL = Duration.ofMillis(50);
  private static final long COMMIT_INTERVAL_MS = 200;
  private static final Duration SEND_BACKOFF_MAX = Duration.ofSeconds(10);
  private static final Duration DECODE_RETRY = Duration.ofSeconds(2);
  private static final int DEAD_LETTER_ATTEMPTS = 3;

  private final WorkerOptions options;
  private final Worker<T, R> worker;
  private final Admission<T, R> admission;
  private final KafkaConsumer<String, byte[]> consumer;
  private final KafkaProducer<String, byte[]> producer;
  /** Re-sends and dead letters: producer.send may block on metadata, which the poll thread must not. */
  private final ExecutorService senders;
  private final ScheduledExecutorService backoff;

  /** Offsets finished on any thread, applied by the poll thread. */
  private final ConcurrentLinkedQueue<Finished> finished = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean wakeupPending = new AtomicBoolean();
  private final AtomicInteger sendsInFlight = new AtomicInteger();

  // Poll-thread state.
  private final Map<TopicPartition, PartitionProgress> progress = new HashMap<>();
  private final ArrayDeque<Job<T, R>> backlog = new ArrayDeque<>();
  /** The backlog's size, for {@link #stats} from any thread. */
  private final AtomicInteger backlogSize = new AtomicInteger();
  /** Partitions waiting to read a record again after a transient decoding failure, until when (ms). */
  private final Map<TopicPartition, Long> retryAt = new HashMap<>();
  private boolean finishedSinceCommit;
  private long lastCommitMs;

  private final Object lifecycle = new Object();
  private volatile boolean running;
  private volatile boolean joined;
  private volatile Throwable failure;
  private Thread thread;
  private boolean closed;

  private final Counters counters;
  private final List<AutoCloseable> telemetryHandles = new ArrayList<>();
  /** Kept after the loop died, so /health/live keeps saying so until the process is restarted. */
  private final AutoCloseable liveness;

  private record Finished(TopicPartition partition, PartitionProgress progress, long offset) {}

  public WorkerLoop(WorkerOptions options, Worker<T, R> worker, Admission<T, R> admission, Telemetry telemetry) {
    this.options = options;
    this.worker = Objects.requireNonNull(worker, "worker");
    this.admission = Objects.requireNonNull(admission, "admission");
    this.counters = new Counters(telemetry, options.name());
    this.consumer = new KafkaConsumer<>(consumerProperties(options), new StringDeserializer(), new ByteArrayDeserializer());
    try {
      this.producer = new KafkaProducer<>(producerProperties(options), new StringSerializer(), new ByteArraySerializer());
    } catch (RuntimeException e) {
      consumer.close(Duration.ZERO);
      throw e;
    }
    this.senders = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("turnpike-" + options.name() + "-send-", 0).factory());
    this.backoff = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon(true)
        .name("turnpike-" + options.name() + "-backoff").factory());
    telemetryHandles.add(telemetry.bindKafkaClient(consumer));
    telemetryHandles.add(telemetry.bindKafkaClient(producer));
    telemetryHandles.add(telemetry.readiness(options.name(), () -> running && joined));
    this.liveness = telemetry.liveness(options.name(), () -> failure == null);
  }

  static Map<String, Object> consumerProperties(WorkerOptions o) {
    Map<String, Object> p = new HashMap<>();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, o.groupId());
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, o.groupId() + "-consumer");
    // Requests are written in exactly-once transactions: never act on one from an aborted transaction.
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    // A group that starts late still answers the requests that wait; expired ones are skipped.
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, o.maxPollRecords());
    p.putAll(o.consumerOverrides());
    return p;
  }

  static Map<String, Object> producerProperties(WorkerOptions o) {
    Map<String, Object> p = new HashMap<>();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrapServers());
    p.put(ProducerConfig.CLIENT_ID_CONFIG, o.groupId() + "-producer");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    // A run waits on every answer: send at once rather than batch.
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    p.putAll(o.producerOverrides());
    return p;
  }

  /** Subscribes and starts the poll loop on its own thread. */
  public WorkerLoop<T, R> start() {
    synchronized (lifecycle) {
      if (thread != null || closed) {
        throw new IllegalStateException(options.name() + " was already started");
      }
      running = true;
      thread = Thread.ofPlatform().name("turnpike-" + options.name()).start(this::run);
      return this;
    }
  }

  public WorkerOptions options() {
    return options;
  }

  public boolean isRunning() {
    return running;
  }

  /** Whether it has joined its group (and so is serving its partitions, if it has any). */
  public boolean isJoined() {
    return joined;
  }

  /** What stopped the loop, if it stopped on its own. */
  public Throwable failure() {
    return failure;
  }

  public Stats stats() {
    return counters.snapshot(admission.inFlight(), backlogSize.get());
  }

  /**
   * Counts since start.
   *
   * @param answered         answers sent and acknowledged (replacements included)
   * @param replaced         answers replaced by {@link Worker#replacement} (too large, not encodable)
   * @param dropped          answers that could not be sent at all
   * @param skipped          requests finished without an answer ({@link Worker#skip}, {@link Job#skip})
   * @param deadLettered     records written to dead letters
   * @param deadLettersLost  dead letters that could not be written (logged and skipped)
   * @param assignments      partition assignments received (1 when it never lost its group)
   * @param inFlight         jobs taken and not finished now
   * @param backlog          jobs read and waiting for the admission now
   */
  public record Stats(long answered, long replaced, long dropped, long skipped, long deadLettered, long deadLettersLost,
      long assignments, int inFlight, int backlog) {}

  // ------------------------------------------------------------------------------------ poll thread

  private void run() {
    try {
      consumer.subscribe(List.of(options.requestTopic()), new Rebalance());
      while (running) {
        wakeupPending.set(false);
        applyFinished();
        admission.tick();
        dispatch();
        updatePause();
        commit(false);
        try {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(POLL)) {
            accept(r);
          }
        } catch (WakeupException e) {
          continue; // a job finished, or close() was called: look at both first
        }
        dispatch();
      }
    } catch (Throwable t) {
      failure = t;
      log.error("{} stopped: {}", options.name(), t.toString(), t);
    } finally {
      running = false;
      shutdown();
    }
    if (failure != null) {
      try {
        options.onFatal().accept(failure);
      } catch (RuntimeException e) {
        log.error("{}: the fatal-error handler failed", options.name(), e);
      }
    }
  }

  private void accept(ConsumerRecord<String, byte[]> r) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    if (retryAt.containsKey(tp)) {
      return; // the partition was rewound to an earlier record: this one comes again
    }
    PartitionProgress p = progress.computeIfAbsent(tp, k -> new PartitionProgress());
    if (r.value() == null) {
      p.received(r.offset());
      deadLetter(r, p, "the record has no value", "rejected");
      return;
    }
    T request;
    try {
      request = worker.decode(r);
    } catch (SchemaRegistryException e) {
      if (e.isTransient()) {
        // Not the record's fault: read it again once the registry is back.
        log.warn("{}: cannot decode {}-{}@{} while the schema registry is unreachable; reading it again in {}: {}",
            options.name(), r.topic(), r.partition(), r.offset(), DECODE_RETRY, e.getMessage());
        consumer.seek(tp, r.offset());
        retryAt.put(tp, System.currentTimeMillis() + DECODE_RETRY.toMillis());
        return;
      }
      p.received(r.offset());
      deadLetter(r, p, "cannot decode the record: " + e.getMessage(), e.getClass().getName());
      return;
    } catch (Exception | LinkageError e) {
      p.received(r.offset());
      deadLetter(r, p, "cannot decode the record: " + e.getMessage(), e.getClass().getName());
      return;
    }
    p.received(r.offset());
    String skip;
    try {
      skip = worker.skip(request);
    } catch (RuntimeException e) {
      deadLetter(r, p, "cannot use the request: " + e.getMessage(), e.getClass().getName());
      return;
    }
    if (skip != null) {
      counters.skipped.increment();
      log.debug("{}: skipping {}-{}@{}: {}", options.name(), r.topic(), r.partition(), r.offset(), skip);
      p.finished(r.offset());
      finishedSinceCommit = true;
      return;
    }
    backlog.add(new Job<>(this, request, tp, r.offset(), r.key(), r.headers(), p));
    backlogSize.set(backlog.size());
  }

  /** Offers the backlog in read order; a key refused BUSY keeps its later jobs behind it. */
  private void dispatch() {
    if (backlog.isEmpty()) {
      return;
    }
    Set<String> busy = null;
    for (Iterator<Job<T, R>> it = backlog.iterator(); it.hasNext(); ) {
      Job<T, R> job = it.next();
      String key = admission.orderKey(job);
      if (key == null) {
        key = job.key();
      }
      if (busy != null && busy.contains(key)) {
        continue;
      }
      Admission.Verdict v = admission.offer(job);
      if (v == Admission.Verdict.TAKEN) {
        it.remove();
      } else if (v == Admission.Verdict.BUSY) {
        if (busy == null) {
          busy = new HashSet<>();
        }
        busy.add(key);
      } else {
        break;
      }
    }
    backlogSize.set(backlog.size());
  }

  /**
   * Pauses exactly the partitions that have jobs waiting in the backlog (their later records must queue
   * behind them anyway), so other partitions' runs keep moving; the backlog stays bounded by one poll's
   * records per partition. Partitions rewound after a registry outage stay paused until their retry time.
   */
  private void updatePause() {
    Set<TopicPartition> assigned = consumer.assignment();
    Set<TopicPartition> waiting = new HashSet<>();
    for (Job<T, R> job : backlog) {
      waiting.add(job.partition());
    }
    long now = System.currentTimeMillis();
    retryAt.keySet().retainAll(assigned);
    retryAt.values().removeIf(at -> at <= now);
    Set<TopicPartition> shouldPause = new HashSet<>(waiting);
    shouldPause.addAll(retryAt.keySet());
    shouldPause.retainAll(assigned);
    Set<TopicPartition> paused = consumer.paused();
    Set<TopicPartition> toPause = new HashSet<>(shouldPause);
    toPause.removeAll(paused);
    if (!toPause.isEmpty()) {
      consumer.pause(toPause);
    }
    Set<TopicPartition> toResume = new HashSet<>(paused);
    toResume.removeAll(shouldPause);
    if (!toResume.isEmpty()) {
      consumer.resume(toResume);
    }
  }

  private void applyFinished() {
    Finished f;
    while ((f = finished.poll()) != null) {
      // A job of a partition that was revoked (and maybe assigned again since) belongs to the old owner's
      // progress: the new progress starts from the committed offset and must not count it.
      if (progress.get(f.partition()) == f.progress()) {
        f.progress().finished(f.offset());
        finishedSinceCommit = true;
      }
    }
  }

  private void commit(boolean sync) {
    long now = System.currentTimeMillis();
    if (!sync && !finishedSinceCommit && now - lastCommitMs < COMMIT_INTERVAL_MS) {
      return;
    }
    finishedSinceCommit = false;
    lastCommitMs = now;
    commit(new ArrayList<>(progress.keySet()), sync);
  }

  private void commit(Collection<TopicPartition> partitions, boolean sync) {
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    Map<TopicPartition, PartitionProgress> owners = new HashMap<>();
    for (TopicPartition tp : partitions) {
      PartitionProgress p = progress.get(tp);
      long next = p == null ? -1 : p.advance();
      if (next >= 0) {
        offsets.put(tp, new OffsetAndMetadata(next));
        owners.put(tp, p);
      }
    }
    if (offsets.isEmpty()) {
      return;
    }
    if (sync) {
      try {
        consumer.commitSync(offsets);
      } catch (WakeupException e) {
        consumer.commitSync(offsets); // a finished job's wake-up was pending; throwing it cleared it
      }
      offsets.forEach((tp, o) -> owners.get(tp).committed(o.offset()));
    } else {
      consumer.commitAsync(offsets, (done, e) -> {
        if (e != null) {
          log.debug("{}: offset commit failed (the next one covers it): {}", options.name(), e.toString());
          return;
        }
        // Only now: a commit that failed must be made again, not forgotten.
        done.forEach((tp, o) -> owners.get(tp).committed(o.offset()));
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
        log.warn("{}: cannot commit revoked partitions {} (their next owner repeats some work): {}", options.name(),
            partitions, e.toString());
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
      counters.assignments.incrementAndGet();
      joined = true;
      log.info("{} assigned {}", options.name(), partitions);
    }

    private void forget(Collection<TopicPartition> partitions) {
      backlog.removeIf(j -> partitions.contains(j.partition()));
      backlogSize.set(backlog.size());
      admission.revoked(partitions);
      partitions.forEach(progress::remove);
      partitions.forEach(retryAt::remove);
      if (!partitions.isEmpty()) {
        log.info("{} released {}", options.name(), partitions);
      }
    }
  }

  // ------------------------------------------------------------------------------- any thread

  private void finish(TopicPartition tp, PartitionProgress p, long offset) {
    finished.add(new Finished(tp, p, offset));
    if (wakeupPending.compareAndSet(false, true)) {
      consumer.wakeup(); // commit it now: a restart must not redo answered work
    }
  }

  void skipped(Job<T, R> job, String why) {
    counters.skipped.increment();
    log.debug("{}: {} finished without an answer: {}", options.name(), job, why);
    finish(job.partition(), job.progress, job.offset());
  }

  /** Encodes and sends a job's answer (called once per job, from any thread). */
  void send(Job<T, R> job, R answer, Context producedBy) {
    byte[] value;
    try {
      value = worker.encode(job.request(), answer);
    } catch (RuntimeException e) {
      log.error("{}: cannot encode the answer of {}", options.name(), worker.callId(job.request()), e);
      replace(job, answer, "the answer could not be encoded: " + e.getMessage(), producedBy);
      return;
    }
    sendAnswer(job, answer, record(job, value, producedBy), false, Duration.ofMillis(200), producedBy);
  }

  private ProducerRecord<String, byte[]> record(Job<T, R> job, byte[] value, Context producedBy) {
    Headers h = new RecordHeaders();
    TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, options.resultType());
    TurnpikeHeaders.put(h, TurnpikeHeaders.TRACE_ID, job.traceId());
    TurnpikeHeaders.put(h, TurnpikeHeaders.CALL_ID, worker.callId(job.request()));
    KafkaTracing.inject(producedBy, h);
    return new ProducerRecord<>(options.resultTopic(), null, worker.key(job.request()), value, h);
  }

  private void sendAnswer(Job<T, R> job, R answer, ProducerRecord<String, byte[]> rec, boolean replacement,
      Duration wait, Context producedBy) {
    String callId = worker.callId(job.request());
    sendsInFlight.incrementAndGet();
    try {
      producer.send(rec, (md, e) -> {
        sendsInFlight.decrementAndGet();
        if (e == null) {
          counters.answered.increment();
          if (replacement) {
            counters.replaced.increment();
          }
          finish(job.partition(), job.progress, job.offset());
        } else if (tooLarge(e) && !replacement) {
          String problem = "the answer (" + rec.value().length + " bytes) is larger than " + options.resultTopic()
              + " accepts";
          log.warn("{}: {} for call {}; answering that instead", options.name(), problem, callId);
          onSender(() -> replace(job, answer, problem, producedBy));
        } else if (e instanceof RetriableException && running) {
          Duration next = wait.multipliedBy(2).compareTo(SEND_BACKOFF_MAX) > 0 ? SEND_BACKOFF_MAX : wait.multipliedBy(2);
          log.warn("{}: cannot send the answer of call {}, again in {}: {}", options.name(), callId, wait, e.toString());
          later(wait, () -> sendAnswer(job, answer, rec, replacement, next, producedBy));
        } else if (!running) {
          // Closing: left unfinished, so it is done again after the restart.
          log.warn("{}: answer of call {} not sent before close: {}", options.name(), callId, e.toString());
        } else {
          drop(job, callId, e);
        }
      });
    } catch (RuntimeException e) {
      sendsInFlight.decrementAndGet();
      // The producer is closed (shutting down): the job stays uncommitted and is done again later.
      log.warn("{}: cannot send the answer of call {}: {}", options.name(), callId, e.toString());
    }
  }

  private void replace(Job<T, R> job, R answer, String problem, Context producedBy) {
    String callId = worker.callId(job.request());
    byte[] value;
    try {
      value = worker.encode(job.request(), worker.replacement(job.request(), answer, problem));
    } catch (RuntimeException e) {
      drop(job, callId, e);
      return;
    }
    sendAnswer(job, answer, record(job, value, producedBy), true, Duration.ofMillis(200), producedBy);
  }

  private void drop(Job<T, R> job, String callId, Throwable why) {
    counters.dropped.increment();
    log.error("{}: dropping the answer of call {} (the run's deadline and retry take over): {}", options.name(), callId,
        why.toString());
    finish(job.partition(), job.progress, job.offset());
  }

  private void deadLetter(ConsumerRecord<String, byte[]> r, PartitionProgress p, String reason, String error) {
    log.warn("{}: dead-lettering {}-{}@{}: {}", options.name(), r.topic(), r.partition(), r.offset(), reason);
    DeadLetter d = DeadLetter.of(r.topic(), r.partition(), r.offset(), r.key(), r.value(), r.headers(),
        reason + " (" + options.name() + ")", error);
    ProducerRecord<String, byte[]> out = new ProducerRecord<>(Topics.DEAD_LETTERS.name(), null, d.key(), d.value(), d.headers());
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    onSender(() -> sendDeadLetter(out, tp, p, r.offset(), 1));
  }

  private void sendDeadLetter(ProducerRecord<String, byte[]> out, TopicPartition tp, PartitionProgress p, long offset,
      int attempt) {
    sendsInFlight.incrementAndGet();
    try {
      producer.send(out, (md, e) -> {
        sendsInFlight.decrementAndGet();
        if (e == null) {
          counters.deadLettered.increment();
          finish(tp, p, offset);
        } else if (e instanceof RetriableException && running && attempt < DEAD_LETTER_ATTEMPTS) {
          later(Duration.ofSeconds(attempt), () -> sendDeadLetter(out, tp, p, offset, attempt + 1));
        } else if (!running) {
          log.warn("{}: dead letter of {}@{} not written before close: {}", options.name(), tp, offset, e.toString());
        } else {
          counters.deadLettersLost.increment();
          log.error("{}: cannot write the dead letter of {}@{} after {} attempt(s); skipping the record: {}",
              options.name(), tp, offset, attempt, e.toString());
          finish(tp, p, offset);
        }
      });
    } catch (RuntimeException e) {
      sendsInFlight.decrementAndGet();
      log.warn("{}: cannot write the dead letter of {}@{}: {}", options.name(), tp, offset, e.toString());
    }
  }

  private static boolean tooLarge(Exception e) {
    return e instanceof RecordTooLargeException || e instanceof RecordBatchTooLargeException;
  }

  /** Runs on a virtual thread: producer callbacks run on the producer's I/O thread, which must not block. */
  private void onSender(Runnable r) {
    try {
      senders.execute(r);
    } catch (RejectedExecutionException e) {
      log.debug("{}: closed; not sending", options.name());
    }
  }

  private void later(Duration wait, Runnable r) {
    try {
      backoff.schedule(() -> onSender(r), wait.toMillis(), TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      log.debug("{}: closed; not retrying", options.name());
    }
  }

  // ------------------------------------------------------------------------------------ lifecycle

  private void shutdown() {
    int dropped = backlog.size();
    backlog.clear();
    backlogSize.set(0);
    admission.drain(options.closeTimeout());
    // Answers of the jobs that finished are on their way: wait for their acknowledgements, bounded (a
    // flush would wait out the producer's whole delivery timeout while the broker is away).
    long deadline = System.nanoTime() + Math.min(options.closeTimeout().toNanos(), Duration.ofSeconds(10).toNanos());
    while (sendsInFlight.get() > 0 && System.nanoTime() < deadline) {
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
    }
    backoff.shutdownNow();
    senders.shutdown();
    applyFinished();
    try {
      commit(true);
    } catch (RuntimeException e) {
      log.warn("{}: cannot commit offsets on close: {}", options.name(), e.toString());
    }
    for (AutoCloseable h : telemetryHandles) {
      closeQuietly(h);
    }
    if (failure == null) {
      closeQuietly(liveness);
    }
    closeQuietly(() -> consumer.close(Duration.ofSeconds(5)));
    closeQuietly(() -> producer.close(Duration.ofSeconds(5)));
    Stats s = stats();
    log.info("{} stopped: {} answered ({} replaced, {} dropped), {} skipped, {} dead-lettered ({} lost), {} not started",
        options.name(), s.answered(), s.replaced(), s.dropped(), s.skipped(), s.deadLettered(), s.deadLettersLost(), dropped);
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      log.debug("cannot close {}: {}", c, e.toString());
    }
  }

  /** Stops fetching, lets jobs in flight finish and answer (up to the close timeout), commits and closes. */
  @Override
  public void close() {
    Thread t;
    synchronized (lifecycle) {
      if (closed) {
        return;
      }
      closed = true;
      t = thread;
      running = false;
    }
    if (t == null) {
      admission.drain(Duration.ZERO);
      backoff.shutdownNow();
      senders.shutdownNow();
      telemetryHandles.forEach(WorkerLoop::closeQuietly);
      closeQuietly(liveness);
      closeQuietly(() -> consumer.close(Duration.ZERO));
      closeQuietly(() -> producer.close(Duration.ZERO));
      return;
    }
    consumer.wakeup();
    try {
      if (!t.join(options.closeTimeout().plusSeconds(30))) {
        log.warn("{}: the loop did not stop in time", options.name());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    closeQuietly(liveness);
  }

  /**
   * The loop's counts: its own (for {@link #stats}, per loop even when loops share a registry) and
   * {@code turnpike_worker_records_total{worker, outcome}} on the telemetry registry.
   */
  private static final class Counters {
    final Count answered;
    final Count replaced;
    final Count dropped;
    final Count skipped;
    final Count deadLettered;
    final Count deadLettersLost;
    final AtomicLong assignments = new AtomicLong();

    Counters(Telemetry telemetry, String worker) {
      answered = new Count(telemetry, worker, "answered");
      replaced = new Count(telemetry, worker, "replaced");
      dropped = new Count(telemetry, worker, "dropped");
      skipped = new Count(telemetry, worker, "skipped");
      deadLettered = new Count(telemetry, worker, "dead_lettered");
      deadLettersLost = new Count(telemetry, worker, "dead_letter_lost");
    }

    Stats snapshot(int inFlight, int backlog) {
      return new Stats(answered.get(), replaced.get(), dropped.get(), skipped.get(), deadLettered.get(),
          deadLettersLost.get(), assignments.get(), inFlight, backlog);
    }
  }

  private static final class Count {
    private final AtomicLong local = new AtomicLong();
    private final Counter meter;

    Count(Telemetry telemetry, String worker, String outcome) {
      meter = Counter.builder("turnpike.worker.records")
          .description("Records a worker finished, by outcome")
          .tag("worker", worker).tag("outcome", outcome)
          .register(telemetry.registry());
    }

    void increment() {
      local.incrementAndGet();
      meter.increment();
    }

    long get() {
      return local.get();
    }
  }
}
