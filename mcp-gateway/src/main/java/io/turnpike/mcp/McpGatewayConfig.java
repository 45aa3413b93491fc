package io.turnpike.mcp;

import io.turnpike.schema.Settings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Configuration of the {@link ToolGateway}. Keys (each also a system property or an environment variable
 * such as {@code TURNPIKE_MCP_SERVERS}):
 *
 * <table>
 *   <caption>keys and defaults</caption>
 *   <tr><th>key</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>turnpike.mcp.servers</td><td>(none: the gateway serves nothing)</td><td>the operator's server file
 *       (see {@link McpServersYaml})</td></tr>
 *   <tr><td>turnpike.mcp.group-id</td><td>turnpike-mcp-gateway</td><td>consumer group on turnpike.tool.requests</td></tr>
 *   <tr><td>turnpike.mcp.concurrency</td><td>32</td><td>calls in flight per instance</td></tr>
 *   <tr><td>turnpike.mcp.call-timeout</td><td>60s</td><td>one MCP request's bound (also capped by the call's deadline)</td></tr>
 *   <tr><td>turnpike.mcp.call-wait</td><td>15s</td><td>how long a call waits for a server that is (re)starting</td></tr>
 *   <tr><td>turnpike.mcp.restart-backoff</td><td>500ms</td><td>first wait before restarting a server that died</td></tr>
 *   <tr><td>turnpike.mcp.max-restart-backoff</td><td>30s</td><td>the wait doubles up to this</td></tr>
 * </table>
 */
public record McpGatewayConfig(
    String bootstrapServers,
    String schemaRegistryUrl,
    String groupId,
    List<McpServerSpec> servers,
    int concurrency,
    Duration callTimeout,
    Duration callWait,
    Duration restartBackoff,
    Duration maxRestartBackoff) {

  public static final String SERVERS = "turnpike.mcp.servers";
  public static final String GROUP_ID = "turnpike.mcp.group-id";
  public static final String CONCURRENCY = "turnpike.mcp.concurrency";
  public static final String CALL_TIMEOUT = "turnpike.mcp.call-timeout";
  public static final String CALL_WAIT = "turnpike.mcp.call-wait";
  public static final String RESTART_BACKOFF = "turnpike.mcp.restart-backoff";
  public static final String MAX_RESTART_BACKOFF = "turnpike.mcp.max-restart-backoff";

  public McpGatewayConfig {
    Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(schemaRegistryUrl, "schemaRegistryUrl");
    servers = List.copyOf(servers);
    if (servers.stream().map(McpServerSpec::name).distinct().count() != servers.size()) {
      throw new IllegalArgumentException("two MCP servers have the same name");
    }
    if (concurrency < 1) {
      throw new IllegalArgumentException(CONCURRENCY + " must be at least 1");
    }
  }

  public static McpGatewayConfig from(Settings s) {
    String file = s.get(SERVERS, "");
    List<McpServerSpec> servers = file.isBlank() ? List.of() : McpServersYaml.load(Path.of(file));
    return new McpGatewayConfig(s.bootstrapServers(), s.schemaRegistryUrl(), s.get(GROUP_ID, "turnpike-mcp-gateway"),
        servers, s.getInt(CONCURRENCY, 32), s.getDuration(CALL_TIMEOUT, Duration.ofSeconds(60)),
        s.getDuration(CALL_WAIT, Duration.ofSeconds(15)), s.getDuration(RESTART_BACKOFF, Duration.ofMillis(500)),
        s.getDuration(MAX_RESTART_BACKOFF, Duration.ofSeconds(30)));
  }
}
