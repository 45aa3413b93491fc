package io.turnpike.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.MemoryCommand;
import io.turnpike.avro.MemoryCommandType;
import io.turnpike.client.tool.ToolInvocation;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** memory_update's arguments become a command; what is wrong with them is told to the model. */
class MemoryUpdateToolTest {
  private static final Instant NOW = Instant.parse("2026-12-03T10:00:00Z");

  private static ToolInvocation call(String args) {
    return new ToolInvocation("run-9", "run-9:t2.1", "call_1", "memory_update", args);
  }

  @Test
  void anEditNamesTheEditingRunAndTheCall() {
    MemoryCommand c = MemoryUpdateTool.command(call(
        "{\"action\":\"edit\",\"lineId\":\" L3 \",\"text\":\"The user lives in Bergen\",\"reason\":\"moved\"}"), NOW);
    assertThat(c.getType()).isEqualTo(MemoryCommandType.UPDATE_LINE);
    assertThat(c.getCommandId()).isEqualTo("run-9:t2.1");
    assertThat(c.getRunId()).isEqualTo("run-9");
    assertThat(c.getLineId()).isEqualTo("L3");
    assertThat(c.getText()).isEqualTo("The user lives in Bergen");
    assertThat(c.getReason()).isEqualTo("moved");
    assertThat(Commands.key(c)).isEqualTo("run-9");
    assertThat(Commands.problem(c)).isNull();
    MemoryCommand r = MemoryUpdateTool.command(call("{\"action\":\"remove\",\"lineId\":\"L1\",\"text\":\"\",\"reason\":\"wrong\"}"), NOW);
    assertThat(r.getType()).isEqualTo(MemoryCommandType.REMOVE_LINE);
    assertThat(r.getText()).isNull();
  }

  @Test
  void badArgumentsAreToldToTheModel() {
    assertThatThrownBy(() -> MemoryUpdateTool.command(call("{\"action\":\"rewrite\",\"lineId\":\"L1\",\"text\":\"x\",\"reason\":\"r\"}"), NOW))
        .hasMessageContaining("action must be edit or remove");
    assertThatThrownBy(() -> MemoryUpdateTool.command(call("{\"action\":\"edit\",\"lineId\":\"L1\",\"text\":\" \",\"reason\":\"r\"}"), NOW))
        .hasMessageContaining("needs the line's new text");
    assertThatThrownBy(() -> MemoryUpdateTool.command(call("{\"action\":\"edit\",\"text\":\"x\",\"reason\":\"r\"}"), NOW))
        .hasMessageContaining("lineId");
    assertThatThrownBy(() -> MemoryUpdateTool.command(call("not json"), NOW)).hasMessageContaining("not valid JSON");
    String novel = "x".repeat(Extraction.MAX_TEXT + 1);
    assertThatThrownBy(() -> MemoryUpdateTool.command(call("{\"action\":\"edit\",\"lineId\":\"L1\",\"text\":\"" + novel
        + "\",\"reason\":\"r\"}"), NOW)).hasMessageContaining("a memory line is at most 500 characters; the new text has 501");
    assertThatThrownBy(() -> MemoryUpdateTool.command(call("{\"action\":\"remove\",\"lineId\":\"L1\",\"reason\":\"" + novel
        + "\"}"), NOW)).hasMessageContaining("the reason is at most 500 characters");
  }
}
