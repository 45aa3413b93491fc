package io.turnpike.cli;

import io.turnpike.avro.ApprovalRequested;
import io.turnpike.avro.ApprovalResolved;
import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.ChildRunFinished;
import io.turnpike.avro.ChildRunStarted;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.GuardrailCheckRequested;
import io.turnpike.avro.GuardrailChecked;
import io.turnpike.avro.GuardrailStage;
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
import io.turnpike.avro.Usage;
import io.turnpike.avro.UserMessageAdded;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** One readable line per run step. */
public final class EventFormat {
  private final boolean scriptedModel;

  /** {@code scriptedModel}: label model answers as coming from the offline scripted model. */
  public EventFormat(boolean scriptedModel) {
    this.scriptedModel = scriptedModel;
  }

  public String format(TurnEvent e) {
    String head = "  #" + Text.pad(String.valueOf(e.getSeq()), 3) + " turn " + Text.pad(String.valueOf(e.getTurn()), 2);
    return head + body(e);
  }

  /** The step alone, without the seq and turn columns or padding: what {@code -o json} gives as "summary". */
  public String summary(TurnEvent e) {
    return body(e).replaceAll("\\s{2,}", " ").trim();
  }

  private String body(TurnEvent e) {
    Object step = e.getStep();
    String body = switch (step) {
      case RunStarted s -> label("run started") + e.getAgent() + " v" + s.getAgentVersion() + "  input: "
          + Text.quoted(s.getInput(), 70);
      case ModelCallRequested s -> label("model call") + s.getModel() + attempt(s.getAttempt());
      case ModelResponded s -> label(scriptedModel ? "scripted model" : "model answered") + responded(s);
      case ModelFailed s -> label("model failed") + s.getError().getCode() + ": " + Text.oneLine(s.getError().getMessage(), 70)
          + (s.getError().getRetryable() ? " (retryable)" : "");
      case ToolCallRequested s -> label("tool call") + s.getName() + " " + Text.oneLine(s.getArguments(), 70)
          + attempt(s.getAttempt());
      case ToolCallCompleted s -> label(s.getIsError() ? "tool error" : "tool result") + s.getName() + " -> "
          + Text.oneLine(s.getOutput(), 80);
      case CallTimedOut s -> label("timed out") + s.getKind() + " call " + Text.shortId(s.getCallId())
          + attempt(s.getAttempt()) + (s.getWillRetry() ? ", will retry" : ", giving up");
      case ResultIgnored s -> label("result ignored") + "call " + Text.shortId(s.getCallId()) + ": "
          + Text.oneLine(s.getReason(), 70);
      case RunFinished s -> label("run finished") + s.getStatus()
          + (s.getError() != null ? ": " + Text.oneLine(s.getError(), 80) : "");
      case GuardrailCheckRequested s -> label("guardrail check") + stage(s.getStage()) + ": "
          + String.join(", ", s.getGuardrails()) + "  (call " + callSuffix(e, s.getCallId()) + ")";
      case GuardrailChecked s -> label(verdictLabel(s.getOutcome())) + stage(s.getStage())
          + (s.getGuardrail() == null ? "" : " [" + s.getGuardrail() + "]")
          + (s.getReason() == null || s.getReason().isBlank() ? "" : ": " + Text.oneLine(s.getReason(), 70))
          + findings(s);
      case ModelOutputHeld s -> label("output held") + Text.oneLine(s.getReason(), 80);
      case ApprovalRequested s -> label("needs approval") + s.getTool() + " " + Text.oneLine(s.getArguments(), 60)
          + "  (" + Text.oneLine(s.getReason(), 60) + ")  call " + s.getCallId();
      case ApprovalResolved s -> label(s.getApproved() ? "approved" : "rejected") + "call " + s.getCallId()
          + (s.getAlways() ? " (and every later call of this tool in this run)" : "")
          + (s.getMessage() == null || s.getMessage().isBlank() ? "" : ": " + Text.quoted(s.getMessage(), 70));
      case HandoffOccurred s -> label("handoff") + s.getFromAgent() + " -> " + s.getToAgent() + " v" + s.getToVersion();
      case UserMessageAdded s -> label("user message") + Text.quoted(s.getText(), 80);
      case ChildRunStarted s -> label("child run") + s.getAgent() + (s.getAgentVersion() == null ? "" : " v" + s.getAgentVersion())
          + " started as run " + s.getChildRunId() + "  (call " + callSuffix(e, s.getCallId()) + ")";
      case ChildRunFinished s -> label("child finished") + "run " + s.getChildRunId() + " " + s.getStatus()
          + (s.getError() == null ? "" : ": " + Text.oneLine(s.getError(), 70));
      case io.turnpike.avro.MemoryRefreshed s -> label("memory refreshed") + s.getScope() + " version "
          + (s.getFromVersion() == null ? "none" : s.getFromVersion()) + " -> " + s.getToVersion();
      case io.turnpike.avro.ConversationCompacted s -> label("compacted") + s.getCompactedItems() + " items into a summary, "
          + s.getKeptItems() + " kept (~" + s.getTokensBefore() + " -> ~" + s.getTokensAfter() + " of " + s.getContextWindow()
          + " tokens): " + Text.quoted(s.getSummary(), 60);
      default -> label(step == null ? "?" : step.getClass().getSimpleName()) + Text.oneLine(String.valueOf(step), 80);
    };
    return body;
  }

