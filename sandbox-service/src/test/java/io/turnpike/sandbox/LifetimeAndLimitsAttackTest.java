package io.turnpike.sandbox;

import static io.turnpike.sandbox.SandboxHarness.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.Manifest;
import io.turnpike.avro.ResourceLimits;
import io.turnpike.avro.SandboxResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The processes-and-limits half of issue #11, as a hostile model would try it, through the real service
 * on a real broker, once per backend: no process outlives its command (background, nohup, setsid,
 * double fork, a command that kills its own wrapper, timeout, output flood), so a process left by one
 * command cannot swap a folder for a link while a file tool works; no file tool blocks a session (a
 * FIFO, a file as large as /dev/zero is long, a huge apply_patch); the workspace quota in bytes and
 * files holds against commands and file tools, and a workspace over it is not snapshotted; a manifest
 * asking for more CPUs than the host has still gets a working session.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class LifetimeAndLimitsAttackTest {
  static final int QUOTA_MB = 4;
  static final int QUOTA_FILES = 300;
  static final long FILE_TOOL_TIMEOUT_MS = 3000;

  SandboxHarness h;
  SandboxService service;
  private final AtomicInteger sessions = new AtomicInteger();
  private String skipReason;

  abstract String backend();

  /** Why the backend cannot run on this machine, or null when it can. */
  abstract String unavailable();

  @BeforeAll
  void startService() throws Exception {
    skipReason = unavailable();
    if (skipReason != null) {
      System.out.println("SKIPPED " + getClass().getSimpleName() + ": " + skipReason);
      return;
    }
    h = new SandboxHarness();
    service = h.startService(backend(), Map.of(
        "turnpike.sandbox.output-bytes", "2048",
        "turnpike.sandbox.cpu-seconds", "10",
        "turnpike.sandbox.memory-mb", "256",
        "turnpike.sandbox.pids", "64",
        "turnpike.sandbox.command-timeout", "30s",
        "turnpike.sandbox.disk-mb", String.valueOf(QUOTA_MB),
        "turnpike.sandbox.workspace-files", String.valueOf(QUOTA_FILES),
        "turnpike.sandbox.file-tool-timeout", FILE_TOOL_TIMEOUT_MS + "ms",
        "turnpike.sandbox.max-sessions", "8"));
  }

  @BeforeEach
  void assumeAvailable() {
    org.junit.jupiter.api.Assumptions.assumeTrue(skipReason == null, () -> "SKIPPED: " + skipReason);
  }

  @AfterAll
  void stop() {
    if (h != null) {
      h.close();
    }
  }

  String newSession(String name) {
    return backend() + "-" + name + "-" + sessions.incrementAndGet();
  }

  SandboxResult shell(String session, String command) {
    return h.call(session, "shell", json("command", command));
  }

  Path workspace(String session) {
    return service.config().root().resolve("sessions").resolve(SandboxSession.dirName(session)).resolve("workspace");
  }

  /** Processes on this host whose command line names {@code marker}: the kernel's view, whatever the namespace. */
  static List<String> processesNaming(String marker) {
    List<String> found = new ArrayList<>();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
        try {
          String cmdline = new String(Files.readAllBytes(p.resolve("cmdline"))).replace('\0', ' ');
          if (cmdline.contains(marker)) {
            found.add(p.getFileName() + ": " + cmdline);
          }
        } catch (IOException e) {
          // ended while we looked
        }
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return found;
  }

  static long sizeOf(Path f) {
    try {
      return Files.exists(f, LinkOption.NOFOLLOW_LINKS) ? Files.size(f) : -1;
    } catch (IOException e) {
      return -2;
    }
  }

  // ------------------------------------------------------------------ no process outlives its command

  /** A loop that appends to {@code beat} ten times a second, and names the marker on its command line. */
  static String loop(String marker) {
    return "while :; do echo " + marker + " >> beat; sleep 0.1; done";
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"background", "nohup", "setsid", "double-fork", "kill-own-wrapper", "ignore-signals",
      "timeout", "output-flood"})
  void noProcessOutlivesItsCommand(String trick) {
    String s = newSession("orphan-" + trick);
    String marker = "tp-orphan-" + System.nanoTime();
    String loop = loop(marker);
    String command = switch (trick) {
      case "background" -> "(" + loop + ") >/dev/null 2>&1 & echo started";
      case "nohup" -> "nohup sh -c '" + loop + "' >/dev/null 2>&1 & echo started";
      case "setsid" -> "setsid sh -c '" + loop + "' >/dev/null 2>&1 </dev/null & echo started";
      case "double-fork" -> "( (" + loop + ") >/dev/null 2>&1 & ) ; echo started";
      case "kill-own-wrapper" -> "(" + loop + ") >/dev/null 2>&1 & sleep 0.3; kill -9 $PPID; echo survived";
      case "ignore-signals" -> "(trap '' HUP INT TERM QUIT USR1 USR2; " + loop + ") >/dev/null 2>&1 & echo started";
      case "timeout" -> "(" + loop + ") >/dev/null 2>&1 & sleep 60";
      case "output-flood" -> "(" + loop + ") >/dev/null 2>&1 & yes flood-flood-flood";
      default -> throw new IllegalArgumentException(trick);
    };
    SandboxResult r = h.call(s, "shell", json("command", command, "timeout_ms", trick.equals("timeout") ? 1500 : 20_000));
    // At the moment the answer exists, nothing the command started may be left.
    assertThat(processesNaming(marker)).as("processes left after '%s': %s", trick, r.getOutput()).isEmpty();
    Path beat = workspace(s).resolve("beat");
    long size = sizeOf(beat);
    await().during(Duration.ofMillis(1200)).atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(100))
        .untilAsserted(() -> assertThat(sizeOf(beat)).as("the loop of '%s' still writes", trick).isEqualTo(size));
    // and the session goes on
    assertThat(shell(s, "echo next").getOutput()).contains("next");
    assertThat(processesNaming(marker)).isEmpty();
  }

  // ------------------------------------------------------------------ races against the file tools

  /**
   * A command leaves a process behind (killing its wrapper, so no cleanup of the wrapper runs) that
   * swaps a folder for a link to a host folder after a moment; apply_patch checks the folder, then
   * works for seconds on a large update, then writes. Nothing may appear in the host folder.
   */
  @Test
  void aProcessLeftBehindCannotSwapAFolderWhileApplyPatchWorks() throws Exception {
    String s = newSession("swap-patch");
    Path host = Files.createTempDirectory("tp-host-target");
    Files.setPosixFilePermissions(host, PosixFilePermissions.fromString("rwxrwxrwx"));
    // a large file whose only match for the hunk is at its end: the matching takes a while
    assertThat(shell(s, "yes x | head -n 60000 > big.txt; echo last >> big.txt; mkdir -p d; echo ok").getOutput())
        .contains("ok");
    String context = " x\n".repeat(600);
    String patch = "*** Begin Patch\n*** Add File: d/escaped.txt\n+written through a swapped link\n"
        + "*** Update File: big.txt\n@@\n" + context + "-last\n+changed\n*** End Patch\n";
    String swapper = "(sleep 1; rm -rf d; ln -s " + host + " d) >/dev/null 2>&1 & sleep 0.2; kill -9 $PPID";
    shell(s, swapper);
    SandboxResult r = h.call(s, "apply_patch", json("patch", patch));
    assertThat(host.resolve("escaped.txt")).as("apply_patch answered: %s", r.getOutput()).doesNotExist();
    // and once more with a process that keeps swapping while write_file is called again and again
    shell(s, "rm -rf d; mkdir d; (while :; do rm -rf d; ln -s " + host + " d; mkdir x.$$ 2>/dev/null; rm -f d; mkdir d; done)"
        + " >/dev/null 2>&1 & sleep 0.2; kill -9 $PPID");
    for (int i = 0; i < 30; i++) {
      h.call(s, "write_file", json("path", "d/w" + i + ".txt", "content", "x"));
    }
    try (Stream<Path> left = Files.list(host)) {
      assertThat(left.toList()).as("files created on the host through a swapped link").isEmpty();
    }
  }

  // ------------------------------------------------------------------ no file tool blocks a session

  @Test
  void aFifoBlocksNoFileTool() {
    String s = newSession("fifo");
    assertThat(shell(s, "mkfifo ff && mkdir -p skills && mkfifo pipe.png && echo made").getOutput()).contains("made");
    long bound = FILE_TOOL_TIMEOUT_MS + 12_000;
    for (String[] call : List.of(
        new String[] {"write_file", json("path", "ff", "content", "hello")},
        new String[] {"read_file", json("path", "ff")},
        new String[] {"view_image", json("path", "pipe.png")},
        new String[] {"apply_patch", json("patch", "*** Begin Patch\n*** Update File: ff\n@@\n-a\n+b\n*** End Patch\n")},
        new String[] {"list_dir", json("path", "")})) {
      long t0 = System.nanoTime();
      SandboxResult r = h.await(h.send(s, call[0], call[1]), Duration.ofMillis(bound + 5_000));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertThat(ms).as("%s on a FIFO took %d ms: %s", call[0], ms, r.getOutput()).isLessThan(bound);
      assertThat(shell(s, "echo usable").getOutput()).as("after %s", call[0]).contains("usable");
    }
  }

  /**
   * A file as endless as /dev/zero: a link to it, or a sparse file of gigabytes (reading it whole would
   * take the service's memory). The link leads out; the sparse file cannot pass the file size limit,
   * which is the workspace quota. Every tool answers, and the session goes on.
   */
  @Test
  void aFileAsEndlessAsDevZeroIsRefusedOrBounded() {
    String s = newSession("zero");
    shell(s, "ln -s /dev/zero z; truncate -s 3G sparse 2>/dev/null || dd if=/dev/zero of=sparse bs=1 count=0 seek=3G");
    assertThat(sizeOf(workspace(s).resolve("sparse"))).isLessThanOrEqualTo(QUOTA_MB * 1024L * 1024);
    // the link leads out: refused; the sparse file is as long as the file size limit let it be: answered
    for (String path : List.of("z", "sparse")) {
      for (String[] call : List.of(
          new String[] {"read_file", json("path", path)},
          new String[] {"view_image", json("path", path)},
          new String[] {"apply_patch", json("patch", "*** Begin Patch\n*** Update File: " + path + "\n@@\n-a\n+b\n*** End Patch\n")})) {
        SandboxResult r = h.await(h.send(s, call[0], call[1]), Duration.ofSeconds(FILE_TOOL_TIMEOUT_MS / 1000 + 20));
        assertThat(r.getIsError() || path.equals("sparse")).as("%s %s: %s", call[0], path, r.getOutput()).isTrue();
      }
    }
    assertThat(shell(s, "rm -f sparse; echo usable").getOutput()).contains("usable");
  }

  /**
   * The case: a 58 KB patch on a 400,000-line file, whose only match is at its end, kept the
   * service busy for 54 s. It is answered within the file tool deadline (applied, or stopped with an
   * error that says so), and the session goes on. The deadline itself: {@code FileToolDeadlineTest}.
   */
  @Test
  void aHugeApplyPatchIsAnsweredWithinTheFileToolDeadline() {
    String s = newSession("huge-patch");
    assertThat(shell(s, "yes x | head -n 400000 > big.txt; echo last >> big.txt; echo ok").getOutput()).contains("ok");
    String context = " x\n".repeat(19_000);
    String patch = "*** Begin Patch\n*** Update File: big.txt\n@@\n" + context + "-last\n+changed\n*** End Patch\n";
    long t0 = System.nanoTime();
    SandboxResult r = h.await(h.send(s, "apply_patch", json("patch", patch)), Duration.ofSeconds(60));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertThat(ms).as("apply_patch answered after %d ms: %s", ms, r.getOutput()).isLessThan(FILE_TOOL_TIMEOUT_MS + 8_000);
    if (r.getIsError()) {
      assertThat(r.getOutput()).contains("apply_patch", "did not finish within 3 s");
    }
    String last = r.getIsError() ? "last" : "changed";
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThat(shell(s, "tail -n 1 big.txt").getOutput()).contains(last));
  }

  // ------------------------------------------------------------------ the workspace quota

  @Test
  void commandsCannotFillTheWorkspacePastItsQuota() {
    String s = newSession("quota-bytes");
    SandboxResult first = h.call(s, "write_file", json("path", "keep.txt", "content", "kept"));
    String saved = first.getSnapshotId();
    assertThat(saved).isNotNull();
    // each file under the file size limit, together past the workspace quota: as fast as the disk
    // goes, so it may end before the watch looks; then the check after the command says so
    SandboxResult r = shell(s, "i=0; while [ $i -lt 20 ]; do dd if=/dev/zero of=f$i bs=1024 count=1000 2>/dev/null; "
        + "i=$((i+1)); done; echo finished");
    assertThat(r.getIsError()).isTrue();
    assertThat(r.getOutput()).contains("workspace quota", QUOTA_MB + " MB", "delete");
    assertThat(r.getSnapshotId()).as("a workspace over its quota is not snapshotted").isEqualTo(saved);
    // a workspace over its quota may shrink, however slowly, but not grow
    SandboxResult watched = shell(s, "rm -f f*; i=0; while [ $i -lt 30 ]; do dd if=/dev/zero of=f$i bs=1024 count=1000 "
        + "2>/dev/null; sleep 0.05; i=$((i+1)); done; echo finished");
    assertThat(watched.getIsError()).isTrue();
    assertThat(watched.getOutput()).contains("killed", "over its quota already and grew").doesNotContain("finished");
    assertThat(watched.getSnapshotId()).isEqualTo(saved);
    SandboxResult within = shell(s, "rm -f f*; echo within > within.txt");
    assertThat(within.getIsError()).as(within.getOutput()).isFalse();
    assertThat(within.getSnapshotId()).isNotEqualTo(saved);
    saved = within.getSnapshotId();
    // from within its quota, at the pace of a build: the watch stops the command once it passes it
    SandboxResult slow = shell(s, "i=0; while [ $i -lt 20 ]; do dd if=/dev/zero of=f$i bs=1024 count=1000 2>/dev/null; "
        + "sleep 0.1; i=$((i+1)); done; echo finished");
    assertThat(slow.getOutput()).contains("killed", "pass its quota").doesNotContain("finished");
    assertThat(slow.getSnapshotId()).isEqualTo(saved);
    // yes > f: one stream, stopped at the file size limit, then by the watch
    shell(s, "rm -f f*");
    SandboxResult yes = shell(s, "yes > y1; yes > y2; sleep 5; echo finished");
    assertThat(yes.getOutput()).contains("quota").doesNotContain("finished");
    // a file tool refuses to write while the workspace is over its quota
    SandboxResult w = h.call(s, "write_file", json("path", "more.txt", "content", "x"));
    assertThat(w.getIsError()).isTrue();
    assertThat(w.getOutput()).contains("quota");
    // deleting files brings it back: the next command is snapshotted again
    SandboxResult clean = shell(s, "rm -f f* y*; echo cleaned > cleaned.txt");
    assertThat(clean.getIsError()).as(clean.getOutput()).isFalse();
    assertThat(clean.getSnapshotId()).isNotEqualTo(saved);
  }

  @Test
  void manySmallFilesStopAtTheFileCount() {
    String s = newSession("quota-files");
    // as fast as the shell goes: the watch must stop it long before the loop would end (on a slow,
    // busy machine it has let ~5,000 files through before its first walk; the loop makes 50,000)
    SandboxResult r = shell(s, "i=0; while [ $i -lt 50000 ]; do : > s$i; i=$((i+1)); done; sleep 5; echo finished");
    assertThat(r.getIsError()).isTrue();
    assertThat(r.getOutput()).contains("workspace quota", QUOTA_FILES + " files").doesNotContain("finished");
    assertThat(r.getOutput()).as("stopped by the watch, not a timeout").contains("killed", "pass its quota");
    try (Stream<Path> files = Files.list(workspace(s))) {
      assertThat(files.count()).as("files left (the watch stops the command during the loop)").isLessThan(25_000);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    assertThat(shell(s, "rm -f s*; echo cleaned").getIsError()).isFalse();
  }

  @Test
  void fileToolsRefuseAWriteThatWouldPassTheQuota() throws Exception {
    String s = newSession("quota-tools");
    assertThat(shell(s, "dd if=/dev/zero of=base bs=1024 count=3500 2>/dev/null; echo ok").getOutput()).contains("ok");
    String big = "y".repeat(700 * 1024);
    SandboxResult w = h.call(s, "write_file", json("path", "big.txt", "content", big));
    assertThat(w.getIsError()).isTrue();
    assertThat(w.getOutput()).contains("quota");
    assertThat(workspace(s).resolve("big.txt")).doesNotExist();
    String patch = "*** Begin Patch\n*** Add File: patched.txt\n" + ("+" + "z".repeat(1000) + "\n").repeat(700) + "*** End Patch\n";
    SandboxResult p = h.call(s, "apply_patch", json("patch", patch));
    assertThat(p.getIsError()).isTrue();
    assertThat(p.getOutput()).contains("quota");
    assertThat(workspace(s).resolve("patched.txt")).doesNotExist();
    // within the quota both still work
    assertThat(h.call(s, "write_file", json("path", "small.txt", "content", "fine")).getIsError()).isFalse();
    // and the file count holds for file tools too
    shell(s, "rm -f base; i=0; while [ $i -lt " + (QUOTA_FILES - 2) + " ]; do : > n$i; i=$((i+1)); done");
    SandboxResult count = h.call(s, "write_file", json("path", "sub/dir/one-too-many.txt", "content", "x"));
    assertThat(count.getIsError()).as(count.getOutput()).isTrue();
    assertThat(count.getOutput()).contains("quota", QUOTA_FILES + " files");
  }

  // ------------------------------------------------------------------ limits clamped to the host

  @Test
  void aCpuLimitAboveTheHostsStillGivesAWorkingSession() {
    String s = newSession("cpus");
    int cores = Runtime.getRuntime().availableProcessors();
    h.manifest(s, Manifest.newBuilder()
        .setLimits(ResourceLimits.newBuilder().setCpus(4.0 * cores).setMemoryMb(1024 * 1024).build()).build());
    SandboxResult r = shell(s, "echo works");
    assertThat(r.getIsError()).as(r.getOutput()).isFalse();
    assertThat(r.getOutput()).contains("works");
  }
}
