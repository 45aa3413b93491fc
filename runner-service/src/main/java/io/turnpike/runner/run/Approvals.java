package io.turnpike.runner.run;

import io.turnpike.avro.ApprovalResolved;
import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolCallProgress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Human-in-the-loop phase: an approve or reject command resolves one pending approval (or, with
 * {@code always}, every pending and future call of that tool in this run). Nothing waits in memory:
 * a run waiting for approval is only its RunState.
 */
final class Approvals {
  private Approvals() {}

  /** The approval deadline passed: reject the call (the model is told) or fail the run, as the agent says. */
  static void timedOut(Step step, io.turnpike.avro.PendingCall timer) {
    String callId = timer.getToolCallId();
    step.b.getApprovals().removeIf(a -> a.getCallId().equals(callId));
    String waited = java.time.Duration.ofMillis(step.agent().getApprovalTimeoutMs() == null ? 0 : step.agent().getApprovalTimeoutMs()).toString();
    if (step.agent().getApprovalTimeoutAction() == io.turnpike.avro.ApprovalTimeoutAction.FAIL) {
      RunStateMachine.finish(step, io.turnpike.avro.RunStatus.FAILED, null,
          "no human approved or rejected call " + callId + " (" + timer.getName() + ") within " + waited, null);
      return;
    }
    step.emit(new ApprovalResolved(callId, false, false, "approval timed out after " + waited));
    step.toolCall(callId).ifPresent(p -> ToolCalls.complete(step, p,
        "no human approved this call within " + waited + "; it was not run", true, List.of()));
  }

  static Transition resolve(RunState state, RunCommand cmd, Instant now) {
    if (cmd.getCallId() == null) {
      return Transition.rejected(cmd.getType() + " needs the callId of a pending approval");
    }
    Optional<PendingApproval> approval = state.getApprovals().stream()
        .filter(a -> a.getCallId().equals(cmd.getCallId())).findFirst();
    if (approval.isEmpty()) {
      return Transition.rejected("run " + state.getRunId() + " has no pending approval " + cmd.getCallId()
          + (state.getApprovals().isEmpty() ? "" : " (pending: " + state.getApprovals().stream().map(PendingApproval::getCallId).toList() + ")"));
    }
    boolean approve = cmd.getType() == RunCommandType.APPROVE;
    Step step = new Step(state, now);
    String tool = approval.get().getTool();
    List<PendingApproval> resolved = new ArrayList<>();
    for (PendingApproval a : step.b.getApprovals()) {
      if (a.getCallId().equals(cmd.getCallId()) || (cmd.getAlways() && a.getTool().equals(tool))) {
        resolved.add(a);
      }
    }
    if (cmd.getAlways()) {
      (approve ? step.b.getAlwaysApprove() : step.b.getAlwaysReject()).add(tool);
    }
    for (PendingApproval a : resolved) {
      step.b.getApprovals().removeIf(x -> x.getCallId().equals(a.getCallId()));
      step.removePending(a.getCallId() + ":approval");
      step.emit(new ApprovalResolved(a.getCallId(), approve, cmd.getAlways(), cmd.getMessage()));
      Optional<ToolCallProgress> progress = step.toolCall(a.getCallId());
      if (progress.isEmpty()) {
        continue;
      }
      if (approve) {
        ToolCalls.execute(step, progress.get());
      } else {
        String msg = "a human rejected this call" + (cmd.getMessage() == null ? "" : ": " + cmd.getMessage());
        ToolCalls.complete(step, progress.get(), msg, true, List.of());
      }
      if (step.terminal()) {
        break;
      }
    }
    return step.done();
  }
}
