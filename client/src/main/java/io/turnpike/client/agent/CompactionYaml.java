package io.turnpike.client.agent;

import io.turnpike.avro.CompactionMode;
import io.turnpike.avro.CompactionPolicy;
import io.turnpike.client.agent.AgentYaml.Obj;
import io.turnpike.schema.Capabilities;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The compaction capability (the OpenAI Agents SDK's {@code compaction()}): listed in
 * {@code capabilities}, with an optional {@code compaction:} section for its policy.
 *
 * <pre>
 * capabilities: [compaction]
 * compaction:
 *   policy: static        # static: the input estimated from its size | dynamic: from the tokens the model reported
 *   threshold: 0.8        # compact when the input reaches this fraction of the context window
 *   contextWindow: 128000 # tokens; default: the runner's table by model name
 *   keepRecentItems: 6    # the latest items stay as they are (a tool call is never parted from its output)
 *   instructions: "..."   # the summarize instruction; default: the runner's
 * </pre>
 */
final class CompactionYaml {
  private static final Set<String> KEYS = AgentYaml.orderedSet("policy", "threshold", "contextWindow", "keepRecentItems",
      "instructions");

  private CompactionYaml() {}

  static CompactionPolicy parse(Obj top, List<String> capabilities) {
    Obj o = top.optObject("compaction");
    boolean listed = capabilities.contains(Capabilities.COMPACTION);
    if (!listed) {
      if (o != null) {
        throw top.error("compaction", "configures a capability the agent does not have: add compaction to capabilities");
      }
      return null;
    }
    CompactionPolicy.Builder b = CompactionPolicy.newBuilder();
    if (o == null) {
      return b.build();
    }
    o.rejectUnknown(KEYS);
    String policy = o.optString("policy", "static");
    b.setMode(switch (policy.toLowerCase(Locale.ROOT)) {
      case "static" -> CompactionMode.STATIC;
      case "dynamic" -> CompactionMode.DYNAMIC;
      default -> throw o.error("policy", "'" + policy + "' is not a compaction policy (use static: the input estimated from"
          + " its size, or dynamic: from the input tokens the model reported for the last call)");
    });
    Double threshold = o.optDouble("threshold", 0.05, 0.99);
    if (threshold != null) {
      b.setThreshold(threshold);
    }
    Integer window = o.optIntOrNull("contextWindow", 1024);
    b.setContextWindow(window == null ? null : window.longValue());
    b.setKeepRecentItems(o.optInt("keepRecentItems", 6, 1));
    String instructions = o.optString("instructions", null);
    if (instructions != null && instructions.isBlank()) {
      throw o.error("instructions", "is blank: remove it to use the runner's summarize instruction");
    }
    b.setInstructions(instructions);
    return b.build();
  }
}
