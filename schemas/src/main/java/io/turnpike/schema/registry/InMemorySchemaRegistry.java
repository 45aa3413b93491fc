package io.turnpike.schema.registry;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;

/**
 * A registry kept in this JVM, for {@code mock://<scope>} URLs (Confluent's convention): topology tests
 * without a broker or HTTP server use it. It assigns ids and enforces compatibility the way a real
 * registry does (the same schema has the same id in every subject; BACKWARD by default).
 */
public final class InMemorySchemaRegistry implements SchemaRegistry {
  private final String url;
  private final List<Schema> schemas = new ArrayList<>();
  private final Map<String, List<Integer>> versions = new HashMap<>();
  private final Map<String, String> compatibility = new HashMap<>();

  public InMemorySchemaRegistry() {
    this("mock://in-memory");
  }

  public InMemorySchemaRegistry(String url) {
    this.url = url;
  }

  @Override
  public String url() {
    return url;
  }

  @Override
  public synchronized int register(String subject, Schema schema) {
    int id = schemas.indexOf(schema) + 1;
    List<Integer> subjectVersions = versions.computeIfAbsent(subject, s -> new ArrayList<>());
    if (id > 0 && subjectVersions.contains(id)) {
      return id;
    }
    if (!isCompatible(subject, schema)) {
      throw new SchemaRegistryException("schema " + schema.getFullName() + " is incompatible with the latest under "
          + subject + " (" + level(subject) + ")", 409);
    }
    if (id <= 0) {
      schemas.add(schema);
      id = schemas.size();
    }
    subjectVersions.add(id);
    return id;
  }

  @Override
  public synchronized Schema schemaById(int id) {
    if (id < 1 || id > schemas.size()) {
      throw new SchemaRegistryException("schema id " + id + " not found in " + url, 40403);
    }
    return schemas.get(id - 1);
  }

  @Override
  public synchronized void setCompatibility(String subject, String level) {
    compatibility.put(subject, level.toUpperCase());
  }

  @Override
  public synchronized boolean isCompatible(String subject, Schema schema) {
    List<Integer> existing = versions.getOrDefault(subject, List.of());
    if (existing.isEmpty()) {
      return true;
    }
    String level = level(subject);
    List<Integer> against = level.endsWith("_TRANSITIVE") ? existing : List.of(existing.get(existing.size() - 1));
    for (int id : against) {
      Schema old = schemas.get(id - 1);
      boolean backward = compatible(schema, old);
      boolean forward = compatible(old, schema);
      boolean ok = switch (level.replace("_TRANSITIVE", "")) {
        case "NONE" -> true;
        case "FORWARD" -> forward;
        case "FULL" -> backward && forward;
        default -> backward;
      };
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private String level(String subject) {
    return compatibility.getOrDefault(subject, "BACKWARD");
  }

  private static boolean compatible(Schema reader, Schema writer) {
    return SchemaCompatibility.checkReaderWriterCompatibility(reader, writer).getType()
        == SchemaCompatibilityType.COMPATIBLE;
  }
}
