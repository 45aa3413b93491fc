package io.turnpike.client.testing;

import io.turnpike.schema.TopicAdmin;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Small helpers for tests against a real broker. */
public final class KafkaTestSupport {
  private KafkaTestSupport() {}

  /** The client's tests run in one JVM with the code they test, so an in-memory registry scope is shared. */
  public static final String REGISTRY = "mock://client-tests";

  public static void createTopics(String bootstrap) {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      TopicAdmin.ensureTopics(admin, 3, (short) 1);
    }
  }

  public static KafkaProducer<String, byte[]> producer(String bootstrap) {
    return new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class,
        ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class));
  }

  public static void send(KafkaProducer<String, byte[]> p, ProducerRecord<String, byte[]> r) {
    try {
      p.send(r).get();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Everything on one topic since the beginning, gathered by {@link #poll()}. */
  public static final class Collector implements AutoCloseable {
    private final KafkaConsumer<String, byte[]> consumer;
    private final List<ConsumerRecord<String, byte[]>> seen = new CopyOnWriteArrayList<>();

    public Collector(String bootstrap, String topic) {
      consumer = new KafkaConsumer<>(Map.of(
          ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
          ConsumerConfig.CLIENT_ID_CONFIG, "test-collector-" + UUID.randomUUID(),
          ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
          ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class));
      List<TopicPartition> tps = consumer.partitionsFor(topic).stream()
          .map(i -> new TopicPartition(topic, i.partition())).toList();
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
    }

    /** Polls once and returns everything seen so far. */
    public List<ConsumerRecord<String, byte[]>> poll() {
      consumer.poll(Duration.ofMillis(200)).forEach(seen::add);
      return new ArrayList<>(seen);
    }

    public List<ConsumerRecord<String, byte[]>> matching(Predicate<ConsumerRecord<String, byte[]>> p) {
      return poll().stream().filter(p).toList();
    }

    @Override
    public void close() {
      consumer.close();
    }
  }
}
