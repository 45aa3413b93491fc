package io.turnpike.client.internal;

import io.turnpike.client.TurnpikeException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Client configurations and small blocking helpers shared by the client classes. Not public API. */
public final class KafkaSupport {
  private KafkaSupport() {}

  /** Idempotent producer, String keys, byte[] values (encoded with the Avro serdes by the caller). */
  public static Map<String, Object> producerConfig(String bootstrap, String clientId) {
    Map<String, Object> c = new HashMap<>();
    c.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    c.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
    c.put(ProducerConfig.ACKS_CONFIG, "all");
    c.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    c.put(ProducerConfig.LINGER_MS_CONFIG, 0); // a run waits on every hop: latency over batching
    c.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
    c.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
    c.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    c.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
    c.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    return c;
  }

  /**
   * A group-less consumer for {@code assign()}: reads only committed records (the runner writes with
   * exactly-once transactions) and never commits offsets.
   */
  public static Map<String, Object> readerConfig(String bootstrap, String clientId) {
    Map<String, Object> c = new HashMap<>();
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    c.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    c.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
    c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
    c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    return c;
  }

  /**
   * Fails within about {@code timeout} with a readable message when no broker answers at
   * {@code bootstrap}.
   */
  public static void requireReachable(String bootstrap, Duration timeout) {
    requireReachable(bootstrap, timeout, java.util.List.of());
  }

  /**
   * As {@link #requireReachable(String, Duration)}, and also fails when any of {@code topics} is
   * missing (the message says how to create them).
   */
  public static void requireReachable(String bootstrap, Duration timeout, java.util.Collection<String> topics) {
    Map<String, Object> c = new HashMap<>();
    c.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    c.put(AdminClientConfig.CLIENT_ID_CONFIG, "turnpike-ping");
    int ms = (int) Math.max(500, timeout.toMillis());
    c.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, ms);
    c.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, ms);
    c.put(AdminClientConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MS_CONFIG, Math.min(ms, 5_000));
    c.put(AdminClientConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS_CONFIG, Math.min(ms, 5_000));
    Admin admin;
    try {
      admin = Admin.create(c);
    } catch (KafkaException e) {
      throw new TurnpikeException("cannot connect to Kafka at " + bootstrap + ": " + rootMessage(e), e);
    }
    try {
      admin.describeCluster(new DescribeClusterOptions().timeoutMs(ms)).clusterId().get(ms + 1_000L, TimeUnit.MILLISECONDS);
      if (!topics.isEmpty()) {
        java.util.Set<String> existing = admin.listTopics().names().get(ms + 1_000L, TimeUnit.MILLISECONDS);
        java.util.List<String> missing = topics.stream().filter(t -> !existing.contains(t)).sorted().toList();
        if (!missing.isEmpty()) {
          throw new TurnpikeException("Kafka at " + bootstrap + " lacks Turnpike's topics (missing: "
              + String.join(", ", missing) + "); create them with `turnpike topics create`");
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TurnpikeException("interrupted while connecting to Kafka at " + bootstrap, e);
    } catch (ExecutionException | TimeoutException e) {
      throw new TurnpikeException("cannot reach Kafka at " + bootstrap + " within " + human(timeout)
          + " (" + rootMessage(e) + ")", e);
    } finally {
      admin.close(Duration.ofSeconds(1));
    }
  }

  /** Waits for a Kafka future; failures become a {@link TurnpikeException} that says what was being done. */
  public static <T> T await(Future<T> f, Duration timeout, String what) {
    try {
      return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TurnpikeException("interrupted while " + what, e);
    } catch (ExecutionException e) {
      throw new TurnpikeException("failed " + what + ": " + rootMessage(e), e.getCause());
    } catch (TimeoutException e) {
      throw new TurnpikeException("timed out after " + human(timeout) + " " + what, e);
    }
  }

  public static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c
        && (c instanceof ExecutionException || c.getMessage() == null || c.getCause() instanceof KafkaException)) {
      c = c.getCause();
    }
    String m = c.getMessage();
    return m == null ? c.getClass().getSimpleName() : m;
  }

  public static String human(Duration d) {
    if (d.toMillis() % 60_000 == 0 && d.toMinutes() > 0) {
      return d.toMinutes() + "m";
    }
    if (d.toMillis() % 1000 == 0) {
      return d.toSeconds() + "s";
    }
    return d.toMillis() + "ms";
  }
}
