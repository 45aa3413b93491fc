package io.turnpike.sandbox;

import static io.turnpike.sandbox.SandboxHarness.json;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.ImageContent;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.SkillRef;
import io.turnpike.sandbox.workspace.SnapshotManifest;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * The property of issue #11 for the file tools: whatever tree of files, folders, links (relative,
 * absolute, into and out of the workspace, dangling, chained, looping) and FIFOs a command left, and
 * whatever sequence of read_file, write_file, list_dir, apply_patch (add, update, delete, move),
 * view_image, load_skill and snapshot/restore round trips follows, through the real service on a real
 * broker: nothing outside the workspace is created, changed or deleted; a sentinel outside appears in
 * no answer, no image and no snapshot; and no call blocks.
 */
class FileToolsContainmentPropertyTest {
  private static final Duration NO_BLOCK = Duration.ofSeconds(20);
  private static SandboxHarness h;
  private static SandboxService service;
  private static final AtomicInteger tries = new AtomicInteger();

  /** One entry of the tree a command left. {@code target} of links may name {OUT}, the outside folder. */
  record Spec(String kind, String path, String target) {}

  /** One tool call; {OUT} in its arguments is the outside folder. "@restore" closes the session and restores it. */
  record Call(String tool, String args) {}

  /** A tree and the calls made on it (mostly on its own paths, links above all). */
  record Scenario(List<Spec> tree, List<Call> calls) {}

  @BeforeContainer
  static void start() throws Exception {
    h = new SandboxHarness();
    service = h.startService("local", Map.of("turnpike.sandbox.output-bytes", "8192", "turnpike.sandbox.max-sessions", "4"));
  }

  @AfterContainer
  static void stop() {
    if (h != null) {
      h.close();
    }
  }

  @Property(tries = 120, shrinking = ShrinkingMode.BOUNDED)
  void noToolCallReachesOutsideTheWorkspace(@ForAll("scenarios") Scenario scenario) throws Exception {
    List<Spec> tree = scenario.tree();
    List<Call> calls = scenario.calls();
    String session = "prop-" + tries.incrementAndGet() + "-" + UUID.randomUUID().toString().substring(0, 8);
    Path out = Files.createTempDirectory("outside");
    Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rwxrwxrwx"));
    String sentinel = "sentinel-" + UUID.randomUUID();
    Files.writeString(out.resolve("secret.txt"), sentinel);
    // a "PNG" (its magic bytes are all view_image checks) that carries the sentinel
    byte[] pic = concat(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10}, sentinel.getBytes(StandardCharsets.UTF_8));
    Files.write(out.resolve("pic.png"), pic);
    Files.createDirectories(out.resolve("sub"));
    Files.writeString(out.resolve("sub/x"), sentinel);
    mkfifo(out.resolve("fifo"));
    Map<String, String> before = state(out);

    h.manifest(session, Manifest.newBuilder().setSkills(List.of(
        SkillRef.newBuilder().setName("s1").setDescription("skill one").setFiles(List.of(
            ManifestFile.newBuilder().setPath("SKILL.md").setContent("---\nname: s1\ndescription: one\n---\nx\n").build(),
            ManifestFile.newBuilder().setPath("lib/helper.sh").setContent("echo hi\n").build())).build())).build());
    List<SandboxResult> answers = new ArrayList<>();
    answers.add(call(session, new Call("list_dir", json())));
    Path ws = service.config().root().resolve("sessions").resolve(SandboxSession.dirName(session)).resolve("workspace");
    build(ws, tree, out);

    for (Call c : calls) {
      if (c.tool().equals("@restore")) {
        answers.add(call(session, new Call("close_session", json())));
        answers.add(call(session, new Call("list_dir", json("depth", 5))));
        continue;
      }
      answers.add(call(session, new Call(c.tool(), c.args().replace("{OUT}", out.toString()))));
    }
    answers.add(call(session, new Call("close_session", json())));

