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

  /**
   * Consumer properties every Turnpike consumer applies: {@code turnpike.kafka.session-timeout}
   * (default: Kafka's 45 s) bounds how long a killed instance keeps its partitions.
   */
  public Map<String, Object> consumerTuning() {
    var m = new java.util.HashMap<String, Object>();
    if (get("turnpike.kafka.session-timeout", null) != null) {
      long ms = getDuration("turnpike.kafka.session-timeout", Duration.ofSeconds(45)).toMillis();
      m.put("session.timeout.ms", (int) ms);
      m.put("heartbeat.interval.ms", (int) Math.max(500, ms / 3));
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
