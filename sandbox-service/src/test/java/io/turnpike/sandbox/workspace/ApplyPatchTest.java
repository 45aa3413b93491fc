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
    return new Workspace(dir, null, null);
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
    Files.writeString(dir.resolve("a.txt"), "one\ntwo\n");
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
    assertThat(dir.resolve("new.txt")).doesNotExist();
    assertThat(Files.readString(dir.resolve("a.txt"))).isEqualTo("one\ntwo\n");
  }

  @Test
  void addDeleteMoveAndSummary() throws Exception {
    Files.writeString(dir.resolve("gone.txt"), "bye\n");
    Files.writeString(dir.resolve("m.txt"), "keep\nold\n");
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
    assertThat(Files.readString(dir.resolve("sub/dir/new.txt"))).isEqualTo("line 1\nline 2\n");
    assertThat(dir.resolve("gone.txt")).doesNotExist();
    assertThat(dir.resolve("m.txt")).doesNotExist();
    assertThat(Files.readString(dir.resolve("moved/m.txt"))).isEqualTo("keep\nnew\n");
  }

  @Test
  void malformedPatchesAreRejectedClearly() throws Exception {
    Files.writeString(dir.resolve("a.txt"), "x\n");
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
}
