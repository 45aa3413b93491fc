package io.turnpike.sandbox.workspace;

import io.turnpike.sandbox.ToolException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Applies a patch in the V4A format (the format of the apply_patch tool of OpenAI's models, the
 * Agents SDK and Codex):
 * <pre>
 * *** Begin Patch
 * *** Add File: path          every following line starts with '+'
 * *** Delete File: path
 * *** Update File: path
 * *** Move to: new/path       (optional)
 * &#64;&#64; def anchor():             (optional lines to look for first, one per '&#64;&#64;')
 *  context line
 * -removed line
 * +added line
 * *** End of File             (optional: the hunk ends at the end of the file)
 * *** End Patch
 * </pre>
 * A hunk's context and removed lines are looked for from where the previous hunk ended: exactly, then
 * ignoring trailing blanks, then ignoring surrounding blanks. The whole patch is checked before any
 * file is written; a hunk that does not apply fails the patch with a message that shows the lines
 * that were not found.
 */
public final class ApplyPatch {
  private ApplyPatch() {}

  sealed interface Op permits Add, Delete, Update {
    String path();
  }

  record Add(String path, String content) implements Op {}

  record Delete(String path) implements Op {}

  record Update(String path, String moveTo, List<Hunk> hunks) implements Op {}

  /** One hunk: anchors from '@@' lines, then its lines as (prefix, text). */
  record Hunk(List<String> anchors, List<char[]> kinds, List<String> lines, boolean endOfFile, int firstLine) {}

  /** What a patch changed, one line per file, like {@code git status --short}. */
  public record Summary(List<String> added, List<String> modified, List<String> deleted) {
    @Override
    public String toString() {
      StringBuilder sb = new StringBuilder("Done.");
      added.forEach(p -> sb.append("\nA ").append(p));
      modified.forEach(p -> sb.append("\nM ").append(p));
      deleted.forEach(p -> sb.append("\nD ").append(p));
      return sb.toString();
    }
  }

  public static Summary apply(Workspace ws, String patch) throws IOException {
    List<Op> ops = parse(patch);
    // Compute every new content first: nothing is written unless the whole patch applies.
    Map<Path, String> writes = new LinkedHashMap<>();
    List<Path> deletes = new ArrayList<>();
    List<String> added = new ArrayList<>();
    List<String> modified = new ArrayList<>();
    List<String> deleted = new ArrayList<>();
    Map<Path, String> pending = new LinkedHashMap<>(); // content as changed by earlier ops of this patch
    for (Op op : ops) {
      Path p = ws.resolve(op.path());
      String rel = Workspace.normalize(op.path());
      switch (op) {
        case Add a -> {
          if ((Files.exists(p) && !deletes.contains(p)) || pending.containsKey(p)) {
            throw new ToolException("cannot add " + rel + ": it already exists (use '*** Update File: " + rel + "')");
          }
          pending.put(p, a.content());
          writes.put(p, a.content());
          deletes.remove(p);
          added.add(rel);
        }
        case Delete d -> {
          if (!Files.isRegularFile(p) && !pending.containsKey(p)) {
            throw new ToolException("cannot delete " + rel + ": no such file");
          }
          pending.remove(p);
          writes.remove(p);
          deletes.add(p);
          deleted.add(rel);
        }
        case Update u -> {
          String old = pending.containsKey(p) ? pending.get(p) : read(p, rel);
          String updated = applyHunks(rel, old, u.hunks());
          if (u.moveTo() != null) {
            Path to = ws.resolve(u.moveTo());
            String toRel = Workspace.normalize(u.moveTo());
            if (Files.exists(to) && !to.equals(p)) {
              throw new ToolException("cannot move " + rel + " to " + toRel + ": it already exists");
            }
            pending.remove(p);
            writes.remove(p);
            deletes.add(p);
            pending.put(to, updated);
            writes.put(to, updated);
            modified.add(rel + " -> " + toRel);
          } else {
            pending.put(p, updated);
            writes.put(p, updated);
            modified.add(rel);
          }
        }
      }
    }
    for (Path p : deletes) {
      if (!writes.containsKey(p)) {
        Files.deleteIfExists(p);
      }
    }
    for (Map.Entry<Path, String> w : writes.entrySet()) {
      boolean exec = Files.exists(w.getKey()) && Files.isExecutable(w.getKey());
      ws.write(w.getKey(), w.getValue().getBytes(StandardCharsets.UTF_8), exec);
    }
    return new Summary(added, modified, deleted);
  }

