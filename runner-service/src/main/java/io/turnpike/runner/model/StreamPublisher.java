package io.turnpike.runner.model;

import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelStreamDelta;
import io.turnpike.avro.ModelStreamKind;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the deltas of streamed model calls to {@code turnpike.model.stream}, batched: text gathers
 * for up to {@code interval} (or {@link #MAX_CHARS} characters, or until its kind changes) and goes out
 * as one {@link ModelStreamDelta}, so a long answer is tens of records, not thousands.
 *
 * <p>Deltas are for watching a run live, not its record: they go through a producer of their own,
 * outside the result's send, at most once (no retries that could reorder them; {@code acks=1}). A delta
 * that cannot be written is dropped and counted; it never fails or slows the call beyond a bounded wait.
 * The {@code ModelResult} stays the only answer the run takes.
 */
final class StreamPublisher implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(StreamPublisher.class);

  static final String TYPE = "ModelStreamDelta";
  /** The most text one delta carries. */
  static final int MAX_CHARS = 2048;
  /** How long the end of a stream waits for its deltas to be acknowledged, so they are on the topic before the result. */
  private static final Duration DRAIN = Duration.ofSeconds(2);
  /** After a failed write, deltas are not attempted for this long (a missing topic would otherwise cost every call). */
  private static final Duration BACK_OFF = Duration.ofSeconds(30);

  private final KafkaProducer<String, byte[]> producer;
  private final TurnpikeSerdes serdes;
  private final Duration interval;
  private final ScheduledExecutorService ticker;
  private final Set<Stream> open = ConcurrentHashMap.newKeySet();
  private final AtomicLong published = new AtomicLong();
  private final AtomicLong dropped = new AtomicLong();
  /** Epoch millis until which deltas are dropped, after a failed write. */
  private volatile long pausedUntil;

  StreamPublisher(String bootstrapServers, TurnpikeSerdes serdes, Map<String, ?> producerOverrides, Duration interval) {
    this.serdes = serdes;
    this.interval = interval;
    Map<String, Object> p = new HashMap<>();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "turnpike-model-stream");
    p.put(ProducerConfig.ACKS_CONFIG, "1");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
    p.put(ProducerConfig.RETRIES_CONFIG, 0);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    // Sends run on the model call's thread: metadata for a topic that is not there must not hold it long.
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 2000);
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 10_000);
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
    p.putAll(producerOverrides);
    // What the overrides may not change: a retried batch could land after a later one.
    p.put(ProducerConfig.RETRIES_CONFIG, 0);
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
    p.remove(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
    this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> Thread.ofPlatform().daemon()
        .name("model-stream-ticker").unstarted(r));
    t.setRemoveOnCancelPolicy(true);
    this.ticker = t;
    long every = Math.max(10, interval.toMillis());
    ticker.scheduleWithFixedDelay(this::tick, every, every, TimeUnit.MILLISECONDS);
  }

  /** A stream for one invocation of the model for {@code call}; close it when the call ends. */
  Stream open(ModelCall call, String traceId) {
    Stream s = new Stream(call, traceId);
    open.add(s);
    return s;
  }

  long published() {
    return published.get();
  }

  long dropped() {
    return dropped.get();
  }

  /** Flushes text that has waited an interval, for streams whose model paused. */
  private void tick() {
    long now = System.nanoTime();
    for (Stream s : open) {
      try {
        s.flushIfOlder(now - interval.toNanos());
      } catch (RuntimeException e) {
        log.debug("cannot flush a model stream: {}", e.toString());
      }
    }
  }

  @Override
  public void close() {
    ticker.shutdownNow();
    producer.close(Duration.ofSeconds(2));
  }

  /** The deltas of one invocation, in order: a {@link StreamSink} that batches. */
  final class Stream implements StreamSink, AutoCloseable {
    private final ModelCall call;
    private final String traceId;
    private final String streamId = UUID.randomUUID().toString();
    private final StringBuilder text = new StringBuilder();
    private ModelStreamKind kind;
    private String name;
    private long firstAt;
    private int seq;
    private Future<RecordMetadata> last;

    private Stream(ModelCall call, String traceId) {
      this.call = call;
      this.traceId = traceId;
    }

    String streamId() {
      return streamId;
    }

    @Override
    public synchronized void delta(ModelStreamKind k, String n, String piece) {
      if (!text.isEmpty() && (k != kind || !Objects.equals(n, name))) {
        flush();
      }
      if (text.isEmpty()) {
        kind = k;
        name = n;
        firstAt = System.nanoTime();
      }
      text.append(piece);
      if (text.length() >= MAX_CHARS || System.nanoTime() - firstAt >= interval.toNanos()) {
        flush();
      }
    }

    synchronized void flushIfOlder(long nanos) {
      if (!text.isEmpty() && firstAt - nanos <= 0) {
        flush();
      }
    }

    private void flush() {
      if (text.isEmpty()) {
        return;
      }
      ModelStreamDelta delta = ModelStreamDelta.newBuilder()
          .setRunId(call.getRunId())
          .setCallId(call.getCallId())
          .setAttempt(call.getAttempt())
          .setStreamId(streamId)
          .setSeq(seq++)
          .setAgent(call.getAgent())
          .setKind(kind)
          .setName(name)
          .setText(text.toString())
          .build();
      text.setLength(0);
      if (System.currentTimeMillis() < pausedUntil) {
        dropped.incrementAndGet();
        return;
      }
      try {
        Headers h = new RecordHeaders();
        TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, TYPE);
        TurnpikeHeaders.put(h, TurnpikeHeaders.TRACE_ID, traceId);
        TurnpikeHeaders.put(h, TurnpikeHeaders.CALL_ID, call.getCallId());
        byte[] value = serdes.modelStreamDelta().serialize(Topics.MODEL_STREAM.name(), delta);
        last = producer.send(new ProducerRecord<>(Topics.MODEL_STREAM.name(), null, call.getRunId(), value, h), (md, e) -> {
          if (e == null) {
            published.incrementAndGet();
          } else {
            failed(e);
          }
        });
      } catch (RuntimeException e) {
        failed(e);
      }
    }

    private void failed(Exception e) {
      dropped.incrementAndGet();
      pausedUntil = System.currentTimeMillis() + BACK_OFF.toMillis();
      log.warn("cannot publish streamed model output to {} (deltas are skipped for {}s; the answer is not affected): {}",
          Topics.MODEL_STREAM.name(), BACK_OFF.toSeconds(), e.toString());
    }

    /** Publishes what is left and waits (a little) until it is written, so deltas precede the call's result. */
    @Override
    public void close() {
      Future<RecordMetadata> wait;
      synchronized (this) {
        flush();
        wait = last;
      }
      open.remove(this);
      if (wait != null) {
        try {
          wait.get(DRAIN.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } catch (Exception e) {
          log.debug("streamed output of {} not acknowledged: {}", call.getCallId(), e.toString());
        }
      }
    }
  }
}
