package io.turnpike.chaos;

import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.GuardrailCheckRequested;
import io.turnpike.avro.GuardrailChecked;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.avro.TurnEvent;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * What the topics say, read from the beginning with {@code read_committed} (so only what the fleet
 * committed counts): every TurnEvent and RunResult by run, and every dead letter with where it came
 * from. The chaos report is computed from this alone, not from what any process claims.
 */
public final class TopicAudit {
  /** One step of a run. {@code at} is the step's time (epoch millis) as the orchestrator recorded it. */
  public record Step(String runId, long seq, int turn, long at, String kind, String callId, int attempt, String detail,
      int partition, long offset) {}

  /** One RunResult. */
  public record Result(String runId, RunStatus status, String error, String finalOutput, long finishedAt, int partition,
      long offset) {
    public boolean isFinal() {
      return ResultWatch.FINAL.contains(status);
    }
  }

  /** One record of {@code turnpike.dead-letters} and the {@code turnpike.dlq.*} headers that say where it came from. */
  public record DeadLetterSeen(String key, String sourceTopic, Integer sourcePartition, Long sourceOffset, String reason,
      String error, int bytes, String originalSize, boolean truncated, long at) {}

  /** Everything read. {@code undecodable} lists records of the audited topics that could not be read back. */
  public record Snapshot(Map<String, List<Step>> steps, Map<String, List<Result>> results, List<DeadLetterSeen> deadLetters,
      List<String> undecodable) {
    public List<Step> steps(String runId) {
      return steps.getOrDefault(runId, List.of());
    }

    public List<Result> results(String runId) {
      return results.getOrDefault(runId, List.of());
    }
  }

  private TopicAudit() {}

  public static Snapshot read(String bootstrapServers, TurnpikeSerdes serdes, Duration timeout) {
    Map<String, List<Step>> steps = new HashMap<>();
    Map<String, List<Result>> results = new HashMap<>();
    List<DeadLetterSeen> deadLetters = new ArrayList<>();
    List<String> undecodable = new ArrayList<>();
    readAll(bootstrapServers, Topics.TURN_EVENTS.name(), timeout, r -> {
      try {
        TurnEvent e = serdes.turnEvent().deserialize(r.topic(), r.value());
        steps.computeIfAbsent(e.getRunId(), k -> new ArrayList<>()).add(step(e, r));
      } catch (RuntimeException ex) {
        undecodable.add(r.topic() + "-" + r.partition() + "@" + r.offset() + ": " + ex.getMessage());
      }
    });
    readAll(bootstrapServers, Topics.RUN_RESULTS.name(), timeout, r -> {
      try {
        RunResult res = serdes.runResult().deserialize(r.topic(), r.value());
        results.computeIfAbsent(res.getRunId(), k -> new ArrayList<>()).add(new Result(res.getRunId(), res.getStatus(),
            res.getError(), res.getFinalOutput(), res.getFinishedAt().toEpochMilli(), r.partition(), r.offset()));
      } catch (RuntimeException ex) {
        undecodable.add(r.topic() + "-" + r.partition() + "@" + r.offset() + ": " + ex.getMessage());
      }
    });
    readAll(bootstrapServers, Topics.DEAD_LETTERS.name(), timeout, r -> deadLetters.add(new DeadLetterSeen(
        r.key(),
        TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_TOPIC),
        parseInt(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_PARTITION)),
        parseLong(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_OFFSET)),
        TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_REASON),
        TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_ERROR),
        r.value() == null ? -1 : r.value().length,
        TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_ORIGINAL_SIZE),
        "true".equals(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_TRUNCATED)),
        r.timestamp())));
    steps.values().forEach(l -> l.sort(java.util.Comparator.comparingLong(Step::at).thenComparingLong(Step::seq)));
    return new Snapshot(steps, results, deadLetters, undecodable);
  }

  private static Step step(TurnEvent e, ConsumerRecord<String, byte[]> r) {
    Object s = e.getStep();
    String kind = s.getClass().getSimpleName();
    String callId = null;
    int attempt = 0;
    String detail = "";
    switch (s) {
      case ModelCallRequested m -> {
        callId = m.getCallId();
        attempt = m.getAttempt();
      }
      case ToolCallRequested t -> {
        callId = t.getCallId();
        attempt = t.getAttempt();
        detail = t.getName();
      }
      case ModelResponded m -> callId = m.getCallId();
      case ModelFailed m -> {
        callId = m.getCallId();
        detail = String.valueOf(m.getError());
      }
      case ToolCallCompleted t -> {
        callId = t.getCallId();
        detail = t.getName() + (t.getIsError() ? " error: " + abbreviate(t.getOutput(), 160) : "");
      }
      case CallTimedOut c -> {
        callId = c.getCallId();
        attempt = c.getAttempt();
        detail = c.getKind() + (c.getWillRetry() ? ", will retry" : ", no retry left");
      }
      case ResultIgnored ri -> {
        callId = ri.getCallId();
        detail = ri.getReason();
      }
      case GuardrailCheckRequested g -> {
        callId = g.getCallId();
        detail = String.valueOf(g.getStage());
      }
      case GuardrailChecked g -> {
        callId = g.getCallId();
        detail = g.getStage() + " " + g.getOutcome() + (g.getReason() == null ? "" : ": " + g.getReason());
      }
      case RunFinished f -> detail = f.getStatus() + (f.getError() == null ? "" : ": " + f.getError());
      default -> {
        // the other steps need no detail here
      }
    }
    return new Step(e.getRunId(), e.getSeq(), e.getTurn(), e.getAt().toEpochMilli(), kind, callId, attempt, detail,
        r.partition(), r.offset());
  }

  /** Reads {@code topic} from the beginning up to its last committed offset on every partition. */
  static void readAll(String bootstrapServers, String topic, Duration timeout, Consumer<ConsumerRecord<String, byte[]>> sink) {
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
        ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 * 1024 * 1024),
        new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = consumer.partitionsFor(topic, timeout).stream()
          .map(p -> new TopicPartition(topic, p.partition())).toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      // with read_committed these are the last stable offsets: the end of what is committed
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions, timeout);
      long deadline = System.nanoTime() + timeout.toNanos();
      while (partitions.stream().anyMatch(tp -> consumer.position(tp, timeout) < end.get(tp))) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("could not read " + topic + " to its end within " + timeout);
        }
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          if (r.offset() < end.get(new TopicPartition(r.topic(), r.partition()))) {
            sink.accept(r);
          }
        }
      }
    }
  }

  static String abbreviate(String s, int max) {
    if (s == null) {
      return "null";
    }
    String flat = s.replace('\n', ' ');
    return flat.length() <= max ? flat : flat.substring(0, max) + "...";
  }

  private static Integer parseInt(String s) {
    try {
      return s == null ? null : Integer.valueOf(s);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private static Long parseLong(String s) {
    try {
      return s == null ? null : Long.valueOf(s);
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
