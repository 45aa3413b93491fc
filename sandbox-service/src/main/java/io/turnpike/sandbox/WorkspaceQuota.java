package io.turnpike.sandbox;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The quota of one session's workspace: at most {@code maxBytes} in regular files (their length, as
 * a snapshot would store them, hard links counted once per name) and at most {@code maxFiles} entries
 * (files, folders, links and anything else). Measured by a walk that never follows a link (each folder
 * is opened relative to its parent with {@code O_NOFOLLOW}, so a folder swapped for a link while a
 * command runs is not entered) and that stops once past either bound, so measuring costs at most
 * {@code maxFiles} entries.
 *
 * <p>Commands are watched while they run and stopped when the workspace passes the quota; file tools
 * ask {@link #reserve} before they write. Not thread-safe: one per session, used by its command thread
 * (the watch of a running command measures on its own, without the reservation state).
 */
public final class WorkspaceQuota {
  private final Path root;
  private final long maxBytes;
  private final int maxFiles;
  /** What the workspace held when the current tool call began, plus what it reserved since; null: not measured yet. */
  private Usage tally;

  /**
   * What a walk found.
   *
   * @param bytes    length of the regular files seen
   * @param files    entries seen (the root not counted)
   * @param complete false when the walk stopped early, past a bound (the real figures are larger)
   */
  public record Usage(long bytes, long files, boolean complete) {}

  public WorkspaceQuota(Path root, long maxBytes, int maxFiles) {
    this.root = root;
    this.maxBytes = maxBytes;
    this.maxFiles = maxFiles;
  }

  public long maxBytes() {
    return maxBytes;
  }

  public int maxFiles() {
    return maxFiles;
  }

  /** Walks the workspace now, stopping once past the quota. */
  public Usage measure() throws IOException {
    return measure(maxBytes, maxFiles);
  }

  /** Walks the workspace now, stopping once past {@code byteBound} bytes or {@code fileBound} entries. */
  public Usage measure(long byteBound, long fileBound) throws IOException {
    long[] bytes = {0};
    long[] files = {0};
    if (!Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS)) {
      return new Usage(0, 0, true);
    }
    Deque<DirectoryStream<Path>> open = new ArrayDeque<>();
    try {
      DirectoryStream<Path> top = Files.newDirectoryStream(root);
      if (!(top instanceof SecureDirectoryStream<Path> secure)) {
        top.close();
        return measureUnsecured(byteBound, fileBound);
      }
      open.push(secure);
      boolean complete = walk(secure, bytes, files, open, byteBound, fileBound);
      return new Usage(bytes[0], files[0], complete);
    } finally {
      while (!open.isEmpty()) {
        try {
          open.pop().close();
        } catch (IOException e) {
          // closing anyway
        }
      }
    }
  }

  private boolean walk(SecureDirectoryStream<Path> dir, long[] bytes, long[] files, Deque<DirectoryStream<Path>> open,
      long byteBound, long fileBound) throws IOException {
    for (Path entry : dir) {
      Path name = entry.getFileName();
      BasicFileAttributes a;
      try {
        a = dir.getFileAttributeView(name, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).readAttributes();
      } catch (IOException e) {
        continue; // deleted while we looked
      }
      files[0]++;
      if (a.isRegularFile()) {
        bytes[0] += a.size();
      }
      if (files[0] > fileBound || bytes[0] > byteBound) {
        return false;
      }
      if (a.isDirectory()) {
        SecureDirectoryStream<Path> sub;
        try {
          sub = dir.newDirectoryStream(name, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
          continue; // swapped for a link, deleted, or unreadable: not entered
        }
        open.push(sub);
        try {
          if (!walk(sub, bytes, files, open, byteBound, fileBound)) {
            return false;
          }
        } finally {
          open.remove(sub);
          sub.close();
        }
      }
    }
    return true;
  }

  /** Where the platform has no secure directory streams: a walk that does not follow links. */
  private Usage measureUnsecured(long byteBound, long fileBound) throws IOException {
    long[] bytes = {0};
    long[] files = {0};
    boolean[] complete = {true};
    Files.walkFileTree(root, new java.nio.file.SimpleFileVisitor<>() {
      @Override
      public java.nio.file.FileVisitResult preVisitDirectory(Path d, BasicFileAttributes a) {
        return count(d, a);
      }

      @Override
      public java.nio.file.FileVisitResult visitFile(Path f, BasicFileAttributes a) {
        return count(f, a);
      }

      @Override
      public java.nio.file.FileVisitResult visitFileFailed(Path f, IOException e) {
        return java.nio.file.FileVisitResult.CONTINUE;
      }

      private java.nio.file.FileVisitResult count(Path p, BasicFileAttributes a) {
        if (p.equals(root)) {
          return java.nio.file.FileVisitResult.CONTINUE;
        }
        files[0]++;
        if (a.isRegularFile()) {
          bytes[0] += a.size();
        }
        if (files[0] > fileBound || bytes[0] > byteBound) {
          complete[0] = false;
          return java.nio.file.FileVisitResult.TERMINATE;
        }
        return java.nio.file.FileVisitResult.CONTINUE;
      }
    });
    return new Usage(bytes[0], files[0], complete[0]);
  }

  /** Null when {@code u} is within the quota; else what is over, in words for the model. */
  public String over(Usage u) {
    if (u.bytes() <= maxBytes && u.files() <= maxFiles) {
      return null;
    }
    String more = u.complete() ? "" : " or more";
    if (u.files() > maxFiles) {
      return "the workspace holds " + u.files() + more + " files and folders; its quota is " + maxFiles + " files";
    }
    return "the workspace holds " + megabytes(u.bytes()) + more + "; its quota is " + megabytes(maxBytes);
  }

  /** The quota in words: "20 MB and 10000 files". */
  public String describe() {
    return megabytes(maxBytes) + " and " + maxFiles + " files";
  }

  static String megabytes(long bytes) {
    if (bytes % (1024 * 1024) == 0) {
      return bytes / (1024 * 1024) + " MB";
    }
    return String.format(java.util.Locale.ROOT, "%.1f MB", bytes / (1024.0 * 1024.0));
  }

  /** Forgets the tally: the next {@link #reserve} measures the workspace again (each tool call starts afresh). */
  public void reset() {
    tally = null;
  }

  /**
   * The question every writer of the service asks before it writes: may the workspace grow by
   * {@code addedBytes} (the new length minus the length of what it replaces; negative when it
   * shrinks) and {@code addedFiles} entries (a new file is 1, plus each folder created for it)? If
   * so, the growth is counted against later calls in the same tool call; if not, throws a
   * {@link ToolException} that tells the model what is over and what to do, and nothing may be
   * written. The first call of a tool call measures the workspace (bounded by the quota). A write
   * that does not grow the workspace is always allowed, so a workspace over its quota can shrink.
   */
  public void reserve(long addedBytes, int addedFiles) throws IOException {
    tally = allowed(addedBytes, addedFiles);
  }

  /** As {@link #reserve}, without counting the growth: a check before a tool call whose writer reserves as it goes. */
  public void check(long addedBytes, int addedFiles) throws IOException {
    allowed(addedBytes, addedFiles);
  }

  private Usage allowed(long addedBytes, int addedFiles) throws IOException {
    if (tally == null) {
      tally = measure();
    }
    Usage next = new Usage(tally.bytes() + addedBytes, tally.files() + addedFiles, tally.complete());
    boolean grows = addedBytes > 0 || addedFiles > 0;
    if (grows && (!tally.complete() || next.bytes() > maxBytes || next.files() > maxFiles)) {
      String what = over(next);
      throw new ToolException("refused: this write would pass the workspace quota of " + describe() + " ("
          + (what == null ? "the workspace is over it already" : what) + "). Nothing was written. Delete files you no "
          + "longer need (rm in the shell, or apply_patch '*** Delete File:'), or write less.");
    }
    return next;
  }
}