    for (SandboxResult r : answers) {
      Statistics.label("answers").collect(kind(r));
      assertThat(r.getOutput()).as("%s answered", r.getTool()).doesNotContain(sentinel);
      for (ImageContent img : r.getImages()) {
        assertThat(new String(bytes(img.getData()), StandardCharsets.ISO_8859_1)).doesNotContain(sentinel);
      }
    }
    try (WorkspaceStore reader = new WorkspaceStore(h.bootstrap(), h.registryUrl(), Map.of(), 1024 * 1024)) {
      SnapshotManifest m = reader.latest(session).orElse(null);
      if (m != null) {
        List<String> forbidden = List.of(WorkspaceStore.sha256(sentinel.getBytes(StandardCharsets.UTF_8)), WorkspaceStore.sha256(pic));
        for (SnapshotManifest.Entry e : m.entries()) {
          if (e.chunks() != null) {
            assertThat(e.chunks()).noneMatch(c -> forbidden.contains(c.sha256()));
          }
        }
      }
    }
    assertThat(state(out)).as("the outside folder").isEqualTo(before);
    deleteQuietly(out);
  }

  /** What an answer was, for the statistics jqwik prints: evidence that the tries reach the attacks. */
  private static String kind(SandboxResult r) {
    String o = r.getOutput();
    if (!r.getIsError()) {
      return r.getTool() + " ok";
    }
    if (o.contains("outside the workspace")) {
      return "refused: outside the workspace";
    }
    if (o.contains("not a regular file")) {
      return "refused: FIFO";
    }
    if (o.contains("symbolic links")) {
      return "refused: link loop";
    }
    return "other error";
  }

  private static SandboxResult call(String session, Call c) {
    // a call that blocks fails here: its answer never comes
    return h.await(h.send(session, c.tool(), c.args()), NO_BLOCK);
  }

  // ------------------------------------------------------------------ generators

  private static Arbitrary<String> names() {
    return Arbitraries.of("a", "b", "c", "skills", "s1", "SKILL.md", "pic.png");
  }

  private static Arbitrary<String> paths() {
    return Arbitraries.oneOf(names(), names().list().ofMinSize(2).ofMaxSize(3).map(l -> String.join("/", l)),
        Arbitraries.of("skills/s1", "skills/s1/SKILL.md", "skills/s1/lib", "skills/s1/lib/helper.sh"));
  }

  private static Arbitrary<String> targets() {
    return Arbitraries.oneOf(
        paths(),
        paths().map(p -> "../" + p),
        paths().map(p -> "/workspace/" + p),
        Arbitraries.of("{OUT}", "{OUT}/secret.txt", "{OUT}/NEW", "{OUT}/fifo", "{OUT}/sub", "{OUT}/pic.png", "{OUT}/sub/NEW",
            "../../../../../../../../..{OUT}/secret.txt", "../../../../../../../../..{OUT}", "/workspace", "/workspace/..",
            "/", "/etc", "/etc/passwd", ".", "..", "../..", "nothere/x", "a/../../b", "//workspace/a"));
  }

  @Provide
  Arbitrary<List<Spec>> trees() {
    Arbitrary<Spec> spec = Arbitraries.oneOf(
        paths().map(p -> new Spec("dir", p, null)),
        Combinators.combine(paths(), Arbitraries.of("x\n", "hello\n", "")).as((p, c) -> new Spec("file", p, c)),
        Combinators.combine(paths(), targets()).as((p, t) -> new Spec("link", p, t)),
        Combinators.combine(paths(), targets()).as((p, t) -> new Spec("link", p, t)),
        paths().map(p -> new Spec("fifo", p, null)));
    return spec.list().ofMaxSize(14);
  }

  @Provide
  Arbitrary<Scenario> scenarios() {
    return trees().flatMap(tree -> {
      List<String> known = new ArrayList<>(List.of("a"));
      for (Spec s : tree) {
        known.add(s.path());
        known.add(s.path() + "/NEW");
        if (s.kind().equals("link")) {
          known.add(s.path());
          known.add(s.path() + "/NEW/x");
        }
      }
      Arbitrary<String> path = Arbitraries.frequencyOf(
          net.jqwik.api.Tuple.of(6, Arbitraries.of(known)),
          net.jqwik.api.Tuple.of(2, paths()),
          net.jqwik.api.Tuple.of(1, Arbitraries.of("skills/s1/SKILL.md", "skills/s1/lib/helper.sh", "{OUT}/secret.txt",
              "/workspace/a/b", "../x", "")));
      return calls(path).map(calls -> new Scenario(tree, calls));
    });
  }

  private static Arbitrary<List<Call>> calls(Arbitrary<String> path) {
    Arbitrary<Call> call = Arbitraries.oneOf(
        path.map(p -> new Call("read_file", json("path", p))),
        Combinators.combine(path, Arbitraries.of(1, 2, 3)).as((p, s) -> new Call("read_file", json("path", p, "start_line", s))),
        Combinators.combine(path, Arbitraries.of("x\n", "new\n")).as((p, c) -> new Call("write_file", json("path", p, "content", c))),
        Combinators.combine(path, Arbitraries.of(1, 3, 5)).as((p, d) -> new Call("list_dir", json("path", p, "depth", d))),
        path.map(p -> new Call("view_image", json("path", p))),
        path.map(p -> new Call("apply_patch", json("patch", "*** Begin Patch\n*** Add File: " + p + "\n+added\n*** End Patch\n"))),
        path.map(p -> new Call("apply_patch", json("patch", "*** Begin Patch\n*** Update File: " + p + "\n@@\n-x\n+y\n*** End Patch\n"))),
        path.map(p -> new Call("apply_patch", json("patch", "*** Begin Patch\n*** Delete File: " + p + "\n*** End Patch\n"))),
        Combinators.combine(path, path).as((p, q) -> new Call("apply_patch", json("patch",
            "*** Begin Patch\n*** Update File: " + p + "\n*** Move to: " + q + "\n@@\n-x\n+moved\n*** End Patch\n"))),
        Arbitraries.of(new Call("load_skill", json("name", "s1")), new Call("@restore", null)));
    return call.list().ofMinSize(1).ofMaxSize(12);
  }

  // ------------------------------------------------------------------ the tree a command left

  /**
   * Makes the tree as a command would have (the service is idle meanwhile), never itself following a
   * link: an entry whose folders are not all real folders is skipped.
   */
  private static void build(Path ws, List<Spec> tree, Path out) throws Exception {
    for (Spec s : tree) {
      Path p = ws;
      String[] parts = s.path().split("/");
      boolean ok = true;
      for (int i = 0; i < parts.length - 1 && ok; i++) {
        p = p.resolve(parts[i]);
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
          Files.createDirectory(p);
        } else if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
          ok = false;
        }
      }
      p = p.resolve(parts[parts.length - 1]);
      if (!ok || Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
        continue;
      }
      switch (s.kind()) {
        case "dir" -> Files.createDirectory(p);
        case "file" -> Files.writeString(p, s.target(), java.nio.file.StandardOpenOption.CREATE_NEW);
        case "link" -> Files.createSymbolicLink(p, Path.of(s.target().replace("{OUT}", out.toString())));
        default -> mkfifo(p);
      }
    }
  }

  /** Everything in a folder, not following links: path to type, size, modification time and content. */
  private static Map<String, String> state(Path dir) throws Exception {
    Map<String, String> m = new TreeMap<>();
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.toList()) {
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        String what = a.isDirectory() ? "dir" : a.isSymbolicLink() ? "link" : a.isRegularFile()
            ? "file " + WorkspaceStore.sha256(Files.readAllBytes(p)) : "other";
        m.put(dir.relativize(p).toString(), what + " " + a.size() + " " + a.lastModifiedTime().toMillis());
      }
    }
    return m;
  }

  private static void mkfifo(Path p) throws Exception {
    Process pr = new ProcessBuilder("mkfifo", p.toString()).start();
    assertThat(pr.waitFor()).isZero();
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = new byte[a.length + b.length];
    System.arraycopy(a, 0, c, 0, a.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static void deleteQuietly(Path dir) {
    try {
      io.turnpike.sandbox.workspace.Workspace.deleteTree(dir, true);
    } catch (Exception e) {
      // a temporary folder
    }
  }
}
