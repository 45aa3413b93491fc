package io.turnpike.schema;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.RunRequest;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Map;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class RunRequestJsonTest {
  private static final Instant TS = Instant.parse("2026-11-25T10:00:00Z");

  private static RunRequest parse(String json, String key) {
    return RunRequestJson.parse(json.getBytes(StandardCharsets.UTF_8), key, TS);
  }

  @Test
  void minimalRequestTakesRunIdFromTheKeyAndTimeFromTheRecord() {
    RunRequest r = parse("{\"agent\":\"travel\",\"input\":\"hi\"}", "run-7");
    assertThat(r.getRunId()).isEqualTo("run-7");
    assertThat(r.getAgent()).isEqualTo("travel");
    assertThat(r.getAgentVersion()).isNull();
    assertThat(r.getMetadata()).isEmpty();
    assertThat(r.getRequestedAt()).isEqualTo(TS);
  }

  @Test
  void everyFieldIsRead() {
    RunRequest r = parse("{\"runId\":\"r1\",\"agent\":\"a\",\"agentVersion\":3,\"input\":\"x\","
        + "\"metadata\":{\"n\":1,\"b\":true,\"s\":\"t\"},\"requestedAt\":\"2026-01-02T03:04:05Z\"}", "ignored");
    assertThat(r.getRunId()).isEqualTo("r1");
    assertThat(r.getAgentVersion()).isEqualTo(3);
    assertThat(r.getMetadata()).isEqualTo(Map.of("n", "1", "b", "true", "s", "t"));
    assertThat(r.getRequestedAt()).isEqualTo(Instant.parse("2026-01-02T03:04:05Z"));
    assertThat(r.getStream()).isFalse();
    assertThat(parse("{\"agent\":\"a\",\"input\":\"x\",\"stream\":true}", "k").getStream()).isTrue();
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "{\"input\":\"x\"}|missing required field 'agent'",
      "{\"agent\":\"a\"}|missing required field 'input'",
      "{\"agent\":\"a\",\"input\":\"  \"}|'input' must not be empty",
      "{\"agent\":7,\"input\":\"x\"}|'agent' must be a string",
      "{\"agent\":\"a\",\"input\":\"x\",\"agentVersion\":\"2\"}|agentVersion must be a positive integer",
      "{\"agent\":\"a\",\"input\":\"x\",\"agentVersion\":0}|agentVersion must be a positive integer",
      "{\"agent\":\"a\",\"input\":\"x\",\"metadata\":[1]}|metadata must be an object",
      "{\"agent\":\"a\",\"input\":\"x\",\"metadata\":{\"k\":{}}}|metadata.k must be a string",
      "{\"agent\":\"a\",\"input\":\"x\",\"requestedAt\":\"yesterday\"}|requestedAt must be an ISO-8601 instant",
      "{\"agent\":\"a\",\"input\":\"x\",\"tenant\":\"t\"}|unknown field 'tenant'",
      "{\"agent\":\"a\",\"input\":\"x\",\"stream\":\"yes\"}|stream must be true or false",
      "[1,2]|must be an object",
      "{\"agent\":|not valid JSON",
  })
  void badRequestsSayWhatIsWrong(String json, String message) {
    assertThatThrownBy(() -> parse(json, "k")).isInstanceOf(RunRequestJson.InvalidRunRequest.class).hasMessageContaining(message);
  }

  @Test
  void noRunIdAnywhereIsAnError() {
    assertThatThrownBy(() -> parse("{\"agent\":\"a\",\"input\":\"x\"}", null)).hasMessageContaining("no runId");
  }

  @Test
  void theContentTypeHeaderDecides() {
    assertThat(RunRequestJson.isJson(new RecordHeaders().add("content-type", "application/json".getBytes()))).isTrue();
    assertThat(RunRequestJson.isJson(new RecordHeaders().add("content-type", "Application/JSON; charset=utf-8".getBytes()))).isTrue();
    assertThat(RunRequestJson.isJson(new RecordHeaders().add("content-type", "application/avro".getBytes()))).isFalse();
    assertThat(RunRequestJson.isJson(new RecordHeaders())).isFalse();
  }
}
