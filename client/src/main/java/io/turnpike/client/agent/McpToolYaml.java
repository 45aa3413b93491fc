package io.turnpike.client.agent;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.avro.McpServerRef;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A {@code kind: mcp} entry of {@code tools:}: the tools of an MCP server that the MCP gateway serves.
 *
 * <pre>{@code
 * - kind: mcp
 *   server: files                 # required: a server of the MCP gateway's configuration (mcp-servers.yaml)
 *   allow: [read_text_file, list_directory]   # optional: only these of its tools (default: all)
 *   deny: [write_file]            # optional: never these (wins over allow)
 *   requireApproval: [edit_file]  # optional: these wait for a human; or: always | never (default)
 *   timeout: 30s                  # optional: each call's timeout (default: toolTimeout)
 * }</pre>
 *
 * The server's command or URL is not here: an agent names a server the gateway's operator configured
 * and can only narrow what it offers, so publishing an agent never runs a command on a host or sends a
 * secret anywhere (docs/mcp.md). The runner expands the entry, when a run starts, into one function
 * tool per tool the gateway listed on {@code turnpike.mcp.tools} (named {@code <server>__<tool>}).
 */
final class McpToolYaml {
  private McpToolYaml() {}

  /** The MCP gateway's server names: they start the model's tool names, {@code <server>__<tool>}. */
  static final Pattern SERVER = Pattern.compile("^[a-z0-9][a-z0-9-]{0,30}$");
  private static final Set<String> KEYS = AgentYaml.orderedSet("kind", "server", "allow", "deny", "requireApproval",
      "timeout");

  static boolean isMcpServer(AgentYaml.Obj t) {
    return t.node.path("kind").isTextual() && t.node.path("kind").asText().trim().equalsIgnoreCase("mcp");
  }

  /** The name a server entry has among the agent's tools: never a valid model tool name, so it is never offered or called. */
  static String entryName(String server) {
    return "mcp:" + server;
  }

  static ToolSpec parse(AgentYaml.Obj t) {
    if (t.node.has("name") || t.node.has("parameters")) {
      throw t.error(t.node.has("name") ? "name" : "parameters", "a kind: mcp entry names a server of the MCP gateway"
          + " (server: files), whose tools come from the server itself; for a function tool served by your own"
          + " tool worker use kind: function");
    }
    t.rejectUnknown(KEYS);
    String server = t.requiredString("server");
    if (!SERVER.matcher(server).matches()) {
      throw t.error("server", "'" + server + "' is not an MCP server name (lower-case letters, digits and -, at most 31,"
          + " as in the gateway's configuration)");
    }
    List<String> allow = names(t, "allow");
    List<String> deny = names(t, "deny");
    for (int i = 0; i < allow.size(); i++) {
      if (deny.contains(allow.get(i))) {
        throw t.error("allow[" + i + "]", "'" + allow.get(i) + "' is also in deny; keep it in one of them");
      }
    }
    List<String> approval = requireApproval(t, allow, deny);
    return ToolSpec.newBuilder()
        .setName(entryName(server))
        .setKind(ToolKind.MCP)
        .setDescription("the tools of MCP server '" + server + "'")
        .setTimeoutMs(t.optDurationMs("timeout", null))
        .setMcp(McpServerRef.newBuilder().setServer(server).setAllow(allow).setDeny(deny).setRequireApproval(approval).build())
        .build();
  }

  /** {@code always} ({@code ["*"]}), {@code never} (empty, the default) or a list of the server's tool names. */
  private static List<String> requireApproval(AgentYaml.Obj t, List<String> allow, List<String> deny) {
    JsonNode n = t.node.get("requireApproval");
    if (n == null || n.isNull()) {
      return List.of();
    }
    if (n.isTextual()) {
      return switch (n.asText().trim()) {
        case "always" -> List.of("*");
        case "never" -> List.of();
        default -> throw t.error("requireApproval", "must be always, never or a list of the server's tool names, got '"
            + n.asText() + "'");
      };
    }
    List<String> tools = names(t, "requireApproval");
    for (int i = 0; i < tools.size(); i++) {
      String tool = tools.get(i);
      if (deny.contains(tool) || (!allow.isEmpty() && !allow.contains(tool))) {
        throw t.error("requireApproval[" + i + "]", "'" + tool + "' is filtered out by allow/deny, so it is never called");
      }
    }
    return tools;
  }

  private static List<String> names(AgentYaml.Obj t, String field) {
    JsonNode arr = t.node.get(field);
    if (arr == null || arr.isNull()) {
      return List.of();
    }
    if (!arr.isArray()) {
      throw t.error(field, "must be a list of the server's tool names, got " + AgentYaml.kindOf(arr));
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < arr.size(); i++) {
      JsonNode n = arr.get(i);
      if (!n.isTextual() || n.asText().isBlank()) {
        throw t.error(field + "[" + i + "]", "must be a tool name, got " + AgentYaml.kindOf(n));
      }
      String name = n.asText().trim();
      if (out.contains(name)) {
        throw t.error(field + "[" + i + "]", "'" + name + "' is listed twice");
      }
      out.add(name);
    }
    return out;
  }
}
