package io.turnpike.sandbox.workspace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.turnpike.sandbox.backend.OutputBuffer;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The workspace's file access on its own (no service): paths stay inside, links are resolved inside
 * or refused, chains of dangling links cannot create a file outside, FIFOs are refused without
 * blocking, a folder swapped for a link during a write cannot redirect it.
 */
class WorkspaceTest {
  private static final Duration QUICK = Duration.ofSeconds(10);

  @TempDir
  Path dir;
  Path host;
  Workspace ws;

  @BeforeEach
  void makeWorkspace() throws Exception {
    ws = new Workspace(dir.resolve("ws"), null, null);
    host = Files.createDirectories(dir.resolve("host"));
    Files.writeString(host.resolve("secret.txt"), "host secret\n");
  }

  private Path in(String rel) {
    return ws.root().resolve(rel);
  }

  private static void mkfifo(Path p) throws Exception {
    Process pr = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
    assertThat(pr.waitFor()).isZero();
  }

  private List<String> hostEntries() throws Exception {
    try (Stream<Path> s = Files.walk(host)) {
      return s.map(p -> host.relativize(p).toString()).sorted().toList();
    }
  }

  @Test
  void pathsStayInside() throws Exception {
    assertThat(Workspace.normalize("a/./b//c/../d")).isEqualTo("a/b/d");
    assertThat(Workspace.normalize("/workspace/src/x")).isEqualTo("src/x");
    assertThat(Workspace.normalize("/workspace")).isEmpty();
    assertThatThrownBy(() -> ws.stat("../x", true)).hasMessageContaining("leads outside the workspace");
    assertThatThrownBy(() -> ws.stat("a/../../x", true)).hasMessageContaining("leads outside the workspace");
    assertThatThrownBy(() -> ws.stat("/etc/passwd", true)).hasMessageContaining("is an absolute path");
    assertThatThrownBy(() -> ws.stat("~/x", true)).hasMessageContaining("is an absolute path");
    assertThat(ws.stat("a/b", true).kind()).isEqualTo(Workspace.Kind.MISSING);
    assertThat(ws.stat("a/b", true).path()).isEqualTo("a/b");
  }

  @Test
  void linksInsideAreFollowedAndLinksOutAreRefused() throws Exception {
    ws.write("in/file.txt", "inside\n".getBytes(StandardCharsets.UTF_8), false);
    Files.createSymbolicLink(in("in-link"), Path.of("in"));
    Files.createSymbolicLink(in("abs-in"), Path.of("/workspace/in/file.txt"));
    Files.createSymbolicLink(in("in/up"), Path.of("../in-link/file.txt"));
    Files.createSymbolicLink(in("out"), host);
    Files.createSymbolicLink(in("climb"), Path.of("../host"));
    Files.createSymbolicLink(in("secret"), host.resolve("secret.txt"));

    assertThat(new String(ws.readFile("in-link/file.txt", 100), StandardCharsets.UTF_8)).isEqualTo("inside\n");
    assertThat(new String(ws.readFile("abs-in", 100), StandardCharsets.UTF_8)).isEqualTo("inside\n");
    assertThat(new String(ws.readFile("in/up", 100), StandardCharsets.UTF_8)).isEqualTo("inside\n");
    assertThat(ws.stat("in-link/file.txt", true).path()).isEqualTo("in/file.txt");
    assertThat(ws.stat("in-link", false).kind()).isEqualTo(Workspace.Kind.LINK);
    assertThat(ws.stat("in-link", false).target()).isEqualTo("in");

    for (String p : List.of("out/secret.txt", "out", "climb/secret.txt", "secret")) {
      assertThatThrownBy(() -> ws.readFile(p, 100)).as(p).hasMessageContaining("outside the workspace");
      assertThatThrownBy(() -> ws.write(p, "x".getBytes(), false)).as(p).hasMessageContaining("outside the workspace");
      assertThatThrownBy(() -> ws.write(p + "/new", "x".getBytes(), false)).as(p).hasMessageContaining("outside the workspace");
    }
    assertThatThrownBy(() -> ws.list("out", 1, 100)).hasMessageContaining("outside the workspace");
    assertThat(hostEntries()).containsExactly("", "secret.txt");
  }

