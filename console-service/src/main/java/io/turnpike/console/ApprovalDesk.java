package io.turnpike.console;

import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.client.run.TurnpikeClient;
import java.util.List;
import java.util.Optional;

/**
 * Approve, reject and cancel from the console: checks the run and the call against the views, then sends the
 * command through {@link TurnpikeClient#decide}, the producer the CLI uses too, recording who decided.
 */
final class ApprovalDesk {
  /** What became of a decision. */
  sealed interface Outcome {
    record Sent(String commandId) implements Outcome {}

    record NotFound(String message) implements Outcome {}

    record Conflict(String message) implements Outcome {}
  }

  private final RunQuery query;
  private final TurnpikeClient client;

  ApprovalDesk(RunQuery query, TurnpikeClient client) {
    this.query = query;
    this.client = client;
  }

  Outcome decide(String runId, String callIdOrSuffix, boolean approve, String message, boolean always, String user) {
    Optional<RunSummary> summary = query.summary(runId);
    if (summary.isEmpty()) {
      return new Outcome.NotFound("no run " + runId);
    }
    Optional<RunState> state = query.state(runId);
    if (state.isEmpty()) {
      return new Outcome.Conflict("run " + runId + " is " + summary.get().status() + " and has no pending approval");
    }
    RunState s = state.get();
    String callId = fullCallId(runId, callIdOrSuffix, s);
    Optional<PendingApproval> pending = s.getApprovals().stream().filter(a -> a.getCallId().equals(callId)).findFirst();
    if (pending.isEmpty()) {
      if (TurnpikeClient.isTerminal(s.getStatus())) {
        return new Outcome.Conflict("run " + runId + " is " + s.getStatus() + "; there is nothing to decide");
      }
      if (query.everRequested(runId, callId)) {
        return new Outcome.Conflict("call " + callId + " of run " + runId + " is not waiting for a decision (decided already)");
      }
      List<String> waiting = s.getApprovals().stream().map(PendingApproval::getCallId).toList();
      return new Outcome.NotFound("run " + runId + " has no approval " + callId
          + (waiting.isEmpty() ? " (it waits for none)" : " (it waits for " + String.join(", ", waiting) + ")"));
    }
    // On a reject the model is told the message; on an approve it is a note the ApprovalResolved step keeps.
    String id = client.decide(runId, approve ? RunCommandType.APPROVE : RunCommandType.REJECT, callId, message, always,
        user);
    return new Outcome.Sent(id);
  }

  Outcome cancel(String runId, String reason, String user) {
    Optional<RunSummary> summary = query.summary(runId);
    if (summary.isEmpty()) {
      return new Outcome.NotFound("no run " + runId);
    }
    RunStatus status = RunStatus.valueOf(summary.get().status());
    if (TurnpikeClient.isTerminal(status)) {
      return new Outcome.Conflict("run " + runId + " is " + status + " already");
    }
    return new Outcome.Sent(client.decide(runId, RunCommandType.CANCEL, null, reason, false, user));
  }

  /** The CLI's shorthand too: the part after {@code <runId>:} is enough. */
  private static String fullCallId(String runId, String callId, RunState s) {
    boolean exact = s.getApprovals().stream().anyMatch(a -> a.getCallId().equals(callId));
    return exact || callId.startsWith(runId + ":") ? callId : runId + ":" + callId;
  }
}
