package io.turnpike.devkit.registry;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiConsumer;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The compacted topic {@code _schemas} that holds the registry's state, in the layout Confluent's
 * registry uses (JSON keys and values, one partition). Not thread-safe: the store calls it under
 * its single-writer lock.
 */
final class SchemaLog implements AutoCloseable {

    static final String TOPIC = "_schemas";
    private static final Duration POLL = Duration.ofMillis(100);

    private final TopicPartition partition = new TopicPartition(TOPIC, 0);
    private final Duration timeout;
    private final KafkaProducer<String, String> producer;
    private final KafkaConsumer<String, String> consumer;

    private SchemaLog(String bootstrapServers, Duration timeout) {
        this.timeout = timeout;
        this.producer = new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ProducerConfig.CLIENT_ID_CONFIG, "turnpike-dev-schema-registry",
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.LINGER_MS_CONFIG, 0,
                ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) timeout.toMillis()),
                new StringSerializer(), new StringSerializer());
        this.consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ConsumerConfig.CLIENT_ID_CONFIG, "turnpike-dev-schema-registry-reader",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                // A write reads its own record back; a prefetch parked for the default 500 ms on
                // the broker would make every registration wait that long.
                ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10),
                new StringDeserializer(), new StringDeserializer());
        consumer.assign(List.of(partition));
        consumer.seekToBeginning(List.of(partition));
    }

    /** Creates {@code _schemas} if missing, checks it if present, and opens a reader at its start. */
    static SchemaLog open(String bootstrapServers, Duration timeout) {
        ensureTopic(bootstrapServers, timeout);
        return new SchemaLog(bootstrapServers, timeout);
    }

    /** Hands every record up to the topic's current end to {@code sink} (value null for a tombstone). */
    void readToEnd(BiConsumer<String, String> sink) {
        long end = consumer.endOffsets(List.of(partition), timeout).get(partition);
        readUntil(end, sink);
    }

    /** Hands every record before {@code endExclusive} not yet read to {@code sink}. */
    void readUntil(long endExclusive, BiConsumer<String, String> sink) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (consumer.position(partition, timeout) < endExclusive) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutStoreException("Reading " + TOPIC + " up to offset " + endExclusive
                        + " did not finish within " + timeout.toMillis() + " ms");
            }
            for (ConsumerRecord<String, String> r : consumer.poll(POLL)) {
                if (r.key() != null) {
                    sink.accept(r.key(), r.value());
                }
            }
        }
    }

    /** Appends one record (a null value is a tombstone) and waits for the broker's ack; returns its offset. */
    long append(String key, String value) {
        try {
            return producer.send(new ProducerRecord<>(TOPIC, 0, key, value))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS).offset();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while writing to " + TOPIC, e);
        } catch (TimeoutException e) {
            throw new TimeoutStoreException("No ack from Kafka for a write to " + TOPIC + " within "
                    + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            throw new IllegalStateException("Writing to " + TOPIC + " failed: " + e.getCause().getMessage(), e.getCause());
        }
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
        consumer.close(Duration.ofSeconds(5));
    }

    /** A read or write of {@code _schemas} that ran out of time; the API answers it with 50002. */
    static final class TimeoutStoreException extends RuntimeException {
        TimeoutStoreException(String message) {
            super(message);
        }
    }

    private static void ensureTopic(String bootstrapServers, Duration timeout) {
        long ms = timeout.toMillis();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) ms))) {
            TopicDescription existing = describe(admin, ms);
            if (existing == null) {
                int brokers = admin.describeCluster().nodes().get(ms, TimeUnit.MILLISECONDS).size();
                // Confluent's default is 3 replicas; a dev cluster often has fewer brokers than that.
                short replicas = (short) Math.max(1, Math.min(3, brokers));
                NewTopic topic = new NewTopic(TOPIC, 1, replicas)
                        .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
                try {
                    admin.createTopics(List.of(topic)).all().get(ms, TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
                return;
            }
            // A second partition or a delete policy would lose or reorder schemas; refuse as Confluent does.
            if (existing.partitions().size() != 1) {
                throw new IllegalStateException(TOPIC + " has " + existing.partitions().size()
                        + " partitions; the schema registry needs exactly one");
            }
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
            Config config = admin.describeConfigs(Set.of(resource)).all().get(ms, TimeUnit.MILLISECONDS).get(resource);
            String policy = config.get(TopicConfig.CLEANUP_POLICY_CONFIG).value();
            if (!policy.contains(TopicConfig.CLEANUP_POLICY_COMPACT) || policy.contains(TopicConfig.CLEANUP_POLICY_DELETE)) {
                throw new IllegalStateException(TOPIC + " has cleanup.policy=" + policy
                        + "; the schema registry needs cleanup.policy=compact");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while preparing " + TOPIC, e);
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            throw new IllegalStateException("Cannot prepare " + TOPIC + " on " + bootstrapServers + ": " + cause, cause);
        }
    }

    private static TopicDescription describe(Admin admin, long ms)
            throws InterruptedException, ExecutionException, TimeoutException {
        try {
            return admin.describeTopics(Set.of(TOPIC)).allTopicNames().get(ms, TimeUnit.MILLISECONDS).get(TOPIC);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                return null;
            }
            throw e;
        }
    }
}
