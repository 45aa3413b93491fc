package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import org.junit.jupiter.api.Test;

/** {@code kind: mcp}: a server of the MCP gateway, narrowed by the agent; never a command or a URL. */
class AgentYamlMcpTest {
  static final String HEAD = "name: a\nversion: 1\nmodel: m\ntools:\n";

  static AgentDefinition parse(String tools) {
    return AgentYaml.parse(HEAD + tools, "a.yaml");
  }

  @Test
  void aServerEntryKeepsItsFilters() {
    ToolSpec t = parse("""
          - kind: mcp
            server: files
            allow: [read_text_file, list_directory]
            requireApproval: [list_directory]
            timeout: 30s
        """).getTools().getFirst();
    assertThat(t.getKind()).isEqualTo(ToolKind.MCP);
    assertThat(t.getName()).isEqualTo("mcp:files");
    assertThat(t.getTimeoutMs()).isEqualTo(30_000L);
    assertThat(t.getMcp().getServer()).isEqualTo("files");
    assertThat(t.getMcp().getTool()).isNull();
    assertThat(t.getMcp().getAllow()).containsExactly("read_text_file", "list_directory");
    assertThat(t.getMcp().getRequireApproval()).containsExactly("list_directory");
    assertThat(parse("  - {kind: mcp, server: web, requireApproval: always}\n").getTools().getFirst().getMcp()
        .getRequireApproval()).containsExactly("*");
  }

  @Test
  void anAgentCannotSayHowToStartOrReachAServer() {
    assertThatThrownBy(() -> parse("  - {kind: mcp, server: files, command: rm}\n"))
        .hasMessageContaining("command");
    assertThatThrownBy(() -> parse("  - {kind: mcp, server: files, url: 'http://x'}\n"))
        .hasMessageContaining("url");
  }

  @Test
  void mistakesAreNamed() {
    assertThatThrownBy(() -> parse("  - {kind: mcp, server: Files}\n")).hasMessageContaining("not an MCP server name");
    assertThatThrownBy(() -> parse("  - {kind: mcp, server: files, allow: [a], deny: [a]}\n"))
        .hasMessageContaining("also in deny");
    assertThatThrownBy(() -> parse("  - {kind: mcp, server: files, deny: [a], requireApproval: [a]}\n"))
        .hasMessageContaining("filtered out");
    assertThatThrownBy(() -> parse("  - {kind: mcp, server: files}\n  - {kind: mcp, server: files}\n"))
        .hasMessageContaining("listed twice");
    assertThatThrownBy(() -> parse("  - {kind: mcp, name: search_docs}\n")).hasMessageContaining("kind: function");
  }
}
