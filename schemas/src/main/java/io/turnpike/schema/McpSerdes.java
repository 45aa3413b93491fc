package io.turnpike.schema;

import io.turnpike.avro.McpToolList;
import io.turnpike.schema.registry.SchemaRegistries;
import io.turnpike.schema.registry.SchemaRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The wire-format serde of MCP tool lists ({@code turnpike.mcp.tools}), bound to one registry, next to
 * {@link TurnpikeSerdes} (kept apart, as {@link MemorySerdes}, so that one feature's type does not widen
 * every service's serde record).
 */
public record McpSerdes(AvroSerde<McpToolList> toolList) {
  private static final Map<SchemaRegistry, McpSerdes> SHARED = new ConcurrentHashMap<>();

  public static McpSerdes using(SchemaRegistry registry) {
    return SHARED.computeIfAbsent(registry, r -> new McpSerdes(AvroSerde.of(McpToolList.class, r, Topics.MCP_TOOLS.name())));
  }

  public static McpSerdes forUrl(String url) {
    return using(SchemaRegistries.forUrl(url));
  }
}
