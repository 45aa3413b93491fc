package io.turnpike.mcp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.turnpike.client.agent.McpHeaders;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the gateway's server configuration ({@code turnpike.mcp.servers}, a YAML file the operator owns):
 *
 * <pre>{@code
 * servers:
 *   files:                                   # the name agents use (kind: mcp, server: files)
 *     command: npx                           # stdio: started by the gateway
 *     args: [-y, "@modelcontextprotocol/server-filesystem", /srv/shared]
 *     env: {LOG_LEVEL: warn}                 # the server's whole environment, with PATH, HOME and LANG
 *     cwd: /srv                              # optional
 *     isolate:                               # optional: run it under bubblewrap (see McpServerSpec.Isolation)
 *       read: [/opt/mcp]                     # also readable (the server's code, when not under /usr)
 *       write: [/srv/shared]                 # writable
 *       network: false                       # the default
 *   github:
 *     url: https://api.githubcopilot.com/mcp/   # Streamable HTTP
 *     headers: {Authorization: "Bearer ${TURNPIKE_MCP_GITHUB_TOKEN}"}   # references only
 * }</pre>
 */
public final class McpServersYaml {
  private McpServersYaml() {}

  private static final YAMLMapper YAML = new YAMLMapper();
  private static final Set<String> STDIO_KEYS = Set.of("command", "args", "env", "cwd", "isolate");
  private static final Set<String> ISOLATE_KEYS = Set.of("read", "write", "network");
  private static final Set<String> HTTP_KEYS = Set.of("url", "headers");

  public static List<McpServerSpec> load(Path file) {
    try {
      return parse(Files.readString(file), file.toString());
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read the MCP server configuration " + file + ": " + e.getMessage(), e);
    }
  }

  public static List<McpServerSpec> parse(String yaml, String source) {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (IOException e) {
      throw new IllegalArgumentException(source + ": not YAML: " + e.getMessage(), e);
    }
    JsonNode servers = root == null ? null : root.get("servers");
    if (servers == null || !servers.isObject()) {
      throw new IllegalArgumentException(source + ": needs servers: {<name>: {command: ...} or {url: ...}}");
    }
    List<McpServerSpec> out = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = servers.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      out.add(server(source + ": servers." + e.getKey(), e.getKey(), e.getValue()));
    }
    return out;
  }

  private static McpServerSpec server(String at, String name, JsonNode n) {
    if (!McpToolNames.SERVER.matcher(name).matches()) {
      throw new IllegalArgumentException(at + ": '" + name + "' is not a server name (lower-case letters, digits and -,"
          + " at most 31): it starts the model's tool names");
    }
    if (n == null || !n.isObject()) {
      throw new IllegalArgumentException(at + ": must be a mapping with command (stdio) or url (Streamable HTTP)");
    }
    boolean stdio = n.has("command");
    if (stdio == n.has("url")) {
      throw new IllegalArgumentException(at + ": give either command (stdio) or url (Streamable HTTP)");
    }
    Set<String> allowed = stdio ? STDIO_KEYS : HTTP_KEYS;
    for (Iterator<String> keys = n.fieldNames(); keys.hasNext(); ) {
      String k = keys.next();
      if (!allowed.contains(k)) {
        throw new IllegalArgumentException(at + "." + k + ": unknown key (a " + (stdio ? "stdio" : "Streamable HTTP")
            + " server takes " + allowed + ")");
      }
    }
    if (stdio) {
      List<String> args = new ArrayList<>();
      n.path("args").forEach(a -> args.add(a.asText()));
      return new McpServerSpec.Stdio(name, n.get("command").asText(), args, strings(at + ".env", n.get("env")),
          n.hasNonNull("cwd") ? n.get("cwd").asText() : null, isolation(at + ".isolate", n.get("isolate")));
    }
    URI url = URI.create(n.get("url").asText());
    if (url.getHost() == null || !("http".equals(url.getScheme()) || "https".equals(url.getScheme()))) {
      throw new IllegalArgumentException(at + ".url: '" + url + "' is not an http(s) URL with a host");
    }
    Map<String, String> headers = strings(at + ".headers", n.get("headers"));
    headers.forEach((k, v) -> {
      if (!McpHeaders.NAME.matcher(k).matches()) {
        throw new IllegalArgumentException(at + ".headers." + k + ": not a valid HTTP header name");
      }
      if (!McpHeaders.isReference(v)) {
        throw new IllegalArgumentException(at + ".headers." + k + ": " + McpHeaders.NOT_A_REFERENCE);
      }
    });
    return new McpServerSpec.StreamableHttp(name, url, headers);
  }

  private static McpServerSpec.Isolation isolation(String at, JsonNode n) {
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isObject()) {
      throw new IllegalArgumentException(at + ": must be a mapping (read, write, network), or left out");
    }
    for (Iterator<String> keys = n.fieldNames(); keys.hasNext(); ) {
      String k = keys.next();
      if (!ISOLATE_KEYS.contains(k)) {
        throw new IllegalArgumentException(at + "." + k + ": unknown key (isolate takes " + ISOLATE_KEYS + ")");
      }
    }
    return new McpServerSpec.Isolation(paths(at + ".read", n.get("read")), paths(at + ".write", n.get("write")),
        n.path("network").asBoolean(false));
  }

  private static List<String> paths(String at, JsonNode n) {
    List<String> out = new ArrayList<>();
    if (n == null || n.isNull()) {
      return out;
    }
    for (JsonNode p : n) {
      if (!p.asText().startsWith("/")) {
        throw new IllegalArgumentException(at + ": '" + p.asText() + "' is not an absolute path");
      }
      out.add(p.asText());
    }
    return out;
  }

  private static Map<String, String> strings(String at, JsonNode n) {
    Map<String, String> out = new LinkedHashMap<>();
    if (n == null || n.isNull()) {
      return out;
    }
    if (!n.isObject()) {
      throw new IllegalArgumentException(at + ": must be a mapping of names to text");
    }
    n.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
    return out;
  }
}
