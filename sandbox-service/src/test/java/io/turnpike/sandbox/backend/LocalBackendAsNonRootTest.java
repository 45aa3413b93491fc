package io.turnpike.sandbox.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The local backend in a service that is not root, as deployments run it: bubblewrap in an
 * unprivileged user namespace, no per-session uids, nothing left to sweep by uid. Where the tests run
 * as root, a JVM of its own is started as {@code nobody} ({@link NonRootProbe}); where they do not,
 * the whole suite already runs this way.
 */
class LocalBackendAsNonRootTest {
  @Test
  void noProcessOutlivesItsCommandAndNothingIsWrittenOutsideAsNobody() throws Exception {
    assumeTrue(LocalBackend.isRoot(), "the tests run as an ordinary user already: every local test covers this");
    assumeTrue(LocalBackend.which("setpriv") != null && LocalBackend.which("bwrap") != null, "setpriv and bwrap are needed");
    Path base = Files.createTempDirectory("tp-nonroot");
    // a class path nobody can read: the build's may sit under root's home
    Path cp = Files.createDirectories(base.resolve("cp"));
    List<String> entries = new ArrayList<>();
    int i = 0;
    for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
      Path src = Path.of(e);
      if (!Files.exists(src)) {
        continue;
      }
      Path dst = cp.resolve(i++ + "-" + src.getFileName());
      if (Files.isDirectory(src)) {
        try (var walk = Files.walk(src)) {
          for (Path p : walk.toList()) {
            Path to = dst.resolve(src.relativize(p).toString());
            if (Files.isDirectory(p)) {
              Files.createDirectories(to);
            } else {
              Files.copy(p, to);
            }
          }
        }
      } else {
        Files.copy(src, dst);
      }
      entries.add(dst.toString());
    }
    Path work = Files.createDirectories(base.resolve("work"));
    try (var walk = Files.walk(base)) {
      for (Path p : walk.toList()) {
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
      }
    }
    Files.setAttribute(work, "unix:uid", 65534);
    Files.setAttribute(work, "unix:gid", 65534);
    Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(LocalBackend.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", "--",
        java, "-cp", String.join(File.pathSeparator, entries), NonRootProbe.class.getName(), work.toString())
        .redirectErrorStream(true).directory(work.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    System.out.println(out);
    assertThat(out).as(out).contains("isolated true owner null");
    for (String c : List.of("background", "nohup", "setsid", "double-fork", "kill-own-wrapper", "timeout")) {
      assertThat(out).as(out).containsPattern("(?m)^" + c + " left=0 ");
    }
    assertThat(out).contains("escape out=").doesNotContain("WROTE");
    assertThat(Path.of("/etc/tp-nonroot-escape")).doesNotExist();
  }
}
