package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ChildRun;
import io.turnpike.avro.ChildRunFinished;
import io.turnpike.avro.ChildRunStarted;
import io.turnpike.avro.ParentRun;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.Usage;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How `run --follow` and `runs show` tell about agents called as tools: the child runs and their parent. */
class ChildRunFormatTest {
  static final String RUN = FormatTest.RUN;
  static final String CHILD = RUN + ":t2.1/weather-specialist";

  @Test
  void childStepsNameTheChildRun() {
    assertThat(FormatTest.line(new ChildRunStarted(RUN + ":t2.1", CHILD, "weather-specialist", null)))
        .isEqualTo("  #7   turn 2 child run       weather-specialist started as run " + CHILD + "  (call t2.1)");
    assertThat(FormatTest.line(new ChildRunFinished(RUN + ":t2.1", CHILD, RunStatus.FAILED, "error: max turns exceeded")))
        .isEqualTo("  #7   turn 2 child finished  run " + CHILD + " FAILED: error: max turns exceeded");
  }

  @Test
  void runsShowListsTheChildrenOfAParentAndTheParentOfAChild() {
    AgentDefinition agent = AgentDefinition.newBuilder().setName("planner").setVersion(1).setModel("m").build();
    RunState parent = RunState.newBuilder().setRunId(RUN).setStatus(RunStatus.RUNNING).setAgent(agent).setInput("plan")
        .setUsage(Usage.newBuilder().build()).setCreatedAt(FormatTest.NOW).setUpdatedAt(FormatTest.NOW)
        .setChildren(List.of(new ChildRun(RUN + ":t2.1", CHILD, "ask_weather", "weather-specialist", RunStatus.RUNNING,
            FormatTest.NOW, null)))
        .build();
    assertThat(RunStateFormat.format(parent, false, FormatTest.NOW)).contains("\nChild runs (agents called as tools)\n"
        + "  RUNNING           ask_weather       weather-specialist run " + CHILD + "  (call " + RUN + ":t2.1)\n");

    RunState child = RunState.newBuilder(parent).setRunId(CHILD).setChildren(List.of())
        .setParent(new ParentRun(RUN, RUN + ":t2.1", "ask_weather", RUN, 1, List.of("planner"), null)).build();
    assertThat(RunStateFormat.format(child, false, FormatTest.NOW))
        .contains("Parent    " + RUN + "  (its call " + RUN + ":t2.1, tool ask_weather; depth 1)\n");

    // approvals list: a child waiting for a human holds up its parent's call, which is said once per child
    assertThat(ApprovalsCommand.ListApprovals.childNotes(List.of(parent, child, child)))
        .containsExactly("(" + CHILD + " is a child run: run " + RUN + " waits for it in its call " + RUN + ":t2.1)");
  }
}
