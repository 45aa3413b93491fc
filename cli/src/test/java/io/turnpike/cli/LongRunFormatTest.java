package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ConversationCompacted;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.OutputRef;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.Usage;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How the CLI tells about long runs (issue #14): a compaction step, and an output kept out of the state. */
class LongRunFormatTest {
  static final String RUN = FormatTest.RUN;

  @Test
  void aCompactionStepSaysWhatWasSummarized() {
    assertThat(FormatTest.line(new ConversationCompacted(RUN + ":m9:compact", 12, 4, 52_000L, 11_000L, 64_000L,
        "The user wants every page; pages 1 to 8 fetched.")))
        .startsWith("  #7   turn 2 compacted")
        .contains("12 items into a summary, 4 kept (~52000 -> ~11000 of 64000 tokens): \"The user wants every page;");
  }

  @Test
  void runsShowSaysWhereAnOutputKeptOutOfTheStateIs() {
    AgentDefinition agent = AgentDefinition.newBuilder().setName("fetcher").setVersion(1).setModel("m").build();
    RunState s = RunState.newBuilder().setRunId(RUN).setStatus(RunStatus.RUNNING).setAgent(agent).setInput("fetch")
        .setUsage(Usage.newBuilder().build()).setCreatedAt(FormatTest.NOW).setUpdatedAt(FormatTest.NOW)
        .setItems(List.of(new FunctionCallItem("c1", "fetch", "{}", null),
            new FunctionCallOutputItem("c1", "fetch", "page 1: lorem ipsum\n[... 20480 bytes in all; the rest is kept out of"
                + " the RunState (turnpike.turn-events has it whole)]", false, List.of(), new OutputRef("ab12", 20_480))))
        .build();
    assertThat(RunStateFormat.format(s, false, FormatTest.NOW))
        .contains("fetch <- page 1: lorem ipsum  (20480 bytes in all, kept out of the state; see runs history)   [c1]");
  }
}
