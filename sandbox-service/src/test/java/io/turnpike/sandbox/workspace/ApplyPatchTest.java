package io.turnpike.sandbox.workspace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.sandbox.ToolException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApplyPatchTest {
  @TempDir
  Path dir;

  private Workspace ws() {
    // a folder of the temporary directory: the workspace's staging folder is made next to it
    return new Workspace(dir.resolve("ws"), null, null);
  }

  @org.junit.jupiter.api.BeforeEach
  void makeWorkspace() throws Exception {
    Files.createDirectories(dir.resolve("ws"));
  }

  private static ApplyPatch.Update update(String body) {
    return (ApplyPatch.Update) ApplyPatch.parse("*** Begin Patch\n*** Update File: f\n" + body + "*** End Patch\n").get(0);
  }

  @Test
  void updatesWithContextAnchorsAndKeepsTheFilesOwnContextLines() {
    String file = "class A:\n    def x(self):\n        return 1\n\nclass B:\n    def x(self):\n        return 1\n";
    String out = ApplyPatch.applyHunks("f", file, update("""
        @@ class B:
        @@     def x(self):
        -        return 1
        +        return 2
        """).hunks());
    assertThat(out).isEqualTo("class A:\n    def x(self):\n        return 1\n\nclass B:\n    def x(self):\n        return 2\n");
  }

  @Test
  void severalHunksApplyInOrderAndWhitespaceDifferencesAreTolerated() {
    String file = "a\nb  \nc\nd\ne\nf\n";
    String out = ApplyPatch.applyHunks("f", file, update("""
        @@
         a
        -b
        +B
        @@
         e
        +e2
         f
        """).hunks());
    assertThat(out).isEqualTo("a\nB\nc\nd\ne\ne2\nf\n");
  }

  @Test
  void endOfFileHunkMatchesAtTheEnd() {
    String file = "x\ny\nx\ny\n";
    String out = ApplyPatch.applyHunks("f", file, update("""
        @@
         x
        -y
        +z
        *** End of File
        """).hunks());
    assertThat(out).isEqualTo("x\ny\nx\nz\n");
  }

  @Test
  void aHunkThatDoesNotApplyShowsWhatWasMissingAndChangesNothing() throws Exception {
    Files.writeString(dir.resolve("ws/a.txt"), "one\ntwo\n");
    String patch = """
        *** Begin Patch
        *** Add File: new.txt
        +hello
        *** Update File: a.txt
        @@
         one
        -three
        +3
        *** End Patch
        """;
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), patch))
        .isInstanceOf(ToolException.class)
        .hasMessageContaining("hunk 1 of a.txt (patch line 5) does not apply")
        .hasMessageContaining("  three")
        .hasMessageContaining("No file was changed");
    assertThat(dir.resolve("ws/new.txt")).doesNotExist();
    assertThat(Files.readString(dir.resolve("ws/a.txt"))).isEqualTo("one\ntwo\n");
  }

  @Test
  void addDeleteMoveAndSummary() throws Exception {
    Files.writeString(dir.resolve("ws/gone.txt"), "bye\n");
    Files.writeString(dir.resolve("ws/m.txt"), "keep\nold\n");
    ApplyPatch.Summary s = ApplyPatch.apply(ws(), """
        *** Begin Patch
        *** Add File: sub/dir/new.txt
        +line 1
        +line 2
        *** Delete File: gone.txt
        *** Update File: m.txt
        *** Move to: moved/m.txt
        @@
         keep
        -old
        +new
        *** End Patch""");
    assertThat(s.toString()).isEqualTo("Done.\nA sub/dir/new.txt\nM m.txt -> moved/m.txt\nD gone.txt");
    assertThat(Files.readString(dir.resolve("ws/sub/dir/new.txt"))).isEqualTo("line 1\nline 2\n");
    assertThat(dir.resolve("ws/gone.txt")).doesNotExist();
    assertThat(dir.resolve("ws/m.txt")).doesNotExist();
    assertThat(Files.readString(dir.resolve("ws/moved/m.txt"))).isEqualTo("keep\nnew\n");
  }

  @Test
  void malformedPatchesAreRejectedClearly() throws Exception {
    Files.writeString(dir.resolve("ws/a.txt"), "x\n");
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), "*** Update File: a.txt\n-x\n+y\n"))
        .hasMessageContaining("must start with '*** Begin Patch'");
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), "*** Begin Patch\n*** Update File: a.txt\n-x\n+y\n"))
        .hasMessageContaining("must end with '*** End Patch'");
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), "*** Begin Patch\n*** Add File: b.txt\nno plus\n*** End Patch"))
        .hasMessageContaining("every line of an Add File section starts with '+'");
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), "*** Begin Patch\n*** Update File: a.txt\n@@\n*x\n*** End Patch"))
        .hasMessageContaining("unexpected line in the Update File section of a.txt");
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), "*** Begin Patch\n*** Update File: missing.txt\n@@\n-x\n*** End Patch"))
        .hasMessageContaining("cannot update missing.txt: no such file");
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), "*** Begin Patch\n*** Add File: a.txt\n+x\n*** End Patch"))
        .hasMessageContaining("cannot add a.txt: it already exists");
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), "*** Begin Patch\n*** Add File: ../evil.txt\n+x\n*** End Patch"))
        .hasMessageContaining("leads outside the workspace");
    assertThatThrownBy(() -> ApplyPatch.apply(ws(), "*** Begin Patch\n*** Delete File: /etc/passwd\n*** End Patch"))
        .hasMessageContaining("is an absolute path");
  }

  /** Issue #11: a 58 KB patch on a 400,000-line file kept the service busy for 54 s. */
  @Test
  void aLargePatchOnALargeFileIsQuick() {
    StringBuilder file = new StringBuilder();
    for (int i = 0; i < 400_000; i++) {
      file.append("    value_").append(i).append(" = compute(").append(i % 97).append(")\n");
    }
    StringBuilder patch = new StringBuilder();
    int hunks = 0;
    for (int i = 1_000; i < 400_000 && patch.length() < 58 * 1024; i += 397) {
      patch.append("@@\n     value_").append(i - 1).append(" = compute(").append((i - 1) % 97).append(")\n")
          .append("-    value_").append(i).append(" = compute(").append(i % 97).append(")\n")
          .append("+    value_").append(i).append(" = computed(").append(i % 97).append(")  \n");
      hunks++;
    }
    long t0 = System.nanoTime();
    String out = ApplyPatch.applyHunks("big.py", file.toString(), update(patch.toString()).hunks());
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertThat(hunks).isGreaterThan(500);
    assertThat(ms).as("%d hunks took %d ms", hunks, ms).isLessThan(5_000);
    assertThat(out).contains("    value_1000 = computed(30)  \n").contains("    value_999 = compute(29)\n");
    assertThat(out.lines().count()).isEqualTo(400_000);
  }

  @Test
  void aPatchWhoseContextRepeatsEverywhereStopsAtItsWorkBoundUnchanged() {
    StringBuilder file = new StringBuilder();
    for (int i = 0; i < 4_000; i++) {
      file.append("a\n".repeat(99)).append("b\n");
    }
    // every candidate matches 50 lines on average before it fails: the index cannot help
    String hunk = "@@\n" + " a\n".repeat(100) + "+c\n";
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> ApplyPatch.applyHunks("f", file.toString(), update(hunk).hunks()))
        .hasMessageContaining("too much work").hasMessageContaining("No file was changed");
    assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(10_000);
  }

  @Test
  void anInterruptedPatchStops() {
    String file = "x\n".repeat(200_000);
    Thread.currentThread().interrupt();
    try {
      assertThatThrownBy(() -> ApplyPatch.applyHunks("f", file, update("@@\n-y\n+z\n").hunks()))
          .isInstanceOf(ApplyPatch.Interrupted.class);
    } finally {
      Thread.interrupted();
    }
  }
}
