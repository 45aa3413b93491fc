package io.turnpike.client.agent;

import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryGenerate;
import io.turnpike.avro.MemoryLayout;
import io.turnpike.avro.MemoryScopeKind;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.agent.AgentYaml.Obj;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The {@code memory:} section of an agent's YAML:
 *
 * <pre>
 * memory:
 *   read: true                 # the run's instructions get a summary of the scope's memory
 *   write: true                # finished runs are mined for memories; the agent gets memory_update
 *   scope: agent               # agent (one memory per agent) | user (per agent and RunRequest.user)
 *   layout: {memoriesDir: memory, summaryFile: MEMORY.md, notesDir: notes}
 *   generate:
 *     phaseOneModel: gpt-4.1-mini
 *     phaseTwoModel: gpt-4.1
 *     consolidateAfter: {candidates: 3, age: 1h}
 *     maxRawMemoriesForConsolidation: 64
 * </pre>
 */
final class MemoryYaml {
  /** The function tool an agent with {@code memory.write} gets; served by the memory service. */
  static final String MEMORY_UPDATE_TOOL = "memory_update";

  private static final Set<String> KEYS = AgentYaml.orderedSet("read", "write", "scope", "layout", "generate", "liveUpdate");
  private static final Set<String> LAYOUT_KEYS = AgentYaml.orderedSet("memoriesDir", "summaryFile", "notesDir", "sessionsDir");
  private static final Set<String> GENERATE_KEYS = AgentYaml.orderedSet("phaseOneModel", "phaseTwoModel", "consolidateAfter",
      "maxRawMemoriesForConsolidation");
  private static final Set<String> CONSOLIDATE_KEYS = AgentYaml.orderedSet("candidates", "age");
  /** A relative path inside the workspace: no leading slash, no '..', no empty parts. */
  private static final Pattern RELATIVE_PATH = Pattern.compile("^(?!/)(?!.*(^|/)\\.\\.(/|$))[A-Za-z0-9._/-]{1,200}$");

  private static final String UPDATE_PARAMETERS = """
      {"type":"object","properties":{\
      "action":{"type":"string","enum":["edit","remove"],"description":"edit: replace the line's text; remove: delete the line"},\
      "lineId":{"type":"string","description":"the id of a memory line, as shown in [brackets] in your memory"},\
      "text":{"type":"string","description":"edit: the corrected line (ignored for remove)"},\
      "reason":{"type":"string","description":"why the line is wrong or stale"}},\
      "required":["action","lineId","text","reason"],"additionalProperties":false}""";

  private MemoryYaml() {}

