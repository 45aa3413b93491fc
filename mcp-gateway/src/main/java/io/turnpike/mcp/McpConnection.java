package io.turnpike.mcp;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.client.transport.ServerParameters;
import io.modelcontextprotocol.client.transport.StdioClientTransport;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema;
import io.turnpike.client.agent.McpHeaders;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * One live session with an MCP server (the SDK's sync client over stdio or Streamable HTTP), and the
 * signal that it died: a stdio server's process exiting, or an HTTP transport failing a call.
 */
final class McpConnection implements AutoCloseable {
  static final McpJsonMapper JSON = new JacksonMcpJsonMapper(new ObjectMapper());
  /** Stdio servers are told apart by the child process that appeared while one was started: one at a time. */
  private static final Object STARTING = new Object();

  final McpSyncClient client;
  /** The stdio server's process; null over HTTP. */
  final ProcessHandle process;
  /** Completes when the session is gone (the message says why). */
  final CompletableFuture<String> dead = new CompletableFuture<>();

  private McpConnection(McpSyncClient client, ProcessHandle process) {
    this.client = client;
    this.process = process;
    if (process != null) {
      process.onExit().thenRun(() -> dead.complete("its process (pid " + process.pid() + ") exited"));
    }
  }

  /** Starts or reaches the server and initializes the session; tool list changes go to {@code onToolsChanged}. */
  static McpConnection open(McpServerSpec spec, Duration requestTimeout, Function<String, String> env,
      Consumer<List<McpSchema.Tool>> onToolsChanged) {
    return switch (spec) {
      case McpServerSpec.Stdio s -> stdio(s, requestTimeout, onToolsChanged);
      case McpServerSpec.StreamableHttp h -> http(h, requestTimeout, env, onToolsChanged);
    };
  }

  private static McpConnection stdio(McpServerSpec.Stdio s, Duration timeout, Consumer<List<McpSchema.Tool>> onToolsChanged) {
    ServerParameters params = s.isolate() == null
        ? ServerParameters.builder(s.command()).args(s.args()).env(s.env()).build()
        : ServerParameters.builder("bwrap").args(Bubblewrap.argv(s)).env(s.env()).build();
    StdioClientTransport transport = new IsolatedStdio(params, s.cwd());
    synchronized (STARTING) {
      Set<Long> before = new HashSet<>();
      ProcessHandle.current().children().forEach(p -> before.add(p.pid()));
      McpSyncClient client = initialized(client(transport, timeout, onToolsChanged));
      return new McpConnection(client, started(before, params));
    }
  }

  /**
   * The server's process: the child of this JVM that appeared while it started and runs its command
   * line (other parts of the JVM, a sandbox say, may start processes at the same time). Null when it
   * cannot be told: then a crash is seen when a call fails instead of at once.
   */
  private static ProcessHandle started(Set<Long> before, ServerParameters params) {
    List<ProcessHandle> fresh = ProcessHandle.current().children().filter(p -> !before.contains(p.pid())).toList();
    List<String> expected = new ArrayList<>(params.getArgs());
    List<ProcessHandle> running = fresh.stream().filter(p -> p.info().arguments()
        .map(a -> List.of(a).equals(expected)).orElse(false)).toList();
    if (running.size() == 1) {
      return running.getFirst();
    }
    return fresh.size() == 1 && running.isEmpty() && fresh.getFirst().info().arguments().isEmpty() ? fresh.getFirst() : null;
  }

  private static McpConnection http(McpServerSpec.StreamableHttp h, Duration timeout, Function<String, String> env,
      Consumer<List<McpSchema.Tool>> onToolsChanged) {
    HttpRequest.Builder request = HttpRequest.newBuilder();
    for (Map.Entry<String, String> e : h.headers().entrySet()) {
      request.header(e.getKey(), McpHeaders.resolve(e.getKey(), e.getValue(), env));
    }
    String base = h.url().getScheme() + "://" + h.url().getRawAuthority();
    String endpoint = h.url().getRawPath() == null || h.url().getRawPath().isEmpty() ? "/mcp" : h.url().getRawPath();
    HttpClientStreamableHttpTransport transport = HttpClientStreamableHttpTransport.builder(base).endpoint(endpoint)
        .requestBuilder(request).jsonMapper(JSON).connectTimeout(Duration.ofSeconds(10)).build();
    return new McpConnection(initialized(client(transport, timeout, onToolsChanged)), null);
  }

  /** The MCP handshake; a client that fails it is closed (its process or connection goes with it). */
  private static McpSyncClient initialized(McpSyncClient client) {
    try {
      client.initialize();
      return client;
    } catch (RuntimeException e) {
      client.close();
      throw e;
    }
  }

  private static McpSyncClient client(io.modelcontextprotocol.spec.McpClientTransport transport, Duration timeout,
      Consumer<List<McpSchema.Tool>> onToolsChanged) {
    return McpClient.sync(transport)
        .clientInfo(new McpSchema.Implementation("turnpike-mcp-gateway", "0.1.0"))
        .requestTimeout(timeout)
        .initializationTimeout(Duration.ofSeconds(30))
        .toolsChangeConsumer(onToolsChanged)
        .build();
  }

  /** Every tool the server lists, page by page. */
  List<McpSchema.Tool> listTools() {
    List<McpSchema.Tool> tools = new ArrayList<>();
    String cursor = null;
    do {
      McpSchema.ListToolsResult page = cursor == null ? client.listTools() : client.listTools(cursor);
      tools.addAll(page.tools());
      cursor = page.nextCursor();
    } while (cursor != null && !cursor.isEmpty());
    return tools;
  }

  @Override
  public void close() {
    dead.complete("closed");
    try {
      client.closeGracefully();
    } catch (RuntimeException e) {
      client.close();
    }
    if (process != null) {
      process.descendants().forEach(ProcessHandle::destroy);
      process.destroy();
    }
  }

  /** The SDK's stdio transport with the server's environment reduced to what it was configured with. */
  private static final class IsolatedStdio extends StdioClientTransport {
    private final String cwd;

    IsolatedStdio(ServerParameters params, String cwd) {
      super(params, JSON);
      this.cwd = cwd;
    }

    @Override
    protected ProcessBuilder getProcessBuilder() {
      ProcessBuilder pb = super.getProcessBuilder();
      Map<String, String> env = pb.environment();
      Map<String, String> kept = new java.util.HashMap<>();
      for (String k : List.of("PATH", "HOME", "LANG")) {
        if (System.getenv(k) != null) {
          kept.put(k, System.getenv(k));
        }
      }
      env.clear();
      env.putAll(kept); // the SDK adds the configured env after this
      if (cwd != null) {
        pb.directory(new java.io.File(cwd));
      }
      return pb;
    }
  }
}
