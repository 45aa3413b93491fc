package io.turnpike.runner.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.McpServerRef;
import io.turnpike.avro.McpToolInfo;
import io.turnpike.avro.McpToolList;
import io.turnpike.avro.McpTransport;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** An agent's MCP server entries become the server's tools when a run starts ({@link AgentView#withMcpTools}). */
class McpToolExpansionTest {
  static final McpToolList FILES = McpToolList.newBuilder().setServer("files").setTransport(McpTransport.STDIO)
      .setListedAt(Instant.EPOCH).setTools(List.of(
          new McpToolInfo("read_text_file", "files__read_text_file", "Read a file", "{\"type\":\"object\"}"),
          new McpToolInfo("write_file", "files__write_file", "Write a file", "{\"type\":\"object\"}"),
          new McpToolInfo("list_directory", "files__list_directory", "List", "{\"type\":\"object\"}")))
      .build();

  static AgentDefinition agent(McpServerRef ref, ToolSpec... own) {
    List<ToolSpec> tools = new java.util.ArrayList<>(List.of(own));
    tools.add(ToolSpec.newBuilder().setName("mcp:" + ref.getServer()).setKind(ToolKind.MCP).setTimeoutMs(5_000L)
        .setMcp(ref).build());
    return AgentDefinition.newBuilder().setName("a").setVersion(1).setModel("m").setTools(tools).build();
  }

  @Test
  void filtersApprovalAndTimeoutApplyAndTheEntryIsNeverOffered() {
    AgentDefinition a = agent(McpServerRef.newBuilder().setServer("files").setDeny(List.of("write_file"))
        .setRequireApproval(List.of("list_directory")).build());
    AgentDefinition expanded = AgentView.withMcpTools(a, Map.of("files", FILES)::get);

    assertThat(AgentView.tools(expanded)).extracting(ToolSpec::getName)
        .containsExactly("files__read_text_file", "files__list_directory");
    ToolSpec list = AgentView.tool(expanded, "files__list_directory").orElseThrow();
    assertThat(list.getNeedsApproval()).isTrue();
    assertThat(list.getTimeoutMs()).isEqualTo(5_000L);
    assertThat(list.getMcp().getTool()).isEqualTo("list_directory");
    assertThat(AgentView.tool(expanded, "files__read_text_file").orElseThrow().getNeedsApproval()).isFalse();
    assertThat(AgentView.missingMcpServers(expanded)).isEmpty();
  }

  @Test
  void allowKeepsOnlyItsToolsAndTheAgentsOwnToolWinsAName() {
    ToolSpec own = ToolSpec.newBuilder().setName("files__read_text_file").setDescription("mine").build();
    AgentDefinition a = agent(McpServerRef.newBuilder().setServer("files")
        .setAllow(List.of("read_text_file", "write_file")).setRequireApproval(List.of("*")).build(), own);
    AgentDefinition expanded = AgentView.withMcpTools(a, Map.of("files", FILES)::get);

    assertThat(AgentView.tools(expanded)).extracting(ToolSpec::getName)
        .containsExactly("files__read_text_file", "files__write_file");
    assertThat(AgentView.tool(expanded, "files__read_text_file").orElseThrow().getDescription()).isEqualTo("mine");
    assertThat(AgentView.tool(expanded, "files__write_file").orElseThrow().getNeedsApproval()).isTrue();
  }

  @Test
  void aServerWithoutAListIsMissing() {
    AgentDefinition a = agent(McpServerRef.newBuilder().setServer("web").build());
    AgentDefinition expanded = AgentView.withMcpTools(a, Map.<String, McpToolList>of()::get);
    assertThat(AgentView.tools(expanded)).isEmpty();
    assertThat(AgentView.missingMcpServers(expanded)).containsExactly("web");
  }
}
