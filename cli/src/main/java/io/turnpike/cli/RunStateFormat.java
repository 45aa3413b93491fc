package io.turnpike.cli;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.GuardrailRecord;
import io.turnpike.avro.HandoffRecord;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.ToolPhase;
import io.turnpike.avro.Usage;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;

/**
 * A run's snapshot as a readable report: header, transcript, approvals it waits for, tool calls in
 * flight, handoffs, guardrail results, pending calls, outcome.
 */
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
    line(b, "Agent", a.getName() + "@" + a.getVersion() + "  (model " + a.getModel() + ")"
        + (s.getHandoffs().isEmpty() ? "" : "  started as " + s.getHandoffs().get(0).getFromAgent()));
    if (!a.getCapabilities().isEmpty()) {
      line(b, "Sandbox", "capabilities " + String.join(", ", a.getCapabilities())
          + (a.getManifest() == null ? "" : "; manifest: " + a.getManifest().getFiles().size() + " files, "
          + a.getManifest().getSkills().size() + " skills"));
    }
    if (s.getParent() != null) {
      // A child run (an agent called as a tool): which call of which run it answers.
      io.turnpike.avro.ParentRun p = s.getParent();
      line(b, "Parent", p.getRunId() + "  (its call " + p.getCallId() + ", tool " + p.getTool() + "; depth " + p.getDepth()
          + (p.getRootRunId().equals(p.getRunId()) ? "" : ", root " + p.getRootRunId()) + ")");
    }
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
        case MessageItem m -> {
          b.append("  ").append(Text.pad(m.getRole().name().toLowerCase(Locale.ROOT), 10)).append(clip(m.getText(), max))
              .append('\n');
          for (int i = 0; i < m.getAnnotations().size(); i++) {
            b.append("  ").append(Text.pad("", 10)).append('[').append(i + 1).append("] ")
                .append(HostedFormat.citation(m.getAnnotations().get(i))).append('\n');
          }
        }
        case io.turnpike.avro.HostedToolCallItem h -> b.append("  ").append(Text.pad("hosted", 10))
            .append(clip(HostedFormat.call(h), max)).append("   [").append(h.getItemId()).append("]\n");
        case FunctionCallItem fc -> b.append("  ").append(Text.pad("assistant", 10)).append("-> ").append(fc.getName())
            .append(' ').append(clip(fc.getArguments(), max)).append("   [").append(fc.getToolCallId()).append("]\n");
        case FunctionCallOutputItem o -> b.append("  ").append(Text.pad(o.getIsError() ? "tool error" : "tool", 10))
            .append(o.getName()).append(" <- ").append(o.getOutputRef() == null ? clip(o.getOutput(), max)
                // kept out of line by the runner (issue #14): the state has its beginning, the run's steps all of it
                : clip(previewText(o.getOutput()), max) + "  (" + o.getOutputRef().getSize()
                    + " bytes in all, kept out of the state; see runs history)").append("   [").append(o.getToolCallId())
            .append("]\n");
        default -> b.append("  ").append(clip(String.valueOf(item), max)).append('\n');
      }
    }

    if (!s.getApprovals().isEmpty()) {
      b.append("\nWaiting for approval (").append(s.getApprovals().size()).append(")\n");
      for (PendingApproval p : s.getApprovals()) {
        b.append("  call ").append(p.getCallId()).append("  ").append(p.getTool()).append(' ')
            .append(clip(p.getArguments(), max)).append('\n');
        b.append("       ").append(p.getReason()).append("; waiting since ").append(TIME.format(p.getRequestedAt()))
            .append(" (").append(ago(p.getRequestedAt(), now)).append(")\n");
      }
      b.append("  approve: turnpike approve ").append(s.getRunId()).append(" <call> [--always]\n");
      b.append("  reject:  turnpike reject ").append(s.getRunId()).append(" <call> --message \"why\"\n");
    }
    if (!s.getToolCalls().isEmpty()) {
      b.append("\nTool calls in flight\n");
      for (ToolCallProgress t : s.getToolCalls()) {
        b.append("  ").append(Text.pad(phase(t.getPhase()), 18)).append(Text.pad(t.getName(), 18))
            .append(Text.pad(String.valueOf(t.getKind()).toLowerCase(Locale.ROOT), 9))
            .append("call ").append(t.getCallId()).append("  ").append(clip(t.getArguments(), Math.min(max, 80))).append('\n');
      }
    }
    if (!s.getHeld().isEmpty()) {
      b.append("\nHeld model output: ").append(s.getHeld().size())
          .append(" item(s), released when the input guardrails allow it\n");
    }
    if (!s.getQueuedMessages().isEmpty()) {
      b.append("\nQueued user messages (sent with the next model call)\n");
      s.getQueuedMessages().forEach(m -> b.append("  ").append(clip(m, max)).append('\n'));
    }
    if (!s.getAlwaysApprove().isEmpty() || !s.getAlwaysReject().isEmpty()) {
      b.append("\nStanding decisions\n");
      if (!s.getAlwaysApprove().isEmpty()) {
        b.append("  always approve: ").append(String.join(", ", s.getAlwaysApprove())).append('\n');
      }
      if (!s.getAlwaysReject().isEmpty()) {
        b.append("  always reject:  ").append(String.join(", ", s.getAlwaysReject())).append('\n');
      }
    }
    if (!s.getHandoffs().isEmpty()) {
      b.append("\nHandoffs\n");
      for (HandoffRecord h : s.getHandoffs()) {
        b.append("  turn ").append(Text.pad(String.valueOf(h.getTurn()), 3)).append(h.getFromAgent()).append(" -> ")
            .append(h.getToAgent()).append(" v").append(h.getToVersion()).append("   at ").append(TIME.format(h.getAt()))
            .append('\n');
      }
    }
    if (!s.getChildren().isEmpty()) {
      b.append("\nChild runs (agents called as tools)\n");
      for (io.turnpike.avro.ChildRun c : s.getChildren()) {
        b.append("  ").append(Text.pad(String.valueOf(c.getStatus()), 18)).append(Text.pad(c.getTool(), 18))
            .append(Text.pad(c.getAgent(), 18)).append("run ").append(c.getRunId()).append("  (call ").append(c.getCallId())
            .append(")\n");
      }
      b.append("  show one: turnpike runs show <run>\n");
    }
    if (!s.getGuardrailResults().isEmpty()) {
      b.append("\nGuardrail results\n");
      for (GuardrailRecord g : s.getGuardrailResults()) {
        b.append("  ").append(Text.pad(g.getStage().name().toLowerCase(Locale.ROOT), 12)).append(Text.pad(g.getOutcome(), 8))
            .append(g.getGuardrail() == null ? "" : "[" + g.getGuardrail() + "] ")
            .append(g.getReason() == null ? "" : clip(g.getReason(), Math.min(max, 100)) + " ")
            .append("  (call ").append(g.getCallId()).append(")\n");
      }
    }

    if (!s.getPending().isEmpty()) {
      b.append("\nPending calls\n");
      for (PendingCall p : s.getPending()) {
        Duration left = Duration.between(now, p.getDeadline());
        b.append("  ").append(Text.pad(String.valueOf(p.getKind()), 6))
            .append(Text.pad(pendingWhat(p), 18))
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

  private static String pendingWhat(PendingCall p) {
    if (p.getStage() != null) {
      return p.getStage().name().toLowerCase(Locale.ROOT) + (p.getName() == null ? "" : " " + p.getName());
    }
    return p.getName() != null ? p.getName() : p.getKind() == io.turnpike.avro.CallKind.MODEL ? "(model)" : "-";
  }

  private static String phase(ToolPhase p) {
    return switch (p) {
      case INPUT_CHECK -> "input guardrails";
      case APPROVAL -> "awaiting approval";
      case RUNNING -> "running";
      case OUTPUT_CHECK -> "output guardrails";
    };
  }

  /** "45s ago", "3m ago", "2h 5m ago", "1d 2h ago". */
  static String ago(Instant then, Instant now) {
    Duration d = Duration.between(then, now);
    if (d.isNegative()) {
      d = Duration.ZERO;
    }
    long s = d.toSeconds();
    String t = s < 60 ? s + "s" : s < 3600 ? d.toMinutes() + "m" : s < 86_400 ? d.toHours() + "h " + d.toMinutesPart() + "m"
        : d.toDays() + "d " + d.toHoursPart() + "h";
    return t + " ago";
  }

  static String time(Instant t) {
    return TIME.format(t);
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

  /** The beginning of an output the runner kept out of line, without its "[... N bytes in all ...]" line. */
  private static String previewText(String preview) {
    int marker = preview.lastIndexOf("\n[... ");
    return marker < 0 ? preview : preview.substring(0, marker);
  }
}