  static MemoryConfig parse(Obj top) {
    Obj o = top.optObject("memory");
    if (o == null) {
      return null;
    }
    o.rejectUnknown(KEYS);
    MemoryConfig.Builder b = MemoryConfig.newBuilder();
    Boolean read = o.optBoolean("read");
    Boolean write = o.optBoolean("write");
    if (read == null && write == null) {
      throw top.error("memory", "says neither read nor write: set read: true, write: true or both");
    }
    b.setRead(Boolean.TRUE.equals(read));
    b.setWrite(Boolean.TRUE.equals(write));
    if (!b.getRead() && !b.getWrite()) {
      throw top.error("memory", "has read and write both false: remove the section to turn memory off");
    }
    String scope = o.optString("scope", "agent");
    b.setScope(switch (scope.toLowerCase(Locale.ROOT)) {
      case "agent" -> MemoryScopeKind.AGENT;
      case "user" -> MemoryScopeKind.USER;
      default -> throw o.error("scope", "'" + scope + "' is not a memory scope (use agent: one memory for the agent, or"
          + " user: one per agent and RunRequest.user)");
    });
    // A builder's getters say null until build() fills in the defaults: take them from a built record.
    MemoryLayout defaults = MemoryLayout.newBuilder().build();
    MemoryLayout.Builder layout = MemoryLayout.newBuilder();
    Obj l = o.optObject("layout");
    if (l != null) {
      l.rejectUnknown(LAYOUT_KEYS);
      layout.setMemoriesDir(path(l, "memoriesDir", defaults.getMemoriesDir()));
      layout.setSummaryFile(path(l, "summaryFile", defaults.getSummaryFile()));
      layout.setNotesDir(path(l, "notesDir", defaults.getNotesDir()));
      layout.setSessionsDir(path(l, "sessionsDir", null));
    }
    b.setLayout(layout.build());
    MemoryGenerate generateDefaults = MemoryGenerate.newBuilder().build();
    MemoryGenerate.Builder g = MemoryGenerate.newBuilder();
    Obj gen = o.optObject("generate");
    if (gen != null) {
      if (!b.getWrite()) {
        throw o.error("generate", "has no effect without write: true (only writing agents produce memories)");
      }
      gen.rejectUnknown(GENERATE_KEYS);
      g.setPhaseOneModel(model(gen, "phaseOneModel"));
      g.setPhaseTwoModel(model(gen, "phaseTwoModel"));
      Obj after = gen.optObject("consolidateAfter");
      if (after != null) {
        after.rejectUnknown(CONSOLIDATE_KEYS);
        g.setConsolidateAfterCandidates(after.optInt("candidates", generateDefaults.getConsolidateAfterCandidates(), 1));
        g.setConsolidateAfterAgeMs(after.optDurationMs("age", null));
      }
      g.setMaxRawMemoriesForConsolidation(gen.optInt("maxRawMemoriesForConsolidation",
          generateDefaults.getMaxRawMemoriesForConsolidation(), 1));
      int trigger = g.hasConsolidateAfterCandidates() ? g.getConsolidateAfterCandidates() : generateDefaults.getConsolidateAfterCandidates();
      if (g.getMaxRawMemoriesForConsolidation() < trigger) {
        throw gen.error("maxRawMemoriesForConsolidation", "(" + g.getMaxRawMemoriesForConsolidation()
            + ") is below consolidateAfter.candidates (" + trigger
            + "): a consolidation could never take the candidates that trigger it");
      }
    }
    b.setGenerate(g.build());
    Boolean live = o.optBoolean("liveUpdate");
    b.setLiveUpdate(Boolean.TRUE.equals(live));
    return b.build();
  }

  /** The agent's tools plus memory_update when it may write memory; a tool of its own by that name is refused. */
  static List<ToolSpec> withMemoryTool(Obj top, List<ToolSpec> tools, MemoryConfig memory) {
    for (int i = 0; i < tools.size(); i++) {
      if (tools.get(i).getName().equals(MEMORY_UPDATE_TOOL) && memory != null && memory.getWrite()) {
        throw top.error("tools[" + i + "].name", "'" + MEMORY_UPDATE_TOOL + "' is reserved: an agent with memory.write gets it");
      }
    }
    if (memory == null || !memory.getWrite()) {
      return tools;
    }
    List<ToolSpec> out = new ArrayList<>(tools);
    out.add(ToolSpec.newBuilder().setName(MEMORY_UPDATE_TOOL).setKind(ToolKind.FUNCTION)
        .setDescription("Fix your memory in place: edit a line that is wrong or stale, or remove it, giving the reason."
            + " Applies at once; this run is recorded as the change's source.")
        .setParametersJson(UPDATE_PARAMETERS).setStrict(true).build());
    return out;
  }

  private static String path(Obj o, String field, String fallback) {
    String v = o.optString(field, fallback);
    if (v != null && !RELATIVE_PATH.matcher(v).matches()) {
      throw o.error(field, "'" + v + "' must be a relative path inside the workspace (letters, digits, . _ - /; no '..')");
    }
    return v;
  }

  private static String model(Obj o, String field) {
    String v = o.optString(field, null);
    if (v != null && v.isBlank()) {
      throw o.error(field, "must name a model, or be left out to use the agent's model");
    }
    return v == null ? null : v.trim();
  }
}
