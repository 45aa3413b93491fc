package io.turnpike.client.internal;

import io.turnpike.client.TurnpikeException;
import io.turnpike.schema.registry.SchemaRegistryException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.utils.Utils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads every partition of one topic without a consumer group ({@code assign}), decoding values with
 * an Avro serde. Undecodable values are logged and skipped. Not thread-safe; not public API.
 */
public final class TopicReader<V> implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TopicReader.class);

  /** One decoded record; {@code value} is null for a tombstone. */
  public record Entry<V>(String key, V value, Headers headers, TopicPartition partition, long offset, Instant timestamp) {}

  private final String topic;
  private final Deserializer<V> values;
  private final KafkaConsumer<String, byte[]> consumer;
  private final List<TopicPartition> partitions;

  private TopicReader(String bootstrap, String topic, Deserializer<V> values, Duration timeout) {
    this(bootstrap, topic, values, timeout, null);
  }

  /** {@code key} non-null: only the partition the default partitioner gives that key (where all its records are). */
  private TopicReader(String bootstrap, String topic, Deserializer<V> values, Duration timeout, String key) {
    this.topic = topic;
    this.values = values;
    try {
      this.consumer = new KafkaConsumer<>(KafkaSupport.readerConfig(bootstrap, "turnpike-reader-" + UUID.randomUUID()));
    } catch (KafkaException e) {
      throw new TurnpikeException("cannot connect to Kafka at " + bootstrap + ": " + KafkaSupport.rootMessage(e), e);
    }
    try {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, timeout);
      if (infos == null || infos.isEmpty()) {
        throw new TurnpikeException("topic " + topic + " does not exist on " + bootstrap
            + " (create Turnpike's topics with `turnpike topics create`)");
      }
      this.partitions = key == null
          ? infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList()
          : List.of(new TopicPartition(topic, partitionOf(key, infos.size())));
      consumer.assign(partitions);
    } catch (KafkaException e) {
      consumer.close(Duration.ZERO);
      throw new TurnpikeException("cannot read " + topic + " on " + bootstrap + ": " + KafkaSupport.rootMessage(e), e);
    } catch (RuntimeException e) {
      consumer.close(Duration.ZERO);
      throw e;
    }
  }

  public static <V> TopicReader<V> open(String bootstrap, String topic, Deserializer<V> values, Duration timeout) {
    return new TopicReader<>(bootstrap, topic, values, timeout);
  }

  /**
   * A reader of the one partition that holds {@code key}'s records: every Turnpike topic keyed by runId
   * is written with Kafka's default partitioner (murmur2 of the key), so a run's records are all there.
   */
  public static <V> TopicReader<V> openForKey(String bootstrap, String topic, Deserializer<V> values, String key,
      Duration timeout) {
    return new TopicReader<>(bootstrap, topic, values, timeout, key);
  }

  /** The partition Kafka's default partitioner picks for {@code key} among {@code partitions}. */
  public static int partitionOf(String key, int partitions) {
    return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
  }

  public TopicReader<V> fromBeginning() {
    consumer.seekToBeginning(partitions);
    return this;
  }

  /**
   * Starts at the first record whose timestamp is at or after {@code from}; partitions without one
   * start at the end they had before the lookup, so a record written meanwhile is not skipped.
   */
  public TopicReader<V> fromTime(Instant from) {
    // End offsets first: seekToEnd would be resolved lazily at the first poll, after records that
    // arrived in between (a fast run's first event or its result), and skip them.
    Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
    Map<TopicPartition, Long> query = new HashMap<>();
    partitions.forEach(tp -> query.put(tp, from.toEpochMilli()));
    Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(query);
    for (TopicPartition tp : partitions) {
      OffsetAndTimestamp o = found.get(tp);
      consumer.seek(tp, o != null ? o.offset() : ends.getOrDefault(tp, 0L));
    }
    return this;
  }

  public Map<TopicPartition, Long> endOffsets() {
    return consumer.endOffsets(partitions);
  }

  /** True once this reader's position reached {@code end} on every partition. */
  public boolean reached(Map<TopicPartition, Long> end) {
    for (TopicPartition tp : partitions) {
      if (consumer.position(tp) < end.getOrDefault(tp, 0L)) {
        return false;
      }
    }
    return true;
  }

  public List<Entry<V>> poll(Duration wait) {
    List<Entry<V>> out = new ArrayList<>();
    for (ConsumerRecord<String, byte[]> r : consumer.poll(wait)) {
      V v = null;
      if (r.value() != null) {
        try {
          v = values.deserialize(topic, r.value());
        } catch (SchemaRegistryException e) {
          // An outage, not a bad record: skipping would answer "no such run" for every record (after ~2 s
          // of retries each); one clear failure naming the registry is the honest answer.
          throw new TurnpikeException("cannot decode " + topic + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
          LOG.warn("skipping undecodable record {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.getMessage());
          continue;
        }
      }
      out.add(new Entry<>(r.key(), v, r.headers(), new TopicPartition(r.topic(), r.partition()), r.offset(),
          Instant.ofEpochMilli(r.timestamp())));
    }
    return out;
  }

  /**
   * The latest value per key from the beginning of the topic to its current end (compacted topics);
   * tombstones remove the key. Keys not accepted by {@code keyFilter} are not kept.
   */
  public static <V> Map<String, V> latestByKey(String bootstrap, String topic, Deserializer<V> values,
      java.util.function.Predicate<String> keyFilter, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (TopicReader<V> reader = open(bootstrap, topic, values, timeout).fromBeginning()) {
      Map<TopicPartition, Long> end = reader.endOffsets();
      Map<String, V> latest = new LinkedHashMap<>();
      long read = 0;
      while (!reader.reached(end)) {
        if (System.nanoTime() > deadline) {
          long total = end.values().stream().mapToLong(Long::longValue).sum();
          throw new TurnpikeException("read budget of " + KafkaSupport.human(timeout) + " spent reading " + topic
              + " from its beginning (" + read + " of about " + total + " records read)");
        }
        List<Entry<V>> batch = reader.poll(Duration.ofMillis(200));
        read += batch.size();
        for (Entry<V> e : batch) {
          if (e.key() == null || !keyFilter.test(e.key())) {
            continue;
          }
          if (e.value() == null) {
            latest.remove(e.key());
          } else {
            latest.remove(e.key());
            latest.put(e.key(), e.value());
          }
        }
      }
      return latest;
    }
  }

  /**
   * The latest value of one key of a compacted topic, or null (none, or a tombstone). Reads only the
   * key's partition, backwards from its end in growing windows, so a recently written key costs one
   * small read however long the topic is.
   */
  public static <V> V latestForKey(String bootstrap, String topic, Deserializer<V> values, String key, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (TopicReader<V> reader = openForKey(bootstrap, topic, values, key, timeout)) {
      TopicPartition tp = reader.partitions.get(0);
      long begin = reader.consumer.beginningOffsets(reader.partitions).getOrDefault(tp, 0L);
      long end = reader.endOffsets().getOrDefault(tp, 0L);
      long window = 512;
      while (end > begin) {
        long start = Math.max(begin, end - window);
        reader.consumer.seek(tp, start);
        Entry<V> found = null;
        while (reader.consumer.position(tp) < end) {
          if (System.nanoTime() > deadline) {
            throw new TurnpikeException("timed out after " + KafkaSupport.human(timeout) + " reading " + topic
                + " (partition " + tp.partition() + ", offsets " + start + ".." + end + ")");
          }
          for (Entry<V> e : reader.poll(Duration.ofMillis(200))) {
            if (key.equals(e.key()) && e.offset() < end && (found == null || e.offset() > found.offset())) {
              found = e;
            }
          }
        }
        if (found != null) {
          return found.value();
        }
        end = start;
        window *= 4;
      }
      return null;
    }
  }

  @Override
  public void close() {
    // Nothing to commit or leave: do not wait for the fetch the broker holds open (fetch.max.wait.ms,
    // 500 ms), which made every read of the CLI half a second longer.
    consumer.close(Duration.ZERO);
  }
}