  private static String read(Path p, String rel) throws IOException {
    if (!Files.isRegularFile(p)) {
      throw new ToolException("cannot update " + rel + ": no such file (use '*** Add File: " + rel + "' to create it)");
    }
    return Files.readString(p, StandardCharsets.UTF_8);
  }

  // ------------------------------------------------------------------ parsing

  static List<Op> parse(String patch) {
    if (patch == null || patch.isBlank()) {
      throw new ToolException("the patch is empty");
    }
    List<String> lines = new ArrayList<>(List.of(patch.replace("\r\n", "\n").split("\n", -1)));
    while (!lines.isEmpty() && lines.getLast().isBlank()) {
      lines.removeLast();
    }
    int start = 0;
    while (start < lines.size() && lines.get(start).isBlank()) {
      start++;
    }
    if (start >= lines.size() || !lines.get(start).strip().equals("*** Begin Patch")) {
      throw new ToolException("the patch must start with '*** Begin Patch'");
    }
    if (!lines.getLast().strip().equals("*** End Patch")) {
      throw new ToolException("the patch must end with '*** End Patch'");
    }
    int end = lines.size() - 1;
    List<Op> ops = new ArrayList<>();
    int i = start + 1;
    while (i < end) {
      String line = lines.get(i);
      if (line.startsWith("*** Add File: ")) {
        String path = line.substring("*** Add File: ".length()).strip();
        i++;
        StringBuilder content = new StringBuilder();
        while (i < end && !isFileHeader(lines.get(i))) {
          String l = lines.get(i);
          if (!l.startsWith("+")) {
            throw new ToolException("line " + (i + 1) + " of the patch: every line of an Add File section starts with '+', got '"
                + abbreviate(l) + "'");
          }
          content.append(l, 1, l.length()).append('\n');
          i++;
        }
        ops.add(new Add(path, content.toString()));
      } else if (line.startsWith("*** Delete File: ")) {
        ops.add(new Delete(line.substring("*** Delete File: ".length()).strip()));
        i++;
      } else if (line.startsWith("*** Update File: ")) {
        String path = line.substring("*** Update File: ".length()).strip();
        i++;
        String moveTo = null;
        if (i < end && lines.get(i).startsWith("*** Move to: ")) {
          moveTo = lines.get(i).substring("*** Move to: ".length()).strip();
          i++;
        }
        List<Hunk> hunks = new ArrayList<>();
        List<String> anchors = new ArrayList<>();
        List<char[]> kinds = new ArrayList<>();
        List<String> body = new ArrayList<>();
        int first = i + 1;
        boolean eof = false;
        while (i < end && !isFileHeader(lines.get(i))) {
          String l = lines.get(i);
          if (l.startsWith("@@")) {
            if (!body.isEmpty() || eof) {
              hunks.add(new Hunk(anchors, kinds, body, eof, first));
              anchors = new ArrayList<>();
              kinds = new ArrayList<>();
              body = new ArrayList<>();
              eof = false;
              first = i + 1;
            }
            String anchor = l.substring(2).strip();
            if (!anchor.isEmpty()) {
              anchors.add(anchor);
            }
          } else if (l.strip().equals("*** End of File")) {
            eof = true;
          } else if (l.isEmpty() || l.charAt(0) == ' ' || l.charAt(0) == '-' || l.charAt(0) == '+') {
            if (eof) {
              throw new ToolException("line " + (i + 1) + " of the patch: '*** End of File' must end its hunk");
            }
            char kind = l.isEmpty() ? ' ' : l.charAt(0);
            kinds.add(new char[] {kind});
            body.add(l.isEmpty() ? "" : l.substring(1));
          } else {
            throw new ToolException("line " + (i + 1) + " of the patch: unexpected line in the Update File section of "
                + path + ": '" + abbreviate(l) + "' (hunk lines start with ' ', '-' or '+'; hunks start with '@@')");
          }
          i++;
        }
        if (!body.isEmpty() || !anchors.isEmpty()) {
          hunks.add(new Hunk(anchors, kinds, body, eof, first));
        }
        if (hunks.isEmpty() && moveTo == null) {
          throw new ToolException("the Update File section of " + path + " has no hunk");
        }
        ops.add(new Update(path, moveTo, hunks));
      } else if (line.isBlank()) {
        i++;
      } else {
        throw new ToolException("line " + (i + 1) + " of the patch: expected '*** Add File: ', '*** Update File: ' or "
            + "'*** Delete File: ', got '" + abbreviate(line) + "'");
      }
    }
    if (ops.isEmpty()) {
      throw new ToolException("the patch changes no file");
    }
    return ops;
  }

