package io.turnpike.devkit.registry;

import static io.turnpike.devkit.registry.RegistryHttp.schemaBody;
import static io.turnpike.devkit.registry.RegistryHttp.segment;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.devkit.EmbeddedKafka;
import org.apache.avro.Schema;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class DevSchemaRegistryTest {

    private static EmbeddedKafka kafka;
    private DevSchemaRegistry registry;
    private RegistryHttp http;

    @BeforeAll
    static void startKafka() {
        kafka = EmbeddedKafka.start();
    }

    @AfterAll
    static void stopKafka() {
        kafka.close();
    }

    @BeforeEach
    void startRegistry() {
        registry = DevSchemaRegistry.start(kafka.bootstrapServers());
        http = new RegistryHttp(registry.url());
    }

    @AfterEach
    void stopRegistry() {
        registry.close();
    }

    /** A record schema; each field is {@code name:type} or {@code name:type=defaultJson}. */
    private static String record(String name, String... fields) {
        List<String> out = new ArrayList<>();
        for (String field : fields) {
            String[] nameType = field.split(":", 2);
            String[] typeDefault = nameType[1].split("=", 2);
            out.add("{\"name\":\"" + nameType[0] + "\",\"type\":\"" + typeDefault[0] + "\""
                    + (typeDefault.length == 2 ? ",\"default\":" + typeDefault[1] : "") + "}");
        }
        return "{\"type\":\"record\",\"name\":\"" + name + "\",\"namespace\":\"io.turnpike.test\",\"fields\":["
                + String.join(",", out) + "]}";
    }

    @Test
    void registersLooksUpAndSharesIdsAcrossSubjects() {
        String a = record("Order", "id:string");
        String b = record("Order", "id:string", "note:string=\"\"");
        String subject = "orders value/eu";   // needs percent-encoding, as topic-derived names may
        String path = "/subjects/" + segment(subject);

        int idA = http.register(subject, a);
        assertThat(http.register(subject, a)).as("same schema again: same id, no new version").isEqualTo(idA);
        assertThat(http.register("audit-value", "  " + a.replace(",", " , "))).as("ids are global and whitespace is not identity").isEqualTo(idA);
        int idB = http.register(subject, b);
        assertThat(idB).isGreaterThan(idA);

        assertThat(http.get(path + "/versions").json()).hasToString("[1,2]");
        JsonNode latest = http.get(path + "/versions/latest").json();
        assertThat(latest.get("subject").asText()).isEqualTo(subject);
        assertThat(latest.get("version").asInt()).isEqualTo(2);
        assertThat(latest.get("id").asInt()).isEqualTo(idB);
        assertThat(new Schema.Parser().parse(latest.get("schema").asText())).isEqualTo(new Schema.Parser().parse(b));
        assertThat(http.get(path + "/versions/1").json().get("id").asInt()).isEqualTo(idA);
        RegistryHttp.Reply raw = http.get(path + "/versions/1/schema");
        assertThat(new Schema.Parser().parse(raw.body())).isEqualTo(new Schema.Parser().parse(a));
        assertThat(raw.contentType()).isEqualTo("application/vnd.schemaregistry.v1+json");

        RegistryHttp.Reply byId = http.get("/schemas/ids/" + idA);
        assertThat(byId.status()).isEqualTo(200);
        assertThat(new Schema.Parser().parse(byId.json().get("schema").asText())).isEqualTo(new Schema.Parser().parse(a));
        assertThat(http.get("/schemas/ids/" + idA + "/subjects").json()).hasToString("[\"audit-value\",\"" + subject + "\"]");
        assertThat(http.get("/schemas/types").json()).hasToString("[\"AVRO\"]");
        assertThat(http.get("/subjects").json()).extracting(JsonNode::asText).contains(subject, "audit-value");

        JsonNode found = http.post(path, schemaBody(a)).json();
        assertThat(found.get("version").asInt()).isEqualTo(1);
        assertThat(found.get("id").asInt()).isEqualTo(idA);
        RegistryHttp.Reply unknownSchema = http.post(path, schemaBody(record("Order", "other:int")));
        assertThat(unknownSchema.status()).isEqualTo(404);
        assertThat(unknownSchema.errorCode()).isEqualTo(40403);
        RegistryHttp.Reply unknownSubject = http.post("/subjects/nobody-value", schemaBody(a));
        assertThat(unknownSubject.status()).isEqualTo(404);
        assertThat(unknownSubject.errorCode()).isEqualTo(40401);
    }

    @Test
    void concurrentRegistrationsOfOneSchemaGetOneId() throws Exception {
        String schema = record("Concurrent", "n:int");
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Integer>> ids = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                String subject = "concurrent-" + (i % 4) + "-value";
                ids.add(pool.submit(() -> http.register(subject, schema)));
            }
            Set<Integer> distinct = new HashSet<>();
            for (Future<Integer> id : ids) {
                distinct.add(id.get(30, TimeUnit.SECONDS));
            }
            assertThat(distinct).hasSize(1);
        }
        for (int i = 0; i < 4; i++) {
            assertThat(http.get("/subjects/concurrent-" + i + "-value/versions").json()).hasToString("[1]");
        }
    }

    @Test
    void backwardRejectsARequiredFieldAndAcceptsOneWithADefault() {
        String subject = "people-value";
        http.register(subject, record("Person", "name:string"));
        assertThat(http.get("/config").json()).hasToString("{\"compatibilityLevel\":\"BACKWARD\"}");

        String required = schemaBody(record("Person", "name:string", "age:int"));
        RegistryHttp.Reply check = http.post("/compatibility/subjects/" + subject + "/versions/latest?verbose=true", required);
        assertThat(check.json().get("is_compatible").asBoolean()).isFalse();
        assertThat(check.json().get("messages").toString()).contains("READER_FIELD_MISSING_DEFAULT_VALUE", "age");

        RegistryHttp.Reply rejected = http.post("/subjects/" + subject + "/versions", required);
        assertThat(rejected.status()).isEqualTo(409);
        assertThat(rejected.errorCode()).isEqualTo(409);
        assertThat(rejected.json().get("message").asText()).contains("incompatible", "age");
        assertThat(http.get("/subjects/" + subject + "/versions").json()).hasToString("[1]");

        String withDefault = schemaBody(record("Person", "name:string", "age:int=0"));
        assertThat(http.post("/compatibility/subjects/" + subject + "/versions/latest", withDefault).json())
                .hasToString("{\"is_compatible\":true}");
        assertThat(http.post("/subjects/" + subject + "/versions", withDefault).status()).isEqualTo(200);
        assertThat(http.get("/subjects/" + subject + "/versions").json()).hasToString("[1,2]");
    }

    @Test
    void fullNoneAndTransitiveLevelsPerSubject() {
        // Dropping a field is backward compatible (new readers ignore it) but not forward (old
        // readers need it and it has no default), so FULL must refuse what BACKWARD accepts.
        String full = "full-value";
        http.register(full, record("Item", "sku:string", "qty:int"));
        RegistryHttp.Reply noConfig = http.get("/config/" + full);
        assertThat(noConfig.status()).isEqualTo(404);
        assertThat(noConfig.errorCode()).isEqualTo(40408);
        assertThat(http.get("/config/" + full + "?defaultToGlobal=true").json())
                .hasToString("{\"compatibilityLevel\":\"BACKWARD\"}");
        assertThat(http.put("/config/" + full, "{\"compatibility\":\"full\"}").json())
                .hasToString("{\"compatibility\":\"FULL\"}");
        assertThat(http.get("/config/" + full).json()).hasToString("{\"compatibilityLevel\":\"FULL\"}");
        assertThat(http.post("/subjects/" + full + "/versions", schemaBody(record("Item", "sku:string"))).status())
                .isEqualTo(409);
        assertThat(http.post("/subjects/" + full + "/versions",
                schemaBody(record("Item", "sku:string", "qty:int", "note:string=\"\""))).status()).isEqualTo(200);
        assertThat(http.get("/config").json().get("compatibilityLevel").asText())
                .as("a subject's level leaves the global one alone").isEqualTo("BACKWARD");

        String none = "none-value";
        http.register(none, record("Thing", "a:int"));
        http.put("/config/" + none, "{\"compatibility\":\"NONE\"}");
        assertThat(http.post("/subjects/" + none + "/versions", schemaBody(record("Thing", "b:string"))).status())
                .isEqualTo(200);

        // v3's int->string change for "a" passes against v2 (which has no "a") but not against v1.
        String transitive = "transitive-value";
        http.register(transitive, record("T", "a:int"));
        http.register(transitive, record("T"));
        String v3 = schemaBody(record("T", "a:string=\"\""));
        http.put("/config/" + transitive, "{\"compatibility\":\"BACKWARD_TRANSITIVE\"}");
        assertThat(http.post("/subjects/" + transitive + "/versions", v3).status()).isEqualTo(409);
        assertThat(http.post("/compatibility/subjects/" + transitive + "/versions", v3).json().get("is_compatible").asBoolean())
                .isFalse();
        assertThat(http.delete("/config/" + transitive).json()).hasToString("{\"compatibilityLevel\":\"BACKWARD_TRANSITIVE\"}");
        assertThat(http.post("/subjects/" + transitive + "/versions", v3).status()).isEqualTo(200);

        RegistryHttp.Reply invalid = http.put("/config/" + full, "{\"compatibility\":\"SIDEWAYS\"}");
        assertThat(invalid.status()).isEqualTo(422);
        assertThat(invalid.errorCode()).isEqualTo(42203);
    }

    @Test
    void softAndPermanentDeleteOfASubject() {
        String subject = "deleted-value";
        int id = http.register(subject, record("Gone", "x:int"));
        assertThat(http.delete("/subjects/" + subject + "?permanent=true").errorCode()).isEqualTo(40405);
        assertThat(http.delete("/subjects/" + subject).json()).hasToString("[1]");
        assertThat(http.get("/subjects").json()).extracting(JsonNode::asText).doesNotContain(subject);
        assertThat(http.get("/subjects?deleted=true").json()).extracting(JsonNode::asText).contains(subject);
        assertThat(http.get("/subjects/" + subject + "/versions").errorCode()).isEqualTo(40401);
        assertThat(http.get("/schemas/ids/" + id).status()).as("ids outlive soft deletes").isEqualTo(200);
        assertThat(http.delete("/subjects/" + subject).errorCode()).isEqualTo(40404);

        assertThat(http.register(subject, record("Gone", "x:int"))).isEqualTo(id);
        assertThat(http.get("/subjects/" + subject + "/versions").json()).as("soft-deleted numbers are not reused")
                .hasToString("[2]");
        http.delete("/subjects/" + subject);
        assertThat(http.delete("/subjects/" + subject + "?permanent=true").json()).hasToString("[1,2]");
        assertThat(http.get("/subjects?deleted=true").json()).extracting(JsonNode::asText).doesNotContain(subject);
    }

    @Test
    void restartOnTheSameClusterKeepsIdsVersionsAndConfigs() throws Exception {
        String subject = "restart-value";
        int v1 = http.register(subject, record("R", "a:int"));
        int v2 = http.register(subject, record("R", "a:int", "b:long=0"));
        http.put("/config/" + subject, "{\"compatibility\":\"FULL_TRANSITIVE\"}");
        registry.close();

        registry = DevSchemaRegistry.start(kafka.bootstrapServers());
        http = new RegistryHttp(registry.url());
        assertThat(http.get("/subjects/" + subject + "/versions/1").json().get("id").asInt()).isEqualTo(v1);
        assertThat(http.get("/subjects/" + subject + "/versions/latest").json().get("id").asInt()).isEqualTo(v2);
        assertThat(http.get("/schemas/ids/" + v2).status()).isEqualTo(200);
        assertThat(http.get("/config/" + subject).json().get("compatibilityLevel").asText()).isEqualTo("FULL_TRANSITIVE");
        assertThat(http.register(subject, record("R", "a:int", "b:long=0"))).isEqualTo(v2);
        int fresh = http.register("restart-other-value", record("Other", "z:boolean"));
        assertThat(fresh).as("the id sequence carries on after a restart").isGreaterThan(v2);

        // Confluent's own layout, so a real registry (or a person with kcat) can read this topic.
        try (Admin admin = Admin.create(kafka.clientProperties())) {
            ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, "_schemas");
            Config config = admin.describeConfigs(Set.of(topic)).all().get().get(topic);
            assertThat(config.get("cleanup.policy").value()).isEqualTo("compact");
        }
        List<ConsumerRecord<String, String>> records = readSchemasTopic();
        assertThat(records).anySatisfy(r -> {
            assertThat(r.key()).isEqualTo("{\"keytype\":\"SCHEMA\",\"subject\":\"restart-value\",\"version\":1,\"magic\":1}");
            JsonNode value = RegistryHttp.JSON.readTree(r.value());
            assertThat(value.get("id").asInt()).isEqualTo(v1);
            assertThat(value.get("schemaType").asText()).isEqualTo("AVRO");
            assertThat(value.get("deleted").asBoolean()).isFalse();
        });
        assertThat(records).anySatisfy(r -> {
            assertThat(r.key()).isEqualTo("{\"keytype\":\"CONFIG\",\"subject\":\"restart-value\",\"magic\":0}");
            assertThat(r.value()).isEqualTo("{\"compatibilityLevel\":\"FULL_TRANSITIVE\"}");
        });
    }

    @Test
    void badInputsGetConfluentStyleJsonErrors() {
        http.register("bad-value", record("B", "a:int"));
        record Case(RegistryHttp.Reply reply, int status, int errorCode) {
        }
        List<Case> cases = List.of(
                new Case(http.post("/subjects/bad-value/versions", "{not json"), 400, 400),
                new Case(http.post("/subjects/bad-value/versions", ""), 400, 400),
                new Case(http.post("/subjects/bad-value/versions", "[1,2]"), 400, 400),
                new Case(http.post("/subjects/bad-value/versions", "{\"schemaType\":\"AVRO\"}"), 422, 42201),
                new Case(http.post("/subjects/bad-value/versions", schemaBody("{\"type\":\"record\"}")), 422, 42201),
                new Case(http.post("/subjects/bad-value/versions", schemaBody("not a schema")), 422, 42201),
                new Case(http.post("/subjects/bad-value/versions",
                        schemaBody(record("B", "a:int", "b:int=\"text\""))), 422, 42201),
                new Case(http.post("/subjects/bad-value/versions",
                        "{\"schemaType\":\"PROTOBUF\",\"schema\":\"syntax = \\\"proto3\\\";\"}"), 422, 42201),
                new Case(http.get("/schemas/ids/987654"), 404, 40403),
                new Case(http.get("/schemas/ids/abc"), 404, 404),
                new Case(http.get("/subjects/bad-value/versions/abc"), 422, 42202),
                new Case(http.get("/subjects/bad-value/versions/0"), 422, 42202),
                new Case(http.get("/subjects/bad-value/versions/99"), 404, 40402),
                new Case(http.get("/subjects/missing-value/versions/latest"), 404, 40401),
                new Case(http.get("/no/such/path"), 404, 404),
                new Case(http.delete("/schemas/types"), 405, 405),
                new Case(http.put("/config", "{\"compatibility\":7}"), 422, 42203));
        for (Case c : cases) {
            assertThat(c.reply().status()).as(c.reply().body()).isEqualTo(c.status());
            assertThat(c.reply().errorCode()).as(c.reply().body()).isEqualTo(c.errorCode());
            assertThat(c.reply().json().get("message").asText()).isNotBlank();
        }
        assertThat(http.get("/subjects/bad-value/versions").json()).as("still serving after all that").hasToString("[1]");
    }

    private static List<ConsumerRecord<String, String>> readSchemasTopic() {
        TopicPartition partition = new TopicPartition("_schemas", 0);
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
                new StringDeserializer(), new StringDeserializer())) {
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            long end = consumer.endOffsets(List.of(partition)).get(partition);
            Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> {
                consumer.poll(Duration.ofMillis(100)).forEach(out::add);
                return consumer.position(partition) >= end;
            });
        }
        return out;
    }
}
