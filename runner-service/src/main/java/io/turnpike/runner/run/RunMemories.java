package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryScopeKind;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.MemoryKind;
import io.turnpike.avro.MemoryLayout;
import io.turnpike.avro.MemoryLine;
import io.turnpike.avro.RunMemory;
import io.turnpike.avro.RunState;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import io.turnpike.schema.AvroSerde;
import io.turnpike.schema.registry.SchemaRegistryException;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reading memory (issue #13): {@code turnpike.memory} is a global store of the orchestrator (every
 * instance needs every scope, as with agents), so a new run is joined with its scope's latest document
 * from local state, with no I/O on the stream thread. The run keeps what it read ({@link RunMemory}:
 * scope, version, the summary) in its RunState, so a restart or a replay gives the same instructions.
 */
public final class RunMemories {
  private static final Logger log = LoggerFactory.getLogger(RunMemories.class);

  public static final String STORE = "memory";

  private RunMemories() {}

  /** The scope of a run of {@code agent} for {@code user} (as the memory service names it), or null. */
  static String scope(AgentDefinition agent, String user) {
    MemoryConfig m = agent.getMemory();
    if (m == null || !m.getRead()) {
      return null;
    }
    if (m.getScope() == MemoryScopeKind.USER) {
      return user == null || user.isBlank() ? null : agent.getName() + "/" + user;
    }
    return agent.getName();
  }

  /** What a new run of {@code agent} for {@code user} reads from memory, or null (no memory, none yet, unreadable). */
  static RunMemory read(KeyValueStore<String, byte[]> store, AvroSerde<MemoryDocument> documents, AgentDefinition agent,
      String user) {
    String scope = scope(agent, user);
    if (scope == null || store == null) {
      return null;
    }
    byte[] bytes = store.get(scope);
    if (bytes == null) {
      return null;
    }
    MemoryDocument doc;
    try {
      doc = documents.decode(bytes);
    } catch (SchemaRegistryException e) {
      if (e.isTransient()) {
        throw e; // the registry is away: Streams retries the record
      }
      log.warn("memory of {} cannot be decoded; the run starts without it: {}", scope, e.getMessage());
      return null;
    } catch (RuntimeException e) {
      log.warn("memory of {} cannot be decoded; the run starts without it: {}", scope, e.getMessage());
      return null;
    }
    String summary = MemorySummary.render(doc, agent.getMemory().getWrite());
    if (summary == null) {
      return null;
    }
    return new RunMemory(scope, doc.getVersion(), summary, agent.getCapabilities().isEmpty() ? Map.of() : files(doc, agent));
  }

  /**
   * memory.liveUpdate: what a running run should see now, when its agent asks for live updates and
   * its scope has a newer document than the run holds; else null. Looked up in the local store on
   * every input of the run, so a consolidation reaches a long run at its next step.
   */
  static RunMemory newer(KeyValueStore<String, byte[]> store, AvroSerde<MemoryDocument> documents, RunState state) {
    AgentDefinition agent = state.getAgent();
    MemoryConfig m = agent.getMemory();
    if (store == null || m == null || !m.getLiveUpdate() || RunStateMachine.isTerminal(state.getStatus())) {
      return null;
    }
    String scope = scope(agent, state.getUser());
    RunMemory had = state.getMemory();
    if (scope == null || had != null && !had.getScope().equals(scope) || store.get(scope) == null) {
      return null; // after a handoff the memory stays the first agent's
    }
    RunMemory now = read(store, documents, agent, state.getUser());
    return now != null && (had == null || now.getVersion() > had.getVersion()) ? now : null;
  }

