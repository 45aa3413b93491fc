package io.turnpike.sandbox;

import static io.turnpike.sandbox.SandboxHarness.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.SandboxResult;
import io.turnpike.sandbox.workspace.SnapshotManifest;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import io.turnpike.schema.Settings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A run's sandbox-service instance is killed ({@code kill -9}, in a child JVM) after the run changed
 * its workspace; a second instance with an empty workspace root (as on another machine) restores the
 * workspace from {@code turnpike.workspaces} and the run goes on with its files intact. A command the
 * dead instance answered and that is sent again is answered from the record, not run again.
 */
class ResumeElsewhereTest {

  @Test
  void aSecondInstanceRestoresTheWorkspaceFromKafka() throws Exception {
    try (SandboxHarness h = new SandboxHarness()) {
      Map<String, String> settings = h.settings("local", Map.of(
          "turnpike.sandbox.allow-unisolated", "true",
          "turnpike.sandbox.group-id", "sandbox-resume"));
      String run = "run-resume";
      h.manifest(run, Manifest.newBuilder().setFiles(List.of(
          ManifestFile.newBuilder().setPath("seed.txt").setContent("seeded\n").build())).build());

      String hash;
      String counted;
      SandboxResult counter;
      try (ChildService first = ChildService.start(settings)) {
        assertThat(h.call(run, "write_file", json("path", "notes/a.txt", "content", "written by instance one\n")).getIsError()).isFalse();
        SandboxResult made = h.call(run, "shell", json("command",
            "mkdir -p many && i=0; while [ $i -lt 200 ]; do echo file $i > many/f$i.txt; i=$((i+1)); done; "
                + "head -c 300000 /dev/urandom > blob.bin; chmod +x notes/a.txt; ln -s notes/a.txt link; "
                + "sha256sum blob.bin | cut -d' ' -f1"));
        assertThat(made.getExitCode()).as(made.getOutput()).isZero();
        hash = made.getOutput().lines().filter(l -> l.matches("[0-9a-f]{64}")).findFirst().orElseThrow();
        SandboxResult patched = h.call(run, "apply_patch", json("patch",
            "*** Begin Patch\n*** Update File: seed.txt\n@@\n-seeded\n+seeded and patched\n*** End Patch\n"));
        assertThat(patched.getIsError()).as(patched.getOutput()).isFalse();
        counter = h.await(h.send(run, "shell", json("command", "echo x >> counter && wc -l < counter"), run + ":t9.1"),
            Duration.ofSeconds(30));
        counted = counter.getOutput();
        assertThat(counter.getSnapshotId()).isNotNull();
        first.kill();
      }

      // the snapshot is on Kafka, readable without any service
      try (WorkspaceStore store = new WorkspaceStore(h.bootstrap(), h.registryUrl(), Map.of(), 1024 * 1024)) {
        SnapshotManifest m = store.latest(run).orElseThrow();
        assertThat(m.snapshotId()).isEqualTo(counter.getSnapshotId());
        assertThat(m.fileCount()).isEqualTo(204); // seed, notes/a.txt, 200 files, blob, counter
        SnapshotManifest.Entry notes = m.entries().stream().filter(e -> e.path().equals("notes/a.txt")).findFirst().orElseThrow();
        assertThat(new String(store.readFile(notes), StandardCharsets.UTF_8)).isEqualTo("written by instance one\n");
      }

      Map<String, String> elsewhere = new java.util.HashMap<>(settings);
      Path otherRoot = Files.createTempDirectory("sandbox-elsewhere");
      Files.setPosixFilePermissions(otherRoot, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
      elsewhere.put("turnpike.sandbox.root", otherRoot.toString());
      try (SandboxService second = SandboxService.start(Settings.of(elsewhere))) {
        SandboxResult check = h.await(h.send(run, "shell", json("command",
            "sha256sum blob.bin | cut -d' ' -f1; cat seed.txt; cat link; ls many | wc -l; test -x notes/a.txt && echo exec-ok")),
            Duration.ofSeconds(90));
        assertThat(check.getExitCode()).as(check.getOutput()).isZero();
        assertThat(check.getOutput()).contains(hash, "seeded and patched", "written by instance one", "200", "exec-ok");
        assertThat(otherRoot.resolve("sessions").resolve(SandboxSession.dirName(run)).resolve("workspace/blob.bin")).exists();

        // the runner sends the counter command again (a retry): same answer, not run twice
        h.results.remove(run + ":t9.1");
        SandboxResult again = h.await(h.send(run, "shell", json("command", "echo x >> counter && wc -l < counter"), run + ":t9.1"),
            Duration.ofSeconds(30));
        assertThat(again.getOutput()).isEqualTo(counted);
        assertThat(h.call(run, "read_file", json("path", "counter")).getOutput()).isEqualTo("x\n");
      }
    }
  }

  /** The sandbox service in a child JVM, so it can be killed for real. */
  static final class ChildService implements AutoCloseable {
    private final Process process;
    private final Path log;

    private ChildService(Process process, Path log) {
      this.process = process;
      this.log = log;
    }

    static ChildService start(Map<String, String> settings) throws IOException {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      Path log = Files.createTempFile("sandbox-child", ".log");
      ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
          SandboxService.class.getName()).redirectErrorStream(true).redirectOutput(log.toFile());
      settings.forEach((k, v) -> pb.environment().put(Settings.envName(k), v));
      ChildService c = new ChildService(pb.start(), log);
      await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).until(() -> {
        if (!c.process.isAlive()) {
          throw new IllegalStateException("the sandbox child exited early:\n" + Files.readString(log));
        }
        return Files.readString(log).contains("turnpike sandbox-service ready");
      });
      return c;
    }

    void kill() throws InterruptedException {
      process.destroyForcibly();
      process.waitFor();
    }

    @Override
    public void close() throws InterruptedException {
      if (process.isAlive()) {
        kill();
      }
    }
  }
}
