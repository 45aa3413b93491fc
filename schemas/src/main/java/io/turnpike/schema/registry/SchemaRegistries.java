package io.turnpike.schema.registry;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One registry client per URL per JVM, so every serde of a process shares one id cache: {@code http(s)://}
 * is a Confluent-compatible REST endpoint, {@code mock://scope} an in-memory registry shared by everything
 * in this JVM that names the same scope.
 */
public final class SchemaRegistries {
  private static final Map<String, SchemaRegistry> CLIENTS = new ConcurrentHashMap<>();

  private SchemaRegistries() {}

  public static SchemaRegistry forUrl(String url) {
    if (url == null || url.isBlank()) {
      throw new IllegalArgumentException("no schema registry URL: set TURNPIKE_SCHEMA_REGISTRY_URL "
          + "(e.g. http://localhost:8081) or use mock://<scope> in tests");
    }
    return CLIENTS.computeIfAbsent(url.trim(), u -> {
      if (u.startsWith("mock://")) {
        return new InMemorySchemaRegistry(u);
      }
      if (u.startsWith("http://") || u.startsWith("https://")) {
        return new HttpSchemaRegistry(u);
      }
      throw new IllegalArgumentException("schema registry URL must start with http://, https:// or mock://, got " + u);
    });
  }
}
