package io.turnpike.client.tool;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.StatusCode;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.client.internal.KafkaSupport;
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
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves function tools: consumes {@code turnpike.tool.requests}, runs the handler of each call for a
 * tool it serves on a virtual thread (at most {@code concurrency} at once), and answers a
 * {@link ToolResult} on {@code turnpike.tool.results}.
 *
 * <pre>{@code
 * try (ToolWorker w = ToolWorker.builder("localhost:9092")
 *         .tool("get_weather", inv -> "{\"temp_c\": 21}")
 *         .concurrency(8)
 *         .build().start()) { ... }
 * }</pre>
 *
 * <p>Each worker group reads the whole request topic and ignores calls for tools it does not serve,
 * so several groups (one per set of tools) can share it. Delivery is at-least-once: offsets are
 * committed only up to records whose answer the broker acknowledged; a crash re-delivers the rest.
 * Within one process, a call id answered recently is answered again with the same output instead of
 * running the handler twice. Calls whose deadline has passed are skipped. Undecodable records are
 * logged and written to {@code turnpike.dead-letters}.
 */
public final class ToolWorker implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ToolWorker.class);

  /** Tool names the model APIs accept. */
  public static final Pattern TOOL_NAME = Pattern.compile("^[a-zA-Z0-9_-]{1,64}$");

  /** Counters since start, for logs, tests and health checks. */
  public record Stats(long answered, long failed, long duplicates, long expired, long ignored, long deadLettered) {}

  private final String bootstrap;
  private final TurnpikeSerdes serdes;
  private final Map<String, ToolHandler> handlers;
  private final int concurrency;
  private final String groupId;
  private final String workerId;
  private final Duration shutdownGrace;
  private final Map<String, Object> consumerOverrides;
  private final Map<String, CompletableFuture<ToolResult>> answeredByCallId;
  private final Telemetry telemetry;
  private volatile boolean joined;
  private AutoCloseable consumerMetrics = () -> {};
  private AutoCloseable readiness = () -> {};

  private final AtomicLong answered = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicLong duplicates = new AtomicLong();
  private final AtomicLong expired = new AtomicLong();
  private final AtomicLong ignored = new AtomicLong();
  private final AtomicLong deadLettered = new AtomicLong();

  private final Object lifecycle = new Object();
  private volatile boolean running;
  private volatile boolean closed;
  private Thread loopThread;
  private KafkaConsumer<String, byte[]> consumer;
  private KafkaProducer<String, byte[]> producer;
  private ExecutorService handlerThreads;

  // Owned by the poll-loop thread.
  private final Map<TopicPartition, PartitionOffsets> offsets = new HashMap<>();
  private final ArrayDeque<Work> waiting = new ArrayDeque<>();
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger sending = new AtomicInteger();
  /** Completion signals from handler and producer threads, applied by the poll loop. */
  private final LinkedBlockingQueue<Runnable> toLoop = new LinkedBlockingQueue<>();
  private long lastCommitNanos;

  private ToolWorker(Builder b) {
    this.bootstrap = b.bootstrap;
    this.serdes = TurnpikeSerdes.forUrl(b.schemaRegistryUrl);
    this.handlers = Collections.unmodifiableMap(new TreeMap<>(b.handlers));
    this.concurrency = b.concurrency;
    this.groupId = b.groupId != null ? b.groupId : defaultGroupId(handlers.keySet());
    this.workerId = b.workerId != null ? b.workerId
        : System.getenv().getOrDefault("HOSTNAME", "local") + "/" + ProcessHandle.current().pid();
    this.shutdownGrace = b.shutdownGrace;
    this.consumerOverrides = Map.copyOf(b.consumerOverrides);
    this.telemetry = b.telemetry;
    int cacheSize = b.dedupeCacheSize;
    this.answeredByCallId = Collections.synchronizedMap(new LinkedHashMap<>(256, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<ToolResult>> eldest) {
        return size() > cacheSize;
      }
    });
  }

  public static Builder builder(String bootstrapServers, String schemaRegistryUrl) {
    return new Builder(bootstrapServers, schemaRegistryUrl);
  }

  /** Builds and starts a worker for one tool, with the default group and concurrency. */
  public static ToolWorker serve(String bootstrapServers, String schemaRegistryUrl, String name, ToolHandler handler) {
    return builder(bootstrapServers, schemaRegistryUrl).tool(name, handler).build().start();
  }

  /** {@code "turnpike-tools-" + the sorted tool names joined by "+"}. */
  public static String defaultGroupId(Collection<String> toolNames) {
    return "turnpike-tools-" + String.join("+", new TreeSet<>(toolNames));
  }

  public String groupId() {
    return groupId;
  }

  public Set<String> tools() {
    return handlers.keySet();
  }

  public boolean isRunning() {
    return running;
  }

  public Stats stats() {
    return new Stats(answered.get(), failed.get(), duplicates.get(), expired.get(), ignored.get(), deadLettered.get());
  }

  /** Connects and starts consuming in a background thread; returns at once. */
  public ToolWorker start() {
    // Fail here, clearly, if the registry is unreachable, and learn the ids of today's schemas so that
    // decoding the usual records never waits for the registry.
    serdes.toolCall().schemaId(Topics.TOOL_REQUESTS.name());
    serdes.toolResult().schemaId(Topics.TOOL_RESULTS.name());
    synchronized (lifecycle) {
      if (closed) {
        throw new IllegalStateException("tool worker was closed");
      }
      if (running) {
        return this;
      }
      Map<String, Object> pc = KafkaSupport.producerConfig(bootstrap, "turnpike-tool-worker-" + groupId);
      producer = new KafkaProducer<>(pc);
      consumer = new KafkaConsumer<>(consumerConfig());
      consumerMetrics = telemetry.bindKafkaClient(consumer);
      readiness = telemetry.readiness("tool-worker[" + groupId + "]", () -> running && joined);
      handlerThreads = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("tool-handler-", 0).factory());
      running = true;
      loopThread = Thread.ofPlatform().name("turnpike-tool-worker[" + groupId + "]").daemon(true).start(this::loop);
      LOG.info("tool worker {} serving {} (concurrency {})", groupId, handlers.keySet(), concurrency);
      return this;
    }
  }

  private Map<String, Object> consumerConfig() {
    Map<String, Object> c = new HashMap<>();
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    c.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
    c.put(ConsumerConfig.CLIENT_ID_CONFIG, "turnpike-tool-worker-" + groupId);
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    // A group that starts late still answers calls that are waiting; expired ones are skipped.
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    // The orchestrator writes calls in exactly-once transactions: never run a call from an aborted one.
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.max(10, concurrency * 2));
    c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    c.putAll(consumerOverrides);
    return c;
  }

  // ---------------------------------------------------------------------------------- poll loop

  private void loop() {
    try {
      consumer.subscribe(java.util.List.of(Topics.TOOL_REQUESTS.name()), new Rebalance());
      while (running) {
        applySignals(0);
        dispatchWaiting();
        flowControl();
        maybeCommit(false);
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          accept(r);
        }
      }
    } catch (WakeupException e) {
      // close() asked us to stop
    } catch (RuntimeException e) {
      if (running) {
        LOG.error("tool worker {} stopped: {}", groupId, e.toString(), e);
      }
    } finally {
      running = false;
      closeQuietly(consumerMetrics);
      closeQuietly(readiness);
      drainAndCommit();
    }
  }

  private void accept(ConsumerRecord<String, byte[]> r) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    PartitionOffsets po = offsets.computeIfAbsent(tp, k -> new PartitionOffsets());
    po.track(r.offset());
    if (r.value() == null) {
      po.done(r.offset());
      return;
    }
    ToolCall call;
    try {
      call = serdes.toolCall().deserialize(r.topic(), r.value());
    } catch (RuntimeException e) {
      deadLetter(r, e, po);
      return;
    }
    ToolHandler handler = handlers.get(call.getName());
    if (handler == null) {
      ignored.incrementAndGet();
      po.done(r.offset());
      return;
    }
    if (isExpired(call)) {
      expired.incrementAndGet();
      LOG.debug("skipping expired call {} ({}) of run {}", call.getCallId(), call.getName(), call.getRunId());
      po.done(r.offset());
      return;
    }
    String traceId = TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TRACE_ID);
    Work w = new Work(call, traceId, KafkaTracing.parentOf(r.headers()), tp, r.offset(), po, new CompletableFuture<>());
    CompletableFuture<ToolResult> earlier = answeredByCallId.putIfAbsent(call.getCallId(), w.result());
    if (earlier != null) {
      duplicates.incrementAndGet();
      LOG.debug("call {} seen before; answering again with the same output", call.getCallId());
      earlier.whenComplete((res, err) -> {
        if (res != null) {
          send(w, res, w.parent());
        } else {
          signal(() -> w.offsets().done(w.offset()));
        }
      });
      return;
    }
    waiting.add(w);
  }

  private void dispatchWaiting() {
    while (!waiting.isEmpty() && inFlight.get() < concurrency) {
      Work w = waiting.poll();
      if (isExpired(w.call())) {
        expired.incrementAndGet();
        forget(w);
        w.offsets().done(w.offset());
        continue;
      }
      inFlight.incrementAndGet();
      ToolHandler handler = handlers.get(w.call().getName());
      handlerThreads.execute(() -> {
        Span span = telemetry.tracing().childSpan(TurnpikeSpans.TOOL_CALL, w.parent())
            .setAttribute(TurnpikeSpans.TOOL, w.call().getName())
            .setAttribute(TurnpikeSpans.RUN_ID, w.call().getRunId())
            .setAttribute(TurnpikeSpans.CALL_ID, w.call().getCallId())
            .startSpan();
        try {
          ToolResult res = invoke(handler, w);
          String outcome = res.getIsError() ? "error" : "ok";
          telemetry.metrics().toolCall(res.getName(), outcome);
          span.setAttribute(TurnpikeSpans.OUTCOME, outcome);
          if (res.getIsError()) {
            span.setStatus(StatusCode.ERROR);
          }
          w.result().complete(res);
          send(w, res, span.getSpanContext());
        } finally {
          span.end();
          inFlight.decrementAndGet();
        }
      });
    }
  }

  private ToolResult invoke(ToolHandler handler, Work w) {
    ToolCall c = w.call();
    ToolInvocation inv = new ToolInvocation(c.getRunId(), c.getCallId(), c.getToolCallId(), c.getName(),
        c.getArguments(), c.getAgent(), c.getAttempt(), c.getDeadline(), w.traceId());
    long t0 = System.nanoTime();
    String output;
    boolean isError = false;
    try {
      output = handler.handle(inv);
      if (output == null) {
        output = "";
      }
    } catch (Exception | LinkageError | AssertionError e) {
      isError = true;
      output = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
      LOG.debug("tool {} failed for call {}: {}", c.getName(), c.getCallId(), e.toString());
    }
    return ToolResult.newBuilder()
        .setRunId(c.getRunId())
        .setCallId(c.getCallId())
        .setName(c.getName())
        .setOutput(output)
        .setIsError(isError)
        .setWorker(workerId)
        .setDurationMs(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0))
        .build();
  }

  /** Produces the answer; the record counts as finished once the broker acknowledged it. */
  private void send(Work w, ToolResult res, SpanContext producedBy) {
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(Topics.TOOL_RESULTS.name(), res.getRunId(),
        serdes.toolResult().serialize(Topics.TOOL_RESULTS.name(), res));
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.TYPE, "ToolResult");
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.TRACE_ID, w.traceId());
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.CALL_ID, res.getCallId());
    KafkaTracing.inject(producedBy, rec.headers());
    sending.incrementAndGet();
    try {
      producer.send(rec, (md, err) -> {
        sending.decrementAndGet();
        if (err == null) {
          (res.getIsError() ? failed : answered).incrementAndGet();
          signal(() -> w.offsets().done(w.offset()));
        } else if (running && !isExpired(w.call())) {
          LOG.warn("could not send result of call {} ({}); retrying: {}", res.getCallId(), res.getName(), err.toString());
          signal(() -> send(w, res, producedBy));
        } else {
          LOG.error("dropping result of call {} ({}): {}", res.getCallId(), res.getName(), err.toString());
          signal(() -> w.offsets().done(w.offset()));
        }
      });
    } catch (RuntimeException e) {
      sending.decrementAndGet();
      // Producer closed during shutdown: the record stays uncommitted and is delivered again later.
      LOG.debug("cannot send result of call {}: {}", res.getCallId(), e.toString());
    }
  }

  private void deadLetter(ConsumerRecord<String, byte[]> r, RuntimeException error, PartitionOffsets po) {
    LOG.warn("undecodable tool call at {}-{}@{}, sent to {}: {}", r.topic(), r.partition(), r.offset(),
        Topics.DEAD_LETTERS.name(), error.getMessage());
    ProducerRecord<String, byte[]> dl = new ProducerRecord<>(Topics.DEAD_LETTERS.name(), r.key(), r.value());
    for (Header h : r.headers()) {
      dl.headers().add(h);
    }
    TurnpikeHeaders.put(dl.headers(), TurnpikeHeaders.DLQ_TOPIC, r.topic());
    TurnpikeHeaders.put(dl.headers(), TurnpikeHeaders.DLQ_PARTITION, String.valueOf(r.partition()));
    TurnpikeHeaders.put(dl.headers(), TurnpikeHeaders.DLQ_OFFSET, String.valueOf(r.offset()));
    TurnpikeHeaders.put(dl.headers(), TurnpikeHeaders.DLQ_ERROR, String.valueOf(error.getMessage()));
    TurnpikeHeaders.put(dl.headers(), TurnpikeHeaders.DLQ_REASON, "undecodable ToolCall (tool worker group " + groupId + ")");
    long offset = r.offset();
    sending.incrementAndGet();
    producer.send(dl, (md, err) -> {
      sending.decrementAndGet();
      if (err != null) {
        LOG.error("could not dead-letter {}-{}@{}: {}", r.topic(), r.partition(), offset, err.toString());
      } else {
        deadLettered.incrementAndGet();
      }
      signal(() -> po.done(offset));
    });
  }

  private void signal(Runnable r) {
    toLoop.add(r);
  }

  private void applySignals(long waitMillis) {
    try {
      Runnable first = waitMillis > 0 ? toLoop.poll(waitMillis, TimeUnit.MILLISECONDS) : toLoop.poll();
      for (Runnable r = first; r != null; r = toLoop.poll()) {
        r.run();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops fetching while handlers are saturated, so the poll loop keeps the group membership alive. */
  private void flowControl() {
    Set<TopicPartition> assigned = consumer.assignment();
    if (!waiting.isEmpty()) {
      consumer.pause(assigned);
    } else if (!consumer.paused().isEmpty()) {
      consumer.resume(consumer.paused());
    }
  }

  private void maybeCommit(boolean sync) {
    if (!sync && System.nanoTime() - lastCommitNanos < TimeUnit.MILLISECONDS.toNanos(200)) {
      return;
    }
    lastCommitNanos = System.nanoTime();
    Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
    offsets.forEach((tp, po) -> {
      long c = po.committable();
      if (c > po.committed) {
        commit.put(tp, new OffsetAndMetadata(c));
      }
    });
    if (commit.isEmpty()) {
      return;
    }
    if (sync) {
      consumer.commitSync(commit, Duration.ofSeconds(5));
      commit.forEach((tp, o) -> offsets.get(tp).committed = o.offset());
    } else {
      consumer.commitAsync(commit, (done, err) -> {
        if (err != null) {
          LOG.debug("offset commit failed (will retry): {}", err.toString());
        } else {
          done.forEach((tp, o) -> {
            PartitionOffsets po = offsets.get(tp);
            if (po != null) {
              po.committed = Math.max(po.committed, o.offset());
            }
          });
        }
      });
    }
  }

  /** On stop: answers of running handlers get {@code shutdownGrace} to finish, then finished work is committed. */
  private void drainAndCommit() {
    try {
      for (Work w : waiting) {
        forget(w);
      }
      waiting.clear();
      long deadline = System.nanoTime() + shutdownGrace.toNanos();
      while (System.nanoTime() < deadline && (inFlight.get() > 0 || sending.get() > 0 || !toLoop.isEmpty())) {
        applySignals(50);
      }
      applySignals(0);
      maybeCommit(true);
    } catch (RuntimeException e) {
      LOG.debug("final commit failed: {}", e.toString());
    } finally {
      try {
        consumer.close(Duration.ofSeconds(5));
      } catch (RuntimeException e) {
        LOG.debug("closing consumer: {}", e.toString());
      }
    }
  }

  private void forget(Work w) {
    answeredByCallId.remove(w.call().getCallId(), w.result());
    w.result().completeExceptionally(new IllegalStateException("not run: partition revoked or worker stopping"));
  }

  private static boolean isExpired(ToolCall c) {
    return c.getDeadline() != null && c.getDeadline().isBefore(Instant.now());
  }

  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      applySignals(0);
      Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
      for (TopicPartition tp : partitions) {
        PartitionOffsets po = offsets.get(tp);
        if (po != null && po.committable() > po.committed) {
          commit.put(tp, new OffsetAndMetadata(po.committable()));
        }
      }
      try {
        if (!commit.isEmpty()) {
          consumer.commitSync(commit, Duration.ofSeconds(5));
        }
      } catch (RuntimeException e) {
        LOG.debug("commit on revocation failed: {}", e.toString());
      }
      drop(partitions);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      drop(partitions);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      joined = true;
      LOG.debug("tool worker {} assigned {}", groupId, partitions);
    }

    private void drop(Collection<TopicPartition> partitions) {
      for (Iterator<Work> it = waiting.iterator(); it.hasNext(); ) {
        Work w = it.next();
        if (partitions.contains(w.partition())) {
          forget(w);
          it.remove();
        }
      }
      // Work still running for these partitions finishes and answers; its completion lands on a
      // PartitionOffsets object no longer in the map, so it is ignored.
      partitions.forEach(offsets::remove);
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      LOG.debug("cannot close {}: {}", c, e.toString());
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
      t = loopThread;
      if (running) {
        running = false;
        consumer.wakeup();
      }
    }
    if (t != null) {
      try {
        t.join(shutdownGrace.plusSeconds(10).toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (handlerThreads != null) {
      handlerThreads.shutdownNow();
    }
    if (producer != null) {
      producer.close(Duration.ofSeconds(5));
    }
    LOG.debug("tool worker {} closed: {}", groupId, stats());
  }

  private record Work(ToolCall call, String traceId, SpanContext parent, TopicPartition partition, long offset,
      PartitionOffsets offsets, CompletableFuture<ToolResult> result) {}

  /** Offsets taken from one partition and not yet finished; the commit point is the lowest unfinished one. */
  static final class PartitionOffsets {
    final TreeSet<Long> open = new TreeSet<>();
    long next = -1;
    long committed = -1;

    void track(long offset) {
      open.add(offset);
      next = Math.max(next, offset + 1);
    }

    void done(long offset) {
      open.remove(offset);
    }

    long committable() {
      return open.isEmpty() ? next : open.first();
    }
  }

  /** Configures a {@link ToolWorker}. */
  public static final class Builder {
    private final String bootstrap;
    private final String schemaRegistryUrl;
    private final Map<String, ToolHandler> handlers = new LinkedHashMap<>();
    private int concurrency = 16;
    private String groupId;
    private String workerId;
    private int dedupeCacheSize = 10_000;
    private Duration shutdownGrace = Duration.ofSeconds(10);
    private final Map<String, Object> consumerOverrides = new HashMap<>();
    private Telemetry telemetry = Telemetry.noop("tool-worker");

    private Builder(String bootstrap, String schemaRegistryUrl) {
      this.bootstrap = Objects.requireNonNull(bootstrap, "bootstrapServers");
      this.schemaRegistryUrl = Objects.requireNonNull(schemaRegistryUrl, "schemaRegistryUrl");
    }

    /** Serves tool {@code name} with {@code handler}. */
    public Builder tool(String name, ToolHandler handler) {
      Objects.requireNonNull(handler, "handler");
      if (name == null || !TOOL_NAME.matcher(name).matches()) {
        throw new IllegalArgumentException("invalid tool name '" + name + "' (must match " + TOOL_NAME.pattern() + ")");
      }
      if (handlers.putIfAbsent(name, handler) != null) {
        throw new IllegalArgumentException("tool '" + name + "' is already served by this worker");
      }
      return this;
    }

    /** Handlers running at once (default 16). */
    public Builder concurrency(int concurrency) {
      if (concurrency < 1) {
        throw new IllegalArgumentException("concurrency must be at least 1, got " + concurrency);
      }
      this.concurrency = concurrency;
      return this;
    }

    /** Consumer group (default {@code "turnpike-tools-" + sorted tool names joined by "+"}). */
    public Builder groupId(String groupId) {
      this.groupId = groupId;
      return this;
    }

    /** Written into each result's {@code worker} field (default {@code $HOSTNAME/pid}). */
    public Builder workerId(String workerId) {
      this.workerId = workerId;
      return this;
    }

    /** How many recently answered call ids are remembered for answering duplicates (default 10,000). */
    public Builder dedupeCacheSize(int size) {
      if (size < 1) {
        throw new IllegalArgumentException("dedupeCacheSize must be at least 1");
      }
      this.dedupeCacheSize = size;
      return this;
    }

    /** How long {@code close()} lets running handlers finish and answer (default 10s). */
    public Builder shutdownGrace(Duration grace) {
      this.shutdownGrace = Objects.requireNonNull(grace);
      return this;
    }

    /** Where tool-call counts, spans, consumer metrics and readiness go (default: nowhere). The caller closes it. */
    public Builder telemetry(Telemetry telemetry) {
      this.telemetry = Objects.requireNonNull(telemetry, "telemetry");
      return this;
    }

    /** Any further consumer setting (security, timeouts). */
    public Builder consumerProperty(String key, Object value) {
      consumerOverrides.put(key, value);
      return this;
    }

    public ToolWorker build() {
      if (handlers.isEmpty()) {
        throw new IllegalStateException("a tool worker needs at least one tool");
      }
      return new ToolWorker(this);
    }
  }

}
