package io.turnpike.devkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

class EmbeddedKafkaTest {

    @TempDir
    Path tmp;

    @Test
    void producesConsumesCommitsTransactionAndSurvivesRestart() throws Exception {
        Path dataDir = tmp.resolve("kafka");
        String topic = "devkit-test";
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(dataDir).port(0).build().start()) {
            assertThat(kafka.bootstrapServers()).startsWith("127.0.0.1:");
            assertThat(LoggerFactory.getLogger("kafka.server.BrokerServer").isInfoEnabled())
                    .as("quiet logging lowers Kafka loggers to WARN").isFalse();
            kafka.createTopic(topic, 2);

            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps(kafka))) {
                producer.send(new ProducerRecord<>(topic, "k1", "plain")).get();
            }

            Map<String, Object> tx = producerProps(kafka);
            tx.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "devkit-tx-" + UUID.randomUUID());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(tx)) {
                producer.initTransactions();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(topic, "k2", "committed"));
                producer.commitTransaction();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(topic, "k3", "aborted"));
                producer.abortTransaction();
            }

            assertThat(readAll(kafka, topic, 2)).containsExactlyInAnyOrder("plain", "committed");
        }
        assertThat(dataDir.resolve("meta.properties")).exists();

        try (EmbeddedKafka again = EmbeddedKafka.builder().dataDir(dataDir).build().start()) {
            try (Admin admin = Admin.create(again.clientProperties())) {
                assertThat(admin.listTopics().names().get()).contains(topic);
            }
            assertThat(readAll(again, topic, 2)).containsExactlyInAnyOrder("plain", "committed");
        }
    }

    @Test
    void staticStartUsesTempDirDeletedOnClose() {
        EmbeddedKafka kafka = EmbeddedKafka.start();
        Path dir = kafka.dataDir();
        try {
            assertThat(dir).isDirectory();
            assertThat(kafka.isRunning()).isTrue();
            assertThat(kafka.startupTime()).isPositive();
        } finally {
            kafka.close();
        }
        assertThat(Files.exists(dir)).isFalse();
        assertThat(kafka.isRunning()).isFalse();
        kafka.close(); // idempotent
    }

    @Test
    void portInUseFailsWithClearError() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            var startable = EmbeddedKafka.builder().port(taken.getLocalPort())
                    .startTimeout(Duration.ofSeconds(20)).build();
            assertThatThrownBy(startable::start)
                    .isInstanceOf(EmbeddedKafka.EmbeddedKafkaException.class)
                    .hasMessageContaining("failed to start");
        }
    }

    private static Map<String, Object> producerProps(EmbeddedKafka kafka) {
        Map<String, Object> p = kafka.clientProperties();
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        return p;
    }

    /** Reads with read_committed until {@code expected} values arrived (or the deadline passes). */
    private static List<String> readAll(EmbeddedKafka kafka, String topic, int expected) {
        Map<String, Object> c = kafka.clientProperties();
        c.put(ConsumerConfig.GROUP_ID_CONFIG, "devkit-test-" + UUID.randomUUID());
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(Set.of(topic));
            Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ZERO).until(() -> {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    values.add(r.value());
                }
                return values.size() >= expected;
            });
            // Nothing beyond what is expected (the aborted record must stay invisible).
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                values.add(r.value());
            }
        }
        return values;
    }
}
