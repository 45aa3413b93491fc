package io.turnpike.devkit.registry;

import static io.turnpike.devkit.registry.RegistryHttp.schemaBody;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.devkit.EmbeddedKafka;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The dev registry against the calls other tools make, over real HTTP: every endpoint Kafka UI's
 * registry client and Confluent's serializers (Java {@code CachedSchemaRegistryClient}, Python
 * {@code confluent_kafka}, librdkafka's libserdes) send, with the query parameters they add. Each call
 * below names who makes it; a new client or a new Kafka UI feature adds a line here.
 */
class RegistryContractTest {
    private static final String V1 = "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"io.turnpike.contract\","
            + "\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}";
    private static final String V2 = "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"io.turnpike.contract\","
            + "\"fields\":[{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"b\",\"type\":\"int\",\"default\":0}]}";

    private static EmbeddedKafka kafka;
    private static DevSchemaRegistry registry;
    private static RegistryHttp http;

    @BeforeAll
    static void start() {
        kafka = EmbeddedKafka.start();
        registry = DevSchemaRegistry.start(kafka.bootstrapServers());
        http = new RegistryHttp(registry.url());
    }

    @AfterAll
    static void stop() {
        registry.close();
        kafka.close();
    }

    @Test
    void everyCallOfKafkaUiAndConfluentClients() {
        String s = "orders-value";
        // serializers (auto.register.schemas): POST /subjects/{s}/versions, optionally ?normalize=
        int id1 = http.post("/subjects/" + s + "/versions", schemaBody(V1)).json().path("id").asInt();
        int id2 = http.post("/subjects/" + s + "/versions?normalize=false", schemaBody(V2)).json().path("id").asInt();
        assertThat(id2).isGreaterThan(id1);
        http.register("orders-key", "\"string\"");
        http.register("payments-value", V1);

        // deserializers: GET /schemas/ids/{id}; the Java client adds ?fetchMaxId=false&subject=<s>
        assertThat(ok("/schemas/ids/" + id1).path("schema").asText()).contains("Thing");
        assertThat(ok("/schemas/ids/" + id1 + "?fetchMaxId=false&subject=" + s).path("schema").asText()).contains("Thing");
        // Java client getAllSubjectsById / getAllVersionsById; Kafka UI's schema page
        assertThat(ok("/schemas/ids/" + id1 + "/subjects").toString()).contains(s, "payments-value");
        assertThat(ok("/schemas/ids/" + id1 + "/versions").toString()).contains("\"version\":1");
        // serializers with use.latest.version, Kafka UI's subject page: latest, a number, the raw schema
        assertThat(ok("/subjects/" + s + "/versions/latest").path("version").asInt()).isEqualTo(2);
        assertThat(ok("/subjects/" + s + "/versions/1").path("id").asInt()).isEqualTo(id1);
        assertThat(http.get("/subjects/" + s + "/versions/latest/schema").body()).contains("\"b\"");
        // serializers with auto.register.schemas=false (lookup): POST /subjects/{s}[?normalize=&deleted=]
        assertThat(http.post("/subjects/" + s + "?normalize=false&deleted=false", schemaBody(V1)).json()
                .path("version").asInt()).isEqualTo(1);

        // Kafka UI's schema list: GET /subjects, then per topic ?subjectPrefix=; versions of each
        assertThat(ok("/subjects").toString()).contains(s, "orders-key", "payments-value");
        JsonNode orders = ok("/subjects?subjectPrefix=orders-");
        assertThat(orders.toString()).contains(s, "orders-key").doesNotContain("payments");
        assertThat(ok("/subjects/" + s + "/versions").toString()).isEqualTo("[1,2]");
        assertThat(ok("/schemas/types").toString()).isEqualTo("[\"AVRO\"]");

        // Kafka UI's compatibility page and edit check: global and per subject, then a check before saving
        assertThat(ok("/config").path("compatibilityLevel").asText()).isEqualTo("BACKWARD");
        assertThat(ok("/config/" + s + "?defaultToGlobal=true").path("compatibilityLevel").asText()).isEqualTo("BACKWARD");
        assertThat(http.put("/config/" + s, "{\"compatibility\":\"FULL\"}").status()).isEqualTo(200);
        assertThat(ok("/config/" + s).path("compatibilityLevel").asText()).isEqualTo("FULL");
        assertThat(http.post("/compatibility/subjects/" + s + "/versions/latest", schemaBody(V2)).json()
                .path("is_compatible").asBoolean()).isTrue();
        assertThat(http.post("/compatibility/subjects/" + s + "/versions/latest?verbose=true", schemaBody(V1)).json()
                .has("messages")).isTrue();
        assertThat(http.put("/config", "{\"compatibility\":\"BACKWARD\"}").status()).isEqualTo(200);
        assertThat(ok("/mode").path("mode").asText()).isEqualTo("READWRITE");

        // Kafka UI's "delete version": soft, then permanent; twice is 40406, permanent first is 40407
        assertThat(http.delete("/subjects/" + s + "/versions/1?permanent=true").errorCode()).isEqualTo(40407);
        assertThat(http.delete("/subjects/" + s + "/versions/1").body()).isEqualTo("1");
        assertThat(http.delete("/subjects/" + s + "/versions/1").errorCode()).isEqualTo(40406);
        assertThat(ok("/subjects/" + s + "/versions").toString()).isEqualTo("[2]");
        assertThat(ok("/subjects/" + s + "/versions?deleted=true").toString()).isEqualTo("[1,2]");
        assertThat(http.delete("/subjects/" + s + "/versions/1?permanent=true").body()).isEqualTo("1");
        assertThat(ok("/subjects/" + s + "/versions?deleted=true").toString()).isEqualTo("[2]");
        assertThat(http.delete("/subjects/" + s + "/versions/9").errorCode()).isEqualTo(40402);
        assertThat(http.delete("/subjects/nope-value/versions/1").errorCode()).isEqualTo(40401);
        // ... "delete latest version", and "delete subject" (soft, then permanent)
        assertThat(http.delete("/subjects/" + s + "/versions/latest").body()).isEqualTo("2");
        assertThat(ok("/subjects?subjectPrefix=orders-").toString()).doesNotContain(s);
        assertThat(http.delete("/subjects/payments-value").body()).isEqualTo("[1]");
        assertThat(http.delete("/subjects/payments-value?permanent=true").body()).isEqualTo("[1]");
        assertThat(ok("/schemas/ids/" + id1).path("schema").asText()).as("an id is kept while in use or on record")
                .contains("Thing");
    }

    private static JsonNode ok(String path) {
        RegistryHttp.Reply r = http.get(path);
        assertThat(r.status()).as(path + " -> " + r.body()).isEqualTo(200);
        return r.json();
    }
}
