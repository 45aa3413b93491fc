package io.turnpike.schema.registry;

import org.apache.avro.Schema;

/**
 * The part of a Confluent-compatible schema registry that Turnpike's serdes use. Implementations:
 * {@link HttpSchemaRegistry} (any Confluent-compatible REST endpoint: Confluent Schema Registry,
 * Turnpike's dev registry, Apicurio's ccompat API) and {@link InMemorySchemaRegistry} ({@code mock://}
 * URLs, for topology tests that have no broker). Both cache: ids never change once assigned.
 */
public interface SchemaRegistry extends AutoCloseable {

  /** Registers {@code schema} under {@code subject} (or finds it there) and returns its global id. */
  int register(String subject, Schema schema);

  /** The schema with this global id. */
  Schema schemaById(int id);

  /** Sets the subject's compatibility level (BACKWARD, FORWARD, FULL, NONE, ...). */
  void setCompatibility(String subject, String level);

  /** Whether {@code schema} may be registered under {@code subject} given its compatibility level. */
  boolean isCompatible(String subject, Schema schema);

  /** Where this registry lives, for messages and for handing to other processes. */
  String url();

  @Override
  default void close() {}
}
