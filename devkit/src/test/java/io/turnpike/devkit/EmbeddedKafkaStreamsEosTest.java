package io.turnpike.devkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Materialized;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Kafka Streams with exactly_once_v2 and a changelogged store runs against the one-node broker. */
class EmbeddedKafkaStreamsEosTest {

    @TempDir
    Path stateDir;

    @Test
    void exactlyOnceV2TopologyWithStateStoreRuns() {
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            kafka.createTopic("eos-in", 2);
            kafka.createTopic("eos-out", 2);

            StreamsBuilder builder = new StreamsBuilder();
            builder.stream("eos-in", org.apache.kafka.streams.kstream.Consumed.with(Serdes.String(), Serdes.String()))
                    .groupByKey()
                    .count(Materialized.as("counts"))
                    .toStream()
                    .mapValues(String::valueOf)
                    .to("eos-out", org.apache.kafka.streams.kstream.Produced.with(Serdes.String(), Serdes.String()));
            Properties props = new Properties();
            props.put(StreamsConfig.APPLICATION_ID_CONFIG, "devkit-eos");
            props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
            props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
            props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
            props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
            props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);

            try (KafkaStreams streams = new KafkaStreams(builder.build(), props)) {
                streams.start();
                Map<String, Object> p = kafka.clientProperties();
                p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
                p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                    for (String k : List.of("a", "b", "a", "a")) {
                        producer.send(new ProducerRecord<>("eos-in", k, "x"));
                    }
                }

                Map<String, Object> c = kafka.clientProperties();
                c.put(ConsumerConfig.GROUP_ID_CONFIG, "devkit-eos-reader");
                c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
                c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
                c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
                c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
                List<String> seen = new ArrayList<>();
                try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
                    consumer.subscribe(Set.of("eos-out"));
                    Awaitility.await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ZERO).until(() -> {
                        consumer.poll(Duration.ofMillis(200)).forEach(r -> seen.add(r.key() + "=" + r.value()));
                        return seen.contains("a=3") && seen.contains("b=1");
                    });
                }
                assertThat(seen).doesNotContain("a=4");
            }
        }
    }
}
