package io.turnpike.mcp;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The bubblewrap arguments of an isolated stdio server ({@link McpServerSpec.Isolation}), as the sandbox's
 * local backend builds its own: new namespaces, the host's system folders read-only, a private /tmp,
 * the configured paths, the server's command after {@code --}. The server's process is bwrap, which
 * exits with it (so a crash is seen) and takes it along when the gateway dies.
 */
final class Bubblewrap {
  private Bubblewrap() {}

  static List<String> argv(McpServerSpec.Stdio s) {
    McpServerSpec.Isolation iso = s.isolate();
    List<String> a = new ArrayList<>(List.of("--unshare-all", "--die-with-parent", "--new-session"));
    if (iso.network()) {
      a.add("--share-net");
    }
    a.addAll(List.of("--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"));
    for (String d : List.of("bin", "sbin", "lib", "lib32", "lib64", "libx32")) {
      Path p = Path.of("/", d);
      try {
        if (Files.isSymbolicLink(p)) {
          a.addAll(List.of("--symlink", Files.readSymbolicLink(p).toString(), "/" + d));
        } else if (Files.isDirectory(p)) {
          a.addAll(List.of("--ro-bind", "/" + d, "/" + d));
        }
      } catch (IOException e) {
        // not there: nothing to bind
      }
    }
    a.addAll(List.of("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"));
    iso.read().forEach(p -> a.addAll(List.of("--ro-bind", p, p)));
    iso.write().forEach(p -> a.addAll(List.of("--bind", p, p)));
    String cwd = s.cwd() != null ? s.cwd() : !iso.write().isEmpty() ? iso.write().getFirst() : "/";
    a.addAll(List.of("--chdir", cwd, "--", s.command()));
    a.addAll(s.args());
    return a;
  }
}
