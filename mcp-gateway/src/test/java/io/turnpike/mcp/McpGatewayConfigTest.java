package io.turnpike.mcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class McpGatewayConfigTest {
  @Test
  void aPlainNameIsServerTwoUnderscoresTool() {
    assertThat(McpToolNames.modelName("files", "read_text_file")).isEqualTo("files__read_text_file");
    assertThat(McpToolNames.belongsTo("files__read_text_file", "files")).isTrue();
    assertThat(McpToolNames.belongsTo("filesystem__x", "files")).isFalse();
  }

  @Test
  void aNameTheModelWouldRefuseIsMadeSafeAndStaysUnique() {
    String dotted = McpToolNames.modelName("gh", "repos.get");
    String underscored = McpToolNames.modelName("gh", "repos_get");
    assertThat(dotted).matches("^[a-zA-Z0-9_-]{1,64}$").startsWith("gh__repos_get_").isNotEqualTo(underscored);
    String longName = McpToolNames.modelName("server", "x".repeat(100));
    assertThat(longName).hasSize(64).matches("^[a-zA-Z0-9_-]{1,64}$");
  }

  @Test
  void theServerFileAllowsOnlyHeaderReferences() {
    assertThat(McpServersYaml.parse("""
        servers:
          files: {command: node, args: [server.js, /data], env: {A: b}}
          gh: {url: "https://example.test/mcp", headers: {Authorization: "Bearer ${TURNPIKE_MCP_GH}"}}
        """, "t.yaml")).extracting(McpServerSpec::name).isEqualTo(List.of("files", "gh"));
    assertThatThrownBy(() -> McpServersYaml.parse("""
        servers:
          gh: {url: "https://example.test/mcp", headers: {Authorization: "Bearer sk-secret"}}
        """, "t.yaml")).hasMessageContaining("never the value itself").hasMessageNotContaining("sk-secret");
    assertThatThrownBy(() -> McpServersYaml.parse("servers: {Bad_Name: {command: x}}", "t.yaml"))
        .hasMessageContaining("is not a server name");
  }

  @Test
  void anIsolatedServerRunsUnderBubblewrapWithOnlyItsPaths() {
    McpServerSpec.Stdio s = (McpServerSpec.Stdio) McpServersYaml.parse("""
        servers:
          files: {command: node, args: [server.js, /data], isolate: {read: [/opt/mcp], write: [/data]}}
        """, "t.yaml").getFirst();
    List<String> argv = Bubblewrap.argv(s);
    assertThat(argv).containsSubsequence("--unshare-all", "--ro-bind", "/opt/mcp", "/opt/mcp", "--bind", "/data", "/data",
        "--chdir", "/data", "--", "node", "server.js", "/data");
    assertThat(argv).doesNotContain("--share-net");
    assertThatThrownBy(() -> McpServersYaml.parse("servers: {f: {command: x, isolate: {write: [data]}}}", "t.yaml"))
        .hasMessageContaining("not an absolute path");
  }
}
