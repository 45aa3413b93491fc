package io.turnpike.runner.run;

import io.turnpike.avro.CallKind;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolPhase;
import java.util.ArrayList;
import java.util.List;

/**
 * Brings a RunState written by an older layout to the current one, so a run that was waiting when
 * the runner was upgraded resumes. Avro schema resolution fills new fields with their defaults; this
 * fills in what the defaults cannot know.
 */
final class RunStateUpgrade {
  private RunStateUpgrade() {}

  static RunState upgrade(RunState state) {
    if (state.getSchemaVersion() >= RunStateMachine.SCHEMA_VERSION) {
      return state;
    }
    RunState.Builder b = RunState.newBuilder(state);
    if (state.getSchemaVersion() < 2) {
      // v1 kept tool calls only as pending calls; v2 tracks each call's phase.
      List<ToolCallProgress> calls = new ArrayList<>(state.getToolCalls());
      for (PendingCall p : state.getPending()) {
        if (p.getKind() == CallKind.TOOL && calls.stream().noneMatch(c -> c.getCallId().equals(p.getCallId()))) {
          calls.add(ToolCallProgress.newBuilder()
              .setCallId(p.getCallId())
              .setToolCallId(p.getToolCallId())
              .setName(p.getName())
              .setArguments(arguments(state, p.getToolCallId()))
              .setKind(ToolKind.FUNCTION)
              .setPhase(ToolPhase.RUNNING)
              .build());
        }
      }
      b.setToolCalls(calls);
    }
    if (state.getSchemaVersion() < 3) {
      // v2 did not record when a call was first sent; its current attempt's send time is the best
      // known, so the retry budget counts from there (an upgraded call gets at least a full budget).
      List<PendingCall> pending = new ArrayList<>();
      for (PendingCall p : state.getPending()) {
        pending.add(p.getKind() == CallKind.APPROVAL || p.getFirstSentAt() != null ? p
            : PendingCall.newBuilder(p).setFirstSentAt(p.getDeadline().minus(AgentView.timeout(state.getAgent(), p))).build());
      }
      b.setPending(pending);
    }
    return b.setSchemaVersion(RunStateMachine.SCHEMA_VERSION).build();
  }

  private static String arguments(RunState state, String toolCallId) {
    for (int i = state.getItems().size() - 1; i >= 0; i--) {
      if (state.getItems().get(i) instanceof FunctionCallItem f && f.getToolCallId().equals(toolCallId)) {
        return f.getArguments();
      }
    }
    return "{}";
  }
}
