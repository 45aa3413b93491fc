package io.turnpike.schema;

import io.turnpike.schema.registry.SchemaRegistry;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Registers every topic's value schema under {@code <topic>-value} with compatibility BACKWARD, so a
 * schema change that would stop today's consumers reading yesterday's records is refused by the registry
 * before any producer writes it. Run at startup by the services and by {@code turnpike schemas register}.
 */
public final class SchemaRegistration {
  public static final String COMPATIBILITY = "BACKWARD";

  private SchemaRegistration() {}

  /** Registers all schemas; returns subject → id. Idempotent: an already registered schema keeps its id. */
  public static Map<String, Integer> registerAll(SchemaRegistry registry) {
    Map<String, Integer> ids = new LinkedHashMap<>();
    for (TopicSpec topic : Topics.ALL) {
      if (topic.valueSchema() == null) {
        continue;
      }
      String subject = topic.name() + "-value";
      registry.setCompatibility(subject, COMPATIBILITY);
      ids.put(subject, registry.register(subject, topic.valueSchema()));
    }
    return ids;
  }
}
