package io.turnpike.console;

import io.turnpike.schema.Settings;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The console's configuration ({@code turnpike.console.*}), read once from {@link Settings}.
 *
 * @param host          address the HTTP server binds (default 0.0.0.0: a container's port must be reachable)
 * @param port          HTTP port of the API and the UI (default 8088; 0: any free port)
 * @param token         when set, every {@code /api} call needs {@code Authorization: Bearer <token>}; null: open
 * @param applicationId Kafka Streams application id of the materialized views (default turnpike-console)
 * @param stateDir      where the views' RocksDB stores live
 * @param replicationFactor of the views' changelogs (-1: the broker's default)
 */
public record ConsoleConfig(String host, int port, String token, String applicationId, String stateDir,
    int replicationFactor, Duration commitInterval) {

  public static final int DEFAULT_PORT = 8088;

  public ConsoleConfig {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("turnpike.console.port must be between 0 and 65535, got " + port);
    }
    if (token != null && token.isBlank()) {
      token = null;
    }
  }

  public static ConsoleConfig from(Settings settings) {
    return new ConsoleConfig(
        settings.get("turnpike.console.host", "0.0.0.0"),
        settings.getInt("turnpike.console.port", DEFAULT_PORT),
        settings.get("turnpike.console.token", null),
        settings.get("turnpike.console.application-id", "turnpike-console"),
        settings.get("turnpike.console.state-dir",
            Path.of(System.getProperty("java.io.tmpdir"), "turnpike-console").toString()),
        settings.getInt("turnpike.console.replication-factor", -1),
        settings.getDuration("turnpike.console.commit-interval", Duration.ofMillis(500)));
  }

  /** Never prints the token. */
  @Override
  public String toString() {
    return "ConsoleConfig[host=" + host + ", port=" + port + ", token=" + (token == null ? "none" : "set")
        + ", applicationId=" + applicationId + ", stateDir=" + stateDir + "]";
  }
}