  private static boolean isFileHeader(String l) {
    return l.startsWith("*** Add File: ") || l.startsWith("*** Delete File: ") || l.startsWith("*** Update File: ")
        || l.strip().equals("*** End Patch");
  }

  private static String abbreviate(String s) {
    return s.length() > 80 ? s.substring(0, 77) + "..." : s;
  }

  // ------------------------------------------------------------------ applying

  static String applyHunks(String path, String content, List<Hunk> hunks) {
    boolean trailingNewline = content.isEmpty() || content.endsWith("\n");
    List<String> file = new ArrayList<>(List.of(content.split("\n", -1)));
    if (trailingNewline) {
      file.removeLast();
    }
    int cursor = 0;
    int n = 0;
    for (Hunk h : hunks) {
      n++;
      for (String anchor : h.anchors()) {
        int at = findLine(file, anchor, cursor);
        if (at < 0) {
          throw new ToolException("hunk " + n + " of " + path + " does not apply: the '@@ " + anchor
              + "' line was not found" + (cursor > 0 ? " after line " + cursor : "")
              + ". Read the file again and copy the anchor line exactly.");
        }
        cursor = at + 1;
      }
      List<String> old = new ArrayList<>();
      for (int k = 0; k < h.lines().size(); k++) {
        if (h.kinds().get(k)[0] != '+') {
          old.add(h.lines().get(k));
        }
      }
      int at;
      if (old.isEmpty()) {
        at = h.endOfFile() ? file.size() : cursor;
      } else {
        at = findBlock(file, old, cursor, h.endOfFile());
        if (at < 0) {
          StringBuilder msg = new StringBuilder("hunk " + n + " of " + path + " (patch line " + h.firstLine()
              + ") does not apply: these lines were not found" + (cursor > 0 ? " after line " + cursor : "")
              + (h.endOfFile() ? " at the end of the file" : "") + ":\n");
          old.stream().limit(20).forEach(l -> msg.append("  ").append(l).append('\n'));
          msg.append("No file was changed. Read the file again (read_file) and make the context and '-' lines match it exactly.");
          throw new ToolException(msg.toString());
        }
      }
      List<String> replacement = new ArrayList<>();
      int o = at;
      for (int k = 0; k < h.lines().size(); k++) {
        char kind = h.kinds().get(k)[0];
        switch (kind) {
          case ' ' -> replacement.add(file.get(o++)); // keep the file's own context line
          case '-' -> o++;
          default -> replacement.add(h.lines().get(k));
        }
      }
      List<String> next = new ArrayList<>(file.subList(0, at));
      next.addAll(replacement);
      next.addAll(file.subList(at + old.size(), file.size()));
      file = next;
      cursor = at + replacement.size();
    }
    String joined = String.join("\n", file);
    return file.isEmpty() ? "" : trailingNewline ? joined + "\n" : joined;
  }

  private static int findLine(List<String> file, String anchor, int from) {
    for (int pass = 0; pass < 2; pass++) {
      for (int i = from; i < file.size(); i++) {
        String l = file.get(i);
        if (pass == 0 ? l.equals(anchor) : l.strip().equals(anchor.strip())) {
          return i;
        }
      }
    }
    return -1;
  }

  private static int findBlock(List<String> file, List<String> block, int from, boolean eof) {
    for (int pass = 0; pass < 3; pass++) {
      if (eof) {
        int at = file.size() - block.size();
        if (at >= from && matches(file, block, at, pass)) {
          return at;
        }
      }
      for (int i = from; i + block.size() <= file.size(); i++) {
        if (matches(file, block, i, pass)) {
          return i;
        }
      }
    }
    return -1;
  }

  private static boolean matches(List<String> file, List<String> block, int at, int pass) {
    for (int k = 0; k < block.size(); k++) {
      String a = file.get(at + k);
      String b = block.get(k);
      boolean eq = switch (pass) {
        case 0 -> a.equals(b);
        case 1 -> a.stripTrailing().equals(b.stripTrailing());
        default -> a.strip().equals(b.strip());
      };
      if (!eq) {
        return false;
      }
    }
    return true;
  }
}
