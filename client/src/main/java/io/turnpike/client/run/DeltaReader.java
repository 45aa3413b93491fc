package io.turnpike.client.run;

import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelOutputHeld;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ModelStreamDelta;
import io.turnpike.avro.RunState;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.TurnpikeException;
import io.turnpike.client.internal.TopicReader;
import io.turnpike.schema.Topics;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Reads one run's streamed model deltas from {@code turnpike.model.stream} alongside its steps. Not thread-safe. */
final class DeltaReader implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DeltaReader.class);
  /** How long a drain may take: deltas are for display, never worth holding the steps up for long. */
  private static final Duration DRAIN = Duration.ofSeconds(2);

  private final TopicReader<ModelStreamDelta> reader;
  private final String runId;
  private final Consumer<ModelStreamDelta> onDelta;
  /** Read, not yet delivered; in the order of the topic (a run's deltas share its partition). */
  private final ArrayDeque<TopicReader.Entry<ModelStreamDelta>> waiting = new ArrayDeque<>();

  private DeltaReader(TopicReader<ModelStreamDelta> reader, String runId, Consumer<ModelStreamDelta> onDelta) {
    this.reader = reader;
    this.runId = runId;
    this.onDelta = onDelta;
  }

  /** A reader from the run's start (or from {@code since}), or null when the cluster has no stream topic. */
  static DeltaReader open(TurnpikeClient client, String runId, RunState since, Consumer<ModelStreamDelta> onDelta) {
    TopicReader<ModelStreamDelta> reader;
    try {
      reader = since == null
          ? client.openAt(Topics.MODEL_STREAM.name(), client.serdes().modelStreamDelta(), runId)
          : TopicReader.open(client.bootstrapServers(), Topics.MODEL_STREAM.name(), client.serdes().modelStreamDelta(),
              Duration.ofSeconds(5)).fromTime(since.getUpdatedAt());
    } catch (TurnpikeException e) {
      LOG.warn("not showing streamed model output: {}", e.getMessage());
      return null;
    }
    return new DeltaReader(reader, runId, onDelta);
  }

  /** True for the steps that end a model call: its deltas come before them. */
  static boolean endsModelCall(TurnEvent e) {
    return e.getStep() instanceof ModelResponded || e.getStep() instanceof ModelFailed || e.getStep() instanceof ModelOutputHeld;
  }

  /** Delivers what arrived (live: as the model writes it). */
  void poll(Duration wait) {
    read(wait);
    deliverUpTo(Instant.MAX);
  }

  /**
   * Delivers every delta written up to {@code stepTime}, the time of a step that ends a model call.
   * Later ones wait for their own step, so a run read after the fact still shows each call's deltas
   * just before its answer.
   */
  void drain(Instant stepTime) {
    long until = System.nanoTime() + DRAIN.toNanos();
    Map<TopicPartition, Long> end = reader.endOffsets();
    while (!reader.reached(end) && System.nanoTime() < until) {
      read(Duration.ofMillis(50));
    }
    deliverUpTo(stepTime);
  }

  private void read(Duration wait) {
    for (TopicReader.Entry<ModelStreamDelta> e : reader.poll(wait)) {
      if (runId.equals(e.key()) && e.value() != null) {
        waiting.add(e);
      }
    }
  }

  private void deliverUpTo(Instant time) {
    while (!waiting.isEmpty() && !waiting.peekFirst().timestamp().isAfter(time)) {
      onDelta.accept(waiting.pollFirst().value());
    }
  }

  @Override
  public void close() {
    reader.close();
  }
}
