package io.turnpike.sandbox.workspace;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A snapshot manifest that passed every check a restore needs, and the order to write it in: folders
 * (parents first), then files, then links, so that nothing is ever written below a link. Only
 * {@link #check} makes one, and {@link WorkspaceStore#restore} takes nothing else: a manifest read from
 * the topic is validated whole before the first byte of the workspace changes.
 *
 * <p>Checked: the tag (HMAC with the services' key), that the manifest is the session's own, and each
 * entry: an exact relative path (no empty, '.', '..' or NUL component, nothing absolute, components of
 * at most 255 bytes, 4,095 in all), no duplicate, a known type, a parent that is a folder of the
 * snapshot (so nothing below a link or a file), files whose chunk sizes add up to their size and stay
 * within the limits, links with a target (kept as text only), the number of entries.
 */
public final class RestorePlan {
  private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

  /** The most a restore accepts. */
  public record Limits(int maxEntries, long maxFileBytes, long maxTotalBytes) {
    public static final Limits DEFAULT = new Limits(1_000_000, 10L * 1024 * 1024 * 1024, 64L * 1024 * 1024 * 1024);
  }

  private final SnapshotManifest manifest;
  private final List<SnapshotManifest.Entry> dirs;
  private final List<SnapshotManifest.Entry> files;
  private final List<SnapshotManifest.Entry> links;

  private RestorePlan(SnapshotManifest manifest, List<SnapshotManifest.Entry> dirs, List<SnapshotManifest.Entry> files,
      List<SnapshotManifest.Entry> links) {
    this.manifest = manifest;
    this.dirs = dirs;
    this.files = files;
    this.links = links;
  }

  public SnapshotManifest manifest() {
    return manifest;
  }

  List<SnapshotManifest.Entry> dirs() {
    return dirs;
  }

  List<SnapshotManifest.Entry> files() {
    return files;
  }

  List<SnapshotManifest.Entry> links() {
    return links;
  }

  /** The plan of {@code m} for {@code sessionId}, or why it is refused. */
  public static RestorePlan check(SnapshotManifest m, SnapshotKey key, String sessionId, Limits limits)
      throws SnapshotRefusedException {
    String name = "the snapshot " + m.snapshotId() + " of session " + sessionId;
    if (key == null) {
      throw new SnapshotRefusedException(name + " cannot be checked: this reader has no snapshot key");
    }
    if (m.tag() == null) {
      throw new SnapshotRefusedException(name + " has no integrity tag (not written by a sandbox service of this version)");
    }
    if (!key.verifies(m)) {
      throw new SnapshotRefusedException(name + " has a tag that does not verify with this service's snapshot key "
          + "(written by someone else, or by a sandbox service with another key)");
    }
    if (!sessionId.equals(m.sessionId())) {
      throw new SnapshotRefusedException(name + " belongs to another session (" + m.sessionId() + ")");
    }
    if (m.seq() < 1 || !(sessionId + "@" + m.seq()).equals(m.snapshotId())) {
      throw new SnapshotRefusedException(name + " has an inconsistent snapshot id or sequence number");
    }
    if (m.entries().size() > limits.maxEntries()) {
      throw new SnapshotRefusedException(name + " has " + m.entries().size() + " entries, more than the " + limits.maxEntries()
          + " a restore accepts");
    }
    Map<String, SnapshotManifest.Entry> byPath = new HashMap<>();
    for (SnapshotManifest.Entry e : m.entries()) {
      String problem = problem(e, limits);
      if (problem != null) {
        throw new SnapshotRefusedException(name + ": the entry '" + printable(e.path()) + "' " + problem);
      }
      if (byPath.putIfAbsent(e.path(), e) != null) {
        throw new SnapshotRefusedException(name + ": the entry '" + printable(e.path()) + "' appears twice");
      }
    }
    long total = 0;
    List<SnapshotManifest.Entry> dirs = new ArrayList<>();
    List<SnapshotManifest.Entry> files = new ArrayList<>();
    List<SnapshotManifest.Entry> links = new ArrayList<>();
    for (SnapshotManifest.Entry e : m.entries()) {
      int slash = e.path().lastIndexOf('/');
      if (slash > 0) {
        SnapshotManifest.Entry parent = byPath.get(e.path().substring(0, slash));
        if (parent == null || !parent.isDir()) {
          throw new SnapshotRefusedException(name + ": the entry '" + printable(e.path()) + "' is not in a folder of the snapshot"
              + (parent == null ? "" : " (its parent is a " + parent.type() + ")"));
        }
      }
      switch (e.type()) {
        case "dir" -> dirs.add(e);
        case "link" -> links.add(e);
        default -> {
          files.add(e);
          total += e.size();
        }
      }
    }
    if (total > limits.maxTotalBytes()) {
      throw new SnapshotRefusedException(name + " holds " + total + " bytes, more than the " + limits.maxTotalBytes()
          + " a restore accepts");
    }
    dirs.sort(Comparator.comparingInt((SnapshotManifest.Entry e) -> depth(e.path())).thenComparing(SnapshotManifest.Entry::path));
    return new RestorePlan(m, List.copyOf(dirs), List.copyOf(files), List.copyOf(links));
  }

  private static String problem(SnapshotManifest.Entry e, Limits limits) {
    if (e.path() == null || e.type() == null) {
      return "has no path or type";
    }
    List<String> parts = Workspace.exactComponents(e.path());
    if (parts == null) {
      return "is not a plain relative path (empty, '.', '..', NUL or absolute)";
    }
    if (e.path().getBytes(StandardCharsets.UTF_8).length > 4095) {
      return "has a path longer than 4,095 bytes";
    }
    for (String p : parts) {
      if (p.getBytes(StandardCharsets.UTF_8).length > 255) {
        return "has a name longer than 255 bytes";
      }
    }
    switch (e.type()) {
      case "dir" -> {
        if (e.target() != null || (e.chunks() != null && !e.chunks().isEmpty())) {
          return "is a folder with a link target or content";
        }
      }
      case "link" -> {
        if (e.target() == null || e.target().isEmpty() || e.target().indexOf('\0') >= 0
            || e.target().getBytes(StandardCharsets.UTF_8).length > 4095) {
          return "is a link without a valid target";
        }
        if (e.chunks() != null && !e.chunks().isEmpty()) {
          return "is a link with content";
        }
      }
      case "file" -> {
        if (e.target() != null) {
          return "is a file with a link target";
        }
        if (e.chunks() == null || e.size() < 0) {
          return "is a file without chunks";
        }
        if (e.size() > limits.maxFileBytes()) {
          return "has " + e.size() + " bytes, more than the " + limits.maxFileBytes() + " a restored file may have";
        }
        long sum = 0;
        for (SnapshotManifest.ChunkRef c : e.chunks()) {
          if (c.sha256() == null || !SHA256.matcher(c.sha256()).matches() || c.size() <= 0 || c.partition() < 0 || c.offset() < 0) {
            return "has an invalid chunk reference";
          }
          sum += c.size();
        }
        if (sum != e.size()) {
          return "has chunks of " + sum + " bytes for a size of " + e.size();
        }
      }
      default -> {
        return "has an unknown type '" + e.type() + "'";
      }
    }
    return null;
  }

  private static int depth(String path) {
    int n = 0;
    for (int i = 0; i < path.length(); i++) {
      if (path.charAt(i) == '/') {
        n++;
      }
    }
    return n;
  }

  private static String printable(String s) {
    if (s == null) {
      return "(none)";
    }
    String t = s.replaceAll("\\p{Cntrl}", "?");
    return t.length() > 200 ? t.substring(0, 200) + "..." : t;
  }
}
