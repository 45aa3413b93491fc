package io.turnpike.guardrail.builtin;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** Small helpers for reasons and evidence. */
final class Texts {
  private Texts() {}

  static final int MAX_EVIDENCE_ITEMS = 5;

  static String places(int n) {
    return n == 1 ? "1 place" : n + " places";
  }

  /** "credit card number (Luhn-valid) at 1 place, e-mail address at 2 places" from labels in order of appearance. */
  static String countByLabel(List<String> labels) {
    Map<String, Integer> counts = new LinkedHashMap<>();
    for (String l : labels) {
      counts.merge(l, 1, Integer::sum);
    }
    return counts.entrySet().stream().map(e -> e.getKey() + " at " + places(e.getValue()))
        .collect(Collectors.joining(", "));
  }

  /** At most five items joined by ", ", then "and N more". */
  static String evidence(Collection<String> items) {
    List<String> distinct = items.stream().distinct().toList();
    String head = distinct.stream().limit(MAX_EVIDENCE_ITEMS).collect(Collectors.joining(", "));
    return distinct.size() > MAX_EVIDENCE_ITEMS ? head + " and " + (distinct.size() - MAX_EVIDENCE_ITEMS) + " more" : head;
  }

  /** Fills {@code {name}}-style placeholders. */
  static String fill(String template, Map<String, String> values) {
    String out = template;
    for (var e : values.entrySet()) {
      out = out.replace("{" + e.getKey() + "}", e.getValue());
    }
    return out;
  }

  static String truncate(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max) + "...";
  }
}
