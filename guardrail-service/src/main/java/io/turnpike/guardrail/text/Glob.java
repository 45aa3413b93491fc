package io.turnpike.guardrail.text;

/** Tool-name patterns: {@code *} matches any run of characters, {@code ?} one; everything else literally. */
public final class Glob {
  private Glob() {}

  public static boolean matches(String pattern, String name) {
    if (pattern.indexOf('*') < 0 && pattern.indexOf('?') < 0) {
      return pattern.equals(name);
    }
    // Iterative wildcard matching with one backtrack point: linear-ish, no recursion.
    int p = 0;
    int n = 0;
    int star = -1;
    int mark = 0;
    while (n < name.length()) {
      if (p < pattern.length() && (pattern.charAt(p) == '?' || pattern.charAt(p) == name.charAt(n))) {
        p++;
        n++;
      } else if (p < pattern.length() && pattern.charAt(p) == '*') {
        star = p++;
        mark = n;
      } else if (star >= 0) {
        p = star + 1;
        n = ++mark;
      } else {
        return false;
      }
    }
    while (p < pattern.length() && pattern.charAt(p) == '*') {
      p++;
    }
    return p == pattern.length();
  }

  public static boolean anyMatches(Iterable<String> patterns, String name) {
    for (String p : patterns) {
      if (matches(p, name)) {
        return true;
      }
    }
    return false;
  }
}
