package io.turnpike.sandbox.workspace;

import io.turnpike.sandbox.ToolException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The workspace folder of one session on this host, and the only way the service touches what is in
 * it. Every file tool, apply_patch, load_skill, the manifest's pre-seed, snapshots (reading) and
 * restores (writing) go through this class.
 *
 * <p><b>Nothing here can follow a link out, by construction.</b> A path is never handed to the kernel
 * whole: the root is opened once, and each component is reached from the open handle of its parent
 * ({@link SecureDirectoryStream}: {@code openat}, {@code fstatat}, {@code renameat}, {@code unlinkat}
 * with {@code O_NOFOLLOW} / {@code AT_SYMLINK_NOFOLLOW}). A symbolic link met on the way is never
 * followed by the kernel: its text is read and resolved here, as a path of the workspace (relative to
 * the link's folder, or absolute under {@code /workspace}); anything else is refused. So a link swapped
 * in at any moment can make an operation fail, never reach outside.
 *
 * <ul>
 *   <li>Reads open only what {@code fstatat} on the same open parent just said is a regular file,
 *       with {@code O_NOFOLLOW}; a FIFO, socket or device is refused before anything opens it.
 *   <li>Writes never open an existing name: the content goes to a new temporary file
 *       ({@code O_CREAT|O_EXCL}) in the open parent, gets its mode and owner there, and is renamed over
 *       the name ({@code renameat}, atomic), so a FIFO or link at the name cannot block or redirect it.
 *   <li>Folders and links (restore, missing parents) are made in a staging folder next to the
 *       workspace that commands never see, then renamed into the open parent.
 * </ul>
 * What is not atomic: between {@code fstatat} and {@code openat} another process could swap a checked
 * file for a FIFO, and the open would wait for a writer. No process of the session runs while the
 * service works on its workspace (commands run one at a time and none outlives its command), so none
 * can; as a backstop an open still waiting after {@link #OPEN_GRACE_MS} is released and refused.
 *
 * <p>Files the service writes are given to the session's owner (uid/gid) when one is set, so commands
 * running as that user can change them.
 */
public final class Workspace {
  /** Where commands see the workspace (bubblewrap bind and container mount point). */
  public static final String MOUNT = "/workspace";
  /** Links followed while resolving one path (the kernel's own limit is 40). */
  static final int MAX_LINK_HOPS = 40;
  /** Deepest folder walked by snapshots, listings and deletes. */
  static final int MAX_DEPTH = 1024;
  /** How long an open of a checked file or folder may wait before it is released (see above). */
  static final long OPEN_GRACE_MS = 2000;

  private static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-r--r--");
  private static final Set<PosixFilePermission> EXEC_MODE = PosixFilePermissions.fromString("rwxr-xr-x");
  private static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwxr-xr-x");
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final ScheduledThreadPoolExecutor RELEASER = releaser();

  private final Path root;
  private final Path staging;
  private final Integer uid;
  private final Integer gid;
  private volatile UserPrincipal owner;
  private volatile GroupPrincipal group;
  private volatile WriteCheck writeCheck = (bytes, files) -> { };

  /**
   * Asked before the service makes the workspace grow (a quota): by {@code addedBytes} (new length
   * minus what is replaced; negative when it shrinks) and {@code addedFiles} entries (the file and each
   * folder made for it). Throws to refuse; then nothing is written.
   */
  public interface WriteCheck {
    void reserve(long addedBytes, int addedFiles) throws IOException;
  }

  /** How a write would change the workspace's size. */
  public record Growth(long bytes, int files) {}

  /** What an entry is. {@code OTHER}: a FIFO, socket or device, which the service never opens. */
  public enum Kind { FILE, DIR, LINK, OTHER, MISSING }

  /**
   * One entry, as seen without following it. {@code path} is workspace-relative, with links of its
   * folders resolved; {@code target} is a link's text.
   */
  public record Node(String path, Kind kind, long size, boolean executable, Object fileKey, long modifiedMs, String target) {
    public boolean isFile() {
      return kind == Kind.FILE;
    }

    public boolean isDir() {
      return kind == Kind.DIR;
    }

    public boolean exists() {
      return kind != Kind.MISSING;
    }
  }

  /** Opens the content of a regular file found by {@link #walk}, from its folder's open handle. */
  public interface Content {
    InputStream open() throws IOException;
  }

  /** Called for each entry of a {@link #walk}: folders before their entries; {@code content} only for files. */
  public interface Visitor {
    void visit(Node node, Content content) throws IOException;
  }

  public Workspace(Path root, Integer uid, Integer gid) {
    try {
      Files.createDirectories(root);
      this.root = root.toRealPath();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the workspace " + root, e);
    }
    this.staging = this.root.resolveSibling("." + this.root.getFileName() + ".staging");
    this.uid = uid;
    this.gid = gid;
    try {
      if (uid != null) {
        Files.setAttribute(this.root, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(this.root, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot give the workspace " + root + " to " + uid + ":" + gid, e);
    }
  }

  private Workspace(Path realRoot) {
    this.root = realRoot;
    this.staging = realRoot.resolveSibling("." + realRoot.getFileName() + ".staging");
    this.uid = null;
    this.gid = null;
  }

  /**
   * An existing folder read with the same rules (an agent bundle, a skill): nothing is made or given
   * to anyone; links inside it are followed only inside it.
   */
  public static Workspace existing(Path dir) throws IOException {
    Path real = dir.toRealPath();
    if (!Files.isDirectory(real, LinkOption.NOFOLLOW_LINKS)) {
      throw new NotDirectoryException(dir.toString());
    }
    return new Workspace(real);
  }

  public Path root() {
    return root;
  }

  public Integer uid() {
    return uid;
  }

  /** Sets what is asked before every write of a model's path (see {@link WriteCheck}); restores are not asked. */
  public void writeCheck(WriteCheck check) {
    this.writeCheck = Objects.requireNonNull(check);
  }

  /** Asks the write check about a growth computed elsewhere (a whole patch). */
  public void reserve(long addedBytes, int addedFiles) throws IOException {
    writeCheck.reserve(addedBytes, addedFiles);
  }

  /** How writing {@code newLength} bytes at {@code path} would grow the workspace (nothing is made). */
  public Growth growth(String path, long newLength) throws IOException {
    String rel = normalize(path);
    try (Place p = locate(components(rel), Links.FOLLOW_INSIDE, false, rel)) {
      if (!p.complete()) {
        return new Growth(newLength, 1 + p.rest.size());
      }
      return switch (p.kind()) {
        case MISSING -> new Growth(newLength, 1);
        case FILE -> new Growth(newLength - p.attrs.size(), 0);
        default -> new Growth(newLength, 0);
      };
    }
  }

  // ------------------------------------------------------------------ paths

  /** The workspace-relative form of a path a model gave ("" for the root): no absolute paths, no '..' above the root. */
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
    ArrayDeque<String> parts = new ArrayDeque<>();
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
    return String.join("/", parts);
  }

  /**
   * The components of an exact workspace-relative path (a snapshot's): no empty, '.', '..' or NUL
   * component, nothing stripped or translated. Null when the path is not one.
   */
  static List<String> exactComponents(String path) {
    if (path == null || path.isEmpty() || path.indexOf('\0') >= 0) {
      return null;
    }
    List<String> out = new ArrayList<>();
    for (String part : path.split("/", -1)) {
      if (part.isEmpty() || part.equals(".") || part.equals("..")) {
        return null;
      }
      out.add(part);
    }
    return out;
  }

  private static List<String> components(String normalized) {
    return normalized.isEmpty() ? List.of() : List.of(normalized.split("/"));
  }

  // ------------------------------------------------------------------ resolution

  /** How links on the way are treated. */
  private enum Links {
    /** Links of folders on the way, and of the last component, are resolved inside the workspace. */
    FOLLOW_INSIDE,
    /** As above, but the last component is taken as it is (a link is the link itself). */
    FOLLOW_INSIDE_BUT_LAST,
    /** No link is followed at all: a link on the way is refused (restores). */
    NEVER
  }

  /**
   * Where a path leads: the open handles from the root to the folder that holds its last component,
   * that component's name (null when the path is a folder reached as a whole, e.g. the root), and what
   * is there (null when nothing is).
   */
  private final class Place implements AutoCloseable {
    final Deque<SecureDirectoryStream<Path>> chain; // root first, the folder of the entry last
    final List<String> names; // names of the opened folders below the root
    final String name;
    final PosixFileAttributes attrs;
    /** Components after a missing folder {@code name} (the path does not exist from there on). */
    final List<String> rest;

    Place(Deque<SecureDirectoryStream<Path>> chain, List<String> names, String name, PosixFileAttributes attrs, List<String> rest) {
      this.chain = chain;
      this.names = names;
      this.name = name;
      this.attrs = attrs;
      this.rest = rest;
    }

    SecureDirectoryStream<Path> dir() {
      return chain.peekLast();
    }

    Path name() {
      return Path.of(name);
    }

    /** Whether the path ends here (its folders all exist). */
    boolean complete() {
      return rest.isEmpty();
    }

    String path() {
      List<String> all = new ArrayList<>(names);
      if (name != null) {
        all.add(name);
      }
      all.addAll(rest);
      return String.join("/", all);
    }

    Kind kind() {
      return kindOf(attrs);
    }

    @Override
    public void close() {
      closeAll(chain);
    }
  }

  private static Kind kindOf(PosixFileAttributes a) {
    if (a == null) {
      return Kind.MISSING;
    }
    if (a.isSymbolicLink()) {
      return Kind.LINK;
    }
    if (a.isDirectory()) {
      return Kind.DIR;
    }
    return a.isRegularFile() ? Kind.FILE : Kind.OTHER;
  }

  /** The root, opened. */
  private SecureDirectoryStream<Path> openRoot() throws IOException {
    DirectoryStream<Path> ds = Files.newDirectoryStream(root);
    if (ds instanceof SecureDirectoryStream<Path> sds) {
      return sds;
    }
    ds.close();
    throw new IOException("this platform cannot open files relative to a folder (no SecureDirectoryStream); "
        + "the sandbox's file tools need Linux");
  }

  /**
   * Resolves {@code parts} from the root, one component at a time from the open parent. Missing
   * folders on the way are created when {@code create}, else the result says MISSING for the whole
   * path. {@code shown} is the path as the caller gave it, for messages.
   */
  private Place locate(List<String> parts, Links links, boolean create, String shown) throws IOException {
    Deque<SecureDirectoryStream<Path>> chain = new ArrayDeque<>();
    List<String> names = new ArrayList<>();
    boolean done = false;
    try {
      chain.add(openRoot());
      Deque<String> todo = new ArrayDeque<>(parts);
      int hops = 0;
      while (!todo.isEmpty()) {
        String name = todo.pollFirst();
        if (name.isEmpty() || name.equals(".")) {
          continue;
        }
        if (name.equals("..")) {
          if (names.isEmpty()) {
            throw new ToolException("'" + shown + "' leads outside the workspace (a symbolic link on the way climbs above its root)");
          }
          closeQuietly(chain.removeLast());
          names.removeLast();
          continue;
        }
        boolean last = todo.isEmpty();
        SecureDirectoryStream<Path> dir = chain.peekLast();
        PosixFileAttributes a = stat(dir, name);
        if (a != null && a.isSymbolicLink() && links != Links.NEVER && (!last || links == Links.FOLLOW_INSIDE)) {
          if (++hops > MAX_LINK_HOPS) {
            throw new ToolException("'" + shown + "': too many levels of symbolic links");
          }
          String target = readLink(names, name, a);
          String linkPath = join(names, name);
          if (target.startsWith("/")) {
            if (!target.equals(MOUNT) && !target.startsWith(MOUNT + "/")) {
              throw new ToolException("'" + shown + "' leads outside the workspace: " + linkPath + " is a symbolic link to "
                  + target + ", outside the workspace (the service follows links only inside " + MOUNT + ")");
            }
            while (chain.size() > 1) {
              closeQuietly(chain.removeLast());
            }
            names.clear();
            target = target.substring(MOUNT.length());
          }
          String[] next = target.split("/");
          for (int i = next.length - 1; i >= 0; i--) {
            todo.addFirst(next[i]);
          }
          continue;
        }
        if (last) {
          done = true;
          return new Place(chain, names, name, a, List.of());
        }
        if (a == null) {
          if (!create) {
            done = true;
            return new Place(chain, names, name, null, todo.stream().filter(t -> !t.isEmpty() && !t.equals(".")).toList());
          }
          makeDirectory(dir, name);
          a = stat(dir, name);
          if (a == null) {
            throw new IOException("the folder " + join(names, name) + " vanished as it was made");
          }
        }
        if (a.isSymbolicLink()) {
          throw new ToolException("'" + shown + "': " + join(names, name) + " is a symbolic link; links are not followed here");
        }
        if (!a.isDirectory()) {
          throw new ToolException("'" + shown + "': " + join(names, name) + " is not a directory");
        }
        chain.add(openDirectory(dir, name, a));
        names.add(name);
      }
      done = true;
      return new Place(chain, names, null, attrsOf(chain.peekLast()), List.of());
    } finally {
      if (!done) {
        closeAll(chain);
      }
    }
  }

  private static String join(List<String> names, String name) {
    return names.isEmpty() ? name : String.join("/", names) + "/" + name;
  }

  /** What {@code name} in {@code dir} is, not following it; null when nothing is there. */
  private static PosixFileAttributes stat(SecureDirectoryStream<Path> dir, String name) throws IOException {
    try {
      return dir.getFileAttributeView(Path.of(name), PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).readAttributes();
    } catch (NoSuchFileException e) {
      return null;
    }
  }

  private static PosixFileAttributes attrsOf(SecureDirectoryStream<Path> dir) throws IOException {
    return dir.getFileAttributeView(PosixFileAttributeView.class).readAttributes();
  }

  /**
   * A link's text. Java has no readlinkat, so it is read by its path, whose folders are the real
   * folders just opened; the link read must be the entry checked through the open parent.
   */
  private String readLink(List<String> names, String name, PosixFileAttributes checked) throws IOException {
    Path p = root;
    for (String n : names) {
      p = p.resolve(n);
    }
    p = p.resolve(name);
    String target = Files.readSymbolicLink(p).toString();
    Object key = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
    if (!Objects.equals(key, checked.fileKey())) {
      throw new ToolException("'" + join(names, name) + "' changed while it was being read");
    }
    if (target.isEmpty()) {
      throw new ToolException("'" + join(names, name) + "' is a symbolic link with an empty target");
    }
    return target;
  }

  /** Opens the folder {@code name} of {@code dir}, which must still be the folder {@code checked}. */
  private SecureDirectoryStream<Path> openDirectory(SecureDirectoryStream<Path> dir, String name, PosixFileAttributes checked)
      throws IOException {
    SecureDirectoryStream<Path> sub;
    try {
      sub = guardedOpen(dir, name, () -> dir.newDirectoryStream(Path.of(name), LinkOption.NOFOLLOW_LINKS));
    } catch (NotDirectoryException e) {
      throw new ToolException("'" + name + "' is not a directory");
    } catch (FileSystemException e) {
      if (isLinkRefusal(e)) {
        throw new ToolException("'" + name + "' became a symbolic link while it was being opened");
      }
      throw e;
    }
    if (!Objects.equals(attrsOf(sub).fileKey(), checked.fileKey())) {
      closeQuietly(sub);
      throw new ToolException("'" + name + "' changed while it was being opened");
    }
    return sub;
  }

  private static boolean isLinkRefusal(FileSystemException e) {
    String r = e.getReason();
    return r != null && (r.contains("NOFOLLOW") || r.contains("symbolic links"));
  }

  private interface Opening<T> {
    T open() throws IOException;
  }

  /**
   * Runs an open of something {@code fstatat} said is a file or folder. Should it have become a FIFO
   * since (only another process could do that), the open would wait for a writer: after
   * {@link #OPEN_GRACE_MS} the name is opened read-write once, which never waits on Linux and releases
   * it; what was opened is then refused by the caller's checks (a FIFO cannot seek, is not a folder).
   */
  private static ScheduledThreadPoolExecutor releaser() {
    ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1,
        Thread.ofPlatform().daemon().name("turnpike-workspace-open-release").factory());
    e.setRemoveOnCancelPolicy(true); // a snapshot opens thousands of files: cancelled timers must not pile up
    return e;
  }

  private static <T> T guardedOpen(SecureDirectoryStream<Path> dir, String name, Opening<T> opening) throws IOException {
    ScheduledFuture<?> release = RELEASER.schedule(() -> {
      try (SeekableByteChannel c = dir.newByteChannel(Path.of(name),
          Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS))) {
        // opened and closed: a reader waiting on a FIFO has had its writer
      } catch (IOException | RuntimeException e) {
        // nothing waits, or it is gone: nothing to release
      }
    }, OPEN_GRACE_MS, TimeUnit.MILLISECONDS);
    try {
      return opening.open();
    } finally {
      release.cancel(false);
    }
  }

  // ------------------------------------------------------------------ reading

  /**
   * What is at {@code path} (links of folders on the way resolved inside the workspace; the last
   * component's link resolved when {@code followLast}). MISSING when nothing is.
   */
  public Node stat(String path, boolean followLast) throws IOException {
    String rel = normalize(path);
    try (Place p = locate(components(rel), followLast ? Links.FOLLOW_INSIDE : Links.FOLLOW_INSIDE_BUT_LAST, false, rel)) {
      return node(p);
    }
  }

  private Node node(Place p) throws IOException {
    PosixFileAttributes a = p.attrs;
    Kind kind = kindOf(a);
    if (a == null) {
      return new Node(p.path(), Kind.MISSING, 0, false, null, 0, null);
    }
    String target = kind == Kind.LINK ? readLink(p.names, p.name, a) : null;
    return new Node(p.path(), kind, kind == Kind.FILE ? a.size() : 0, executable(a), a.fileKey(),
        a.lastModifiedTime().toMillis(), target);
  }

  private static boolean executable(PosixFileAttributes a) {
    Set<PosixFilePermission> p = a.permissions();
    return p.contains(PosixFilePermission.OWNER_EXECUTE) || p.contains(PosixFilePermission.GROUP_EXECUTE)
        || p.contains(PosixFilePermission.OTHERS_EXECUTE);
  }

  /** The content of the regular file at {@code path}, at most {@code maxBytes} (more is refused). */
  public byte[] readFile(String path, long maxBytes) throws IOException {
    String rel = normalize(path);
    try (Place p = locate(components(rel), Links.FOLLOW_INSIDE, false, rel)) {
      switch (p.kind()) {
        case MISSING -> throw new ToolException("no such file: '" + path + "'");
        case DIR -> throw new ToolException("'" + path + "' is a directory; use list_dir");
        case OTHER -> throw new ToolException("'" + path + "' is not a regular file (a FIFO, socket or device): refused");
        default -> { }
      }
      if (p.attrs.size() > maxBytes) {
        throw new ToolException("'" + path + "' has " + p.attrs.size() + " bytes, more than the " + maxBytes
            + " this tool reads; use the shell (head, tail, sed -n) for parts of it");
      }
      try (InputStream in = openFile(p.dir(), p.name, p.attrs)) {
        byte[] b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
        if (b.length > maxBytes) {
          throw new ToolException("'" + path + "' has more than the " + maxBytes + " bytes this tool reads");
        }
        return b;
      }
    }
  }

  /** Opens the regular file {@code name} of {@code dir}, checked as {@code checked}, never following a link. */
  static InputStream openFile(SecureDirectoryStream<Path> dir, String name, PosixFileAttributes checked) throws IOException {
    if (!checked.isRegularFile()) {
      throw new ToolException("'" + name + "' is not a regular file");
    }
    SeekableByteChannel ch;
    try {
      ch = guardedOpen(dir, name, () -> dir.newByteChannel(Path.of(name), Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)));
    } catch (FileSystemException e) {
      if (isLinkRefusal(e)) {
        throw new ToolException("'" + name + "' became a symbolic link while it was being opened");
      }
      throw e;
    }
    try {
      // a FIFO or socket cannot seek: proof, from the open file itself, that it is not one
      if (!(ch instanceof FileChannel fc)) {
        throw new IOException("not a file channel");
      }
      fc.position(0);
    } catch (IOException e) {
      ch.close();
      throw new ToolException("'" + name + "' is not a regular file: refused");
    }
    return Channels.newInputStream(ch);
  }

  /**
   * Lists the folder at {@code path} (links resolved inside the workspace) down to {@code depth}
   * levels, at most {@code max} entries: the nodes, paths relative to that folder, folders first
   * within each level.
   */
  public List<Node> list(String path, int depth, int max) throws IOException {
    String rel = normalize(path);
    try (Place p = locate(components(rel), Links.FOLLOW_INSIDE, false, rel)) {
      if (p.kind() == Kind.MISSING) {
        throw new ToolException("no such directory: '" + path + "'");
      }
      if (p.kind() != Kind.DIR) {
        throw new ToolException("'" + path + "' is a file; use read_file");
      }
      List<Node> out = new ArrayList<>();
      if (p.name == null) {
        listInto(p.dir(), "", p.path(), depth, max, out);
      } else {
        try (SecureDirectoryStream<Path> d = openDirectory(p.dir(), p.name, p.attrs)) {
          listInto(d, "", p.path(), depth, max, out);
        }
      }
      return out;
    }
  }

  private void listInto(SecureDirectoryStream<Path> dir, String prefix, String dirPath, int depth, int max, List<Node> out)
      throws IOException {
    for (String name : names(dir)) {
      if (out.size() >= max) {
        return;
      }
      PosixFileAttributes a = stat(dir, name);
      if (a == null) {
        continue;
      }
      String rel = prefix.isEmpty() ? name : prefix + "/" + name;
      Kind kind = kindOf(a);
      String target = null;
      if (kind == Kind.LINK) {
        target = readLink(dirPath.isEmpty() ? List.of() : List.of(dirPath.split("/")), name, a);
      }
      out.add(new Node(rel, kind, kind == Kind.FILE ? a.size() : 0, executable(a), a.fileKey(), a.lastModifiedTime().toMillis(),
          target));
      if (kind == Kind.DIR && depth > 1) {
        try (SecureDirectoryStream<Path> sub = openDirectory(dir, name, a)) {
          listInto(sub, rel, dirPath.isEmpty() ? name : dirPath + "/" + name, depth - 1, max, out);
        }
      }
    }
  }

  /** The names in an open folder, sorted (read fully before anything is changed in it). */
  private static List<String> names(SecureDirectoryStream<Path> dir) throws IOException {
    List<String> names = new ArrayList<>();
    try {
      for (Path p : dir) {
        names.add(p.getFileName().toString());
      }
    } catch (java.nio.file.DirectoryIteratorException e) {
      throw e.getCause();
    }
    Collections.sort(names);
    return names;
  }

  /**
   * Walks the whole workspace without following any link: every folder (before its entries), file
   * and link, and every FIFO, socket or device as OTHER (whose content is never offered). Paths are
   * exact (as on disk).
   */
  public void walk(Visitor visitor) throws IOException {
    try (SecureDirectoryStream<Path> r = openRoot()) {
      walk(r, "", 0, visitor);
    }
  }

  private void walk(SecureDirectoryStream<Path> dir, String prefix, int depth, Visitor visitor) throws IOException {
    if (depth >= MAX_DEPTH) {
      return;
    }
    for (String name : names(dir)) {
      PosixFileAttributes a = stat(dir, name);
      if (a == null) {
        continue;
      }
      String rel = prefix.isEmpty() ? name : prefix + "/" + name;
      Kind kind = kindOf(a);
      String target = kind == Kind.LINK ? readLink(prefix.isEmpty() ? List.of() : List.of(prefix.split("/")), name, a) : null;
      Node n = new Node(rel, kind, kind == Kind.FILE ? a.size() : 0, executable(a), a.fileKey(), a.lastModifiedTime().toMillis(),
          target);
      if (kind == Kind.FILE) {
        visitor.visit(n, () -> openFile(dir, name, a));
      } else {
        visitor.visit(n, null);
      }
      if (kind == Kind.DIR) {
        SecureDirectoryStream<Path> sub;
        try {
          sub = openDirectory(dir, name, a);
        } catch (ToolException e) {
          continue; // changed under us: not walked
        }
        try (sub) {
          walk(sub, rel, depth + 1, visitor);
        }
      }
    }
  }

  // ------------------------------------------------------------------ writing

  /**
   * Writes a file at {@code path} (a model's path: links inside the workspace are followed, missing
   * folders are made), owned by the session's user. A folder, FIFO, socket or device there is refused.
   */
  public void write(String path, byte[] content, boolean executable) throws IOException {
    write(path, content, executable, true);
  }

  /** As {@link #write(String, byte[], boolean)}; {@code check}: ask the write check first (false: the caller did). */
  void write(String path, byte[] content, boolean executable, boolean check) throws IOException {
    String rel = normalize(path);
    if (rel.isEmpty()) {
      throw new ToolException("a file path is required, not the workspace root");
    }
    if (check) {
      Growth g = growth(path, content.length);
      writeCheck.reserve(g.bytes(), g.files());
    }
    try (Place p = locate(components(rel), Links.FOLLOW_INSIDE, true, rel)) {
      writeAt(p, path, content, executable, null);
    }
  }

  /**
   * Writes a file at an exact path whose folders exist and hold no link (a restore): nothing on the
   * way is followed. {@code modified} sets its modification time when not null. Returns what was written.
   */
  Node writeExact(String path, List<byte[]> content, boolean executable, FileTime modified) throws IOException {
    List<String> parts = exactComponents(path);
    if (parts == null) {
      throw new IOException("not an exact workspace path: " + path);
    }
    try (Place p = locate(parts, Links.NEVER, false, path)) {
      if (p.name == null || !p.complete() || !p.path().equals(path)) {
        throw new IOException("cannot write " + path + ": a folder on its way is missing");
      }
      writeAt(p, path, content.toArray(byte[][]::new), executable, modified);
      PosixFileAttributes a = stat(p.dir(), p.name);
      return new Node(path, kindOf(a), a.size(), executable(a), a.fileKey(), a.lastModifiedTime().toMillis(), null);
    }
  }

  private void writeAt(Place p, String shown, byte[] content, boolean executable, FileTime modified) throws IOException {
    writeAt(p, shown, new byte[][] {content}, executable, modified);
  }

  private void writeAt(Place p, String shown, byte[][] content, boolean executable, FileTime modified) throws IOException {
    if (p.name == null) {
      throw new ToolException("'" + shown + "' is a directory");
    }
    switch (p.kind()) {
      case DIR -> throw new ToolException("'" + shown + "' is a directory");
      case OTHER -> throw new ToolException("'" + shown + "' is not a regular file (a FIFO, socket or device): refused");
      case LINK -> throw new ToolException("'" + shown + "' is a symbolic link; links are not written through here");
      default -> { }
    }
    SecureDirectoryStream<Path> dir = p.dir();
    Path tmp = null;
    SeekableByteChannel ch = null;
    for (int attempt = 0; ch == null; attempt++) {
      tmp = Path.of(".tp-" + randomHex() + ".tmp");
      try {
        Set<OpenOption> create = Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        ch = dir.newByteChannel(tmp, create, PosixFilePermissions.asFileAttribute(executable ? EXEC_MODE : FILE_MODE));
      } catch (FileAlreadyExistsException e) {
        if (attempt > 5) {
          throw e;
        }
      }
    }
    boolean moved = false;
    try {
      try (SeekableByteChannel out = ch) {
        for (byte[] b : content) {
          ByteBuffer buf = ByteBuffer.wrap(b);
          while (buf.hasRemaining()) {
            out.write(buf);
          }
        }
      }
      PosixFileAttributeView view = dir.getFileAttributeView(tmp, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
      view.setPermissions(executable ? EXEC_MODE : FILE_MODE); // whatever the umask took away
      if (uid != null) {
        view.setOwner(owner());
        view.setGroup(group());
      }
      if (modified != null) {
        view.setTimes(modified, null, null);
      }
      dir.move(tmp, dir, p.name());
      moved = true;
    } catch (FileSystemException e) {
      if (e.getReason() != null && e.getReason().contains("Is a directory")) {
        throw new ToolException("'" + shown + "' is a directory");
      }
      throw e;
    } finally {
      if (!moved) {
        try {
          dir.deleteFile(tmp);
        } catch (IOException ignored) {
          // already gone
        }
      }
    }
  }

  /** Makes the folders of {@code path} (a model's path), owned by the session's user. */
  public void createDirectories(String path) throws IOException {
    String rel = normalize(path);
    if (rel.isEmpty()) {
      return;
    }
    try (Place probe = locate(components(rel), Links.FOLLOW_INSIDE, false, rel)) {
      if (!probe.complete() || probe.kind() == Kind.MISSING) {
        writeCheck.reserve(0, 1 + probe.rest.size());
      }
    }
    try (Place p = locate(components(rel), Links.FOLLOW_INSIDE, true, rel)) {
      switch (p.kind()) {
        case MISSING -> makeDirectory(p.dir(), p.name);
        case DIR -> { }
        default -> throw new ToolException("'" + path + "' exists and is not a directory");
      }
    }
  }

  /** Makes the folder at an exact path whose parent exists and holds no link (a restore). */
  void createDirectoryExact(String path) throws IOException {
    List<String> parts = exactComponents(path);
    if (parts == null) {
      throw new IOException("not an exact workspace path: " + path);
    }
    try (Place p = locate(parts, Links.NEVER, false, path)) {
      if (p.name == null || !p.complete() || !p.path().equals(path)) {
        throw new IOException("cannot make " + path + ": a folder on its way is missing");
      }
      if (p.kind() == Kind.DIR) {
        return;
      }
      if (p.kind() != Kind.MISSING) {
        throw new IOException("cannot make " + path + ": something else is there");
      }
      makeDirectory(p.dir(), p.name);
    }
  }

  /** Makes a symbolic link at an exact path whose parent exists and holds no link (a restore); its target is only text. */
  void createLinkExact(String path, String target) throws IOException {
    List<String> parts = exactComponents(path);
    if (parts == null) {
      throw new IOException("not an exact workspace path: " + path);
    }
    try (Place p = locate(parts, Links.NEVER, false, path)) {
      if (p.name == null || !p.complete() || !p.path().equals(path) || p.kind() != Kind.MISSING) {
        throw new IOException("cannot make the link " + path + ": its folder is missing or something is there");
      }
      staged(p.dir(), p.name, stage -> Files.createSymbolicLink(stage, Path.of(target)));
    }
  }

  private interface Maker {
    void make(Path staged) throws IOException;
  }

  /** A new folder {@code name} in the open {@code dir}, made in the staging folder then renamed into place. */
  private void makeDirectory(SecureDirectoryStream<Path> dir, String name) throws IOException {
    staged(dir, name, stage -> {
      Files.createDirectory(stage, PosixFilePermissions.asFileAttribute(DIR_MODE));
      Files.setPosixFilePermissions(stage, DIR_MODE);
    });
  }

  /**
   * Java cannot mkdirat or symlinkat: the entry is made by path in the staging folder (a sibling of
   * the workspace that only the service can reach, so no path there can be a trap), given to the
   * session's user there, and renamed into the open parent with renameat.
   */
  private void staged(SecureDirectoryStream<Path> dir, String name, Maker maker) throws IOException {
    Files.createDirectories(staging);
    Files.setPosixFilePermissions(staging, PosixFilePermissions.fromString("rwx------"));
    Path stage = staging.resolve(randomHex());
    maker.make(stage);
    boolean moved = false;
    try {
      if (uid != null) {
        Files.setAttribute(stage, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(stage, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
      }
      try (SecureDirectoryStream<Path> st = (SecureDirectoryStream<Path>) Files.newDirectoryStream(staging)) {
        st.move(stage.getFileName(), dir, Path.of(name));
      } catch (AtomicMoveNotSupportedException e) {
        throw new IOException("the staging folder " + staging + " is not on the workspace's file system; "
            + "a mount for the workspace must cover its parent folder", e);
      }
      moved = true;
    } finally {
      if (!moved) {
        deleteTree(stage, true);
      }
    }
  }

  /**
   * Deletes the entry at {@code path} (a model's path: folders on the way resolved inside the
   * workspace, the last component taken as it is: a link is removed, not its target). Folders are refused.
   */
  public void delete(String path) throws IOException {
    delete(path, false);
  }

  /** As {@link #delete(String)}; {@code followLast}: a link at the end is resolved and what it names is deleted. */
  public void delete(String path, boolean followLast) throws IOException {
    String rel = normalize(path);
    try (Place p = locate(components(rel), followLast ? Links.FOLLOW_INSIDE : Links.FOLLOW_INSIDE_BUT_LAST, false, rel)) {
      if (p.name == null) {
        throw new ToolException("'" + path + "' is a directory");
      }
      switch (p.kind()) {
        case MISSING -> throw new ToolException("no such file: '" + path + "'");
        case DIR -> throw new ToolException("'" + path + "' is a directory");
        default -> p.dir().deleteFile(p.name());
      }
    }
  }

  // ------------------------------------------------------------------ whole tree

  /** Gives every file and folder to the session's user (links keep theirs: Java cannot lchown by handle). */
  public void ownAll() throws IOException {
    if (uid == null) {
      return;
    }
    try (SecureDirectoryStream<Path> r = openRoot()) {
      r.getFileAttributeView(PosixFileAttributeView.class).setOwner(owner());
      r.getFileAttributeView(PosixFileAttributeView.class).setGroup(group());
      ownAll(r, 0);
    }
  }

  private void ownAll(SecureDirectoryStream<Path> dir, int depth) throws IOException {
    if (depth >= MAX_DEPTH) {
      return;
    }
    for (String name : names(dir)) {
      PosixFileAttributes a = stat(dir, name);
      if (a == null) {
        continue;
      }
      if (a.isDirectory()) {
        try (SecureDirectoryStream<Path> sub = openDirectory(dir, name, a)) {
          PosixFileAttributeView v = sub.getFileAttributeView(PosixFileAttributeView.class);
          v.setOwner(owner());
          v.setGroup(group());
          ownAll(sub, depth + 1);
        }
      } else if (a.isRegularFile()) {
        // setOwner opens the file (O_RDONLY|O_NOFOLLOW): only ever a regular file, as checked just now
        PosixFileAttributeView v = dir.getFileAttributeView(Path.of(name), PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        guardedOpen(dir, name, () -> {
          v.setOwner(owner());
          v.setGroup(group());
          return null;
        });
      }
    }
  }

  /** Deletes everything inside the root (not the root itself), never following a link. */
  public void clear() throws IOException {
    try (SecureDirectoryStream<Path> r = openRoot()) {
      deleteContents(r, 0);
    }
  }

  /** Deletes a tree (the folder itself too when {@code includingRoot}), never following a link. */
  public static void deleteTree(Path dir, boolean includingRoot) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      Files.delete(dir);
      return;
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      if (!(ds instanceof SecureDirectoryStream<Path> sds)) {
        throw new IOException("cannot delete " + dir + " safely on this platform");
      }
      deleteContents(sds, 0);
    }
    if (includingRoot) {
      Files.delete(dir);
    }
  }

  private static void deleteContents(SecureDirectoryStream<Path> dir, int depth) throws IOException {
    if (depth >= MAX_DEPTH) {
      throw new IOException("folders nested deeper than " + MAX_DEPTH + " levels");
    }
    for (String name : names(dir)) {
      PosixFileAttributes a = stat(dir, name);
      if (a == null) {
        continue;
      }
      Path n = Path.of(name);
      if (a.isDirectory()) {
        try (SecureDirectoryStream<Path> sub = guardedOpen(dir, name, () -> dir.newDirectoryStream(n, LinkOption.NOFOLLOW_LINKS))) {
          deleteContents(sub, depth + 1);
        } catch (NotDirectoryException e) {
          // swapped for something else: delete that below
        }
        try {
          dir.deleteDirectory(n);
        } catch (FileSystemException e) {
          dir.deleteFile(n);
        }
      } else {
        dir.deleteFile(n);
      }
    }
  }

  // ------------------------------------------------------------------ helpers

  private UserPrincipal owner() throws IOException {
    if (owner == null) {
      UserPrincipalLookupService lookup = root.getFileSystem().getUserPrincipalLookupService();
      owner = lookup.lookupPrincipalByName(String.valueOf(uid));
    }
    return owner;
  }

  private GroupPrincipal group() throws IOException {
    if (group == null) {
      UserPrincipalLookupService lookup = root.getFileSystem().getUserPrincipalLookupService();
      group = lookup.lookupPrincipalByGroupName(String.valueOf(gid));
    }
    return group;
  }

  private static String randomHex() {
    byte[] b = new byte[8];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  private static void closeAll(Deque<SecureDirectoryStream<Path>> chain) {
    while (!chain.isEmpty()) {
      closeQuietly(chain.removeLast());
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception ignored) {
      // a read-only handle: nothing is lost
    }
  }

  /** Whether the current thread was asked to stop (a tool's deadline): long operations end with this. */
  static void checkInterrupted(String what) throws InterruptedIOException {
    if (Thread.currentThread().isInterrupted()) {
      throw new InterruptedIOException(what + " was interrupted");
    }
  }

}
