package io.turnpike.schema;

import java.time.Duration;
import java.util.Map;
import java.util.Properties;

/**
 * Reads configuration keys such as {@code turnpike.bootstrap.servers} from, in order: explicit
 * overrides, JVM system properties, then environment variables ({@code TURNPIKE_BOOTSTRAP_SERVERS}).
 * Every service's Config record is built from one of these, so every key has one spelling per source.
 */
public final class Settings {
  private final Map<String, String> overrides;
  private final Map<String, String> env;
  private final Properties system;

  public Settings(Map<String, String> overrides, Map<String, String> env, Properties system) {
    this.overrides = Map.copyOf(overrides);
    this.env = env;
    this.system = system;
  }

  public static Settings fromEnvironment() {
    return new Settings(Map.of(), System.getenv(), System.getProperties());
  }

  public static Settings of(Map<String, String> overrides) {
    return new Settings(overrides, Map.of(), new Properties());
  }

  public Settings with(Map<String, String> more) {
    var merged = new java.util.HashMap<>(overrides);
    merged.putAll(more);
    return new Settings(merged, env, system);
  }

  public static String envName(String key) {
    return key.toUpperCase().replace('.', '_').replace('-', '_');
  }

  public String get(String key, String fallback) {
    String v = overrides.get(key);
    if (v == null) {
      v = system.getProperty(key);
    }
    if (v == null) {
      v = env.get(envName(key));
    }
    return v == null || v.isBlank() ? fallback : v;
  }

  public int getInt(String key, int fallback) {
    String v = get(key, null);
    try {
      return v == null ? fallback : Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(key + " must be an integer, got '" + v + "'");
    }
  }

  public long getLong(String key, long fallback) {
    String v = get(key, null);
    try {
      return v == null ? fallback : Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(key + " must be an integer, got '" + v + "'");
    }
  }

  public Duration getDuration(String key, Duration fallback) {
    String v = get(key, null);
    if (v == null) {
      return fallback;
    }
    v = v.trim();
    try {
      if (v.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
      }
      if (v.endsWith("s")) {
        return Duration.ofSeconds(Long.parseLong(v.substring(0, v.length() - 1)));
      }
      if (v.endsWith("m")) {
        return Duration.ofMinutes(Long.parseLong(v.substring(0, v.length() - 1)));
      }
      return Duration.ofMillis(Long.parseLong(v));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(key + " must be a duration like 500ms, 30s or 5m, got '" + v + "'");
    }
  }

  /** How long a killed instance keeps its partitions before they move (Kafka's own default is 45 s). */
  public static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofSeconds(10);
  /**
   * How long a rebalance waits for members to rejoin (Kafka's consumers use {@code max.poll.interval.ms},
   * 5 minutes by default). Turnpike's loops never block between polls, so a short bound costs nothing
   * and keeps a member that died mid-rebalance from holding the whole group for minutes.
   */
  public static final Duration DEFAULT_REBALANCE_TIMEOUT = Duration.ofSeconds(30);

  /**
   * Consumer properties every Turnpike consumer group member applies (worker loops and the orchestrator's
   * stream threads alike), so that failover is the same everywhere:
   * <ul>
   *   <li>{@code turnpike.kafka.session-timeout} (default 10 s): a killed instance's partitions move after
   *       this long; heartbeats every third of it.
   *   <li>{@code turnpike.kafka.rebalance-timeout} (default 30 s): {@code max.poll.interval.ms}, which is
   *       also how long a rebalance waits for a member that does not rejoin.
   *   <li>{@code turnpike.kafka.instance-id} (default none): static membership ({@code group.instance.id});
   *       an instance restarted with the same id gets its partitions back without a rebalance. Give each
   *       instance its own stable id (a pod name), never two live processes the same.
   * </ul>
   */
  public Map<String, Object> consumerTuning() {
    var m = new java.util.HashMap<String, Object>();
    long session = getDuration("turnpike.kafka.session-timeout", DEFAULT_SESSION_TIMEOUT).toMillis();
    m.put("session.timeout.ms", (int) session);
    m.put("heartbeat.interval.ms", (int) Math.max(500, session / 3));
    m.put("max.poll.interval.ms", (int) getDuration("turnpike.kafka.rebalance-timeout", DEFAULT_REBALANCE_TIMEOUT).toMillis());
    String instance = get("turnpike.kafka.instance-id", null);
    if (instance != null) {
      m.put("group.instance.id", instance.trim());
    }
    return m;
  }

  /**
   * Producer properties every Turnpike producer applies: {@code turnpike.kafka.linger} (default 0 ms:
   * a run waits on every hop, so latency beats batching).
   */
  public Map<String, Object> producerTuning() {
    return Map.of("linger.ms", (int) getDuration("turnpike.kafka.linger", Duration.ZERO).toMillis());
  }

  /** The bootstrap servers every Turnpike process connects to. */
  public String bootstrapServers() {
    return get("turnpike.bootstrap.servers", "localhost:9092");
  }

  /** Where the Confluent-compatible schema registry lives ({@code TURNPIKE_SCHEMA_REGISTRY_URL}). */
  public String schemaRegistryUrl() {
    return get("turnpike.schema.registry.url", "http://localhost:8081");
  }
}
