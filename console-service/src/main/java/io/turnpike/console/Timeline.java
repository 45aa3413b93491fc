package io.turnpike.console;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.turnpike.avro.ApprovalRequested;
import io.turnpike.avro.ApprovalResolved;
import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.ChildRunFinished;
import io.turnpike.avro.ChildRunStarted;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.GuardrailCheckRequested;
import io.turnpike.avro.GuardrailChecked;
import io.turnpike.avro.HandoffOccurred;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelOutputHeld;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunStarted;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.UserMessageAdded;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A run's steps as the console shows them: one {@link Entry} per turn event, with a one-line summary and a
 * kind the UI colours by (run, model, tool, guardrail, approval, handoff, child, other).
 */
final class Timeline {
  private Timeline() {}

  /** What {@code GET /api/runs/{id}/history} and the SSE stream give per step. */
  record Entry(long seq, String type, String kind, String at, int turn, String agent, String callId, String summary,
      String by) {
    /** An approval's step with who decided (from the command), said in the summary too. */
    Entry decidedBy(String who) {
      return who == null ? this : new Entry(seq, type, kind, at, turn, agent, callId, summary + " (by " + who + ")", who);
    }

    String toJson() {
      try {
        return RunSummary.JSON.writeValueAsString(this);
      } catch (JsonProcessingException e) {
        throw new UncheckedIOException(e);
      }
    }

    static Entry fromJson(String json) {
      try {
        return RunSummary.JSON.readValue(json, Entry.class);
      } catch (JsonProcessingException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  static Entry entry(TurnEvent e) {
    Object step = e.getStep();
    String type = step == null ? "Unknown" : step.getClass().getSimpleName();
    String callId = null;
    String kind;
    String summary;
    switch (step) {
      case RunStarted s -> {
        kind = "run";
        summary = e.getAgent() + " v" + s.getAgentVersion() + " started: " + quoted(s.getInput(), 200);
      }
      case ModelCallRequested s -> {
        kind = "model";
        callId = s.getCallId();
        summary = "model call to " + s.getModel() + attempt(s.getAttempt());
      }
      case ModelResponded s -> {
        kind = "model";
        callId = s.getCallId();
        summary = "model answered: " + responded(s);
      }
      case ModelFailed s -> {
        kind = "model";
        callId = s.getCallId();
        summary = "model failed: " + s.getError().getCode() + ": " + cut(s.getError().getMessage(), 200)
            + (s.getResendAt() != null ? " (again at " + s.getResendAt() + ")" : "");
      }
      case ToolCallRequested s -> {
        kind = "tool";
        callId = s.getCallId();
        summary = "tool call " + s.getName() + " " + cut(s.getArguments(), 200) + attempt(s.getAttempt());
      }
      case ToolCallCompleted s -> {
        kind = "tool";
        callId = s.getCallId();
        summary = (s.getIsError() ? "tool error " : "tool result ") + s.getName() + ": " + cut(s.getOutput(), 300);
      }
      case CallTimedOut s -> {
        kind = "other";
        callId = s.getCallId();
        summary = s.getKind() + " call timed out" + attempt(s.getAttempt()) + (s.getWillRetry() ? ", will retry" : ", giving up");
      }
      case ResultIgnored s -> {
        kind = "other";
        callId = s.getCallId();
        summary = "result ignored: " + cut(s.getReason(), 200);
      }
      case GuardrailCheckRequested s -> {
        kind = "guardrail";
        callId = s.getCallId();
        summary = "guardrail check (" + lower(s.getStage()) + "): " + String.join(", ", s.getGuardrails());
      }
      case GuardrailChecked s -> {
        kind = "guardrail";
        callId = s.getCallId();
        summary = "guardrail " + lower(s.getOutcome()) + " (" + lower(s.getStage()) + ")"
            + (s.getGuardrail() == null ? "" : " [" + s.getGuardrail() + "]")
            + (s.getReason() == null || s.getReason().isBlank() ? "" : ": " + cut(s.getReason(), 200));
      }
      case ModelOutputHeld s -> {
        kind = "guardrail";
        callId = s.getCallId();
        summary = "model output held: " + cut(s.getReason(), 200);
      }
      case ApprovalRequested s -> {
        kind = "approval";
        callId = s.getCallId();
        summary = "needs approval: " + s.getTool() + " " + cut(s.getArguments(), 200) + " (" + cut(s.getReason(), 120) + ")";
      }
      case ApprovalResolved s -> {
        kind = "approval";
        callId = s.getCallId();
        summary = (s.getApproved() ? "approved" : "rejected") + (s.getAlways() ? " (always, for this tool in this run)" : "")
            + (s.getMessage() == null || s.getMessage().isBlank() ? "" : ": " + quoted(s.getMessage(), 200));
      }
      case HandoffOccurred s -> {
        kind = "handoff";
        summary = "handoff " + s.getFromAgent() + " -> " + s.getToAgent() + " v" + s.getToVersion();
      }
      case UserMessageAdded s -> {
        kind = "run";
        summary = "user message: " + quoted(s.getText(), 200);
      }
      case RunFinished s -> {
        kind = "run";
        summary = "run finished " + s.getStatus() + (s.getError() != null ? ": " + cut(s.getError(), 300)
            : s.getFinalOutput() != null ? ": " + quoted(s.getFinalOutput(), 300) : "");
      }
      case ChildRunStarted s -> {
        kind = "child";
        callId = s.getCallId();
        summary = "child run " + s.getChildRunId() + " of " + s.getAgent() + " started";
      }
      case ChildRunFinished s -> {
        kind = "child";
        callId = s.getCallId();
        summary = "child run " + s.getChildRunId() + " finished " + s.getStatus()
            + (s.getError() == null ? "" : ": " + cut(s.getError(), 200));
      }
      case null -> {
        kind = "other";
        summary = "(empty step)";
      }
      default -> {
        kind = "other";
        summary = type + " " + cut(String.valueOf(step), 200);
      }
    }
    return new Entry(e.getSeq(), type, kind, e.getAt().toString(), e.getTurn(), e.getAgent(), callId, summary, null);
  }

  private static String responded(ModelResponded s) {
    List<String> parts = new ArrayList<>();
    for (Object item : s.getOutput()) {
      if (item instanceof FunctionCallItem fc) {
        parts.add("calls " + fc.getName() + " " + cut(fc.getArguments(), 120));
      } else if (item instanceof MessageItem m) {
        parts.add(quoted(m.getText(), 200));
      } else if (item != null) {
        parts.add("[" + item.getClass().getSimpleName() + "]");
      }
    }
    String tokens = s.getUsage() == null || s.getUsage().getTotalTokens() == 0 ? ""
        : " [" + s.getUsage().getTotalTokens() + " tokens]";
    return (parts.isEmpty() ? "(no output)" : String.join(", ", parts)) + tokens;
  }

  private static String attempt(int attempt) {
    return attempt > 1 ? " (attempt " + attempt + ")" : "";
  }

  private static String lower(Object o) {
    return o == null ? "?" : o.toString().toLowerCase(Locale.ROOT);
  }

  private static String quoted(String s, int max) {
    return "\"" + cut(s, max) + "\"";
  }

  /** One line, at most {@code max} characters. */
  static String cut(String s, int max) {
    if (s == null) {
      return "";
    }
    String one = s.replaceAll("\\s+", " ").trim();
    return one.length() <= max ? one : one.substring(0, max - 1) + "…";
  }
}