  /** Issue #11, attack 1: a chain of dangling links whose end is outside. */
  @Test
  void aChainOfDanglingLinksCannotCreateAFileOutside() throws Exception {
    Files.createSymbolicLink(in("out-link"), host);
    Files.createSymbolicLink(in("chain"), Path.of("out-link/NEW"));
    Files.createSymbolicLink(in("chain2"), Path.of("chain"));
    Files.createSymbolicLink(in("abs-chain"), host.resolve("NEW"));
    for (String p : List.of("chain", "chain2", "abs-chain", "out-link/NEW", "chain/deeper")) {
      assertThatThrownBy(() -> ws.write(p, "pwned".getBytes(), false)).as(p).hasMessageContaining("outside the workspace");
      assertThatThrownBy(() -> ws.createDirectories(p)).as(p).hasMessageContaining("outside the workspace");
    }
    assertThatThrownBy(() -> ApplyPatch.apply(ws, "*** Begin Patch\n*** Add File: chain\n+pwned\n*** End Patch"))
        .hasMessageContaining("outside the workspace");
    assertThat(hostEntries()).containsExactly("", "secret.txt");
    // a dangling link inside the workspace is written through to its (inside) target, like a shell would
    Files.createSymbolicLink(in("later"), Path.of("made/later.txt"));
    ws.write("later", "ok".getBytes(), false);
    assertThat(in("made/later.txt")).hasContent("ok");
    assertThat(in("later")).isSymbolicLink();
  }

  @Test
  void loopsOfLinksEndWithAnError() throws Exception {
    Files.createSymbolicLink(in("a"), Path.of("b"));
    Files.createSymbolicLink(in("b"), Path.of("a"));
    assertTimeoutPreemptively(QUICK, () -> {
      assertThatThrownBy(() -> ws.readFile("a", 10)).hasMessageContaining("too many levels of symbolic links");
      assertThatThrownBy(() -> ws.write("a/x", new byte[1], false)).hasMessageContaining("too many levels");
    });
  }

  /** Issue #11, attack 4: FIFOs are refused, never opened. */
  @Test
  void fifosAreRefusedWithoutBlocking() throws Exception {
    mkfifo(in("ff"));
    Files.createDirectories(in("d"));
    mkfifo(in("d/ff"));
    Files.createSymbolicLink(in("to-ff"), Path.of("ff"));
    assertTimeoutPreemptively(QUICK, () -> {
      for (String p : List.of("ff", "to-ff", "d/ff")) {
        assertThatThrownBy(() -> ws.write(p, "x".getBytes(), false)).as(p).hasMessageContaining("not a regular file");
        assertThatThrownBy(() -> ws.readFile(p, 100)).as(p).hasMessageContaining("not a regular file");
        assertThatThrownBy(() -> ApplyPatch.apply(ws, "*** Begin Patch\n*** Update File: " + p + "\n@@\n-x\n+y\n*** End Patch"))
            .as(p).hasMessageContaining("not a regular file");
      }
      assertThatThrownBy(() -> ws.write("ff/x", "x".getBytes(), false)).hasMessageContaining("not a directory");
      assertThat(ws.list("", 2, 100)).extracting(Workspace.Node::path, Workspace.Node::kind)
          .contains(org.assertj.core.groups.Tuple.tuple("ff", Workspace.Kind.OTHER),
              org.assertj.core.groups.Tuple.tuple("d/ff", Workspace.Kind.OTHER));
      AtomicInteger seen = new AtomicInteger();
      ws.walk((node, content) -> {
        if (node.kind() == Workspace.Kind.OTHER) {
          assertThat(content).isNull();
          seen.incrementAndGet();
        }
      });
      assertThat(seen).hasValue(2);
    });
    assertThat(in("ff")).exists();
    assertThat(Files.isRegularFile(in("ff"), LinkOption.NOFOLLOW_LINKS)).isFalse();
  }

