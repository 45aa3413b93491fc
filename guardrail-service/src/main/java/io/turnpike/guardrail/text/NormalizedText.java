package io.turnpike.guardrail.text;

/**
 * A text normalised for matching by {@link TextNormalizer}, with a map from each of its characters back
 * to the code point of the original it came from, so a match found here can be redacted there.
 */
public final class NormalizedText {
  private final String original;
  private final String text;
  /** For each char of {@code text}, the index in {@code original} of the code point it came from; null = identity. */
  private final int[] origin;
  private final int removed;
  private final int tagChars;
  private volatile String lower;

  NormalizedText(String original, String text, int[] origin, int removed, int tagChars) {
    this.original = original;
    this.text = text;
    this.origin = origin;
    this.removed = removed;
    this.tagChars = tagChars;
  }

  /** The text as is, without normalisation (for guardrails configured with {@code normalize: false}). */
  public static NormalizedText identity(String s) {
    return new NormalizedText(s, s, null, 0, 0);
  }

  public String original() {
    return original;
  }

  /** The normalised text. */
  public String text() {
    return text;
  }

  public int length() {
    return text.length();
  }

  /** True when the normalised text is the original (plain ASCII). */
  public boolean isIdentity() {
    return origin == null;
  }

  /** The normalised text lower-cased char by char (same length, same offsets). */
  public String lower() {
    String l = lower;
    if (l == null) {
      char[] cs = text.toCharArray();
      for (int i = 0; i < cs.length; i++) {
        char c = cs[i];
        cs[i] = c < 0x80 ? (c >= 'A' && c <= 'Z' ? (char) (c + 32) : c) : Character.toLowerCase(c);
      }
      l = new String(cs);
      lower = l;
    }
    return l;
  }

  /** Invisible characters (zero-width, format, variation selectors, combining marks) dropped. */
  public int removedCount() {
    return removed;
  }

  /** Unicode tag characters (U+E0000..U+E007F, "ASCII smuggling") seen; printable ones were decoded to ASCII. */
  public int tagCount() {
    return tagChars;
  }

  /** Offset in the original of normalised char {@code i}. */
  public int originalStart(int i) {
    if (origin == null) {
      return i;
    }
    return i >= origin.length ? original.length() : origin[i];
  }

  /** Offset in the original just past normalised char {@code iExclusive - 1}. */
  public int originalEnd(int iExclusive) {
    if (origin == null) {
      return iExclusive;
    }
    if (iExclusive <= 0) {
      return 0;
    }
    int o = origin[iExclusive - 1];
    return o + Character.charCount(original.codePointAt(o));
  }

  /** The original text of the normalised range {@code [start, end)}. */
  public String originalSlice(int start, int end) {
    return original.substring(originalStart(start), originalEnd(end));
  }
}
