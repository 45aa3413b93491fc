package io.turnpike.sandbox;

import static io.turnpike.sandbox.SandboxHarness.json;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.SkillRef;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;

/**
 * What every backend must do, through the real service on a real broker: manifest pre-seed, each
 * tool, apply_patch, output truncation, timeouts, and containment (no network, no writes outside the
 * workspace, fork bomb, memory bomb and busy loop stopped and reported while other sessions go on).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class BackendContractTest {
  SandboxHarness h;
  SandboxService service;
  private final AtomicInteger sessions = new AtomicInteger();

  abstract String backend();

  /** Why the backend cannot run on this machine, or null when it can. */
  abstract String unavailable();

  private String skipReason;

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
        "turnpike.sandbox.cpu-seconds", "2",
        "turnpike.sandbox.memory-mb", "256",
        "turnpike.sandbox.pids", "64",
        "turnpike.sandbox.command-timeout", "20s",
        "turnpike.sandbox.max-sessions", "8"));
  }

  /** Each test is reported as skipped, with the reason, where the backend cannot run here. */
  @org.junit.jupiter.api.BeforeEach
  void assumeAvailable() {
    org.junit.jupiter.api.Assumptions.assumeTrue(skipReason == null, () -> "SKIPPED: " + skipReason);
  }

  @AfterAll
  void stop() {
    if (h != null) {
      h.close();
    }
  }

  String session(TestInfo info) {
    return backend() + "-" + info.getTestMethod().orElseThrow().getName() + "-" + sessions.incrementAndGet();
  }

  SandboxResult shell(String session, String command) {
    return h.call(session, "shell", json("command", command));
  }

  @Test
  void manifestPreSeedsFilesDirectoriesEnvAndSkills(TestInfo info) {
    String s = session(info);
    h.manifest(s, Manifest.newBuilder()
        .setFiles(List.of(
            ManifestFile.newBuilder().setPath("README.md").setContent("hello from the manifest\n").build(),
            ManifestFile.newBuilder().setPath("bin/run.sh").setContent("#!/bin/sh\necho ran with $GREETING\n")
                .setExecutable(true).build()))
        .setDirectories(List.of("data/out"))
        .setEnv(Map.of("GREETING", "bonjour"))
        .setSkills(List.of(SkillRef.newBuilder().setName("csv-report").setDescription("Summarise a CSV file")
            .setFiles(List.of(ManifestFile.newBuilder().setPath("SKILL.md")
                .setContent("---\nname: csv-report\ndescription: Summarise a CSV file\n---\nUse awk.\n").build(),
                ManifestFile.newBuilder().setPath("helper.sh").setContent("echo helper\n").build())).build()))
        .build());
    SandboxResult r = shell(s, "cat README.md && ./bin/run.sh && test -d data/out && echo dir-ok && pwd");
    assertThat(r.getIsError()).as(r.getOutput()).isFalse();
    assertThat(r.getExitCode()).isZero();
    assertThat(r.getOutput()).contains("hello from the manifest", "ran with bonjour", "dir-ok", "/workspace");

    // The environment is the manifest's, never the service's own.
    SandboxResult env = shell(s, "env");
    assertThat(env.getOutput()).contains("GREETING=bonjour").doesNotContain("JAVA_HOME", "TURNPIKE_", "MAVEN", "HOME=/root");

    SandboxResult missing = h.call(s, "load_skill", json("name", "nope"));
    assertThat(missing.getIsError()).isTrue();
    assertThat(missing.getOutput()).contains("no skill named 'nope'", "csv-report: Summarise a CSV file");
    SandboxResult skill = h.call(s, "load_skill", json("name", "csv-report"));
    assertThat(skill.getIsError()).as(skill.getOutput()).isFalse();
    assertThat(skill.getOutput()).contains("skills/csv-report/SKILL.md", "skills/csv-report/helper.sh", "Use awk.");
    assertThat(shell(s, "sh skills/csv-report/helper.sh").getOutput()).contains("helper");
  }

  @Test
  void fileTools(TestInfo info) {
    String s = session(info);
    SandboxResult w = h.call(s, "write_file", json("path", "src/notes.txt", "content", "one\ntwo\nthree\nfour\n"));
    assertThat(w.getIsError()).as(w.getOutput()).isFalse();
    assertThat(w.getOutput()).contains("wrote src/notes.txt (19 bytes)");
    assertThat(w.getSnapshotId()).isNotNull();

    assertThat(h.call(s, "read_file", json("path", "src/notes.txt")).getOutput()).isEqualTo("one\ntwo\nthree\nfour\n");
    SandboxResult part = h.call(s, "read_file", json("path", "/workspace/src/notes.txt", "start_line", 2, "end_line", 3));
    assertThat(part.getOutput()).isEqualTo("[lines 2-3 of 4]\ntwo\nthree\n");
    assertThat(h.call(s, "read_file", json("path", "src/notes.txt", "start_line", 9)).getOutput()).contains("has 4 lines");
    assertThat(h.call(s, "read_file", json("path", "nope.txt")).getIsError()).isTrue();

    // written by the service, changed by a command: the command runs as the workspace's owner
    SandboxResult append = shell(s, "echo five >> src/notes.txt && mkdir -p src/deep/er && touch src/deep/er/x");
    assertThat(append.getExitCode()).as(append.getOutput()).isZero();
    SandboxResult list = h.call(s, "list_dir", json());
    assertThat(list.getOutput()).contains("src/");
    SandboxResult deep = h.call(s, "list_dir", json("path", "src", "depth", 3));
    assertThat(deep.getOutput()).contains("notes.txt  (24 bytes)", "deep/", "deep/er/x  (0 bytes)");
  }

  @Test
  void viewImageReturnsTheImage(TestInfo info) throws Exception {
    String s = session(info);
    BufferedImage img = new BufferedImage(4, 3, BufferedImage.TYPE_INT_RGB);
    img.setRGB(1, 1, 0xff0000);
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    ImageIO.write(img, "png", png);
    String b64 = Base64.getEncoder().encodeToString(png.toByteArray());
    SandboxResult decoded = shell(s, "echo " + b64 + " | base64 -d > pic.png");
    assertThat(decoded.getExitCode()).as(decoded.getOutput()).isZero();
    SandboxResult r = h.call(s, "view_image", json("path", "pic.png"));
    assertThat(r.getIsError()).as(r.getOutput()).isFalse();
    assertThat(r.getImages()).hasSize(1);
    assertThat(r.getImages().get(0).getMimeType()).isEqualTo("image/png");
    ByteBuffer data = r.getImages().get(0).getData();
    byte[] bytes = new byte[data.remaining()];
    data.get(bytes);
    assertThat(bytes).isEqualTo(png.toByteArray());
    h.call(s, "write_file", json("path", "not-an-image.txt", "content", "hello"));
    assertThat(h.call(s, "view_image", json("path", "not-an-image.txt")).getOutput()).contains("is not a PNG, JPEG, GIF or WebP");
  }

  @Test
  void applyPatchGoodAndBad(TestInfo info) {
    String s = session(info);
    h.call(s, "write_file", json("path", "app.py", "content", "def greet():\n    print(\"Hi\")\n\ndef main():\n    greet()\n"));
    h.call(s, "write_file", json("path", "old.txt", "content", "obsolete\n"));
    String good = """
        *** Begin Patch
        *** Add File: hello.txt
        +Hello world
        *** Update File: app.py
        *** Move to: main.py
        @@ def greet():
        -    print("Hi")
        +    print("Hello, world!")
        *** Delete File: old.txt
        *** End Patch
        """;
    SandboxResult r = h.call(s, "apply_patch", json("patch", good));
    assertThat(r.getIsError()).as(r.getOutput()).isFalse();
    assertThat(r.getOutput()).contains("A hello.txt", "M app.py -> main.py", "D old.txt");
    assertThat(shell(s, "cat hello.txt main.py; ls").getOutput())
        .contains("Hello world", "print(\"Hello, world!\")", "def main():").doesNotContain("old.txt", "app.py");

    String bad = """
        *** Begin Patch
        *** Add File: should-not-exist.txt
        +no
        *** Update File: main.py
        @@
        -    print("this line is not there")
        +    print("x")
        *** End Patch
        """;
    SandboxResult e = h.call(s, "apply_patch", json("patch", bad));
    assertThat(e.getIsError()).isTrue();
    assertThat(e.getOutput()).contains("hunk 1 of main.py", "does not apply", "print(\"this line is not there\")",
        "No file was changed");
    assertThat(shell(s, "ls").getOutput()).doesNotContain("should-not-exist.txt");
  }

  @Test
  void outputIsTruncatedWithAMarker(TestInfo info) {
    String s = session(info);
    SandboxResult r = shell(s, "seq 1 20000");
    assertThat(r.getExitCode()).isZero();
    assertThat(r.getOutput()).startsWith("exit code: 0").contains("\n1\n2\n3\n", "bytes truncated ...]", "\n20000");
    assertThat(r.getOutput().length()).isLessThan(2048 + 200);
    SandboxResult err = shell(s, "i=0; while [ $i -lt 3000 ]; do echo error-line-$i >&2; i=$((i+1)); done; exit 3");
    assertThat(err.getExitCode()).isEqualTo(3);
    assertThat(err.getIsError()).isTrue();
    assertThat(err.getOutput()).contains("--- stderr ---", "error-line-0", "bytes truncated", "error-line-2999");
  }

  @Test
  void timeoutKillsTheCommandAndEverythingItStarted(TestInfo info) {
    String s = session(info);
    long t0 = System.nanoTime();
    SandboxResult r = h.call(s, "shell", json("command", "sleep 60 & sleep 60; echo never", "timeout_ms", 1500));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertThat(ms).isLessThan(15_000);
    assertThat(r.getIsError()).isTrue();
    assertThat(r.getExitCode()).isEqualTo(137);
    assertThat(r.getOutput()).contains("timed out after 1500 ms").doesNotContain("never");
    SandboxResult ps = shell(s, "ps -o pid,args 2>/dev/null || ps");
    assertThat(ps.getOutput()).doesNotContain("sleep 60");
  }

  @Test
  void noNetwork(TestInfo info) throws Exception {
    String s = session(info);
    SandboxResult ifaces = shell(s, "cat /proc/net/dev");
    assertThat(ifaces.getExitCode()).isZero();
    assertThat(ifaces.getOutput()).contains("lo:").doesNotContain("eth0", "ens", "docker0");
    AtomicInteger accepted = new AtomicInteger();
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread t = Thread.ofVirtual().start(() -> {
        try {
          while (true) {
            server.accept().close();
            accepted.incrementAndGet();
          }
        } catch (Exception e) {
          // closed
        }
      });
      SandboxResult r = shell(s, "wget -q -T 3 -O - http://127.0.0.1:" + server.getLocalPort() + "/ ; echo rc=$?");
      assertThat(r.getOutput()).doesNotContain("not found").containsPattern("rc=[1-9]");
      assertThat(accepted.get()).isZero();
      t.interrupt();
    }
  }

  @Test
  void nothingIsWrittenOutsideTheWorkspace(TestInfo info) throws Exception {
    String s = session(info);
    String marker = "tp-escape-" + System.nanoTime();
    SandboxResult r = shell(s, "for d in /etc /usr /bin /; do echo x > $d/" + marker + " && echo WROTE $d; done; echo done");
    assertThat(r.getOutput()).contains("done").doesNotContain("WROTE");
    for (String d : List.of("/etc", "/usr", "/bin", "/", "/tmp")) {
      assertThat(Path.of(d, marker)).doesNotExist();
    }
    assertThat(h.call(s, "write_file", json("path", "../" + marker, "content", "x")).getOutput())
        .contains("leads outside the workspace");
    assertThat(h.call(s, "write_file", json("path", "/etc/" + marker, "content", "x")).getOutput())
        .contains("is an absolute path");
    assertThat(shell(s, "ln -s /etc etc-link && ln -s ../../../../../../tmp up-link && echo linked").getOutput()).contains("linked");
    SandboxResult viaLink = h.call(s, "write_file", json("path", "etc-link/" + marker, "content", "x"));
    assertThat(viaLink.getIsError()).isTrue();
    assertThat(viaLink.getOutput()).contains("outside the workspace");
    assertThat(h.call(s, "read_file", json("path", "etc-link/passwd")).getOutput()).contains("outside the workspace");
    assertThat(h.call(s, "write_file", json("path", "up-link/" + marker, "content", "x")).getOutput()).contains("outside the workspace");
    assertThat(h.call(s, "list_dir", json("path", "etc-link")).getOutput()).contains("outside the workspace");
    assertThat(Path.of("/etc", marker)).doesNotExist();
    assertThat(Path.of("/tmp", marker)).doesNotExist();
  }

  @Test
  void forkBombIsStoppedWhileOtherSessionsAreServed(TestInfo info) {
    String s = session(info);
    String other = session(info);
    assertThat(shell(other, "echo warm").getExitCode()).isZero();
    String bomb = h.send(s, "shell", json("command", "b() { b | b & }; b; sleep 30", "timeout_ms", 5000));
    // while the bomb runs, another session is answered
    SandboxResult alive = h.await(h.send(other, "shell", json("command", "echo alive")), Duration.ofSeconds(30));
    assertThat(alive.getOutput()).contains("alive");
    SandboxResult r = h.await(bomb, Duration.ofSeconds(60));
    assertThat(r.getIsError()).isTrue();
    // stopped by the process limit (forks fail) or by the clock, and said so
    assertThat(r.getOutput()).containsAnyOf("timed out", "killed", "Cannot fork", "can't fork", "Resource temporarily unavailable");
    // the session itself still works, and nothing of the bomb is left
    SandboxResult after = shell(s, "echo still-here; ps | grep -c ' b$' || true");
    assertThat(after.getOutput()).contains("still-here");
  }

  @Test
  void memoryBombIsStoppedAndReported(TestInfo info) {
    String s = session(info);
    SandboxResult r = h.call(s, "shell", json("command", "a=xxxxxxxxxxxxxxxx; while true; do a=\"$a$a\"; done", "timeout_ms", 15000));
    assertThat(r.getIsError()).isTrue();
    assertThat(r.getExitCode()).isNotZero();
    assertThat(r.getOutput()).doesNotContain("timed out");
    assertThat(shell(s, "echo survived").getOutput()).contains("survived");
  }

  @Test
  void busyLoopIsStoppedByTheCpuLimit(TestInfo info) {
    String s = session(info);
    long t0 = System.nanoTime();
    SandboxResult r = h.call(s, "shell", json("command", "while :; do :; done", "timeout_ms", 15000));
    assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(14_000);
    assertThat(r.getIsError()).isTrue();
    assertThat(r.getOutput()).contains("CPU time limit of 2 s").doesNotContain("timed out");
  }

  @Test
  void unknownToolAndBadArguments(TestInfo info) {
    String s = session(info);
    assertThat(h.call(s, "rm_rf", json()).getOutput()).contains("unknown sandbox tool 'rm_rf'");
    assertThat(h.call(s, "read_file", "{not json").getOutput()).contains("not valid JSON");
    assertThat(h.call(s, "write_file", json("path", "x")).getOutput()).contains("'content' is required");
  }
}
