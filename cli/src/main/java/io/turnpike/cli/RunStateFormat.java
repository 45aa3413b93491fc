package io.turnpike.cli;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunState;
import io.turnpike.avro.Usage;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;

/** A run's snapshot as a readable report: header, transcript, pending calls, outcome. */
public final class RunStateFormat {
  private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneId.systemDefault());

  private RunStateFormat() {}

  /** {@code full}: items are not shortened. */
  public static String format(RunState s, boolean full, Instant now) {
    int max = full ? Integer.MAX_VALUE : 160;
    StringBuilder b = new StringBuilder();
    AgentDefinition a = s.getAgent();
    line(b, "Run", s.getRunId());
    line(b, "Status", String.valueOf(s.getStatus()));
    line(b, "Agent", a.getName() + "@" + a.getVersion() + "  (model " + a.getModel() + ")");
    line(b, "Turn", s.getTurn() + " of at most " + a.getMaxTurns());
    line(b, "Created", TIME.format(s.getCreatedAt()) + "   updated " + TIME.format(s.getUpdatedAt())
        + "   (state version " + s.getVersion() + ")");
    line(b, "Usage", usage(s.getUsage()));
    if (s.getTraceId() != null) {
      line(b, "Trace", s.getTraceId());
    }
    if (!s.getMetadata().isEmpty()) {
      StringBuilder m = new StringBuilder();
      for (Map.Entry<String, String> e : s.getMetadata().entrySet()) {
        m.append(m.isEmpty() ? "" : ", ").append(e.getKey()).append('=').append(e.getValue());
      }
      line(b, "Metadata", m.toString());
    }
    line(b, "Input", clip(s.getInput(), max));

    b.append("\nTranscript (").append(s.getItems().size()).append(" items)\n");
    if (s.getItems().isEmpty()) {
      b.append("  (empty)\n");
    }
    for (Object item : s.getItems()) {
      switch (item) {
        case MessageItem m -> b.append("  ").append(Text.pad(m.getRole().name().toLowerCase(Locale.ROOT), 10))
            .append(clip(m.getText(), max)).append('\n');
        case FunctionCallItem fc -> b.append("  ").append(Text.pad("assistant", 10)).append("-> ").append(fc.getName())
            .append(' ').append(clip(fc.getArguments(), max)).append("   [").append(fc.getToolCallId()).append("]\n");
        case FunctionCallOutputItem o -> b.append("  ").append(Text.pad(o.getIsError() ? "tool error" : "tool", 10))
            .append(o.getName()).append(" <- ").append(clip(o.getOutput(), max)).append("   [").append(o.getToolCallId())
            .append("]\n");
        default -> b.append("  ").append(clip(String.valueOf(item), max)).append('\n');
      }
    }

    if (!s.getPending().isEmpty()) {
      b.append("\nPending calls\n");
      for (PendingCall p : s.getPending()) {
        Duration left = Duration.between(now, p.getDeadline());
        b.append("  ").append(Text.pad(String.valueOf(p.getKind()), 6))
            .append(Text.pad(p.getName() == null ? "(model)" : p.getName(), 18))
            .append("call ").append(p.getCallId()).append("  attempt ").append(p.getAttempt())
            .append("  deadline ").append(TIME.format(p.getDeadline()))
            .append(left.isNegative() ? " (passed)" : " (in " + left.toSeconds() + "s)").append('\n');
      }
    }
    if (s.getFinalOutput() != null) {
      b.append("\nFinal output\n  ").append(full ? s.getFinalOutput().replace("\n", "\n  ") : clip(s.getFinalOutput(), 2000))
          .append('\n');
    }
    if (s.getError() != null) {
      b.append("\nError\n  ").append(s.getError()).append('\n');
    }
    return b.toString();
  }

  static String usage(Usage u) {
    if (u == null) {
      return "none";
    }
    return u.getInputTokens() + " in / " + u.getOutputTokens() + " out / " + u.getTotalTokens() + " total tokens, "
        + u.getModelCalls() + " model call" + (u.getModelCalls() == 1 ? "" : "s");
  }

  private static void line(StringBuilder b, String label, String value) {
    b.append(Text.pad(label, 10)).append(value).append('\n');
  }

  private static String clip(String s, int max) {
    return max == Integer.MAX_VALUE ? String.valueOf(s) : Text.oneLine(s, max);
  }
}
