package io.turnpike.schema;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.Usage;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RunStateJsonTest {
  private static RunState state() {
    Instant at = Instant.parse("2026-12-03T10:00:00Z");
    return RunState.newBuilder().setRunId("run-1").setStatus(RunStatus.INTERRUPTED)
        .setAgent(AgentDefinition.newBuilder().setName("helper").setVersion(3).setModel("gpt-test").build())
        .setInput("Refund invoice 7 ünïcödé").setUser("alice")
        .setItems(List.of(MessageItem.newBuilder().setRole(Role.USER).setText("Refund invoice 7").build(),
            FunctionCallItem.newBuilder().setToolCallId("c1").setName("issue_refund").setArguments("{\"invoice\":7}").build(),
            FunctionCallOutputItem.newBuilder().setToolCallId("c0").setName("lookup_invoice").setOutput("{\"ok\":true}").build()))
        .setUsage(Usage.newBuilder().setInputTokens(12).build()).setMetadata(Map.of("ticket", "T-9"))
        .setCreatedAt(at).setUpdatedAt(at.plusSeconds(5)).setVersion(7).build();
  }

  @Test
  void aRunStateComesBackExactly() {
    RunState s = state();
    String json = RunStateJson.write(s, true);
    assertThat(json).contains("\"runId\" : \"run-1\"").contains("INTERRUPTED").contains("issue_refund");
    assertThat(RunStateJson.read(json)).isEqualTo(s);
    assertThat(RunStateJson.read(RunStateJson.write(s, false))).isEqualTo(s);
  }

  @Test
  void whatIsNotARunStateIsRefusedWithTheReason() {
    assertThatThrownBy(() -> RunStateJson.read("{\"runId\": \"x\"}")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("not a RunState as JSON");
    assertThatThrownBy(() -> RunStateJson.read("not json")).isInstanceOf(IllegalArgumentException.class);
  }
}
