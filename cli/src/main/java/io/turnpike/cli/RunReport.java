package io.turnpike.cli;

import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.client.run.FollowOutcome;
import io.turnpike.client.run.RunTimeoutException;
import io.turnpike.client.run.TurnpikeClient;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** What the run-steering commands share: exit codes, the interruption report, following a run after a command. */
final class RunReport {
  /** Exit code of a command that leaves the run INTERRUPTED (waiting for a human decision). */
  static final int EXIT_INTERRUPTED = 3;

  private RunReport() {}

  /** 0 for COMPLETED, 3 for INTERRUPTED, 1 for anything else. */
  static int exitCode(RunStatus status) {
    return status == RunStatus.COMPLETED ? 0 : status == RunStatus.INTERRUPTED ? EXIT_INTERRUPTED : 1;
  }

  /** The approvals a run waits for, and the commands that decide them. */
  static void printInterruptions(PrintWriter out, String runId, List<PendingApproval> approvals, Instant now) {
    out.println();
    out.println("The run is INTERRUPTED: it waits for a human decision on " + approvals.size() + " tool call"
        + (approvals.size() == 1 ? "" : "s") + ".");
    for (PendingApproval a : approvals) {
      out.println("  call " + a.getCallId());
      out.println("    " + a.getTool() + " " + Text.oneLine(a.getArguments(), 100));
      out.println("    " + a.getReason() + "; waiting since " + RunStateFormat.time(a.getRequestedAt()) + " ("
          + RunStateFormat.ago(a.getRequestedAt(), now) + ")");
    }
    String call = approvals.size() == 1 ? approvals.get(0).getCallId() : "<call>";
    out.println("Approve: turnpike approve " + runId + " " + call + " [--always]");
    out.println("Reject:  turnpike reject " + runId + " " + call + " --message \"why\" [--always]");
    out.flush();
  }

  /** Accepts a call id in full ({@code <runId>:t1.1}) or relative to the run ({@code t1.1}). */
  static String callId(String runId, String callId) {
    return callId.startsWith(runId + ":") ? callId : runId + ":" + callId;
  }

  /**
   * A run as the topics know it: its latest state, or, for a request refused at submission (unknown agent,
   * undecodable), only the FAILED result it got instead of a RunState.
   */
  record Found(RunState state, RunResult refused) {
    boolean wasRefused() {
      return state == null;
    }

    String refusal() {
      return "run " + refused.getRunId() + " was refused at submission (" + refused.getStatus() + ": "
          + refused.getError() + "); it never started";
    }
  }

  /** The run's state or its refusal, or a one-line error naming the run. */
  static Found find(TurnpikeClient client, String runId) {
    Optional<RunState> state = client.runState(runId);
    if (state.isPresent()) {
      return new Found(state.get(), null);
    }
    Optional<RunResult> result = client.latestResult(runId);
    if (result.isPresent()) {
      return new Found(null, result.get());
    }
    throw new CliException("no run " + runId + " in turnpike.run-state (unknown id, not started yet, or already"
        + " compacted away)");
  }

  /** The run's latest state, or a one-line error naming the run (or saying it was refused at submission). */
  static RunState requireState(TurnpikeClient client, String runId) {
    Found found = find(client, runId);
    if (found.wasRefused()) {
      throw new CliException(found.refusal());
    }
    return found.state();
  }

  /**
   * Prints the run's steps after {@code before} until it finishes or waits for a human again, then its
   * outcome; returns the exit code.
   */
  static int follow(PrintWriter out, TurnpikeClient client, RunState before, Duration timeout, Instant now) {
    return follow(out, client, before, before, timeout, now, false);
  }

  /**
   * Prints the run's steps after {@code since} (null: from its first step) until it finishes or waits for a
   * human, then its outcome; {@code json}: one JSON line per step, then {@code {"run": ...}}. Returns the exit code.
   */
  static int follow(PrintWriter out, TurnpikeClient client, RunState current, RunState since, Duration timeout,
      Instant now, boolean json) {
    String runId = current.getRunId();
    EventFormat fmt = new EventFormat(false);
    long t0 = System.nanoTime();
    FollowOutcome outcome;
    try {
      // A run that asked to stream (run --follow) streams its later calls too: show them as they come.
      StreamPrinter printer = new StreamPrinter(out, fmt);
      outcome = json
          ? client.followUntilSettled(runId, since, e -> OutputOptions.print(out, JsonViews.step(e, fmt)), timeout)
          : client.followUntilSettled(runId, since, printer::event, current.getStream() ? printer::delta : null, timeout);
    } catch (RunTimeoutException e) {
      throw new CliException(e.getMessage());
    }
    long seen = outcome.last() == null ? current.getVersion() : outcome.last().getSeq();
    RunState after = requireState(client, runId);
    // The state and the events commit together; a lagging replica may still need a moment.
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (after.getVersion() < seen && System.nanoTime() < deadline) {
      after = requireState(client, runId);
    }
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    if (json) {
      OutputOptions.print(out, java.util.Map.of("run", JsonViews.run(after)));
      return exitCode(after.getStatus());
    }
    out.println();
    out.println("Result: " + after.getStatus() + " after " + after.getTurn() + " turn" + (after.getTurn() == 1 ? "" : "s")
        + " (" + RunStateFormat.usage(after.getUsage()) + ") in " + String.format(Locale.ROOT, "%.1fs", took.toMillis() / 1000.0));
    if (after.getFinalOutput() != null && after.getStatus() == RunStatus.COMPLETED) {
      out.println(after.getFinalOutput());
    }
    if (after.getError() != null) {
      out.println("Error: " + after.getError());
    }
    if (after.getStatus() == RunStatus.INTERRUPTED) {
      printInterruptions(out, runId, after.getApprovals(), now);
    }
    out.flush();
    return exitCode(after.getStatus());
  }
}
