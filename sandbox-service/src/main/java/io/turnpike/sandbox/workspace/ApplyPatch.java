package io.turnpike.sandbox.workspace;

import io.turnpike.sandbox.ToolException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
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

  /** A file to write at the end, under the path the patch named it by. */
  private record Pending(String path, String content) {}

  /** An entry to delete at the end; {@code followLast}: the file a link names (a move), else the entry itself. */
  private record Removal(String path, boolean followLast) {}

  /**
   * Applies a patch to the workspace. Every path is resolved through {@link Workspace} (links inside
   * the workspace followed, nothing outside ever reached); every new content is computed first and
   * nothing is written unless the whole patch applies. Writes and deletes then go through the
   * workspace's own writer, which resolves each path again without following a link out, so a folder
   * swapped for a link since the check makes the write fail, never land outside.
   */
  public static Summary apply(Workspace ws, String patch) throws IOException {
    List<Op> ops = parse(patch);
    Work work = new Work(MAX_WORK);
    // keyed by the path links resolve to, so two names of one file are one file
    Map<String, Pending> writes = new LinkedHashMap<>();
    Map<String, Removal> removals = new LinkedHashMap<>();
    List<String> added = new ArrayList<>();
    List<String> modified = new ArrayList<>();
    List<String> deleted = new ArrayList<>();
    for (Op op : ops) {
      String rel = Workspace.normalize(op.path());
      switch (op) {
        case Add a -> {
          Workspace.Node n = ws.stat(a.path(), true);
          if (writes.containsKey(n.path()) || (n.exists() && !removals.containsKey(n.path()))) {
            throw new ToolException("cannot add " + rel + ": it already exists (use '*** Update File: " + rel + "')");
          }
          writes.put(n.path(), new Pending(a.path(), a.content()));
          added.add(rel);
        }
        case Delete d -> {
          Workspace.Node n = ws.stat(d.path(), false);
          if (writes.remove(n.path()) != null) {
            if (n.exists()) {
              removals.put(n.path(), new Removal(d.path(), false));
            }
          } else if ((n.isFile() || n.kind() == Workspace.Kind.LINK) && !removals.containsKey(n.path())) {
            removals.put(n.path(), new Removal(d.path(), false));
          } else {
            throw new ToolException("cannot delete " + rel + ": no such file");
          }
          deleted.add(rel);
        }
        case Update u -> {
          Workspace.Node n = ws.stat(u.path(), true);
          String old;
          if (writes.containsKey(n.path())) {
            old = writes.get(n.path()).content();
          } else if (n.isFile() && !removals.containsKey(n.path())) {
            old = text(ws.readFile(u.path(), MAX_FILE_BYTES), rel);
          } else {
            throw new ToolException("cannot update " + rel + ": " + (n.isDir() ? "it is a directory"
                : n.kind() == Workspace.Kind.OTHER ? "it is not a regular file (a FIFO, socket or device)"
                : "no such file (use '*** Add File: " + rel + "' to create it)"));
          }
          String updated = applyHunks(rel, old, u.hunks(), work);
          if (u.moveTo() != null) {
            String toRel = Workspace.normalize(u.moveTo());
            Workspace.Node to = ws.stat(u.moveTo(), true);
            boolean taken = writes.containsKey(to.path()) || (to.exists() && !removals.containsKey(to.path()));
            if (taken && !to.path().equals(n.path())) {
              throw new ToolException("cannot move " + rel + " to " + toRel + ": it already exists");
            }
            if (!to.path().equals(n.path())) {
              writes.remove(n.path());
              if (n.exists()) {
                removals.put(n.path(), new Removal(u.path(), true));
              }
            }
            removals.remove(to.path());
            writes.put(to.path(), new Pending(u.moveTo(), updated));
            modified.add(rel + " -> " + toRel);
          } else {
            writes.put(n.path(), new Pending(u.path(), updated));
            modified.add(rel);
          }
        }
      }
    }
    // the quota (if the session has one) is asked once, for the whole patch, before anything is written
    long bytes = 0;
    int files = 0;
    for (Map.Entry<String, Removal> r : removals.entrySet()) {
      if (!writes.containsKey(r.getKey())) {
        Workspace.Node n = ws.stat(r.getValue().path(), r.getValue().followLast());
        bytes -= n.size();
        files -= n.exists() ? 1 : 0;
      }
    }
    List<byte[]> contents = new ArrayList<>();
    for (Pending w : writes.values()) {
      byte[] b = w.content().getBytes(StandardCharsets.UTF_8);
      contents.add(b);
      Workspace.Growth g = ws.growth(w.path(), b.length);
      bytes += g.bytes();
      files += g.files();
    }
    ws.reserve(bytes, files);
    Workspace.checkInterrupted("apply_patch");
    for (Map.Entry<String, Removal> r : removals.entrySet()) {
      if (!writes.containsKey(r.getKey())) {
        ws.delete(r.getValue().path(), r.getValue().followLast());
      }
    }
    int i = 0;
    for (Pending w : writes.values()) {
      Workspace.Node n = ws.stat(w.path(), true);
      ws.write(w.path(), contents.get(i++), n.isFile() && n.executable(), false);
    }
    return new Summary(added, modified, deleted);
  }

  private static String text(byte[] b, String rel) {
    try {
      return java.nio.charset.StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
          .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
          .decode(java.nio.ByteBuffer.wrap(b)).toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new ToolException("cannot update " + rel + ": it is not UTF-8 text");
    }
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

  /** Line comparisons (and index entries) one patch may cost; past it the patch is refused, unchanged. */
  static final long MAX_WORK = 50_000_000;
  /** Largest file apply_patch updates. */
  static final long MAX_FILE_BYTES = 64L * 1024 * 1024;

  /**
   * The work a patch may still do. Checked as it is spent, with the thread's interrupt (a tool's
   * deadline): a patch ends with an error well within its bound, never runs on.
   */
  static final class Work {
    private long left;
    private long spent;

    Work(long budget) {
      this.left = budget;
    }

    void spend(long units) {
      left -= units;
      spent += units;
      if (left < 0) {
        throw new ToolException("the patch needs too much work to apply (more than " + MAX_WORK + " line comparisons: "
            + "its context lines repeat very often in the file). No file was changed. Give hunks more distinctive "
            + "context or '@@' anchors, or split the patch.");
      }
      if ((spent & 0xFFFF) < units || units > 0xFFFF) {
        if (Thread.currentThread().isInterrupted()) {
          throw new Interrupted();
        }
      }
    }
  }

  /** The thread was interrupted (a deadline): the patch stops, nothing written. */
  public static final class Interrupted extends ToolException {
    Interrupted() {
      super("apply_patch was stopped (interrupted) before it finished; no file was changed");
    }
  }

  /** One hunk's change, in the original file's line numbers. */
  private record Splice(int at, int removed, List<String> lines) {}

  static String applyHunks(String path, String content, List<Hunk> hunks) {
    return applyHunks(path, content, hunks, new Work(MAX_WORK));
  }

  /**
   * Applies hunks in order. Each is found in the original file from where the previous one ended
   * (what a hunk searches after the previous one is always original text), so the output is built once
   * at the end and each search is a lookup in an index of the file's lines (built once per way of
   * comparing), not a scan: a patch costs about the file's length plus its own, not their product.
   */
  static String applyHunks(String path, String content, List<Hunk> hunks, Work work) {
    boolean trailingNewline = content.isEmpty() || content.endsWith("\n");
    String[] split = content.split("\n", -1);
    int n = trailingNewline ? split.length - 1 : split.length;
    Lines file = new Lines(split, n, work);
    List<Splice> splices = new ArrayList<>();
    int cursor = 0;
    int k = 0;
    for (Hunk h : hunks) {
      k++;
      for (String anchor : h.anchors()) {
        int at = file.findLine(anchor, cursor);
        if (at < 0) {
          throw new ToolException("hunk " + k + " of " + path + " does not apply: the '@@ " + anchor
              + "' line was not found" + (cursor > 0 ? " after line " + cursor : "")
              + ". Read the file again and copy the anchor line exactly.");
        }
        cursor = at + 1;
      }
      List<String> old = new ArrayList<>();
      for (int j = 0; j < h.lines().size(); j++) {
        if (h.kinds().get(j)[0] != '+') {
          old.add(h.lines().get(j));
        }
      }
      int at;
      if (old.isEmpty()) {
        at = h.endOfFile() ? n : cursor;
      } else {
        at = file.findBlock(old, cursor, h.endOfFile());
        if (at < 0) {
          StringBuilder msg = new StringBuilder("hunk " + k + " of " + path + " (patch line " + h.firstLine()
              + ") does not apply: these lines were not found" + (cursor > 0 ? " after line " + cursor : "")
              + (h.endOfFile() ? " at the end of the file" : "") + ":\n");
          old.stream().limit(20).forEach(l -> msg.append("  ").append(l).append('\n'));
          msg.append("No file was changed. Read the file again (read_file) and make the context and '-' lines match it exactly.");
          throw new ToolException(msg.toString());
        }
      }
      List<String> replacement = new ArrayList<>();
      int o = at;
      for (int j = 0; j < h.lines().size(); j++) {
        switch (h.kinds().get(j)[0]) {
          case ' ' -> replacement.add(split[o++]); // keep the file's own context line
          case '-' -> o++;
          default -> replacement.add(h.lines().get(j));
        }
      }
      splices.add(new Splice(at, old.size(), replacement));
      cursor = at + old.size();
    }
    StringBuilder out = new StringBuilder(content.length() + 64);
    int pos = 0;
    boolean any = false;
    for (Splice s : splices) {
      for (; pos < s.at(); pos++) {
        any = line(out, split[pos], any);
      }
      for (String l : s.lines()) {
        any = line(out, l, any);
      }
      pos = s.at() + s.removed();
    }
    for (; pos < n; pos++) {
      any = line(out, split[pos], any);
    }
    return !any ? "" : trailingNewline ? out.append('\n').toString() : out.toString();
  }

  private static boolean line(StringBuilder out, String l, boolean any) {
    if (any) {
      out.append('\n');
    }
    out.append(l);
    return true;
  }

  /**
   * A file's lines, compared three ways (exactly, ignoring trailing blanks, ignoring surrounding
   * blanks), each with an index from a line to where it occurs, made when first needed.
   */
  private static final class Lines {
    private final String[] raw;
    private final int n;
    private final Work work;
    private final String[][] forms = new String[3][];
    @SuppressWarnings("unchecked")
    private final Map<String, int[]>[] index = new Map[3];

    Lines(String[] raw, int n, Work work) {
      this.raw = raw;
      this.n = n;
      this.work = work;
    }

    static String form(String s, int way) {
      return switch (way) {
        case 0 -> s;
        case 1 -> s.stripTrailing();
        default -> s.strip();
      };
    }

    String[] forms(int way) {
      if (forms[way] == null) {
        work.spend(n);
        String[] f = new String[n];
        for (int i = 0; i < n; i++) {
          f[i] = form(raw[i], way);
        }
        forms[way] = f;
      }
      return forms[way];
    }

    /** Where a line (in the given form) occurs, ascending. */
    int[] positions(int way, String line) {
      if (index[way] == null) {
        String[] f = forms(way);
        work.spend(n);
        Map<String, List<Integer>> build = new java.util.HashMap<>();
        for (int i = 0; i < n; i++) {
          build.computeIfAbsent(f[i], x -> new ArrayList<>()).add(i);
        }
        Map<String, int[]> done = new java.util.HashMap<>(build.size() * 2);
        build.forEach((key, list) -> done.put(key, list.stream().mapToInt(Integer::intValue).toArray()));
        index[way] = done;
      }
      return index[way].getOrDefault(line, new int[0]);
    }

    /** The first line at or after {@code from} equal to {@code anchor}, then ignoring surrounding blanks. */
    int findLine(String anchor, int from) {
      for (int way : new int[] {0, 2}) {
        int[] at = positions(way, form(anchor, way));
        int i = firstAtLeast(at, from);
        work.spend(1);
        if (i < at.length) {
          return at[i];
        }
      }
      return -1;
    }

    /**
     * The first position at or after {@code from} where {@code block} matches, trying each way of
     * comparing in turn (with {@code eof}: the end of the file first, within each way). Candidates come
     * from the index of the block's rarest line.
     */
    int findBlock(List<String> block, int from, boolean eof) {
      int m = block.size();
      for (int way = 0; way < 3; way++) {
        String[] f = forms(way);
        String[] b = new String[m];
        for (int j = 0; j < m; j++) {
          b[j] = form(block.get(j), way);
        }
        if (eof) {
          int at = n - m;
          if (at >= from && matches(f, b, at)) {
            return at;
          }
        }
        int rarest = 0;
        int[] best = null;
        for (int j = 0; j < m; j++) {
          int[] p = positions(way, b[j]);
          work.spend(1);
          if (best == null || p.length < best.length) {
            best = p;
            rarest = j;
          }
          if (p.length == 0) {
            break;
          }
        }
        for (int i = firstAtLeast(best, from + rarest); i < best.length; i++) {
          int at = best[i] - rarest;
          if (at + m > n) {
            break;
          }
          if (matches(f, b, at)) {
            return at;
          }
        }
      }
      return -1;
    }

    private boolean matches(String[] f, String[] b, int at) {
      for (int j = 0; j < b.length; j++) {
        work.spend(1);
        if (!f[at + j].equals(b[j])) {
          return false;
        }
      }
      return true;
    }

    private static int firstAtLeast(int[] sorted, int value) {
      int lo = 0;
      int hi = sorted.length;
      while (lo < hi) {
        int mid = (lo + hi) >>> 1;
        if (sorted[mid] < value) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      return lo;
    }
  }
}
