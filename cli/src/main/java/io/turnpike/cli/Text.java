package io.turnpike.cli;

/** Small text helpers for one-line output. */
final class Text {
  private Text() {}

  /** Collapses whitespace to single spaces and cuts to {@code max} characters with an ellipsis. */
  static String oneLine(String s, int max) {
    if (s == null) {
      return "";
    }
    String t = s.replaceAll("\\s+", " ").trim();
    return t.length() <= max ? t : t.substring(0, Math.max(0, max - 3)) + "...";
  }

  static String quoted(String s, int max) {
    return "\"" + oneLine(s, max) + "\"";
  }

  static String shortId(String id) {
    return id == null ? "" : id.length() <= 8 ? id : id.substring(0, 8);
  }

  static String pad(String s, int width) {
    return s.length() >= width ? s + " " : s + " ".repeat(width - s.length());
  }
}
