package io.turnpike.guardrail.text;

/**
 * A {@link CharSequence} that counts the characters a matcher reads and throws
 * {@link WorkLimitExceeded} past a budget or a deadline. {@link java.util.regex.Pattern} reads its input
 * only through {@code charAt}, so wrapping the input bounds the work of any regular expression, however
 * badly it backtracks. Not thread-safe: one per match.
 */
public final class BoundedCharSequence implements CharSequence {
  private final CharSequence text;
  private final long deadlineNanos;
  private long budget;
  private int tick;

  /**
   * @param budget how many characters may be read in all
   * @param deadlineNanos {@link System#nanoTime()} after which reading fails
   */
  public BoundedCharSequence(CharSequence text, long budget, long deadlineNanos) {
    this.text = text;
    this.budget = budget;
    this.deadlineNanos = deadlineNanos;
  }

  /** The usual budget for regular expressions over {@code length} characters: linear with a generous factor. */
  public static long regexBudget(int length) {
    return 5_000_000L + 200L * length;
  }

  @Override
  public char charAt(int index) {
    if (--budget < 0) {
      throw new WorkLimitExceeded("pattern matching exceeded its work budget (catastrophic backtracking?)");
    }
    if ((++tick & 0x3FFF) == 0 && System.nanoTime() - deadlineNanos > 0) {
      throw new WorkLimitExceeded("pattern matching ran past the check's deadline");
    }
    return text.charAt(index);
  }

  @Override
  public int length() {
    return text.length();
  }

  @Override
  public CharSequence subSequence(int start, int end) {
    return text.subSequence(start, end);
  }

  @Override
  public String toString() {
    return text.toString();
  }
}
