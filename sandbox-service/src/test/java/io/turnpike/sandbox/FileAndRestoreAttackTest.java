package io.turnpike.sandbox;

import static io.turnpike.sandbox.SandboxHarness.json;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.SkillRef;
import io.turnpike.avro.WorkspaceChunk;
import io.turnpike.avro.WorkspaceRecord;
import io.turnpike.sandbox.workspace.SnapshotKey;
import io.turnpike.sandbox.workspace.SnapshotManifest;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import io.turnpike.schema.TurnpikeHeaders;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;

/**
 * The files-and-restore half of issue #11, as a hostile model (and anyone who can produce to the
 * sandbox topics) would try it, through the real service on a real broker, once per backend. "The
 * host" is a temporary folder outside every workspace, holding a sentinel; after each attack it must
 * hold exactly what it held, and the sentinel must appear in no answer and no snapshot.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class FileAndRestoreAttackTest {
  private static final Duration ANSWER = Duration.ofSeconds(30);
  SandboxHarness h;
  SandboxService service;
  private final AtomicInteger sessions = new AtomicInteger();
  private String skipReason;
  Path host;
  String sentinel;

  abstract String backend();

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
        "turnpike.sandbox.output-bytes", "4096",
        "turnpike.sandbox.command-timeout", "30s",
        "turnpike.sandbox.max-sessions", "8"));
  }

  @BeforeEach
  void hostFolder() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(skipReason == null, () -> "SKIPPED: " + skipReason);
    host = Files.createTempDirectory("the-host-dir");
    Files.setPosixFilePermissions(host, PosixFilePermissions.fromString("rwxrwxrwx"));
    sentinel = "host-sentinel-" + UUID.randomUUID();
    Files.writeString(host.resolve("secret.txt"), sentinel + "\n");
    Files.write(host.resolve("pic.png"), png());
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
    SandboxResult r = h.call(session, "shell", json("command", command));
    assertThat(r.getExitCode()).as(r.getOutput()).isZero();
    return r;
  }

  SandboxResult call(String session, String tool, String args) {
    SandboxResult r = h.await(h.send(session, tool, args), ANSWER);
    assertThat(r.getOutput()).as("the sentinel leaked through %s", tool).doesNotContain(sentinel);
    return r;
  }

  /** The host folder holds exactly what it held: the secret and the picture, unchanged. */
  void hostUnchanged() throws Exception {
    try (Stream<Path> s = Files.walk(host)) {
      assertThat(s.map(p -> host.relativize(p).toString()).sorted().toList()).containsExactly("", "pic.png", "secret.txt");
    }
    assertThat(host.resolve("secret.txt")).hasContent(sentinel);
  }

  Path workspace(String session) {
    return service.config().root().resolve("sessions").resolve(SandboxSession.dirName(session)).resolve("workspace");
  }

  // ------------------------------------------------------------------ 1. links out

  @Test
  void writeFileAndApplyPatchThroughChainsOfDanglingLinksCreateNothingOnTheHost(TestInfo info) throws Exception {
    String s = session(info);
    shell(s, "ln -s " + host + " out-link && ln -s out-link/NEW chain && ln -s out-link/NEW2 chain2 && ln -s chain2 chain3"
        + " && ln -s /workspace/out-link/NEW4 abs-chain");
    for (String p : List.of("chain", "chain3", "abs-chain", "out-link/NEW3", "chain/deeper")) {
      SandboxResult r = call(s, "write_file", json("path", p, "content", "* * * * * root reboot\n"));
      assertThat(r.getIsError()).as(p).isTrue();
      assertThat(r.getOutput()).as(p).contains("outside the workspace");
    }
    SandboxResult patch = call(s, "apply_patch", json("patch", "*** Begin Patch\n*** Add File: chain2\n+pwned\n*** End Patch\n"));
    assertThat(patch.getIsError()).isTrue();
    assertThat(patch.getOutput()).contains("outside the workspace");
    SandboxResult move = call(s, "apply_patch", json("patch",
        "*** Begin Patch\n*** Add File: a.txt\n+x\n*** End Patch\n"));
    assertThat(move.getIsError()).as(move.getOutput()).isFalse();
    SandboxResult moveOut = call(s, "apply_patch", json("patch",
        "*** Begin Patch\n*** Update File: a.txt\n*** Move to: chain3\n@@\n-x\n+y\n*** End Patch\n"));
    assertThat(moveOut.getIsError()).isTrue();
    assertThat(call(s, "read_file", json("path", "a.txt")).getOutput()).isEqualTo("x\n");
    hostUnchanged();
    // links that stay inside still work, as a command would see them
    shell(s, "mkdir -p real && ln -s real inner && ln -s /workspace/real/made.txt abs-inner");
    assertThat(call(s, "write_file", json("path", "abs-inner", "content", "inside\n")).getIsError()).isFalse();
    assertThat(call(s, "read_file", json("path", "inner/made.txt")).getOutput()).isEqualTo("inside\n");
  }

  @Test
  void loadSkillThroughALinkedSkillFileCreatesNothingOnTheHost(TestInfo info) throws Exception {
    String s = session(info);
    h.manifest(s, Manifest.newBuilder().setSkills(List.of(
        skill("report", "Write a report"), skill("graph", "Draw a graph"))).build());
    shell(s, "ln -s " + host + " out-link && mkdir -p skills/report && ln -s ../../out-link/SKILL.md skills/report/SKILL.md"
        + " && ln -s " + host + " skills/graph");
    for (String name : List.of("report", "graph")) {
      SandboxResult r = call(s, "load_skill", json("name", name));
      assertThat(r.getIsError()).as(name).isTrue();
      assertThat(r.getOutput()).as(name).contains("outside the workspace");
    }
    hostUnchanged();
  }

  @Test
  void readToolsAndSnapshotsDoNotFollowLinksOut(TestInfo info) throws Exception {
    String s = session(info);
    shell(s, "ln -s " + host + "/secret.txt secret && ln -s " + host + " hostdir && ln -s " + host + "/pic.png pic.png"
        + " && ln -s ../../../../../../../../../../.." + host + "/secret.txt climb");
    for (String[] c : List.of(new String[] {"read_file", "secret"}, new String[] {"read_file", "hostdir/secret.txt"},
        new String[] {"read_file", "climb"}, new String[] {"view_image", "pic.png"}, new String[] {"list_dir", "hostdir"})) {
      SandboxResult r = call(s, c[0], json("path", c[1]));
      assertThat(r.getIsError()).as(c[0] + " " + c[1]).isTrue();
      assertThat(r.getOutput()).as(c[0] + " " + c[1]).contains("outside the workspace");
      assertThat(r.getImages()).isEmpty();
    }
    SandboxResult list = call(s, "list_dir", json("depth", 3));
    assertThat(list.getOutput()).contains("secret -> " + host + "/secret.txt");
    // the snapshot records the links as links, and nothing of what they point to
    try (WorkspaceStore reader = new WorkspaceStore(h.bootstrap(), h.registryUrl(), Map.of(), 1024 * 1024)) {
      SnapshotManifest m = reader.latest(s).orElseThrow();
      assertThat(m.entries()).filteredOn(e -> e.path().equals("secret")).singleElement()
          .satisfies(e -> assertThat(e.type()).isEqualTo("link"));
      String sha = WorkspaceStore.sha256((sentinel + "\n").getBytes(StandardCharsets.UTF_8));
      assertThat(m.entries()).allSatisfy(e -> assertThat(e.chunks() == null ? List.of() : e.chunks())
          .noneMatch(c -> c.sha256().equals(sha)));
    }
    hostUnchanged();
  }

  // ------------------------------------------------------------------ 4. FIFOs

  @Test
  void aFifoDoesNotHangTheSession(TestInfo info) throws Exception {
    String s = session(info);
    shell(s, "mkfifo ff && mkdir d && mkfifo d/ff2 && ln -s ff to-ff && echo made");
    List<String[]> calls = List.of(
        new String[] {"write_file", json("path", "ff", "content", "x")},
        new String[] {"write_file", json("path", "to-ff", "content", "x")},
        new String[] {"read_file", json("path", "ff")},
        new String[] {"read_file", json("path", "d/ff2")},
        new String[] {"view_image", json("path", "ff")},
        new String[] {"apply_patch", json("patch", "*** Begin Patch\n*** Update File: ff\n@@\n-x\n+y\n*** End Patch\n")},
        new String[] {"apply_patch", json("patch", "*** Begin Patch\n*** Add File: d/ff2\n+y\n*** End Patch\n")});
    for (String[] c : calls) {
      long t0 = System.nanoTime();
      SandboxResult r = call(s, c[0], c[1]);
      assertThat(r.getIsError()).as(c[0] + " " + c[1] + ": " + r.getOutput()).isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(ANSWER);
    }
    assertThat(call(s, "list_dir", json("path", "d")).getOutput()).contains("ff2  (not a regular file");
    assertThat(shell(s, "echo alive; test -p ff && echo still-a-fifo").getOutput()).contains("alive", "still-a-fifo");
  }

  // ------------------------------------------------------------------ 2. restore

  /** A snapshot produced by someone without the services' key: refused, the session starts from its manifest. */
  @Test
  void aForgedSnapshotIsNotRestoredAndWritesNothingOnTheHost(TestInfo info) throws Exception {
    String s = session(info);
    h.manifest(s, Manifest.newBuilder().setFiles(List.of(
        ManifestFile.newBuilder().setPath("seed.txt").setContent("from the manifest\n").build())).build());
    forge(s, null, throughALink("x", "file"));
    SandboxResult r = shell(s, "cat seed.txt; ls -a");
    assertThat(r.getOutput()).contains("from the manifest").doesNotContain(" a\n");
    assertThat(Files.exists(workspace(s).resolve("a"), LinkOption.NOFOLLOW_LINKS)).isFalse();
    hostUnchanged();
  }

  /** Even a correctly tagged snapshot (a leaked key, a bug) is validated before anything is written. */
  @Test
  void aTaggedSnapshotWithEntriesBelowALinkIsRefusedBeforeAnythingIsWritten(TestInfo info) throws Exception {
    for (String kind : List.of("file", "dir")) {
      String s = session(info);
      long refusedBefore = service.worker().refusedSnapshots();
      forge(s, SnapshotKey.of(SandboxHarness.SNAPSHOT_KEY), throughALink(kind.equals("file") ? "x" : "d", kind));
      SandboxResult r = shell(s, "ls -a");
      assertThat(r.getOutput()).doesNotContain(" a\n");
      assertThat(service.worker().refusedSnapshots()).isGreaterThan(refusedBefore);
      hostUnchanged();
    }
  }

  /** A valid snapshot with a link out restores the link as a link: nothing is written through it. */
  @Test
  void linksAreRestoredAsLinksOnly(TestInfo info) throws Exception {
    String s = session(info);
    byte[] content = "restored\n".getBytes(StandardCharsets.UTF_8);
    RecordMetadata chunk = produceChunk(content);
    forge(s, SnapshotKey.of(SandboxHarness.SNAPSHOT_KEY), List.of(
        new SnapshotManifest.Entry("a", "link", 0, false, host.toString(), null),
        new SnapshotManifest.Entry("b", "file", content.length, true, null, List.of(new SnapshotManifest.ChunkRef(
            WorkspaceStore.sha256(content), content.length, chunk.partition(), chunk.offset())))));
    SandboxResult r = shell(s, "cat b; readlink a; test -x b && echo exec-ok");
    assertThat(r.getOutput()).contains("restored", host.toString(), "exec-ok");
    assertThat(Files.isSymbolicLink(workspace(s).resolve("a"))).isTrue();
    assertThat(call(s, "write_file", json("path", "a/new", "content", "x")).getIsError()).isTrue();
    hostUnchanged();
  }

  // ------------------------------------------------------------------ 3. a folder swapped during apply_patch

  /**
   * A command leaves a loop that swaps a folder for a link to the host and back, and even kills its
   * own wrapper. Whether or not that process survives its command (it must not: see the lifetime
   * tests), apply_patch never writes outside.
   */
  @Test
  void applyPatchNeverWritesOutsideWhileAFolderIsSwappedForALink(TestInfo info) throws Exception {
    String s = session(info);
    shell(s, "mkdir d && echo one > d/f.txt && seq 1 200000 > big.txt && echo ok");
    h.call(s, "shell", json("command", "(while :; do mv d d.real 2>/dev/null; ln -s " + host + " d 2>/dev/null; rm -f d; "
        + "mv d.real d 2>/dev/null; echo x >> swaps; done) >/dev/null 2>&1 & sleep 0.5; kill -9 $PPID", "timeout_ms", 5000));
    for (int i = 0; i < 20; i++) {
      // d/new<i> is checked first; the update of big.txt then keeps the patch busy before anything is written
      call(s, "apply_patch", json("patch", "*** Begin Patch\n*** Add File: d/new" + i + ".txt\n+x\n*** Update File: big.txt\n"
          + slowHunks() + "*** End Patch\n"));
    }
    hostUnchanged();
  }

  /** 300 hunks that change nothing, spread over a 200,000-line file: work for a patch, no change. */
  static String slowHunks() {
    StringBuilder b = new StringBuilder();
    for (int line = 500; line < 200_000; line += 650) {
      b.append("@@\n-").append(line).append("\n+").append(line).append('\n');
    }
    return b.toString();
  }

  /**
   * What the file tools' guarantee against blocking rests on (see docs/sandbox.md): no process of a
   * command outlives it, so nothing but the service changes a workspace while a file tool runs. A loop
   * that even kills its own wrapper must be gone when the command is answered.
   */
  @Test
  void noProcessOfACommandOutlivesItSoNothingChangesTheWorkspaceBetweenCommands(TestInfo info) {
    String s = session(info);
    h.call(s, "shell", json("command", "(while :; do echo x >> ticks; done) >/dev/null 2>&1 & sleep 0.5; kill -9 $PPID",
        "timeout_ms", 5000));
    Path ticks = workspace(s).resolve("ticks");
    long[] last = {-1};
    Awaitility.await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
        .until(() -> {
          long now = Files.exists(ticks) ? Files.size(ticks) : 0;
          boolean still = last[0] == now;
          last[0] = now;
          return still;
        });
  }

  // ------------------------------------------------------------------ helpers

  private static SkillRef skill(String name, String description) {
    return SkillRef.newBuilder().setName(name).setDescription(description).setFiles(List.of(
        ManifestFile.newBuilder().setPath("SKILL.md").setContent("---\nname: " + name + "\ndescription: " + description
            + "\n---\nbody\n").build())).build();
  }

  /** Entries of a snapshot with {@code a} a link to the host and then {@code a/<name>} of {@code kind}. */
  private List<SnapshotManifest.Entry> throughALink(String name, String kind) throws Exception {
    List<SnapshotManifest.Entry> entries = new ArrayList<>();
    entries.add(new SnapshotManifest.Entry("a", "link", 0, false, host.toString(), null));
    if (kind.equals("file")) {
      byte[] payload = "#!/bin/sh\necho owned\n".getBytes(StandardCharsets.UTF_8);
      RecordMetadata md = produceChunk(payload);
      entries.add(new SnapshotManifest.Entry("a/" + name, "file", payload.length, true, null, List.of(
          new SnapshotManifest.ChunkRef(WorkspaceStore.sha256(payload), payload.length, md.partition(), md.offset()))));
    } else {
      entries.add(new SnapshotManifest.Entry("a/" + name, "dir", 0, false, null, null));
    }
    return entries;
  }

  private RecordMetadata produceChunk(byte[] payload) throws Exception {
    String key = "chunk:" + WorkspaceStore.sha256(payload);
    return produce(key, new WorkspaceRecord(new WorkspaceChunk(ByteBuffer.wrap(payload))), "WorkspaceChunk");
  }

  /** Writes a manifest for a new session, as anyone who can produce to turnpike.workspaces could. */
  private void forge(String session, SnapshotKey key, List<SnapshotManifest.Entry> entries) throws Exception {
    SnapshotManifest m = new SnapshotManifest(session, 1, session + "@1", Instant.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS),
        backend(), entries, List.of());
    if (key != null) {
      m = m.taggedWith(key);
    }
    produce(WorkspaceStore.sessionKey(session), new WorkspaceRecord(m.toAvro()), "WorkspaceManifest");
  }

  private RecordMetadata produce(String key, WorkspaceRecord value, String type) throws Exception {
    try (WorkspaceStore reader = new WorkspaceStore(h.bootstrap(), h.registryUrl(), Map.of(), 1024 * 1024);
         KafkaProducer<String, byte[]> p = new KafkaProducer<>(Map.of("bootstrap.servers", h.bootstrap()),
             new StringSerializer(), new ByteArraySerializer())) {
      RecordHeaders headers = new RecordHeaders();
      TurnpikeHeaders.put(headers, TurnpikeHeaders.TYPE, type);
      byte[] bytes = h.serdes().workspaceRecord().serialize(WorkspaceStore.TOPIC, value);
      return p.send(new ProducerRecord<>(WorkspaceStore.TOPIC, reader.partitionOf(key), key, bytes, headers)).get();
    }
  }

  private static byte[] png() throws Exception {
    java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(2, 2, java.awt.image.BufferedImage.TYPE_INT_RGB);
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    javax.imageio.ImageIO.write(img, "png", out);
    return out.toByteArray();
  }
}
