package io.turnpike.memory;

import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunState;
import java.util.ArrayList;
import java.util.List;

/**
 * A run's conversation as the phase-one model reads it: one numbered line per item ({@code [3] user: ...}),
 * so the model can cite the items a memory comes from, and the turn of each item for provenance.
 * Reasoning and other items without readable text are left out (their numbers are kept).
 */
public record Transcript(List<Line> lines) {
  /** Longest text of one item shown to the model: tool outputs can be huge and rarely worth remembering whole. */
  static final int MAX_ITEM_CHARS = 2_000;

  public record Line(int item, int turn, String text) {}

  public static Transcript of(RunState state) {
    List<Line> out = new ArrayList<>();
    int turn = 0;
    boolean inCalls = false;
    List<Object> items = state.getItems();
    out.add(new Line(-1, 0, "input: " + cut(state.getInput())));
    for (int i = 0; i < items.size(); i++) {
      Object item = items.get(i);
      String text;
      if (item instanceof MessageItem m) {
        inCalls = false;
        if (m.getRole() == Role.ASSISTANT) {
          turn++;
        }
        text = m.getRole().name().toLowerCase(java.util.Locale.ROOT) + ": " + cut(m.getText());
      } else if (item instanceof FunctionCallItem c) {
        if (!inCalls) {
          turn++;
          inCalls = true;
        }
        text = "tool call " + c.getName() + " " + cut(c.getArguments());
      } else if (item instanceof FunctionCallOutputItem o) {
        inCalls = false;
        text = "tool output " + o.getName() + (o.getIsError() ? " (error)" : "") + ": " + cut(o.getOutput());
      } else {
        continue;
      }
      out.add(new Line(i, turn, text));
    }
    if (state.getError() != null) {
      out.add(new Line(-1, turn, "run ended " + state.getStatus() + ": " + cut(state.getError())));
    }
    return new Transcript(List.copyOf(out));
  }

  public String render() {
    StringBuilder sb = new StringBuilder();
    for (Line l : lines) {
      sb.append(l.item < 0 ? "[-]" : "[" + l.item + "]").append(' ').append(l.text).append('\n');
    }
    return sb.toString();
  }

  /** The turn of item {@code index}, or the last turn when the model cited none that exists. */
  public int turnOf(List<Integer> cited) {
    int best = -1;
    for (Line l : lines) {
      if (l.item >= 0 && cited.contains(l.item)) {
        best = Math.max(best, l.turn);
      }
    }
    return best >= 0 ? best : lines.isEmpty() ? 0 : lines.get(lines.size() - 1).turn;
  }

  public boolean hasItem(int index) {
    return lines.stream().anyMatch(l -> l.item == index);
  }

  private static String cut(String s) {
    if (s == null) {
      return "";
    }
    String flat = s.replace('\n', ' ');
    return flat.length() <= MAX_ITEM_CHARS ? flat : flat.substring(0, MAX_ITEM_CHARS) + "...";
  }
}
