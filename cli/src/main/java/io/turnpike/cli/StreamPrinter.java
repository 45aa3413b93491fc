package io.turnpike.cli;

import io.turnpike.avro.ModelStreamDelta;
import io.turnpike.avro.TurnEvent;
import java.io.PrintWriter;
import java.util.Objects;

/**
 * Prints a run's streamed model output as it arrives, between the one-line steps of
 * {@link EventFormat}: each stretch of one kind (the answer, a reasoning summary, a call's arguments)
 * on a line of its own, text appended as its deltas come, the line ended by the next step. A call run
 * again (after a crash or a retry) starts a new stretch, marked as such.
 */
final class StreamPrinter {
  private final PrintWriter out;
  private final EventFormat events;
  /** What the open line shows (stream, kind, tool), or null when no line is open. */
  private String open;
  private String lastStreamOfCall;
  private String lastCall;

  StreamPrinter(PrintWriter out, EventFormat events) {
    this.out = out;
    this.events = events;
  }

  synchronized void delta(ModelStreamDelta d) {
    String key = d.getStreamId() + "/" + d.getKind() + "/" + d.getName();
    if (!key.equals(open)) {
      endLine();
      boolean again = d.getCallId().equals(lastCall) && !d.getStreamId().equals(lastStreamOfCall);
      out.print(prefix(d, again));
      open = key;
      lastCall = d.getCallId();
      lastStreamOfCall = d.getStreamId();
    }
    out.print(d.getText().replace("\r", ""));
    out.flush();
  }

  synchronized void event(TurnEvent e) {
    line(events.format(e));
  }

  /** A step's line (already formatted), after any open stretch of streamed text. */
  synchronized void line(String text) {
    endLine();
    out.println(text);
    out.flush();
  }

  private void endLine() {
    if (open != null) {
      out.println();
      open = null;
    }
  }

  static String prefix(ModelStreamDelta d, boolean again) {
    String what = switch (d.getKind()) {
      case TEXT -> "streaming";
      case REASONING -> "reasoning";
      case ARGUMENTS -> Objects.requireNonNullElse(d.getName(), "tool") + " args";
    };
    String call = d.getCallId().substring(d.getCallId().lastIndexOf(':') + 1);
    // under the label column of EventFormat's lines ("  #12  turn 3  ")
    return " ".repeat(14) + Text.pad(what, 16) + (again ? "(call " + call + " asked again) " : "");
  }
}