  /**
   * The memory as files in the workspace, in the agent's layout: {@code <memoriesDir>/<summaryFile>} with
   * every line and its sources, and {@code <memoriesDir>/<notesDir>/<kind>.md} per kind, so the agent can
   * grep it. Bounded like the summary.
   */
  static Map<String, String> files(MemoryDocument doc, AgentDefinition agent) {
    MemoryLayout layout = agent.getMemory().getLayout();
    String dir = layout.getMemoriesDir();
    Map<String, String> out = new TreeMap<>();
    Map<MemoryKind, StringBuilder> notes = new TreeMap<>();
    StringBuilder all = new StringBuilder("# Memory of " + doc.getScope() + " (version " + doc.getVersion() + ")\n\n");
    for (MemoryLine l : doc.getLines()) {
      String line = "- [" + l.getId() + "] (" + l.getKind().name().toLowerCase(Locale.ROOT) + ") " + l.getText()
          + "  (sources: " + String.join(", ", l.getSources()) + ")\n";
      if (all.length() + line.length() > MemorySummary.MAX_CHARS * 4) {
        all.append("(more lines not shown)\n");
        break;
      }
      all.append(line);
      notes.computeIfAbsent(l.getKind(), k -> new StringBuilder("# " + k.name().toLowerCase(Locale.ROOT) + "\n\n")).append(line);
    }
    out.put(dir + "/" + layout.getSummaryFile(), all.toString());
    if (layout.getSessionsDir() != null) {
      sessions(doc, dir + "/" + layout.getSessionsDir()).forEach(out::put);
    }
    notes.forEach((kind, text) -> out.put(dir + "/" + layout.getNotesDir() + "/" + kind.name().toLowerCase(Locale.ROOT) + ".md",
        text.toString()));
    return out;
  }

  /** At most this many session files: the most recent source runs first. */
  static final int MAX_SESSION_FILES = 50;

  /**
   * layout.sessionsDir: one file per source run, {@code <sessionsDir>/<runId>.md}, with the lines that
   * rest on it, so the agent can see what each earlier run taught (and which run a line came from).
   * The runs whose lines were updated last come first; the files are bounded in number and size.
   */
  static Map<String, String> sessions(MemoryDocument doc, String sessionsDir) {
    Map<String, StringBuilder> byRun = new java.util.LinkedHashMap<>();
    List<MemoryLine> recentFirst = new ArrayList<>(doc.getLines());
    recentFirst.sort(java.util.Comparator.comparing(MemoryLine::getUpdatedAt).reversed());
    for (MemoryLine l : recentFirst) {
      for (String run : l.getSources()) {
        if (!byRun.containsKey(run) && byRun.size() >= MAX_SESSION_FILES) {
          continue;
        }
        StringBuilder sb = byRun.computeIfAbsent(run, r -> new StringBuilder("# What run " + r + " left in memory\n\n"));
        if (sb.length() < MemorySummary.MAX_CHARS) {
          sb.append("- [").append(l.getId()).append("] (").append(l.getKind().name().toLowerCase(Locale.ROOT)).append(") ")
              .append(l.getText()).append('\n');
        }
      }
    }
    Map<String, String> out = new TreeMap<>();
    // a runId may hold characters a file name must not: keep it readable and inside the folder
    byRun.forEach((run, text) -> out.put(sessionsDir + "/" + run.replaceAll("[^A-Za-z0-9._-]", "_") + ".md", text.toString()));
    return out;
  }

  /** The definition the run pins: with a sandbox, its manifest also seeds the memory files. */
  static AgentDefinition withFiles(AgentDefinition agent, RunMemory memory) {
    if (memory == null || memory.getFiles().isEmpty()) {
      return agent;
    }
    Manifest manifest = agent.getManifest() == null ? Manifest.newBuilder().build() : Manifest.newBuilder(agent.getManifest()).build();
    List<ManifestFile> files = new ArrayList<>();
    for (ManifestFile f : manifest.getFiles()) {
      if (!memory.getFiles().containsKey(f.getPath())) {
        files.add(f);
      }
    }
    memory.getFiles().forEach((path, content) -> files.add(ManifestFile.newBuilder().setPath(path).setContent(content).build()));
    manifest.setFiles(files);
    return AgentDefinition.newBuilder(agent).setManifest(manifest).build();
  }

  /** The instructions of a model call of {@code agent}: the memory is the run's first agent's, so only it sees it. */
  static String instructions(String base, RunMemory memory, AgentDefinition agent) {
    if (memory == null || !memory.getScope().equals(agent.getName()) && !memory.getScope().startsWith(agent.getName() + "/")) {
      return base;
    }
    return base.isEmpty() ? memory.getSummary() : base + "\n\n" + memory.getSummary();
  }
}
