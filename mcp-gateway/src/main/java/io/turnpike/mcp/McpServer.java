package io.turnpike.mcp;

import io.modelcontextprotocol.spec.McpError;
import io.modelcontextprotocol.spec.McpSchema;
import io.turnpike.avro.McpToolInfo;
import io.turnpike.avro.McpToolList;
import io.turnpike.avro.McpTransport;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One configured MCP server, kept alive: a supervisor (a virtual thread) connects, lists the tools,
 * waits for the session to die, and connects again after a backoff that doubles from
 * {@code restartBackoff} up to {@code maxRestartBackoff} (back to the start once a session is up). Every
 * new tool list (on connect, on {@code notifications/tools/list_changed}, when it goes down) is handed to
 * {@code publish}.
 */
final class McpServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(McpServer.class);

  /** What a call came to: the output the model sees. */
  record Outcome(String output, boolean isError, List<io.turnpike.avro.ImageContent> images) {
    Outcome(String output, boolean isError) {
      this(output, isError, List.of());
    }
  }

  private final McpServerSpec spec;
  private final McpGatewayConfig config;
  private final Function<String, String> env;
  private final Consumer<McpToolList> publish;
  private final CountDownLatch closed = new CountDownLatch(1);
  private final Thread supervisor;

  /** Completed with the live session; replaced by an incomplete one while the server is down. */
  private volatile CompletableFuture<McpConnection> live = new CompletableFuture<>();
  private volatile McpToolList tools;
  private volatile String lastError;
  private volatile long restarts = -1;

  McpServer(McpServerSpec spec, McpGatewayConfig config, Function<String, String> env, Consumer<McpToolList> publish) {
    this.spec = spec;
    this.config = config;
    this.env = env;
    this.publish = publish;
    this.tools = list(List.of(), false, "not started yet");
    this.supervisor = Thread.ofVirtual().name("mcp-server-" + spec.name()).unstarted(this::supervise);
  }

  String name() {
    return spec.name();
  }

  McpServer start() {
    supervisor.start();
    return this;
  }

  /** The tools as last listed (the last list a server gave while it is down). */
  McpToolList tools() {
    return tools;
  }

  /** Sessions started after the first: how often the server was restarted. */
  long restarts() {
    return Math.max(0, restarts);
  }

  boolean isUp() {
    CompletableFuture<McpConnection> l = live;
    return l.isDone() && !l.join().dead.isDone();
  }

  /** The server's process while it runs over stdio (tests kill it), else null. */
  ProcessHandle process() {
    CompletableFuture<McpConnection> l = live;
    return l.isDone() ? l.join().process : null;
  }

  private void supervise() {
    Duration backoff = config.restartBackoff();
    while (closed.getCount() > 0) {
      McpConnection c = null;
      try {
        c = McpConnection.open(spec, config.callTimeout(), env, this::toolsChanged);
        restarts++;
        McpConnection session = c;
        tools = list(c.listTools(), true, null);
        live.complete(c);
        LOG.info("MCP server {} is up ({} tools{})", spec.name(), tools.getTools().size(),
            restarts > 0 ? ", restart " + restarts : "");
        publish.accept(tools);
        backoff = config.restartBackoff();
        String why = waitForDeath(session);
        if (why == null) {
          break; // closed
        }
        lastError = "the server stopped: " + why;
        retire(session);
      } catch (RuntimeException e) {
        lastError = "cannot start or reach the server: " + rootMessage(e);
      } finally {
        if (c != null) {
          c.close();
        }
      }
      if (closed.getCount() == 0) {
        break;
      }
      tools = McpToolList.newBuilder(tools).setUp(false).setError(lastError).setListedAt(Instant.now()).build();
      LOG.warn("MCP server {} is down ({}); restarting in {}", spec.name(), lastError, backoff);
      publish.accept(tools);
      try {
        if (closed.await(backoff.toMillis(), TimeUnit.MILLISECONDS)) {
          break;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      backoff = backoff.multipliedBy(2).compareTo(config.maxRestartBackoff()) > 0 ? config.maxRestartBackoff()
          : backoff.multipliedBy(2);
    }
  }

  /**
   * Calls wait on a new (incomplete) future once a session is dead, never on the dead one. Done by
   * whoever sees the death first (the supervisor, or a call that met it), so a call that comes after a
   * crash waits for the restart instead of meeting the dead session.
   */
  private synchronized void retire(McpConnection c) {
    CompletableFuture<McpConnection> l = live;
    if (l.isDone() && !l.isCompletedExceptionally() && l.join() == c) {
      live = new CompletableFuture<>();
    }
  }

  /** The live session, waiting up to {@code wait} for one (a dead one is retired and waited past). */
  private McpConnection connection(Duration wait) throws InterruptedException, ExecutionException, TimeoutException {
    long end = System.nanoTime() + wait.toNanos();
    while (true) {
      long left = end - System.nanoTime();
      if (left <= 0) {
        throw new TimeoutException();
      }
      McpConnection c = live.get(left, TimeUnit.NANOSECONDS);
      if (!c.dead.isDone()) {
        return c;
      }
      retire(c);
    }
  }

  /** Blocks until the session dies (its reason) or the server is closed (null). */
  private String waitForDeath(McpConnection c) {
    while (closed.getCount() > 0) {
      try {
        return c.dead.get(1, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        // look at closed again
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return null;
      } catch (ExecutionException e) {
        return rootMessage(e);
      }
    }
    return null;
  }

  private void toolsChanged(List<McpSchema.Tool> changed) {
    tools = list(changed, true, null);
    LOG.info("MCP server {} changed its tools: {} now", spec.name(), changed.size());
    publish.accept(tools);
  }

  /**
   * Calls {@code tool}; waits up to {@code callWait} for a server that is restarting. A server that dies
   * during the call, a protocol error and a timeout are all outputs with isError: the model sees them.
   */
  Outcome call(String tool, Map<String, Object> arguments, Duration timeout) {
    McpConnection c;
    try {
      c = connection(config.callWait());
    } catch (TimeoutException e) {
      return new Outcome("MCP server '" + spec.name() + "' is not running (" + lastError + "); it is being restarted,"
          + " try again later", true);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Outcome("the MCP gateway is stopping", true);
    } catch (ExecutionException e) {
      return new Outcome("MCP server '" + spec.name() + "' is not available: " + rootMessage(e), true);
    }
    CompletableFuture<McpSchema.CallToolResult> answer = CompletableFuture.supplyAsync(
        () -> c.client.callTool(new McpSchema.CallToolRequest(tool, arguments)), Thread.ofVirtual()::start);
    try {
      CompletableFuture.anyOf(answer, c.dead).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      answer.cancel(true);
      return new Outcome("MCP server '" + spec.name() + "' did not answer " + tool + " within " + timeout, true);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Outcome("the MCP gateway is stopping", true);
    } catch (ExecutionException e) {
      // the answer failed: handled below
    }
    if (!answer.isDone() || (c.dead.isDone() && answer.isCompletedExceptionally())) {
      retire(c);
      return new Outcome("MCP server '" + spec.name() + "' crashed during the call of " + tool + " ("
          + c.dead.getNow("it stopped") + "); it is being restarted", true);
    }
    try {
      McpResults.Output out = McpResults.of(answer.join());
      return new Outcome(out.text(), out.isError(), out.images());
    } catch (java.util.concurrent.CompletionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      if (cause instanceof McpError err) {
        return new Outcome("MCP server '" + spec.name() + "' refused the call of " + tool + ": " + err.getMessage(), true);
      }
      if (spec instanceof McpServerSpec.StreamableHttp) {
        c.dead.complete("a call failed: " + rootMessage(cause)); // reconnect: the session may be gone
        retire(c);
      }
      return new Outcome("MCP server '" + spec.name() + "' failed the call of " + tool + ": " + rootMessage(cause), true);
    }
  }

  private McpToolList list(List<McpSchema.Tool> listed, boolean up, String error) {
    List<McpToolInfo> infos = listed.stream().map(t -> McpToolInfo.newBuilder()
        .setName(t.name())
        .setModelName(McpToolNames.modelName(spec.name(), t.name()))
        .setDescription(t.description() == null ? "" : t.description())
        .setInputSchemaJson(inputSchema(t))
        .build()).toList();
    return McpToolList.newBuilder()
        .setServer(spec.name())
        .setTransport(spec instanceof McpServerSpec.Stdio ? McpTransport.STDIO : McpTransport.STREAMABLE_HTTP)
        .setTools(infos)
        .setListedAt(Instant.now())
        .setUp(up)
        .setError(error)
        .build();
  }

  private static String inputSchema(McpSchema.Tool t) {
    if (t.inputSchema() == null) {
      return "{\"type\":\"object\",\"properties\":{}}";
    }
    return McpResults.json(t.inputSchema());
  }

  static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String m = t.getMessage();
    return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
  }

  @Override
  public void close() {
    closed.countDown();
    live.thenAccept(McpConnection::close);
    try {
      supervisor.join(Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
