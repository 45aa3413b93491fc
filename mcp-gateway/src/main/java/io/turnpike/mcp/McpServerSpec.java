package io.turnpike.mcp;

import java.net.URI;
import java.util.List;
import java.util.Map;

/** One MCP server of the gateway's configuration: how to reach it. Written by the operator, never by an agent. */
public sealed interface McpServerSpec {
  String name();

  /**
   * A local server the gateway starts as a child process and speaks to over stdin/stdout. Its
   * environment is {@code PATH}, {@code HOME}, {@code LANG} and {@code env} only, never the gateway's
   * own (which may hold keys).
   */
  record Stdio(String name, String command, List<String> args, Map<String, String> env, String cwd) implements McpServerSpec {
    public Stdio {
      args = List.copyOf(args);
      env = Map.copyOf(env);
    }
  }

  /**
   * A remote server over Streamable HTTP. Header values are references ({@code ${TURNPIKE_MCP_NAME}},
   * optionally after a scheme word) resolved from the gateway's environment when it connects.
   */
  record StreamableHttp(String name, URI url, Map<String, String> headers) implements McpServerSpec {
    public StreamableHttp {
      headers = Map.copyOf(headers);
    }
  }
}
