package io.turnpike.sandbox.workspace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.sandbox.backend.OutputBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkspaceTest {
  @TempDir
  Path dir;

  @Test
  void pathsStayInside() throws Exception {
    Workspace ws = new Workspace(dir.resolve("ws"), null, null);
    assertThat(Workspace.normalize("a/./b//c/../d")).isEqualTo("a/b/d");
    assertThat(Workspace.normalize("/workspace/src/x")).isEqualTo("src/x");
    assertThat(Workspace.normalize("/workspace")).isEmpty();
    assertThat(ws.resolve("a/b")).isEqualTo(ws.root().resolve("a/b"));
    assertThatThrownBy(() -> ws.resolve("../x")).hasMessageContaining("leads outside the workspace");
    assertThatThrownBy(() -> ws.resolve("a/../../x")).hasMessageContaining("leads outside the workspace");
    assertThatThrownBy(() -> ws.resolve("/etc/passwd")).hasMessageContaining("is an absolute path");
    assertThatThrownBy(() -> ws.resolve("~/x")).hasMessageContaining("is an absolute path");

    Files.createDirectories(dir.resolve("outside"));
    Files.createSymbolicLink(ws.root().resolve("out"), dir.resolve("outside"));
    Files.createSymbolicLink(ws.root().resolve("dangling"), Path.of("../outside/new-file"));
    Files.createDirectories(ws.root().resolve("in"));
    Files.createSymbolicLink(ws.root().resolve("in-link"), Path.of("in"));
    assertThatThrownBy(() -> ws.resolve("out/secret")).hasMessageContaining("resolves outside the workspace");
    assertThatThrownBy(() -> ws.resolve("out")).hasMessageContaining("resolves outside the workspace");
    assertThatThrownBy(() -> ws.resolve("dangling")).hasMessageContaining("outside the workspace");
    assertThat(ws.resolve("in-link/file")).isEqualTo(ws.root().resolve("in-link/file"));
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