  /**
   * The backstop: a regular file checked, then swapped for a FIFO before the open (only a process
   * running concurrently could do that). The open is released after the grace period and refused.
   */
  @Test
  void aFifoSwappedInAfterTheCheckIsReleasedAndRefused() throws Exception {
    ws.write("f", "x".getBytes(), false);
    PosixFileAttributes checked = Files.readAttributes(in("f"), PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    Files.delete(in("f"));
    mkfifo(in("f"));
    try (SecureDirectoryStream<Path> d = (SecureDirectoryStream<Path>) Files.newDirectoryStream(ws.root())) {
      long t0 = System.nanoTime();
      assertTimeoutPreemptively(QUICK, () -> assertThatThrownBy(() -> {
        try (InputStream ignored = Workspace.openFile(d, "f", checked)) {
          // not reached
        }
      }).hasMessageContaining("not a regular file"));
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(Duration.ofMillis(Workspace.OPEN_GRACE_MS));
    }
  }

  @Test
  void writesReplaceAtomicallyAndLeaveNoTemporaryFiles() throws Exception {
    ws.write("a/b/c.txt", "one".getBytes(), false);
    ws.write("a/b/c.txt", "two".getBytes(), true);
    assertThat(in("a/b/c.txt")).hasContent("two");
    assertThat(in("a/b/c.txt")).isExecutable();
    try (Stream<Path> s = Files.walk(ws.root())) {
      assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".tp-"));
    }
    Files.createDirectories(in("a/dir"));
    assertThatThrownBy(() -> ws.write("a/dir", "x".getBytes(), false)).hasMessageContaining("is a directory");
  }

  /** Issue #11, attack 3, the service's part: folders swapped for links while apply_patch works never redirect it. */
  @Test
  void aFolderSwappedForALinkDuringPatchesNeverLeadsOutside() throws Exception {
    ws.write("d/f.txt", "one\n".getBytes(), false);
    StringBuilder big = new StringBuilder();
    for (int i = 1; i <= 200_000; i++) {
      big.append(i).append('\n');
    }
    ws.write("big.txt", big.toString().getBytes(), false);
    // as the orphan of a command would: a shell loop that swaps the folder for a link to the host and back
    Process swapper = new ProcessBuilder("sh", "-c", "while :; do mv d d.real; ln -s " + host + " d; rm -f d; mv d.real d; "
        + "echo x >> ../swaps; done").directory(ws.root().toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    int ok = 0;
    int refused = 0;
    try {
      for (int i = 0; i < 40; i++) {
        try {
          // d/new<i> is checked first; the update of big.txt keeps the patch busy before anything is written
          ApplyPatch.apply(ws, "*** Begin Patch\n*** Add File: d/new" + i + ".txt\n+x\n*** Update File: big.txt\n"
              + slowHunks() + "*** End Patch");
          ok++;
        } catch (RuntimeException | java.io.IOException e) {
          refused++;
        }
      }
    } finally {
      swapper.destroyForcibly();
      swapper.waitFor();
    }
    long swaps = Files.lines(ws.root().resolveSibling("swaps")).count();
    System.out.println("swap test: " + swaps + " swaps, " + ok + " patches applied, " + refused + " refused");
    assertThat(swaps).as("the swapper ran").isPositive();
    assertThat(ok + refused).isEqualTo(40);
    assertThat(hostEntries()).as("nothing was written on the host").containsExactly("", "secret.txt");
  }

  /** 300 hunks that change nothing, spread over a 200,000-line file: work for a patch, no change. */
  private static String slowHunks() {
    StringBuilder b = new StringBuilder();
    for (int line = 500; line < 200_000; line += 650) {
      b.append("@@\n-").append(line).append("\n+").append(line).append('\n');
    }
    return b.toString();
  }

  @Test
  void restoreValidationRefusesEntriesBelowLinksAndBadPaths() {
    SnapshotKey key = SnapshotKey.random();
    SnapshotManifest.ChunkRef chunk = new SnapshotManifest.ChunkRef("a".repeat(64), 4, 0, 0);
    List<List<SnapshotManifest.Entry>> bad = List.of(
        List.of(new SnapshotManifest.Entry("a", "link", 0, false, host.toString(), null),
            new SnapshotManifest.Entry("a/x", "file", 4, true, null, List.of(chunk))),
        List.of(new SnapshotManifest.Entry("a", "link", 0, false, host.toString(), null),
            new SnapshotManifest.Entry("a/d", "dir", 0, false, null, null)),
        List.of(new SnapshotManifest.Entry("../x", "file", 4, false, null, List.of(chunk))),
        List.of(new SnapshotManifest.Entry("/etc/cron.d/x", "file", 4, false, null, List.of(chunk))),
        List.of(new SnapshotManifest.Entry("a//b", "dir", 0, false, null, null)),
        List.of(new SnapshotManifest.Entry("x", "file", 4, false, null, List.of(chunk)),
            new SnapshotManifest.Entry("x", "file", 4, false, null, List.of(chunk))),
        List.of(new SnapshotManifest.Entry("x", "file", 5, false, null, List.of(chunk))),
        List.of(new SnapshotManifest.Entry("x", "fifo", 0, false, null, null)),
        List.of(new SnapshotManifest.Entry("f", "file", 4, false, null, List.of(chunk)),
            new SnapshotManifest.Entry("f/x", "file", 4, false, null, List.of(chunk))));
    for (List<SnapshotManifest.Entry> entries : bad) {
      SnapshotManifest m = new SnapshotManifest("s", 1, "s@1", java.time.Instant.now(), "local", entries, List.of()).taggedWith(key);
      assertThatThrownBy(() -> RestorePlan.check(m, key, "s", RestorePlan.Limits.DEFAULT)).as(entries.toString())
          .isInstanceOf(SnapshotRefusedException.class);
    }
    List<SnapshotManifest.Entry> good = List.of(new SnapshotManifest.Entry("d", "dir", 0, false, null, null),
        new SnapshotManifest.Entry("d/l", "link", 0, false, "/etc", null),
        new SnapshotManifest.Entry("d/x", "file", 4, false, null, List.of(chunk)));
    SnapshotManifest m = new SnapshotManifest("s", 1, "s@1", java.time.Instant.now(), "local", good, List.of());
    assertThatThrownBy(() -> RestorePlan.check(m, key, "s", RestorePlan.Limits.DEFAULT)).hasMessageContaining("no integrity tag");
    assertThatThrownBy(() -> RestorePlan.check(m.taggedWith(SnapshotKey.random()), key, "s", RestorePlan.Limits.DEFAULT))
        .hasMessageContaining("does not verify");
    assertThatThrownBy(() -> RestorePlan.check(m.taggedWith(key), key, "other", RestorePlan.Limits.DEFAULT))
        .hasMessageContaining("belongs to another session");
    SnapshotManifest changed = new SnapshotManifest("s", 1, "s@1", m.createdAt(), "local", good,
        List.of(new SnapshotManifest.RecordedResult("c1", "shell", "forged answer", false, 0, "s@1", 1)), m.taggedWith(key).tag());
    assertThatThrownBy(() -> RestorePlan.check(changed, key, "s", RestorePlan.Limits.DEFAULT)).hasMessageContaining("does not verify");
    assertThat(catchPlan(m.taggedWith(key), key).links()).extracting(SnapshotManifest.Entry::path).containsExactly("d/l");
  }

  private static RestorePlan catchPlan(SnapshotManifest m, SnapshotKey key) {
    try {
      return RestorePlan.check(m, key, "s", RestorePlan.Limits.DEFAULT);
    } catch (SnapshotRefusedException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void theKeyComesFromSettingsOrAFileAndIsNeverShown() throws Exception {
    String secret = "0123456789abcdef0123456789abcdef-secret";
    SnapshotKey k = SnapshotKey.from(io.turnpike.schema.Settings.of(java.util.Map.of(SnapshotKey.KEY, secret)));
    assertThat(k.toString()).doesNotContain(secret);
    assertThatThrownBy(() -> SnapshotKey.from(io.turnpike.schema.Settings.of(java.util.Map.of(SnapshotKey.KEY, "short"))))
        .hasMessageContaining("at least 32");
    Path file = dir.resolve("keys/snapshot.key");
    SnapshotKey made = SnapshotKey.from(io.turnpike.schema.Settings.of(java.util.Map.of(SnapshotKey.KEY_FILE, file.toString())));
    assertThat(file).exists();
    assertThat(Files.getPosixFilePermissions(file)).isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    SnapshotKey again = SnapshotKey.from(io.turnpike.schema.Settings.of(java.util.Map.of(SnapshotKey.KEY_FILE, file.toString())));
    SnapshotManifest m = new SnapshotManifest("s", 1, "s@1", java.time.Instant.now(), "local", List.of(), List.of());
    assertThat(again.verifies(m.taggedWith(made))).isTrue();
    assertThat(k.verifies(m.taggedWith(made))).isFalse();
  }

  @Test
  void outputBufferKeepsHeadAndTail() {
    OutputBuffer b = new OutputBuffer(10);
    byte[] data = "0123456789abcdefghij".getBytes();
    b.write(data, 0, data.length);
    assertThat(b.truncated()).isTrue();
    assertThat(b.text()).isEqualTo("01234\n[... 10 bytes truncated ...]\nfghij");
    assertThat(OutputBuffer.truncate("short", 10)).isEqualTo("short");
  }
}
