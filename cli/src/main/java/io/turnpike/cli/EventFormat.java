package io.turnpike.cli;

import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunStarted;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.Usage;
import java.util.ArrayList;
import java.util.List;

/** One readable line per run step. */
public final class EventFormat {
  private final boolean scriptedModel;

  /** {@code scriptedModel}: label model answers as coming from the offline scripted model. */
  public EventFormat(boolean scriptedModel) {
    this.scriptedModel = scriptedModel;
  }

  public String format(TurnEvent e) {
    String head = "  #" + Text.pad(String.valueOf(e.getSeq()), 3) + " turn " + Text.pad(String.valueOf(e.getTurn()), 2);
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
      default -> label(step == null ? "?" : step.getClass().getSimpleName()) + Text.oneLine(String.valueOf(step), 80);
    };
    return head + body;
  }

  private static String label(String s) {
    return Text.pad(s, 16);
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
        parts.add(Text.quoted(m.getText(), 70));
      }
    }
    String out = parts.isEmpty() ? "(no output)" : String.join(", ", parts);
    return out + usage(s.getUsage());
  }

  static String usage(Usage u) {
    return u == null || u.getTotalTokens() == 0 ? "" : "  [" + u.getTotalTokens() + " tokens]";
  }
}
