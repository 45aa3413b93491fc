package io.turnpike.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.sandbox.backend.Backend;
import io.turnpike.sandbox.backend.ExecRequest;
import io.turnpike.sandbox.backend.ExecResult;
import io.turnpike.sandbox.backend.OutputBuffer;
import io.turnpike.sandbox.workspace.ApplyPatch;
import io.turnpike.sandbox.workspace.RestorePlan;
import io.turnpike.sandbox.workspace.SnapshotRefusedException;
import io.turnpike.sandbox.workspace.SnapshotManifest;
import io.turnpike.sandbox.workspace.Workspace;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One session: a workspace on this host, the command side of its backend, and what it answered. Built
 * from the agent's {@link Manifest} on a run's first sandbox command, or restored from the session's
 * latest snapshot on {@code turnpike.workspaces}. Not thread-safe: the session manager runs one command
 * at a time per session.
 */
final class SandboxSession implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SandboxSession.class);
  static final java.util.Set<String> MUTATING = java.util.Set.of("write_file", "apply_patch", "shell", "load_skill");

  private final String sessionId;
  private final SandboxConfig config;
  private final WorkspaceStore store;
  private final Backend backend;
  private final Manifest manifest;
  private final Workspace ws;
  private final Path markerFile;
  private final Limits limits;
  private final Map<String, String> env;
  private final Backend.BackendSession commands;
  private final WorkspaceStore.FileCache cache = new WorkspaceStore.FileCache();
  private SnapshotManifest snapshot;
  /** Answers given, newest last (all tools; bounded). */
  private final LinkedHashMap<String, SandboxResult> answered = new LinkedHashMap<>(16, 0.75f, false) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, SandboxResult> e) {
      return size() > 256;
    }
  };
  /** Answers of mutating commands, persisted with each snapshot. */
  private final ArrayDeque<SnapshotManifest.RecordedResult> recorded = new ArrayDeque<>();
  private final String openedHow;

  private SandboxSession(String sessionId, SandboxConfig config, WorkspaceStore store, Backend backend, Manifest manifest,
      Workspace ws, Path markerFile, int slot, String openedHow, SnapshotManifest snapshot) {
    this.sessionId = sessionId;
    this.config = config;
    this.store = store;
    this.backend = backend;
    this.manifest = manifest;
    this.ws = ws;
    this.markerFile = markerFile;
    this.snapshot = snapshot;
    this.openedHow = openedHow;
    boolean local = backend.name().equals("local");
    this.limits = Limits.resolve(manifest == null ? null : manifest.getLimits(), config.defaults(), config.maxima(), local);
    this.env = manifest == null ? Map.of() : Map.copyOf(manifest.getEnv());
    boolean network = manifest != null && manifest.getNetwork() && config.allowNetwork();
    this.commands = backend.open(sessionId, slot, ws, limits, env, manifest == null ? null : manifest.getImage(), network);
    if (snapshot != null && snapshot.results() != null) {
      snapshot.results().forEach(recorded::add);
    }
  }

  /**
   * Opens a session on this host: the latest snapshot from Kafka if there is one (reusing the local
   * folder when it already holds exactly that snapshot), else a new workspace seeded from the manifest.
   */
  static SandboxSession open(String sessionId, String agent, Manifest manifest, SandboxConfig config, WorkspaceStore store,
      Backend backend, int slot) throws IOException {
    Path dir = config.root().resolve("sessions").resolve(dirName(sessionId));
    Path wsDir = dir.resolve("workspace");
    Path marker = dir.resolve("snapshot-id");
    int[] owner = backend.owner(slot);
    Files.createDirectories(dir);
    try {
      Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
    } catch (UnsupportedOperationException e) {
      // not a POSIX file system: nothing to do
    }
    Workspace ws = new Workspace(wsDir, owner == null ? null : owner[0], owner == null ? null : owner[1]);
    SnapshotManifest latest = store.latest(sessionId).orElse(null);
    RestorePlan plan = null;
    String refusal = null;
    if (latest != null) {
      // Anyone who can produce to turnpike.workspaces can write a manifest: it is restored only when its
      // tag verifies with the services' key and its entries are a workspace the service would write.
      try {
        plan = store.plan(latest, sessionId, restoreLimits(config));
      } catch (SnapshotRefusedException e) {
        log.warn("session {}: {}; the session starts from its agent's manifest instead", sessionId, e.getMessage());
        refusal = e.getMessage();
        latest = null;
      }
    }
    String how;
    SandboxSession s;
    if (latest != null) {
      String local = Files.exists(marker) ? Files.readString(marker).trim() : null;
      if (latest.snapshotId().equals(local)) {
        ws.ownAll();
        how = "reopened (local workspace is snapshot " + local + ")";
      } else {
        long t0 = System.nanoTime();
        store.restore(plan, ws, new WorkspaceStore.FileCache());
        how = "restored snapshot " + latest.snapshotId() + " (" + latest.fileCount() + " files, " + latest.totalBytes()
            + " bytes) from Kafka in " + (System.nanoTime() - t0) / 1_000_000 + " ms";
      }
      s = new SandboxSession(sessionId, config, store, backend, manifest, ws, marker, slot, how, latest);
      s.writeMarker();
    } else {
      ws.clear();
      Files.deleteIfExists(marker);
      seed(ws, manifest, agent, config);
      how = refusal == null ? "created from the manifest" : "created from the manifest (its latest snapshot was refused)";
      s = new SandboxSession(sessionId, config, store, backend, manifest, ws, marker, slot, how, null);
    }
    log.info("session {} on {} backend: {}", sessionId, backend.name(), how);
    return s;
  }

  /** The most a restore accepts: no legitimate snapshot holds more than the largest workspace a manifest may ask for. */
  private static RestorePlan.Limits restoreLimits(SandboxConfig config) {
    long max = (long) config.maxima().diskMb() * 1024 * 1024;
    return new RestorePlan.Limits(RestorePlan.Limits.DEFAULT.maxEntries(), max, max);
  }

  String openedHow() {
    return openedHow;
  }

  Workspace workspace() {
    return ws;
  }

  SnapshotManifest snapshot() {
    return snapshot;
  }

  static String dirName(String sessionId) {
    String safe = sessionId.replaceAll("[^A-Za-z0-9_.-]", "_");
    if (safe.length() > 80) {
      safe = safe.substring(0, 80);
    }
    return safe + "-" + WorkspaceStore.sha256(sessionId.getBytes(StandardCharsets.UTF_8)).substring(0, 8);
  }

  /** The manifest's pre-seed: directories, then files (inline, or from the agent's bundle). */
  private static void seed(Workspace ws, Manifest m, String agent, SandboxConfig config) throws IOException {
    if (m == null) {
      return;
    }
    // through the workspace's writer like every other write: a manifest is input too (anyone who can
    // produce to turnpike.sandbox.requests chooses it), so its paths get no trust a model's do not
    for (String d : m.getDirectories()) {
      ws.createDirectories(d);
    }
    for (ManifestFile f : m.getFiles()) {
      byte[] content;
      if (f.getContent() != null) {
        content = f.getContent().getBytes(StandardCharsets.UTF_8);
      } else if (f.getSource() != null) {
        content = fromBundle(f, agent, config);
      } else {
        content = new byte[0];
      }
      ws.write(f.getPath(), content, f.getExecutable());
    }
  }

  private static byte[] fromBundle(ManifestFile f, String agent, SandboxConfig config) throws IOException {
    if (config.bundlesDir().isEmpty()) {
      throw new ToolException("the manifest file " + f.getPath() + " comes from the agent bundle (" + f.getSource()
          + "), but this sandbox service has no turnpike.sandbox.bundles-dir");
    }
    // The agent name comes with the command: one plain folder name, or it could name any folder
    // ("../../etc") and the source any file in it.
    String name = agent == null ? "" : agent;
    if (name.isEmpty() || name.equals(".") || name.equals("..") || name.contains("/") || name.contains("\\")
        || name.indexOf('\0') >= 0) {
      throw new ToolException("the manifest file " + f.getPath() + " comes from the agent bundle, but the agent name '"
          + name + "' is not a folder name of " + config.bundlesDir().get());
    }
    Path bundle = config.bundlesDir().get().resolve(name);
    try {
      // read like a workspace: links inside the bundle are followed only inside it
      return Workspace.existing(bundle).readFile(f.getSource(), 64L * 1024 * 1024);
    } catch (ToolException | IOException e) {
      throw new ToolException("the manifest file " + f.getPath() + " names " + f.getSource()
          + ", which is not a file of the agent bundle " + bundle + " (" + e.getMessage() + ")");
    }
  }

  private void writeMarker() throws IOException {
    Files.writeString(markerFile, snapshot == null ? "" : snapshot.snapshotId());
  }

  // ------------------------------------------------------------------ commands

  /** The answer this session already gave to {@code callId}, if it remembers one. */
  SandboxResult answered(String callId) {
    SandboxResult r = answered.get(callId);
    if (r != null) {
      return r;
    }
    for (SnapshotManifest.RecordedResult rr : recorded) {
      if (rr.callId().equals(callId)) {
        return SandboxResult.newBuilder().setRunId("").setCallId(callId).setSessionId(sessionId).setTool(rr.tool())
            .setOutput(rr.output()).setIsError(rr.isError()).setExitCode(rr.exitCode()).setSnapshotId(rr.snapshotId())
            .setDurationMs(rr.durationMs()).build();
      }
    }
    return null;
  }

  SandboxResult execute(SandboxCommand cmd) {
    long start = System.nanoTime();
    SandboxResult.Builder b = SandboxResult.newBuilder()
        .setRunId(cmd.getRunId()).setCallId(cmd.getCallId()).setSessionId(sessionId).setTool(cmd.getTool())
        .setOutput("").setIsError(false);
    boolean mutating = MUTATING.contains(cmd.getTool());
    try {
      JsonNode args = parseArgs(cmd.getArguments());
      String tool = cmd.getTool();
      if (FILE_TOOLS.contains(tool)) {
        beforeFileTool(tool);
      }
      switch (tool) {
        case "read_file" -> b.setOutput(bounded(tool, () -> readFile(args)));
        case "write_file" -> b.setOutput(bounded(tool, () -> writeFile(args)));
        case "list_dir" -> b.setOutput(bounded(tool, () -> listDir(args)));
        case "apply_patch" -> b.setOutput(bounded(tool, () -> ApplyPatch.apply(ws, text(args, "patch", true)).toString()));
        case "view_image" -> {
          // its own builder: a call past its deadline may still be running when this answer is built
          SandboxResult.Builder image = SandboxResult.newBuilder();
          bounded(tool, () -> {
            viewImage(args, image);
            return null;
          });
          if (image.hasImages()) {
            b.setImages(image.getImages());
          }
          b.setOutput(image.getOutput());
        }
        case "shell" -> shell(args, cmd, b);
        case "load_skill" -> b.setOutput(bounded(tool, () -> loadSkill(args)));
        default -> throw new ToolException("unknown sandbox tool '" + cmd.getTool()
            + "' (shell, read_file, write_file, list_dir, apply_patch, view_image, load_skill)");
      }
    } catch (FileToolDeadline.Stuck e) {
      stuckTool = e.thread();
      b.setOutput(e.getMessage()).setIsError(true);
      mutating = false; // what the stuck call leaves is never saved: the session is set up again from its last snapshot
    } catch (ToolException e) {
      b.setOutput(e.getMessage()).setIsError(true);
    } catch (IOException e) {
      b.setOutput("error: " + e.getMessage()).setIsError(true);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      b.setOutput("the sandbox service is shutting down; the command was not finished").setIsError(true);
      mutating = false;
    } catch (RuntimeException e) {
      log.error("session {}: {} failed unexpectedly", sessionId, cmd.getTool(), e);
      b.setOutput("the sandbox failed: " + e).setIsError(true);
    }
    b.setDurationMs((System.nanoTime() - start) / 1_000_000);
    String overQuota = mutating ? overQuota() : null;
    if (mutating) {
      overQuotaBefore = overQuota != null;
    }
    if (overQuota != null) {
      // every byte of a snapshot goes to Kafka: a workspace over its quota is not saved until it is back within it
      b.setOutput(b.getOutput() + "\n[" + overQuota + "]").setIsError(true);
      if (snapshot != null) {
        b.setSnapshotId(snapshot.snapshotId());
      }
    } else if (mutating) {
      SnapshotManifest.RecordedResult rr = new SnapshotManifest.RecordedResult(cmd.getCallId(), cmd.getTool(), b.getOutput(),
          b.getIsError(), b.getExitCode(), null, b.getDurationMs());
      recorded.addLast(rr);
      while (recorded.size() > config.resultsKept()) {
        recorded.removeFirst();
      }
      try {
        SnapshotManifest before = snapshot;
        snapshot = store.snapshot(sessionId, backend.name(), ws, snapshot, cache, List.copyOf(recorded), false);
        if (snapshot != before) {
          recorded.clear();
          recorded.addAll(snapshot.results());
          writeMarker();
        } else {
          recorded.removeLast(); // nothing changed: the command may safely run again
        }
      } catch (IOException | RuntimeException e) {
        recorded.removeLast();
        log.error("session {}: cannot snapshot the workspace after {}: {}", sessionId, cmd.getCallId(), e.toString());
      }
      if (snapshot != null) {
        b.setSnapshotId(snapshot.snapshotId());
      }
    }
    SandboxResult r = b.build();
    answered.put(cmd.getCallId(), r);
    return r;
  }

  private static JsonNode parseArgs(String json) {
    try {
      JsonNode n = WorkspaceStore.json().readTree(json == null || json.isBlank() ? "{}" : json);
      if (n == null || !n.isObject()) {
        throw new ToolException("the arguments must be a JSON object");
      }
      return n;
    } catch (IOException e) {
      throw new ToolException("the arguments are not valid JSON: " + e.getMessage());
    }
  }

  private static String text(JsonNode args, String name, boolean required) {
    JsonNode n = args.get(name);
    if (n == null || n.isNull()) {
      if (required) {
        throw new ToolException("the argument '" + name + "' is required");
      }
      return null;
    }
    if (!n.isTextual()) {
      throw new ToolException("the argument '" + name + "' must be a string");
    }
    return n.asText();
  }

  private static Long number(JsonNode args, String name) {
    JsonNode n = args.get(name);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.canConvertToLong() && !(n.isTextual() && n.asText().matches("\\d+"))) {
      throw new ToolException("the argument '" + name + "' must be an integer");
    }
    return n.asLong();
  }

  /** The largest file read_file reads (a range of a larger one: the shell). */
  static final long MAX_READ_BYTES = 64L * 1024 * 1024;

  private String readFile(JsonNode args) throws IOException {
    String path = text(args, "path", true);
    // refuses folders, FIFOs and devices before opening anything, and never follows a link out
    byte[] bytes = ws.readFile(path, MAX_READ_BYTES);
    String content;
    try {
      content = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      content = null;
    }
    if (content == null || content.indexOf('\0') >= 0) {
      throw new ToolException("'" + path + "' is a binary file (" + bytes.length + " bytes); use view_image for images, or the shell");
    }
    Long start = number(args, "start_line");
    Long end = number(args, "end_line");
    String body = content;
    String header = "";
    if (start != null || end != null) {
      String[] lines = content.split("\n", -1);
      int total = content.endsWith("\n") ? lines.length - 1 : lines.length;
      long s = start == null ? 1 : Math.max(1, start);
      long e = end == null ? total : Math.min(end, total);
      if (s > total) {
        throw new ToolException("'" + path + "' has " + total + " lines; start_line " + s + " is past its end");
      }
      if (e < s) {
        throw new ToolException("end_line " + e + " is before start_line " + s);
      }
      StringBuilder sb = new StringBuilder();
      for (long i = s; i <= e; i++) {
        sb.append(lines[(int) i - 1]).append('\n');
      }
      body = sb.toString();
      header = "[lines " + s + "-" + e + " of " + total + "]\n";
    }
    int max = limits.outputBytes();
    if (body.getBytes(StandardCharsets.UTF_8).length > max) {
      return header + OutputBuffer.truncate(body, max) + "\n[the file is longer than " + max
          + " bytes: read parts of it with start_line/end_line]";
    }
    return header + body;
  }

  private String writeFile(JsonNode args) throws IOException {
    String path = text(args, "path", true);
    String content = text(args, "content", true);
    if (Workspace.normalize(path).isEmpty()) {
      throw new ToolException("a file path is required, not the workspace root");
    }
    byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
    if (bytes.length > (long) limits.diskMb() * 1024 * 1024) {
      throw new ToolException("the content is larger than the file size limit of " + limits.diskMb() + " MB");
    }
    Workspace.Node before = ws.stat(path, true);
    ws.write(path, bytes, before.isFile() && before.executable());
    return (before.exists() ? "overwrote " : "wrote ") + Workspace.normalize(path) + " (" + bytes.length + " bytes)";
  }

  private String listDir(JsonNode args) throws IOException {
    String path = text(args, "path", false);
    Long depthArg = number(args, "depth");
    int depth = depthArg == null ? 1 : (int) Math.max(1, Math.min(5, depthArg));
    List<Workspace.Node> nodes = ws.list(path == null ? "" : path, depth, 2001);
    TreeMap<String, String> lines = new TreeMap<>();
    for (Workspace.Node n : nodes) {
      switch (n.kind()) {
        case DIR -> lines.put(n.path() + "/", n.path() + "/");
        case LINK -> lines.put(n.path(), n.path() + " -> " + n.target());
        case FILE -> lines.put(n.path(), n.path() + "  (" + n.size() + " bytes)");
        default -> lines.put(n.path(), n.path() + "  (not a regular file: a FIFO, socket or device)");
      }
    }
    String rel = Workspace.normalize(path == null ? "" : path);
    StringBuilder sb = new StringBuilder(rel.isEmpty() ? "/workspace" : rel).append(":");
    if (lines.isEmpty()) {
      sb.append(" (empty)");
    }
    lines.values().stream().limit(2000).forEach(l -> sb.append('\n').append(l));
    if (nodes.size() > 2000) {
      sb.append("\n[listing stopped after 2000 entries]");
    }
    return OutputBuffer.truncate(sb.toString(), limits.outputBytes());
  }

  private void viewImage(JsonNode args, SandboxResult.Builder b) throws IOException {
    String path = text(args, "path", true);
    Workspace.Node n = ws.stat(path, true);
    if (n.kind() == Workspace.Kind.OTHER) {
      throw new ToolException("'" + path + "' is not a regular file (a FIFO, socket or device): refused");
    }
    if (!n.isFile()) {
      throw new ToolException("no such file: '" + path + "'");
    }
    if (n.size() > config.maxImageBytes()) {
      throw new ToolException("'" + path + "' has " + n.size() + " bytes; images up to " + config.maxImageBytes() + " bytes can be viewed");
    }
    byte[] bytes = ws.readFile(path, config.maxImageBytes());
    String mime = imageType(bytes);
    if (mime == null) {
      throw new ToolException("'" + path + "' is not a PNG, JPEG, GIF or WebP image");
    }
    List<ImageContent> images = new ArrayList<>();
    images.add(ImageContent.newBuilder().setMimeType(mime).setData(ByteBuffer.wrap(bytes)).build());
    b.setImages(images);
    b.setOutput("image " + Workspace.normalize(path) + " (" + mime + ", " + bytes.length + " bytes)");
  }

  static String imageType(byte[] b) {
    if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
      return "image/png";
    }
    if (b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF) {
      return "image/jpeg";
    }
    if (b.length >= 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8') {
      return "image/gif";
    }
    if (b.length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' && b[9] == 'E'
        && b[10] == 'B' && b[11] == 'P') {
      return "image/webp";
    }
    return null;
  }

  // ------------------------------------------------------------------ processes and limits (issue #11)

  /** Tools that work on the workspace from the service: bounded in time, and run only while no command's process does. */
  static final java.util.Set<String> FILE_TOOLS = java.util.Set.of("read_file", "write_file", "list_dir", "apply_patch",
      "view_image", "load_skill");

  /** The workspace quota; its {@link WorkspaceQuota#reserve} is what the service's writers ask before they write. */
  private WorkspaceQuota quota;
  /** Whether the workspace was over its quota after the last mutating command; null: not measured yet. */
  private Boolean overQuotaBefore;
  /** A file tool call that could not be stopped: while it is set, the session must be replaced, not used. */
  private volatile Thread stuckTool;

  WorkspaceQuota quota() {
    if (quota == null) {
      quota = new WorkspaceQuota(ws.root(), limits.diskBytes(), limits.workspaceFiles());
      // every write of a model's path asks it first (the workspace's writer); seeds and restores do not
      ws.writeCheck(quota::reserve);
    }
    return quota;
  }

  /** The thread of a file tool call that could not be stopped, or null: the session manager replaces such a session. */
  Thread stuckTool() {
    return stuckTool;
  }

  /**
   * Before a file tool: no process of the session may run (a process left by a command could swap a
   * checked folder for a link while the tool works), and the quota counts this call afresh (the
   * workspace's writer asks {@link WorkspaceQuota#reserve} before it writes).
   */
  private void beforeFileTool(String tool) throws InterruptedException {
    String running = commands.quiesce();
    if (running != null) {
      throw new ToolException(tool + " did not run: " + running + ". File tools run only while no command of the session "
          + "does; try again.");
    }
    quota().reset();
  }

  /** Runs a file tool call within {@code turnpike.sandbox.file-tool-timeout}. */
  private <T> T bounded(String tool, java.util.concurrent.Callable<T> body)
      throws IOException, InterruptedException, FileToolDeadline.Stuck {
    return FileToolDeadline.run(tool, config.fileToolTimeout(), ws.root(), limits.workspaceFiles(), body);
  }

  /**
   * Null when the workspace is within its quota; else what the model is told: a workspace over its
   * quota is not snapshotted, and file tools refuse to add to it.
   */
  private String overQuota() {
    WorkspaceQuota q = quota();
    try {
      String over = q.over(q.measure());
      if (over == null) {
        return null;
      }
      log.info("session {}: over its workspace quota: {}", sessionId, over);
      return "over the workspace quota (" + q.describe() + "): " + over + ". The workspace is not saved (no snapshot) "
          + "until it is back within the quota, and file tools refuse to add to it: delete files you do not need "
          + "(rm in the shell), then go on";
    } catch (IOException e) {
      log.warn("session {}: cannot measure the workspace: {}", sessionId, e.toString());
      return null;
    }
  }

  /**
   * Watches the workspace while a command runs: a command that makes it pass its quota is stopped. A
   * walk costs at most the quota's file count, and walks take at most a quarter of the command's time.
   */
  private ExecRequest.Watch quotaWatch() {
    WorkspaceQuota q = quota();
    // A workspace over its quota already may shrink, however long a command deleting files takes, but
    // not grow: its limits are then what it holds when the command starts. Bytes cost a walk nothing;
    // entries bound it.
    WorkspaceQuota.Usage start = null;
    if (overQuotaBefore == null || overQuotaBefore) {
      try {
        start = q.measure(Long.MAX_VALUE, 2L * q.maxFiles());
        overQuotaBefore = q.over(start) != null;
      } catch (IOException e) {
        log.warn("session {}: cannot measure the workspace: {}", sessionId, e.toString());
      }
    }
    boolean over = start != null && overQuotaBefore;
    long byteLimit = over ? Math.max(q.maxBytes(), start.bytes()) : q.maxBytes();
    long fileLimit = over ? Math.max(q.maxFiles(), start.files()) : q.maxFiles();
    long[] nextWalk = {0};
    return () -> {
      long t0 = System.nanoTime();
      if (t0 < nextWalk[0]) {
        return null;
      }
      WorkspaceQuota.Usage u;
      try {
        u = q.measure(byteLimit, fileLimit);
      } catch (IOException e) {
        return null;
      }
      long t1 = System.nanoTime();
      nextWalk[0] = t1 + 3 * (t1 - t0);
      if (u.bytes() <= byteLimit && u.files() <= fileLimit) {
        return null;
      }
      return "the command was killed: " + (over ? "the workspace was over its quota already and grew"
          : "it made the workspace pass its quota") + " (" + q.over(u) + ")";
    };
  }

  private void shell(JsonNode args, SandboxCommand cmd, SandboxResult.Builder b) throws InterruptedException {
    String command = text(args, "command", true);
    if (command.isBlank()) {
      throw new ToolException("the command is empty");
    }
    Long asked = number(args, "timeout_ms");
    long timeout = asked == null ? limits.commandTimeoutMs() : Math.max(1, Math.min(asked, limits.commandTimeoutMs()));
    if (cmd.getDeadline() != null) {
      long left = cmd.getDeadline().toEpochMilli() - Instant.now().toEpochMilli();
      if (left > 500) {
        timeout = Math.min(timeout, left - 200); // past its deadline nobody waits for the answer
      }
    }
    ExecResult r = commands.exec(new ExecRequest(command, timeout, env, limits, quotaWatch()));
    if (r.exitCode() < 0 && r.stdout().isEmpty() && r.stderr().isEmpty()) {
      throw new ToolException(r.note() == null ? "the command did not run" : r.note());
    }
    StringBuilder sb = new StringBuilder("exit code: ").append(r.exitCode());
    if (r.note() != null) {
      sb.append("\n[").append(r.note()).append("]");
    }
    if (!r.stdout().isEmpty()) {
      sb.append("\n--- stdout ---\n").append(r.stdout());
    }
    if (!r.stderr().isEmpty()) {
      sb.append("\n--- stderr ---\n").append(r.stderr());
    }
    b.setOutput(sb.toString());
    b.setExitCode(r.exitCode());
    b.setIsError(r.exitCode() != 0);
  }

  private String loadSkill(JsonNode args) throws IOException {
    String name = text(args, "name", true);
    List<Skills.Skill> all = Skills.available(manifest, config.skillsDir());
    Skills.Skill skill = all.stream().filter(s -> s.name().equals(name)).findFirst()
        .orElseThrow(() -> new ToolException("no skill named '" + name + "'. " + Skills.listing(all)));
    String folder = "skills/" + Workspace.normalize(name);
    for (Map.Entry<String, byte[]> f : skill.files().entrySet()) {
      // the workspace's writer: a skill file that a command made a link (to anywhere) is not written through
      ws.write(folder + "/" + f.getKey(), f.getValue(), f.getKey().endsWith(".sh") || f.getKey().endsWith(".py"));
    }
    String md = new String(skill.files().get("SKILL.md"), StandardCharsets.UTF_8);
    StringBuilder sb = new StringBuilder("Skill '" + name + "' is in " + folder + "/. Its files:");
    skill.files().keySet().forEach(f -> sb.append("\n- ").append(folder).append('/').append(f));
    sb.append("\n\n").append(md);
    return OutputBuffer.truncate(sb.toString(), Math.max(limits.outputBytes(), 64 * 1024));
  }

  /** Stops the command side (the container); the workspace folder and the snapshot stay. */
  @Override
  public void close() {
    try {
      commands.close();
    } catch (RuntimeException e) {
      log.warn("session {}: cannot close its backend session: {}", sessionId, e.toString());
    }
  }

  /** Removes the local workspace folder (the snapshot on Kafka stays). */
  void deleteLocal() {
    try {
      Workspace.deleteTree(markerFile.getParent(), true);
    } catch (IOException e) {
      log.warn("session {}: cannot delete its local workspace: {}", sessionId, e.toString());
    }
  }
}
