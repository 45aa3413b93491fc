package io.turnpike.runner.run;

import io.turnpike.schema.TopicSpec;
import io.turnpike.schema.Topics;
import java.util.Map;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * How large a record each topic the orchestrator writes takes, and how large a record is. The
 * orchestrator checks every record against this before it writes anything for an input, because a
 * write that Kafka refuses fails the whole exactly-once transaction and the input comes back again.
 *
 * <p>A topic takes what the catalog ({@link Topics}) says, else Kafka's default, never more than the
 * producer's {@code max.request.size}, and less once it has refused a smaller record
 * ({@link SendFailures}). The store's changelog takes what {@code turnpike.run-state} takes
 * ({@link OrchestratorTopology} creates it so).
 */
final class RecordLimits {
  /** Kafka's default {@code max.message.bytes}: 1 MiB plus the 12-byte log overhead. */
  static final int KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 + 12;
  /**
   * The orchestrator producer's {@code max.request.size}: enough to move a record of an input topic
   * raised to 8 MiB to its run's partition. Other topics are held to their own, smaller, limits here.
   */
  static final int MAX_REQUEST_BYTES = 8 * 1024 * 1024 + 64 * 1024;
  /** Kafka's producer default, what a Streams configuration without our setting gets. */
  static final int KAFKA_DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

  /** The most a record batch of one record adds to a record's key, value and headers (an upper bound). */
  private static final int BATCH_OVERHEAD = 61 + 5 + 1 + 10 + 5 + 5 + 5 + 5;
  private static final int HEADER_OVERHEAD = 5 + 5;

  private final int maxRequestBytes;
  private final String changelog;
  private final SendFailures failures;

  RecordLimits(int maxRequestBytes, String changelogTopic, SendFailures failures) {
    this.maxRequestBytes = maxRequestBytes;
    this.changelog = changelogTopic;
    this.failures = failures;
  }

  /** From the Streams configuration (the processor's {@code appConfigs()}). */
  static RecordLimits from(Map<String, Object> appConfigs, String changelogTopic, SendFailures failures) {
    Object configured = appConfigs.get("producer.max.request.size");
    int max = configured == null ? KAFKA_DEFAULT_MAX_REQUEST_BYTES : Integer.parseInt(configured.toString());
    return new RecordLimits(max, changelogTopic, failures);
  }

  /** The largest record (as {@link #estimate} counts) that {@code topic} takes from the orchestrator. */
  int of(String topic) {
    int assumed = topic.equals(changelog) ? runStateBytes() : maxMessageBytes(topic);
    return failures.limit(topic, Math.min(maxRequestBytes, assumed));
  }

  /**
   * The largest record the orchestrator can move back onto the input topic it came from: the topic
   * took the record once, so only the producer's limit (and what the topic refused since) counts.
   */
  int ofInput(String topic) {
    return failures.limit(topic, maxRequestBytes);
  }

  /** What {@code turnpike.run-state}, and so the store's changelog, takes. */
  static int runStateBytes() {
    return configured(Topics.RUN_STATE);
  }

  private static int maxMessageBytes(String topic) {
    return Topics.ALL.stream().filter(t -> t.name().equals(topic)).findFirst()
        .map(RecordLimits::configured).orElse(KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
  }

  private static int configured(TopicSpec spec) {
    String bytes = spec.extraConfigs().get("max.message.bytes");
    return bytes == null ? KAFKA_DEFAULT_MAX_MESSAGE_BYTES : Integer.parseInt(bytes);
  }

  /**
   * An upper bound of the bytes a record takes in a batch of its own, as the producer counts it for
   * {@code max.request.size} and the broker for {@code max.message.bytes} (uncompressed: the
   * orchestrator's producer does not compress).
   */
  static int estimate(byte[] key, byte[] value, Headers headers) {
    long size = BATCH_OVERHEAD + (key == null ? 0 : key.length) + (value == null ? 0 : value.length);
    if (headers != null) {
      for (Header h : headers) {
        size += HEADER_OVERHEAD + h.key().length() * 3L + (h.value() == null ? 0 : h.value().length);
      }
    }
    return (int) Math.min(Integer.MAX_VALUE, size);
  }
}
