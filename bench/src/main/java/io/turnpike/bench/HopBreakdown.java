package io.turnpike.bench;

import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Where a turn's time goes, from record timestamps (one clock: everything runs in this JVM). The
 * request topics keep the broker's append time (TurnOverheadBench sets {@code LogAppendTime}), the
 * result topics the time the invoker or worker sent. For each turn k of the runs with a prefix:
 * <pre>
 *   A  ModelCall k   -> ModelResult k   invoker fetch (after the orchestrator's commit, unless early start) + HTTP call
 *   B  ModelResult k -> ToolCall k      invoker send + orchestrator fetch, step and write
 *   C  ToolCall k    -> ToolResult k    orchestrator commit + worker fetch + tool
 *   D  ToolResult k  -> ModelCall k+1   worker send + orchestrator fetch, step and write
 * </pre>
 */
final class HopBreakdown {
  /** When each model call (by callId) reached the model server, in epoch ms: splits hop A in two. */
  static final Map<String, Long> AT_MODEL = new java.util.concurrent.ConcurrentHashMap<>();

  private HopBreakdown() {}

  static void print(String bootstrap, String prefix) {
    Map<String, Long> ts = new HashMap<>();
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> parts = new ArrayList<>();
      for (String t : List.of(Topics.MODEL_REQUESTS.name(), Topics.MODEL_RESULTS.name(), Topics.TOOL_REQUESTS.name(), Topics.TOOL_RESULTS.name())) {
        c.partitionsFor(t).forEach(i -> parts.add(new TopicPartition(t, i.partition())));
      }
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts);
      long deadline = System.currentTimeMillis() + 20_000;
      while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp)) && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (r.key() == null || !r.key().startsWith(prefix)) {
            continue;
          }
          String callId = TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID);
          if (callId != null) {
            ts.putIfAbsent(r.topic() + "|" + callId, r.timestamp());
          }
        }
      }
    }
    List<Long> a = new ArrayList<>();
    List<Long> b = new ArrayList<>();
    List<Long> cc = new ArrayList<>();
    List<Long> d = new ArrayList<>();
    List<Long> a1 = new ArrayList<>();
    List<Long> a2 = new ArrayList<>();
    ts.forEach((k, v) -> {
      if (!k.startsWith(Topics.MODEL_REQUESTS.name() + "|")) {
        return;
      }
      String callId = k.substring(k.indexOf('|') + 1);
      int m = callId.lastIndexOf(":m");
      String runId = callId.substring(0, m);
      int turn = Integer.parseInt(callId.substring(m + 2));
      String tool = runId + ":t" + turn + ".1";
      String next = runId + ":m" + (turn + 1);
      add(a, ts.get(Topics.MODEL_RESULTS.name() + "|" + callId), v);
      add(a1, AT_MODEL.get(callId), v);
      add(a2, ts.get(Topics.MODEL_RESULTS.name() + "|" + callId), AT_MODEL.get(callId));
      add(b, ts.get(Topics.TOOL_REQUESTS.name() + "|" + tool), ts.get(Topics.MODEL_RESULTS.name() + "|" + callId));
      add(cc, ts.get(Topics.TOOL_RESULTS.name() + "|" + tool), ts.get(Topics.TOOL_REQUESTS.name() + "|" + tool));
      add(d, ts.get(Topics.MODEL_REQUESTS.name() + "|" + next), ts.get(Topics.TOOL_RESULTS.name() + "|" + tool));
    });
    System.out.printf("  hops (median ms): A call->model result %s | B ->tool call %s | C ->tool result %s | D ->next call %s%n",
        median(a), median(b), median(cc), median(d));
    System.out.printf("  hop A split (median ms): call->request at the model server %s | ->model result %s%n", median(a1), median(a2));
  }

  private static void add(List<Long> list, Long later, Long earlier) {
    if (later != null && earlier != null) {
      list.add(later - earlier);
    }
  }

  private static String median(List<Long> xs) {
    if (xs.isEmpty()) {
      return "n/a";
    }
    List<Long> s = new ArrayList<>(xs);
    s.sort(null);
    return s.get(s.size() / 2) + " (n=" + s.size() + ")";
  }
}
