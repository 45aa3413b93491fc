package io.turnpike.sandbox.workspace;

import io.turnpike.sandbox.ToolException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;

/**
 * The workspace folder of one session on this host. Every path a model gives goes through
 * {@link #resolve}: relative to the root (a leading {@code /workspace/} is accepted, since that is
 * where commands see it), never {@code ..} out of it, never through a symbolic link that leads out.
 * Files the service writes are given to the session's owner (uid/gid) when one is set, so commands
 * running as that user can change them.
 */
public final class Workspace {
  /** Where commands see the workspace (bubblewrap bind and container mount point). */
  public static final String MOUNT = "/workspace";

  private final Path root;
  private final Integer uid;
  private final Integer gid;

  public Workspace(Path root, Integer uid, Integer gid) {
    try {
      Files.createDirectories(root);
      this.root = root.toRealPath();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the workspace " + root, e);
    }
    this.uid = uid;
    this.gid = gid;
    try {
      own(this.root);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot give the workspace " + root + " to " + uid + ":" + gid, e);
    }
  }

  public Path root() {
    return root;
  }

  public Integer uid() {
    return uid;
  }

  /** The workspace-relative form of {@code path} ("" for the root), checked like {@link #resolve}. */
  public static String normalize(String path) {
    if (path == null) {
      throw new ToolException("a path is required");
    }
    String p = path.trim().replace('\\', '/');
    if (p.equals(MOUNT) || p.equals(MOUNT + "/")) {
      return "";
    }
    if (p.startsWith(MOUNT + "/")) {
      p = p.substring(MOUNT.length() + 1);
    } else if (p.startsWith("/") || p.startsWith("~")) {
      throw new ToolException("'" + path + "' is an absolute path: paths are relative to the workspace root (or start with "
          + MOUNT + "/)");
    }
    if (p.indexOf('\0') >= 0) {
      throw new ToolException("'" + path + "' contains a NUL character");
    }
    StringBuilder out = new StringBuilder();
    java.util.ArrayDeque<String> parts = new java.util.ArrayDeque<>();
    for (String part : p.split("/")) {
      if (part.isEmpty() || part.equals(".")) {
        continue;
      }
      if (part.equals("..")) {
        if (parts.isEmpty()) {
          throw new ToolException("'" + path + "' leads outside the workspace ('..' above its root)");
        }
        parts.removeLast();
        continue;
      }
      parts.addLast(part);
    }
    for (String part : parts) {
      if (out.length() > 0) {
        out.append('/');
      }
      out.append(part);
    }
    return out.toString();
  }

  /**
   * The host path of a workspace path. The nearest existing ancestor (following links) must be inside
   * the workspace, and so must the path itself if it exists.
   */
  public Path resolve(String path) {
    String rel = normalize(path);
    Path p = rel.isEmpty() ? root : root.resolve(rel);
    Path existing = p;
    while (existing != null && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
      existing = existing.getParent();
    }
    if (existing == null) {
      throw new ToolException("'" + path + "' is outside the workspace");
    }
    try {
      if (Files.isSymbolicLink(existing) && !Files.exists(existing)) {
        // a dangling link: writing through it would create its target, wherever that is
        Path target = Files.readSymbolicLink(existing);
        Path abs = existing.getParent().resolve(target).normalize();
        if (!abs.startsWith(root)) {
          throw new ToolException("'" + path + "' is a symbolic link to " + target + ", outside the workspace");
        }
        return p;
      }
      Path real = existing.toRealPath();
      if (!real.startsWith(root)) {
        throw new ToolException("'" + path + "' resolves outside the workspace (through the symbolic link "
            + root.relativize(existing) + ")");
      }
    } catch (IOException e) {
      throw new ToolException("cannot resolve '" + path + "': " + e.getMessage());
    }
    return p;
  }

  /** The workspace-relative name of a host path inside the workspace. */
  public String relative(Path p) {
    return root.relativize(p).toString().replace('\\', '/');
  }

  /** Creates the directories up to {@code dir} (inside the workspace), owned by the session's user. */
  public void createDirectories(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      return;
    }
    Path parent = dir.getParent();
    if (parent != null && !parent.equals(root) && parent.startsWith(root)) {
      createDirectories(parent);
    }
    if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS) && !Files.isDirectory(dir)) {
      throw new ToolException("'" + relative(dir) + "' exists and is not a directory");
    }
    Files.createDirectories(dir);
    own(dir);
  }

  /** Writes a file (creating its directories), owned by the session's user. */
  public void write(Path file, byte[] content, boolean executable) throws IOException {
    if (Files.isDirectory(file)) {
      throw new ToolException("'" + relative(file) + "' is a directory");
    }
    createDirectories(file.getParent());
    Files.write(file, content);
    if (executable) {
      Set<PosixFilePermission> perms = EnumSet.copyOf(Files.getPosixFilePermissions(file));
      perms.addAll(Set.of(PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.GROUP_EXECUTE,
          PosixFilePermission.OTHERS_EXECUTE));
      Files.setPosixFilePermissions(file, perms);
    }
    own(file);
  }

  /** Gives a path to the session's user (when the service runs as root and a user is set). */
  public void own(Path p) throws IOException {
    if (uid != null) {
      Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
      Files.setAttribute(p, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    }
  }

  /** Gives the whole tree to the session's user (after a restore, or when the user changed). */
  public void ownAll() throws IOException {
    if (uid == null) {
      return;
    }
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
        own(dir);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        own(file);
        return FileVisitResult.CONTINUE;
      }
    });
  }

  /** Deletes everything inside the root (not the root itself). */
  public void clear() throws IOException {
    deleteTree(root, false);
  }

  public static void deleteTree(Path dir, boolean includingRoot) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(dir, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.delete(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
        if (includingRoot || !d.equals(dir)) {
          Files.delete(d);
        }
        return FileVisitResult.CONTINUE;
      }
    });
  }
}
