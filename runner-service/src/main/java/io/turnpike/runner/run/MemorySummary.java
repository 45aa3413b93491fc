package io.turnpike.runner.run;

import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryLine;
import java.util.Locale;

/**
 * The part of a run's instructions that carries its scope's memory (issue #13): every line with its id
 * and kind, newest version first read at run start. Bounded, so a large memory cannot crowd out the
 * agent's own instructions or push the model call past its limits; what does not fit is counted.
 */
public final class MemorySummary {
  /** Most characters of memory put into the instructions. */
  public static final int MAX_CHARS = 8_000;

  private MemorySummary() {}

  /** The summary of {@code doc}, or null when it has no lines. {@code canEdit}: the agent has memory_update. */
  public static String render(MemoryDocument doc, boolean canEdit) {
    if (doc == null || doc.getLines().isEmpty()) {
      return null;
    }
    StringBuilder sb = new StringBuilder();
    sb.append("## Memory (").append(doc.getScope()).append(", version ").append(doc.getVersion()).append(")\n")
        .append("What you learned in earlier runs. Use it when it helps; it may be out of date.");
    if (canEdit) {
      sb.append(" If a line is wrong or stale, fix it with memory_update (its id in brackets, and the reason).");
    }
    sb.append('\n');
    int shown = 0;
    for (MemoryLine l : doc.getLines()) {
      String line = "- [" + l.getId() + "] (" + l.getKind().name().toLowerCase(Locale.ROOT) + ") " + l.getText() + "\n";
      if (sb.length() + line.length() > MAX_CHARS - 40) { // room for the "more lines" note
        break;
      }
      sb.append(line);
      shown++;
    }
    if (shown < doc.getLines().size()) {
      sb.append("(").append(doc.getLines().size() - shown).append(" more line(s) not shown)\n");
    }
    return sb.toString().stripTrailing();
  }
}
