package io.turnpike.schema;

import java.util.Map;
import org.apache.avro.Schema;

/**
 * One topic of Turnpike's public interface: its name, what its key and value are, and how it is kept.
 *
 * @param name          topic name
 * @param keyDoc        what the (string) key holds
 * @param valueSchema   Avro schema of the value, or null where values are raw bytes (dead letters)
 * @param compacted     cleanup.policy=compact when true, delete otherwise
 * @param extraConfigs  further topic configs (retention and the like)
 */
public record TopicSpec(String name, String keyDoc, Schema valueSchema, boolean compacted, Map<String, String> extraConfigs) {

  public String cleanupPolicy() {
    return compacted ? "compact" : "delete";
  }

  public String valueName() {
    return valueSchema == null ? "bytes" : valueSchema.getName();
  }
}
