package io.turnpike.chaos;

import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunRequest;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Records a consumer must survive and set aside: random bytes, an empty value, a null key, a value in
 * the wire format under a schema id the registry never gave out, an oversized value, a run request for
 * an agent nobody published, and commands for runs and calls that do not exist. Each is written where
 * some part of the fleet reads: the run request and command topics, and every request and result
 * topic. The harness expects each of them, by topic, partition and offset, in
 * {@code turnpike.dead-letters}.
 */
public final class HostileRecords implements AutoCloseable {
  /** A schema id the dev registry never hands out. */
  public static final int UNKNOWN_SCHEMA_ID = 999_999;
  public static final String KEY_PREFIX = "hostile-";

  /**
   * One record written, and where it landed.
   *
   * @param failsRun whether the orchestrator should also publish a FAILED RunResult under its key (a bad run request)
   */
  public record Injected(String kind, String topic, int partition, long offset, String key, int bytes, boolean failsRun) {}

  /** Every topic some part of the fleet consumes and must not choke on. */
  public static final List<String> CONSUMED_TOPICS = List.of(
      Topics.RUN_REQUESTS.name(), Topics.RUN_COMMANDS.name(),
      Topics.MODEL_REQUESTS.name(), Topics.MODEL_RESULTS.name(),
      Topics.TOOL_REQUESTS.name(), Topics.TOOL_RESULTS.name(),
      Topics.SANDBOX_REQUESTS.name(), Topics.SANDBOX_RESULTS.name(),
      Topics.GUARDRAIL_REQUESTS.name(), Topics.GUARDRAIL_RESULTS.name());

  private final KafkaProducer<String, byte[]> producer;
  private final TurnpikeSerdes serdes;
  private final Random random;
  private int counter;

  public HostileRecords(String bootstrapServers, TurnpikeSerdes serdes, long seed) {
    this.producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 9 * 1024 * 1024,
        ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 180_000,
        ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 30_000,
        ProducerConfig.MAX_BLOCK_MS_CONFIG, 60_000),
        new StringSerializer(), new ByteArraySerializer());
    this.serdes = serdes;
    this.random = new Random(seed);
  }

  /**
   * Writes the whole set.
   *
   * @param agent          the agent the fleet serves (for well-formed records that must still be refused)
   * @param liveRunId      a run in flight: an APPROVE for a call it never made must be refused without harming it
   * @param bigRecordTopic where the oversized record goes (its {@code max.message.bytes} must allow it)
   */
  public List<Injected> injectAll(String agent, String liveRunId, String bigRecordTopic, int bigRecordBytes) {
    List<Injected> out = new ArrayList<>();
    for (String topic : CONSUMED_TOPICS) {
      boolean requests = topic.equals(Topics.RUN_REQUESTS.name());
      out.add(send("random bytes", topic, nextKey(), randomBytes(64 + random.nextInt(448)), requests));
      out.add(send("empty value", topic, nextKey(), new byte[0], requests));
      out.add(send("null key", topic, null, wellFormedOrRandom(topic, agent), false));
      out.add(send("unknown schema id", topic, nextKey(), unknownSchemaId(), requests));
    }
    String unknownAgentRun = nextKey();
    out.add(send("run request for an unknown agent", Topics.RUN_REQUESTS.name(), unknownAgentRun,
        serdes.runRequest().encode(request(unknownAgentRun, "no-such-agent")), true));
    String ghost = nextKey();
    out.add(send("APPROVE for an unknown run", Topics.RUN_COMMANDS.name(), ghost,
        serdes.runCommand().encode(command(ghost, RunCommandType.APPROVE, ghost + ":t1.1")), false));
    out.add(send("CANCEL for an unknown run", Topics.RUN_COMMANDS.name(), ghost,
        serdes.runCommand().encode(command(ghost, RunCommandType.CANCEL, null)), false));
    if (liveRunId != null) {
      out.add(send("APPROVE for an unknown call of a live run", Topics.RUN_COMMANDS.name(), liveRunId,
          serdes.runCommand().encode(command(liveRunId, RunCommandType.APPROVE, liveRunId + ":t99.9")), false));
    }
    out.add(send(String.format("%.1f MiB random record", bigRecordBytes / 1048576.0), bigRecordTopic, nextKey(),
        randomBytes(bigRecordBytes), bigRecordTopic.equals(Topics.RUN_REQUESTS.name())));
    return out;
  }

  private Injected send(String kind, String topic, String key, byte[] value, boolean failsRun) {
    ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, key, value);
    if (!kind.equals("random bytes") && !kind.endsWith("random record") && !kind.equals("empty value")) {
      record.headers().add(TurnpikeHeaders.TYPE, "Hostile".getBytes(StandardCharsets.UTF_8));
    }
    try {
      RecordMetadata m = producer.send(record).get(180, TimeUnit.SECONDS);
      return new Injected(kind, topic, m.partition(), m.offset(), key, value.length, failsRun && key != null);
    } catch (Exception e) {
      throw new IllegalStateException("cannot write the hostile record '" + kind + "' to " + topic + ": " + e, e);
    }
  }

  private String nextKey() {
    return KEY_PREFIX + (++counter);
  }

  /** Random bytes that are neither the wire format (magic 0) nor the legacy single-object encoding (C3 01). */
  private byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    random.nextBytes(b);
    b[0] = (byte) (0x10 + random.nextInt(0x70));
    return b;
  }

  private byte[] unknownSchemaId() {
    byte[] body = randomBytes(32);
    return ByteBuffer.allocate(5 + body.length).put((byte) 0).putInt(UNKNOWN_SCHEMA_ID).put(body).array();
  }

  /** For the null-key case: a record the topic's reader could otherwise decode, so only the key is wrong. */
  private byte[] wellFormedOrRandom(String topic, String agent) {
    if (topic.equals(Topics.RUN_REQUESTS.name())) {
      return serdes.runRequest().encode(request(KEY_PREFIX + "null-key-run", agent));
    }
    if (topic.equals(Topics.RUN_COMMANDS.name())) {
      return serdes.runCommand().encode(command(KEY_PREFIX + "null-key-run", RunCommandType.CANCEL, null));
    }
    return randomBytes(64 + random.nextInt(192));
  }

  private static RunRequest request(String runId, String agent) {
    return RunRequest.newBuilder().setRunId(runId).setAgent(agent).setInput("hostile input")
        .setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
  }

  private static RunCommand command(String runId, RunCommandType type, String callId) {
    return RunCommand.newBuilder().setRunId(runId).setCommandId(runId + "-" + type + "-" + System.nanoTime())
        .setType(type).setCallId(callId).setIssuedAt(Instant.now()).build();
  }

  @Override
  public void close() {
    producer.close(java.time.Duration.ofSeconds(5));
  }
}
