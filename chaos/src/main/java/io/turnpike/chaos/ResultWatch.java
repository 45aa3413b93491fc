package io.turnpike.chaos;

import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Follows {@code turnpike.run-results} (read_committed) while the chaos run goes on, so the harness
 * knows when every run has finished and can stop waiting early. The report itself is built from a
 * fresh read of the topics at the end ({@link TopicAudit}).
 */
public final class ResultWatch implements AutoCloseable {
  /** Statuses that end a run; INTERRUPTED (waiting for a human) and RUNNING do not. */
  public static final Set<RunStatus> FINAL = Set.of(RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED,
      RunStatus.GUARDRAIL_TRIPPED);

  private final KafkaConsumer<String, byte[]> consumer;
  private final TurnpikeSerdes serdes;
  private final Map<String, RunResult> finals = new ConcurrentHashMap<>();
  private final List<ConsumerRecord<String, byte[]>> undecoded = new ArrayList<>();
  private final Thread thread;
  private volatile boolean running = true;

  public ResultWatch(String bootstrapServers, TurnpikeSerdes serdes) {
    this.serdes = serdes;
    this.consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
        new StringDeserializer(), new ByteArrayDeserializer());
    this.thread = Thread.ofPlatform().daemon(true).name("chaos-result-watch").unstarted(this::loop);
  }

  public ResultWatch start() {
    thread.start();
    return this;
  }

  private void loop() {
    try {
      List<TopicPartition> partitions = consumer.partitionsFor(Topics.RUN_RESULTS.name(), Duration.ofSeconds(60)).stream()
          .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      while (running) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          undecoded.add(r);
        }
        // a registry that is down (it is killed too) only delays decoding
        undecoded.removeIf(this::decoded);
      }
    } catch (WakeupException e) {
      // closing
    } catch (RuntimeException e) {
      if (running) {
        throw e;
      }
    } finally {
      consumer.close(Duration.ofSeconds(2));
    }
  }

  private boolean decoded(ConsumerRecord<String, byte[]> r) {
    if (r.key() == null || r.value() == null) {
      return true;
    }
    try {
      RunResult result = serdes.runResult().deserialize(r.topic(), r.value());
      if (FINAL.contains(result.getStatus())) {
        finals.putIfAbsent(r.key(), result);
      }
      return true;
    } catch (RuntimeException e) {
      return false;
    }
  }

  public boolean allFinished(Collection<String> runIds) {
    return runIds.stream().allMatch(finals::containsKey);
  }

  public long finishedCount(Collection<String> runIds) {
    return runIds.stream().filter(finals::containsKey).count();
  }

  public Optional<RunResult> result(String runId) {
    return Optional.ofNullable(finals.get(runId));
  }

  @Override
  public void close() {
    running = false;
    consumer.wakeup();
    try {
      thread.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
