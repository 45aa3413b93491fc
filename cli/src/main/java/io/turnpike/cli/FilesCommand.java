package io.turnpike.cli;

import io.turnpike.sandbox.workspace.SnapshotManifest;
import io.turnpike.sandbox.workspace.Workspace;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import io.turnpike.schema.Topics;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code turnpike runs files <runId> [path]}: the files of a run's sandbox workspace, from its latest
 * snapshot on {@code turnpike.workspaces} (no sandbox service needed). Without a path it lists every
 * file ({@code -o json}: the console's {@code /files} shape); with a file it prints it; with {@code --to DIR}
 * it writes the file, or the folder, or the whole workspace, under DIR.
 */
@Command(name = "files", mixinStandardHelpOptions = true,
    description = "List, print or download the files of a run's sandbox workspace (its latest snapshot on turnpike.workspaces).")
final class FilesCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;
  @Mixin
  KafkaOptions kafka;
  @Mixin
  OutputOptions format;

  @Parameters(index = "0", paramLabel = "RUN_ID", description = "The run (its sandbox session id).")
  String runId;

  @Parameters(index = "1", arity = "0..1", paramLabel = "PATH", description = "A file or folder of the workspace.")
  String path;

  @Option(names = {"-d", "--to"}, paramLabel = "DIR", description = "Write the file(s) under DIR instead of printing.")
  Path output;

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    String bootstrap = kafka.requireKafka(List.of(Topics.WORKSPACES.name()));
    try (WorkspaceStore store = new WorkspaceStore(bootstrap, kafka.registry(), Map.of(), 1024 * 1024)) {
      SnapshotManifest m = store.latest(runId).orElseThrow(() -> new CliException("run " + runId
          + " has no workspace snapshot in " + Topics.WORKSPACES.name()
          + " (unknown id, no sandbox command changed its workspace yet, or another session id)"));
      String rel;
      try {
        rel = path == null ? "" : Workspace.normalize(path);
      } catch (RuntimeException e) {
        throw new CliException(e.getMessage());
      }
      SnapshotManifest.Entry exact = m.entries().stream().filter(e -> e.path().equals(rel)).findFirst().orElse(null);
      List<SnapshotManifest.Entry> under = m.entries().stream()
          .filter(e -> rel.isEmpty() || e.path().startsWith(rel + "/")).toList();
      if (exact == null && under.isEmpty()) {
        throw new CliException("no " + rel + " in the workspace of run " + runId + " (snapshot " + m.snapshotId() + ")");
      }
      if (format.json() && output == null) {
        OutputOptions.print(out, json(m, exact != null && exact.isFile() ? List.of(exact) : under));
        return 0;
      }
      if (exact != null && exact.isFile()) {
        byte[] content = store.readFile(exact);
        if (output != null) {
          Path target = write(output, exact, content);
          out.println("wrote " + target + " (" + content.length + " bytes)");
        } else if (isText(content)) {
          out.print(new String(content, StandardCharsets.UTF_8));
        } else {
          throw new CliException(rel + " is binary (" + content.length + " bytes): use --to DIR to save it");
        }
        out.flush();
        return 0;
      }
      if (output != null) {
        long files = 0;
        long bytes = 0;
        for (SnapshotManifest.Entry e : under) {
          if (e.isFile()) {
            byte[] content = store.readFile(e);
            write(output, e, content);
            files++;
            bytes += content.length;
          } else if (e.isDir()) {
            Files.createDirectories(safe(output, e.path()));
          }
        }
        out.println("wrote " + files + " files (" + bytes + " bytes) of run " + runId + " (snapshot " + m.snapshotId()
            + ") under " + output);
      } else {
        out.println("workspace of run " + runId + ": snapshot " + m.snapshotId() + " taken " + m.createdAt() + " ("
            + m.fileCount() + " files, " + m.totalBytes() + " bytes, " + m.backend() + " backend)");
        for (SnapshotManifest.Entry e : under) {
          switch (e.type()) {
            case "dir" -> out.println(e.path() + "/");
            case "link" -> out.println(e.path() + " -> " + e.target());
            default -> out.printf("%s  %d%s%n", e.path(), e.size(), e.executable() ? "  (executable)" : "");
          }
        }
      }
      out.flush();
      return 0;
    } catch (WorkspaceStore.UnreadableRecordException e) {
      throw new CliException("cannot read the workspace of run " + runId + ": " + e.getMessage());
    }
  }

  /** As the console serves it ({@code GET /api/runs/{runId}/files}), plus each file's executable bit. */
  private static Map<String, Object> json(SnapshotManifest m, List<SnapshotManifest.Entry> entries) {
    List<Map<String, Object>> files = new java.util.ArrayList<>();
    for (SnapshotManifest.Entry e : entries) {
      Map<String, Object> f = new java.util.LinkedHashMap<>();
      f.put("path", e.path());
      f.put("type", e.type());
      switch (e.type()) {
        case "link" -> f.put("target", e.target());
        case "dir" -> { }
        default -> {
          f.put("size", e.size());
          f.put("executable", e.executable());
        }
      }
      files.add(f);
    }
    Map<String, Object> out = new java.util.LinkedHashMap<>();
    out.put("snapshotId", m.snapshotId());
    out.put("seq", m.seq());
    out.put("createdAt", m.createdAt().toString());
    out.put("backend", m.backend());
    out.put("files", files);
    return out;
  }

  private static Path write(Path dir, SnapshotManifest.Entry e, byte[] content) throws IOException {
    Path target = safe(dir, e.path());
    Files.createDirectories(target.getParent());
    Files.write(target, content);
    if (e.executable()) {
      target.toFile().setExecutable(true, false);
    }
    return target;
  }

  private static Path safe(Path dir, String rel) {
    Path base = dir.toAbsolutePath().normalize();
    Path target = base.resolve(rel).normalize();
    if (!target.startsWith(base)) {
      throw new CliException("refusing to write " + rel + " outside " + base);
    }
    return target;
  }

  private static boolean isText(byte[] b) {
    try {
      StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b));
      for (byte x : b) {
        if (x == 0) {
          return false;
        }
      }
      return true;
    } catch (CharacterCodingException e) {
      return false;
    }
  }
}
