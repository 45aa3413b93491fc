package io.turnpike.guardrail.builtin;

import static io.turnpike.guardrail.TestSpecs.context;
import static io.turnpike.guardrail.TestSpecs.output;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.GuardrailResult;
import org.junit.jupiter.api.Test;

class JsonSchemaGuardrailTest {

  private static final String SCHEMA = """
      {"schema": {"type": "object", "required": ["city", "temperature"], "additionalProperties": false,
        "properties": {"city": {"type": "string", "minLength": 1},
                       "temperature": {"type": "number", "minimum": -90, "maximum": 60},
                       "unit": {"enum": ["C", "F"]}}}}""";

  private static GuardrailResult run(String config, String content) {
    GuardrailSpec spec = output("structured", "json_schema", GuardrailAction.BLOCK, config);
    return JsonSchemaGuardrail.create(spec).evaluate(context(spec, content));
  }

  @Test
  void validOutputPasses() {
    assertThat(run(SCHEMA, "{\"city\": \"Oslo\", \"temperature\": 4.5, \"unit\": \"C\"}").isHit()).isFalse();
    assertThat(run(SCHEMA, "```json\n{\"city\": \"Oslo\", \"temperature\": 4}\n```").isHit()).as("fenced").isFalse();
  }

  @Test
  void violationsAreNamedWithoutTheValues() {
    GuardrailResult r = run(SCHEMA, "{\"city\": \"Secretville\", \"temperature\": \"warm\", \"unit\": \"K\"}");
    assertThat(r.isHit()).isTrue();
    assertThat(r.reason()).startsWith("does not match the JSON schema (2 violations): ").contains("temperature");
    assertThat(r.reason() + r.evidence()).doesNotContain("Secretville").doesNotContain("warm");
    assertThat(r.evidence()).contains("/temperature").contains("type").contains("enum");
  }

  @Test
  void missingAndExtraProperties() {
    GuardrailResult r = run(SCHEMA, "{\"temperature\": 3, \"extra\": 1}");
    assertThat(r.reason()).contains("city").contains("extra");
  }

  @Test
  void notJson() {
    assertThat(run(SCHEMA, "The weather in Oslo is fine.").reason()).startsWith("content is not valid JSON");
    assertThat(run(SCHEMA, "```json\n{\"city\": \"Oslo\", \"temperature\": 4}\n```").isHit()).isFalse();
    assertThat(run(SCHEMA.replace("{\"schema\"", "{\"allowFenced\": false, \"schema\""),
        "```json\n{\"city\": \"Oslo\", \"temperature\": 4}\n```").isHit()).isTrue();
    assertThat(run(SCHEMA, "   ").reason()).contains("empty");
  }

  @Test
  void schemaAsStringAndDrafts() {
    String cfg = "{\"schema\": \"{\\\"type\\\": \\\"array\\\", \\\"maxItems\\\": 2}\", \"draft\": \"7\"}";
    assertThat(run(cfg, "[1, 2]").isHit()).isFalse();
    assertThat(run(cfg, "[1, 2, 3]").isHit()).isTrue();
  }

  @Test
  void invalidSchemasAreRejected() {
    assertThatThrownBy(() -> run("{}", "{}")).hasMessageContaining("needs 'schema'");
    assertThatThrownBy(() -> run("{\"schema\": \"{not json\"}", "{}")).hasMessageContaining("not valid JSON");
    assertThatThrownBy(() -> run("{\"schema\": {}, \"draft\": \"99\"}", "{}")).hasMessageContaining("draft");
  }

  @Test
  void remoteReferencesAreNeverFetched() throws Exception {
    java.util.concurrent.atomic.AtomicInteger hits = new java.util.concurrent.atomic.AtomicInteger();
    com.sun.net.httpserver.HttpServer http = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress("127.0.0.1", 0), 0);
    http.createContext("/", exchange -> {
      hits.incrementAndGet();
      byte[] body = "{\"type\": \"string\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    http.start();
    try {
      String cfg = "{\"schema\": {\"$ref\": \"http://127.0.0.1:" + http.getAddress().getPort() + "/s.json\"}}";
      assertThatThrownBy(() -> run(cfg, "\"text\"")).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("not a usable JSON Schema"); // so the check trips: invalid configuration
      assertThat(hits).hasValue(0);
    } finally {
      http.stop(0);
    }
  }

  @Test
  void deepAndLargeDocuments() {
    StringBuilder items = new StringBuilder("[");
    for (int i = 0; i < 100_000; i++) {
      items.append(i == 0 ? "" : ",").append("{\"id\":").append(i).append('}');
    }
    items.append(']');
    String cfg = "{\"schema\": {\"type\": \"array\", \"items\": {\"type\": \"object\", \"required\": [\"id\"]}}}";
    assertThat(run(cfg, items.toString()).isHit()).isFalse();
    assertThat(run(cfg, "[".repeat(5000) + "]".repeat(5000)).isHit()).as("nesting beyond Jackson's limit").isTrue();
  }
}
