package io.turnpike.worker;

import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.context.Context;
import io.turnpike.schema.PartitionProgress;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.telemetry.KafkaTracing;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Headers;

/**
 * One request taken from Kafka, until it is finished: answered (the answer's send acknowledged) or
 * skipped. Whoever runs it calls {@link #answer} or {@link #skip} exactly once (later calls are
 * ignored), from any thread; the loop commits its offset after that.
 */
public final class Job<T, R> {
  private final WorkerLoop<T, R> loop;
  private final T request;
  private final TopicPartition partition;
  private final long offset;
  private final String key;
  private final Headers headers;
  final PartitionProgress progress;
  private final AtomicBoolean done = new AtomicBoolean();

  Job(WorkerLoop<T, R> loop, T request, TopicPartition partition, long offset, String key, Headers headers,
      PartitionProgress progress) {
    this.loop = loop;
    this.request = request;
    this.partition = partition;
    this.offset = offset;
    this.key = key;
    this.headers = headers;
    this.progress = progress;
  }

  public T request() {
    return request;
  }

  public TopicPartition partition() {
    return partition;
  }

  public long offset() {
    return offset;
  }

  /** The request record's key (the run id). */
  public String key() {
    return key;
  }

  /** The request record's headers. */
  public Headers headers() {
    return headers;
  }

  /** The run's {@code turnpike.trace-id}, carried from the request to the answer. */
  public String traceId() {
    return TurnpikeHeaders.get(headers, TurnpikeHeaders.TRACE_ID);
  }

  /** The span that produced the request ({@code traceparent}), the parent of the work's span. */
  public SpanContext parent() {
    return KafkaTracing.parentOf(headers);
  }

  /** Sends {@code answer}, its {@code traceparent} naming the current span. */
  public void answer(R answer) {
    answer(answer, Context.current());
  }

  /** Sends {@code answer}, its {@code traceparent} naming the span of {@code producedBy}. */
  public void answer(R answer, Context producedBy) {
    if (done.compareAndSet(false, true)) {
      loop.send(this, answer, producedBy);
    }
  }

  /** Finishes the job without an answer (logged with {@code why}). */
  public void skip(String why) {
    if (done.compareAndSet(false, true)) {
      loop.skipped(this, why);
    }
  }

  /** Whether {@link #answer} or {@link #skip} was called. */
  public boolean isDone() {
    return done.get();
  }

  @Override
  public String toString() {
    return partition + "@" + offset;
  }
}
