package io.turnpike.runner.run;

import io.turnpike.avro.CompactionPolicy;
import java.util.List;
import java.util.Locale;

/**
 * The context window of each model, in tokens: what a compaction policy's threshold is a fraction of.
 * Matched by the longest prefix of the model name, so dated snapshots ({@code gpt-4o-2024-08-06}) find
 * their family; an agent's {@code compaction.contextWindow} wins over the table, and a model the table
 * does not know gets {@link #DEFAULT}.
 */
final class ContextWindows {
  /** A model the table does not know: the smallest window of the current OpenAI chat models. */
  static final long DEFAULT = 128_000;

  private record Entry(String prefix, long tokens) {}

  /** Longest prefixes first, so {@code gpt-4o-mini} is not taken for {@code gpt-4}. */
  private static final List<Entry> TABLE = List.of(
      new Entry("gpt-4.1-nano", 1_047_576),
      new Entry("gpt-4.1-mini", 1_047_576),
      new Entry("gpt-4o-mini", 128_000),
      new Entry("gpt-5-chat", 128_000),
      new Entry("gpt-3.5-turbo", 16_385),
      new Entry("gpt-4-turbo", 128_000),
      new Entry("o4-mini", 200_000),
      new Entry("o3-mini", 200_000),
      new Entry("o1-mini", 128_000),
      new Entry("gpt-4.1", 1_047_576),
      new Entry("gpt-4o", 128_000),
      new Entry("gpt-5", 400_000),
      new Entry("gpt-4", 8_192),
      new Entry("o3", 200_000),
      new Entry("o1", 200_000),
      // the devkit's scripted model: small, so tests and benchmarks reach it in a few turns
      new Entry("scripted", 32_000));

  private ContextWindows() {}

  /** The window a policy's threshold applies to for {@code model}. */
  static long of(String model, CompactionPolicy policy) {
    if (policy != null && policy.getContextWindow() != null && policy.getContextWindow() > 0) {
      return policy.getContextWindow();
    }
    String name = model == null ? "" : model.toLowerCase(Locale.ROOT);
    int slash = name.lastIndexOf('/');
    if (slash >= 0) {
      name = name.substring(slash + 1); // provider-qualified names: openai/gpt-4o
    }
    for (Entry e : TABLE) {
      if (name.startsWith(e.prefix())) {
        return e.tokens();
      }
    }
    return DEFAULT;
  }
}
