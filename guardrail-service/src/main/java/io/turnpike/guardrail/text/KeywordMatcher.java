package io.turnpike.guardrail.text;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

/**
 * Finds many keywords at once in linear time (Aho-Corasick). Runs of whitespace in the text and in the
 * keywords count as one space, so {@code "drop table"} also matches {@code "drop\n   table"}. Keywords
 * are given already normalised (see {@link TextNormalizer}) and lower-cased when matching ignores case;
 * the text passed to {@link #find} must be prepared the same way. Immutable and thread-safe.
 */
public final class KeywordMatcher {

  /** A match of keyword number {@code keyword} at {@code [start, end)} of the searched text. */
  public record Hit(int keyword, int start, int end) {}

  private final String[] keywords;
  // Trie: children of each state as sorted chars + targets.
  private final char[][] edgeChars;
  private final int[][] edgeTargets;
  private final int[] fail;
  private final int[] output;     // keyword ending at this state, or -1
  private final int[] outputLink; // next state on the fail chain with an output, or -1
  private final int maxLength;
  /** Transitions of the root for ASCII, the hot path: -1 = none. */
  private final int[] rootAscii = new int[128];

  private KeywordMatcher(String[] keywords, char[][] edgeChars, int[][] edgeTargets, int[] fail, int[] output,
      int[] outputLink) {
    this.keywords = keywords;
    this.edgeChars = edgeChars;
    this.edgeTargets = edgeTargets;
    this.fail = fail;
    this.output = output;
    this.outputLink = outputLink;
    int m = 1;
    for (String k : keywords) {
      m = Math.max(m, k.length());
    }
    this.maxLength = m;
    for (char c = 0; c < 128; c++) {
      rootAscii[c] = step(edgeChars, edgeTargets, 0, c);
    }
  }

  /** Collapses whitespace runs to one space and trims. */
  public static String collapseWhitespace(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    boolean space = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isWhitespace(c)) {
        space = sb.length() > 0;
      } else {
        if (space) {
          sb.append(' ');
          space = false;
        }
        sb.append(c);
      }
    }
    return sb.toString();
  }

  /** Builds a matcher; keywords are whitespace-collapsed here, empty ones are rejected. */
  public static KeywordMatcher of(List<String> words) {
    if (words.isEmpty()) {
      throw new IllegalArgumentException("at least one keyword");
    }
    String[] kws = new String[words.size()];
    List<TreeMap<Character, Integer>> trie = new ArrayList<>();
    List<Integer> out = new ArrayList<>();
    trie.add(new TreeMap<>());
    out.add(-1);
    for (int k = 0; k < words.size(); k++) {
      String w = collapseWhitespace(words.get(k));
      if (w.isEmpty()) {
        throw new IllegalArgumentException("keyword " + (k + 1) + " is empty");
      }
      kws[k] = w;
      int state = 0;
      for (int i = 0; i < w.length(); i++) {
        char c = w.charAt(i);
        Integer next = trie.get(state).get(c);
        if (next == null) {
          next = trie.size();
          trie.add(new TreeMap<>());
          out.add(-1);
          trie.get(state).put(c, next);
        }
        state = next;
      }
      if (out.get(state) < 0) {
        out.set(state, k);
      }
    }
    int n = trie.size();
    char[][] ec = new char[n][];
    int[][] et = new int[n][];
    for (int s = 0; s < n; s++) {
      TreeMap<Character, Integer> m = trie.get(s);
      ec[s] = new char[m.size()];
      et[s] = new int[m.size()];
      int j = 0;
      for (var e : m.entrySet()) {
        ec[s][j] = e.getKey();
        et[s][j] = e.getValue();
        j++;
      }
    }
    int[] fail = new int[n];
    int[] output = new int[n];
    int[] link = new int[n];
    for (int s = 0; s < n; s++) {
      output[s] = out.get(s);
    }
    Arrays.fill(link, -1);
    ArrayDeque<Integer> queue = new ArrayDeque<>();
    for (int t : et[0]) {
      fail[t] = 0;
      queue.add(t);
    }
    while (!queue.isEmpty()) {
      int s = queue.poll();
      for (int j = 0; j < ec[s].length; j++) {
        char c = ec[s][j];
        int t = et[s][j];
        int f = fail[s];
        int g;
        while ((g = step(ec, et, f, c)) < 0 && f != 0) {
          f = fail[f];
        }
        if (g < 0 || g == t) {
          g = 0;
        }
        fail[t] = g;
        link[t] = output[g] >= 0 ? g : link[g];
        queue.add(t);
      }
    }
    return new KeywordMatcher(kws, ec, et, fail, output, link);
  }

  private static int step(char[][] ec, int[][] et, int state, char c) {
    int j = Arrays.binarySearch(ec[state], c);
    return j >= 0 ? et[state][j] : -1;
  }

  public String keyword(int index) {
    return keywords[index];
  }

  public int size() {
    return keywords.length;
  }

  /**
   * Every occurrence (overlapping ones too) in {@code text}, at most {@code maxHits}.
   *
   * @param wholeWord only matches not preceded or followed by a letter or digit
   */
  public List<Hit> find(String text, boolean wholeWord, int maxHits) {
    List<Hit> hits = new ArrayList<>();
    int ringSize = maxLength + 1;
    int[] ring = new int[ringSize];
    long fed = 0;
    int state = 0;
    boolean lastSpace = true; // leading whitespace is skipped
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c <= ' ' ? (c == ' ' || c == '\n' || c == '\t' || c == '\r' || Character.isWhitespace(c))
          : c >= 0x80 && Character.isWhitespace(c)) {
        if (lastSpace) {
          continue;
        }
        lastSpace = true;
        c = ' ';
      } else {
        lastSpace = false;
      }
      int g;
      if (state == 0 && c < 128) {
        g = rootAscii[c];
      } else {
        while ((g = step(edgeChars, edgeTargets, state, c)) < 0 && state != 0) {
          state = fail[state];
        }
      }
      state = g < 0 ? 0 : g;
      ring[(int) (fed % ringSize)] = i;
      fed++;
      for (int s = output[state] >= 0 ? state : outputLink[state]; s >= 0; s = outputLink[s]) {
        int k = output[s];
        int len = keywords[k].length();
        int start = ring[(int) ((fed - len) % ringSize)];
        int end = i + 1;
        if (wholeWord && !(boundary(text, start - 1) && boundary(text, end))) {
          continue;
        }
        hits.add(new Hit(k, start, end));
        if (hits.size() >= maxHits) {
          return hits;
        }
      }
    }
    return hits;
  }

  private static boolean boundary(String text, int i) {
    return i < 0 || i >= text.length() || !Character.isLetterOrDigit(text.charAt(i));
  }
}