  private static String label(String s) {
    return Text.pad(s, 16);
  }

  /** The findings (evidence redacted), without repeating the reason: a single finding often is the reason plus evidence. */
  private static String findings(GuardrailChecked s) {
    List<String> f = s.getFindings();
    if (f.isEmpty()) {
      return "";
    }
    String reason = s.getReason();
    if (f.size() == 1 && reason != null && !reason.isBlank()) {
      int i = f.get(0).indexOf(reason);
      if (i >= 0) {
        String rest = f.get(0).substring(i + reason.length()).trim();
        return rest.isEmpty() ? "" : "  " + Text.oneLine(rest, 60);
      }
    }
    return "  findings: " + Text.oneLine(String.join("; ", f), 70);
  }

  private static String stage(GuardrailStage stage) {
    return stage == null ? "?" : stage.name().toLowerCase(Locale.ROOT);
  }

  private static String verdictLabel(String outcome) {
    return switch (outcome == null ? "" : outcome.toUpperCase(Locale.ROOT)) {
      case "ALLOW" -> "guardrail ok";
      case "REDACT" -> "guardrail redact";
      case "REJECT" -> "guardrail reject";
      case "TRIP" -> "guardrail trip";
      default -> "guardrail " + String.valueOf(outcome).toLowerCase(Locale.ROOT);
    };
  }

  /** A call id without the run id it starts with ({@code <runId>:m1:out} becomes {@code m1:out}). */
  private static String callSuffix(TurnEvent e, String callId) {
    String prefix = e.getRunId() + ":";
    return callId != null && callId.startsWith(prefix) ? callId.substring(prefix.length()) : String.valueOf(callId);
  }

  private static String attempt(int attempt) {
    return attempt > 1 ? " (attempt " + attempt + ")" : "";
  }

  private static String responded(ModelResponded s) {
    List<String> parts = new ArrayList<>();
    for (Object item : s.getOutput()) {
      if (item instanceof FunctionCallItem fc) {
        parts.add("-> " + fc.getName() + " " + Text.oneLine(fc.getArguments(), 50));
      } else if (item instanceof MessageItem m) {
        parts.add(Text.quoted(m.getText(), 70) + HostedFormat.cites(m.getAnnotations()));
      } else if (item instanceof io.turnpike.avro.HostedToolCallItem h) {
        parts.add("[hosted " + Text.oneLine(HostedFormat.call(h), 80) + "]");
      }
    }
    String out = parts.isEmpty() ? "(no output)" : String.join(", ", parts);
    return out + usage(s.getUsage());
  }

  static String usage(Usage u) {
    return u == null || u.getTotalTokens() == 0 ? "" : "  [" + u.getTotalTokens() + " tokens]";
  }
}
