package io.turnpike.schema;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** RunRequest.user (memory scope per user) in JSON run requests. */
class RunRequestJsonUserTest {
  @Test
  void userIsTakenAndOptional() {
    byte[] with = "{\"agent\":\"a\",\"input\":\"hi\",\"user\":\"alice\"}".getBytes(StandardCharsets.UTF_8);
    assertThat(RunRequestJson.parse(with, "r1", Instant.now()).getUser()).isEqualTo("alice");
    byte[] without = "{\"agent\":\"a\",\"input\":\"hi\"}".getBytes(StandardCharsets.UTF_8);
    assertThat(RunRequestJson.parse(without, "r1", Instant.now()).getUser()).isNull();
    byte[] wrong = "{\"agent\":\"a\",\"input\":\"hi\",\"usr\":\"alice\"}".getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> RunRequestJson.parse(wrong, "r1", Instant.now())).hasMessageContaining("user)");
  }
}
