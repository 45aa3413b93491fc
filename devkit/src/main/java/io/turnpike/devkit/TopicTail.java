package io.turnpike.devkit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads a topic from the beginning (committed records only) into memory, in the background, for a
 * test's assertions: what an outside consumer of the topic would see.
 */
public final class TopicTail implements AutoCloseable {
  private final KafkaConsumer<String, byte[]> consumer;
  private final List<ConsumerRecord<String, byte[]>> records = new CopyOnWriteArrayList<>();
  private final Thread thread;
  private volatile boolean running = true;

  public TopicTail(String bootstrap, String topic) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    consumer.assign(consumer.partitionsFor(topic).stream()
        .map(pi -> new org.apache.kafka.common.TopicPartition(topic, pi.partition())).toList());
    consumer.seekToBeginning(consumer.assignment());
    thread = Thread.ofPlatform().daemon().name("tail-" + topic).start(this::loop);
  }

  private void loop() {
    try {
      while (running) {
        consumer.poll(Duration.ofMillis(100)).forEach(records::add);
      }
    } catch (WakeupException e) {
      // closing
    } finally {
      consumer.close();
    }
  }

  public List<ConsumerRecord<String, byte[]>> records() {
    return new ArrayList<>(records);
  }

  public List<ConsumerRecord<String, byte[]>> forKey(String key) {
    return records.stream().filter(r -> key.equals(r.key())).toList();
  }

  public List<ConsumerRecord<String, byte[]>> matching(Predicate<ConsumerRecord<String, byte[]>> p) {
    return records.stream().filter(p).toList();
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
