package io.turnpike.devkit;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The workload of long-run tests and benchmarks: a {@code fetch} tool whose call for turn N answers page N,
 * a filler text of a fixed size, and a scripted model that asks for the next page until it has enough.
 */
public final class FetchPages {
  private static final ObjectMapper JSON = new ObjectMapper();

  private FetchPages() {}

  /** The turn the conversation's last {@code fetch} call was for; 0 before the first. */
  public static int lastTurn(ModelRequestView req) {
    for (int i = req.input().size() - 1; i >= 0; i--) {
      if (req.input().get(i) instanceof InputItem.FunctionCall f && f.name().equals("fetch")) {
        try {
          return JSON.readTree(f.arguments()).get("turn").asInt();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }
    }
    return 0;
  }

  /** Page {@code turn}: {@code bytes} characters of filler that name their turn. */
  public static String page(int turn, int bytes) {
    StringBuilder out = new StringBuilder("page " + turn + ": ");
    while (out.length() < bytes) {
      out.append("lorem ipsum dolor sit amet ").append(turn).append(' ');
    }
    return out.substring(0, bytes);
  }
}
