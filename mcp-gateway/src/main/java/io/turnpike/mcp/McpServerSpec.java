package io.turnpike.mcp;

import java.net.URI;
import java.util.List;
import java.util.Map;

/** One MCP server of the gateway's configuration: how to reach it. Written by the operator, never by an agent. */
public sealed interface McpServerSpec {
  String name();

  /**
   * A local server the gateway starts as a child process and speaks to over stdin/stdout. Its
   * environment is {@code env}, {@code PATH}, {@code HOME}, {@code LANG} and the few the MCP SDK passes
   * on ({@code LOGNAME}, {@code SHELL}, {@code TERM}, {@code USER}), never the rest of the gateway's (which
   * may hold keys).
   */
  record Stdio(String name, String command, List<String> args, Map<String, String> env, String cwd, Isolation isolate)
      implements McpServerSpec {
    public Stdio {
      args = List.copyOf(args);
      env = Map.copyOf(env);
    }

    public Stdio(String name, String command, List<String> args, Map<String, String> env, String cwd) {
      this(name, command, args, env, cwd, null);
    }
  }

  /**
   * A stdio server run under bubblewrap: new namespaces (no network unless {@code network}), the host's
   * {@code /usr}, {@code /etc} and library folders read-only, a private {@code /tmp}, {@code read}
   * read-only and {@code write} writable, nothing else of the host's file system.
   */
  record Isolation(List<String> read, List<String> write, boolean network) {
    public Isolation {
      read = List.copyOf(read);
      write = List.copyOf(write);
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
