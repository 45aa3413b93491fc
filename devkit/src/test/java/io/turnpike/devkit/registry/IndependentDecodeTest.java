package io.turnpike.devkit.registry;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.NodeDecodeCheck;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Proves the dev registry and the Confluent wire format with a client none of us wrote: the bytes
 * are encoded here by hand (magic byte, big-endian id, Avro binary) and decoded by kafkajs's
 * {@code @kafkajs/confluent-schema-registry}, which fetches the schema from the dev registry.
 */
class IndependentDecodeTest {

    private static final String SCHEMA = """
            {"type":"record","name":"Demo","namespace":"io.turnpike.demo","fields":[
              {"name":"name","type":"string"},
              {"name":"count","type":"long"},
              {"name":"small","type":"long"},
              {"name":"ratio","type":"double"},
              {"name":"ok","type":"boolean"},
              {"name":"payload","type":"bytes"},
              {"name":"note","type":["null","string"],"default":null},
              {"name":"tags","type":{"type":"array","items":"string"}},
              {"name":"attrs","type":{"type":"map","values":"int"}}
            ]}""";

    @Test
    void kafkajsDecodesHandEncodedConfluentRecordsThroughTheDevRegistry() throws Exception {
        Assumptions.assumeTrue(NodeDecodeCheck.available(), "node and npm must be on PATH for the independent decode check");
        try (EmbeddedKafka kafka = EmbeddedKafka.start();
             DevSchemaRegistry registry = DevSchemaRegistry.start(kafka.bootstrapServers())) {
            kafka.createTopic("demo", 1);
            kafka.createTopic("junk", 1);
            int id = new RegistryHttp(registry.url()).register("demo-value", SCHEMA);

            Schema schema = new Schema.Parser().parse(SCHEMA);
            GenericRecord value = new GenericData.Record(schema);
            value.put("name", "héllo");
            value.put("count", 9_007_199_254_740_993L);   // 2^53 + 1: not a safe JavaScript number
            value.put("small", 42L);
            value.put("ratio", 0.25);
            value.put("ok", true);
            value.put("payload", ByteBuffer.wrap(new byte[] {0, 1, 2, (byte) 255}));
            value.put("note", null);
            value.put("tags", List.of("a", "b"));
            value.put("attrs", Map.of("x", 1));

            // Transactional, as Turnpike's services write: the topic then ends in a commit marker
            // that the tool must see past to know it has reached the end.
            try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of(
                    ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                    ProducerConfig.TRANSACTIONAL_ID_CONFIG, "decode-test-" + UUID.randomUUID()),
                    new StringSerializer(), new ByteArraySerializer())) {
                producer.initTransactions();
                producer.beginTransaction();
                ProducerRecord<String, byte[]> record = new ProducerRecord<>("demo", "k1", wire(id, schema, value));
                record.headers().add("turnpike-run-id", "run-1".getBytes(StandardCharsets.UTF_8));
                producer.send(record);
                producer.send(new ProducerRecord<>("demo", "k1", null));
                producer.send(new ProducerRecord<>("junk", "bad", "not the wire format".getBytes(StandardCharsets.UTF_8)));
                producer.commitTransaction();
            }

            NodeDecodeCheck.Result result = NodeDecodeCheck.run(kafka.bootstrapServers(), registry.url(),
                    List.of("demo", "junk"));

            assertThat(result.summary()).isEqualTo(Map.of("demo", 2, "junk", 1));
            List<JsonNode> demo = result.records("demo");
            assertThat(demo).hasSize(2);
            JsonNode first = demo.get(0);
            assertThat(first.get("key").asText()).isEqualTo("k1");
            assertThat(first.get("offset").asLong()).isZero();
            assertThat(first.get("headers").get("turnpike-run-id").asText()).isEqualTo("run-1");
            JsonNode decoded = first.get("value");
            assertThat(decoded.get("name").asText()).isEqualTo("héllo");
            assertThat(decoded.get("count").asText()).isEqualTo("9007199254740993");
            assertThat(decoded.get("small").isNumber()).isTrue();
            assertThat(decoded.get("small").asLong()).isEqualTo(42L);
            assertThat(decoded.get("ratio").asDouble()).isEqualTo(0.25);
            assertThat(decoded.get("ok").asBoolean()).isTrue();
            assertThat(Base64.getDecoder().decode(decoded.get("payload").asText())).containsExactly(0, 1, 2, 255);
            assertThat(decoded.get("note").isNull()).isTrue();
            assertThat(decoded.get("tags")).hasToString("[\"a\",\"b\"]");
            assertThat(decoded.get("attrs")).hasToString("{\"x\":1}");
            assertThat(demo.get(1).get("value").isNull()).as("a tombstone stays null").isTrue();

            assertThat(result.errors()).singleElement().satisfies(e -> {
                assertThat(e.get("topic").asText()).isEqualTo("junk");
                assertThat(e.get("error").asText()).isNotBlank();
            });
        }
    }

    /** Confluent's framing: magic byte 0, the schema id as 4 big-endian bytes, then Avro binary. */
    private static byte[] wire(int id, Schema schema, GenericRecord value) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0);
        out.write(ByteBuffer.allocate(4).putInt(id).array());
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(schema).write(value, encoder);
        encoder.flush();
        return out.toByteArray();
    }
}
