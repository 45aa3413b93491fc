package io.turnpike.runner.run;

import io.turnpike.avro.McpToolList;
import io.turnpike.schema.McpSerdes;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.schema.registry.SchemaRegistryException;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MCP gateway's tool lists ({@code turnpike.mcp.tools}, issue #14) as the orchestrator reads them: a
 * global store of every server's latest list, raw bytes (as the agents store, so that a restore, which
 * bypasses the loader, gives the same content), decoded when a run starts and {@link AgentView#withMcpTools}
 * expands an agent's MCP server entries.
 */
final class McpTools {
  private static final Logger LOG = LoggerFactory.getLogger(McpTools.class);
  static final String STORE = "mcp-tools";

  private final KeyValueStore<String, byte[]> store;
  private final McpSerdes serdes;

  McpTools(KeyValueStore<String, byte[]> store, TurnpikeSerdes serdes) {
    this.store = store;
    this.serdes = McpSerdes.using(serdes.registry());
  }

  /** The server's latest list, or null when the gateway has published none (or it cannot be read). */
  McpToolList list(String server) {
    byte[] bytes = store.get(server);
    if (bytes == null) {
      return null;
    }
    try {
      return serdes.toolList().decode(bytes);
    } catch (SchemaRegistryException e) {
      if (e.isTransient()) {
        throw e; // retried by Streams, as for agents
      }
      LOG.warn("the tool list of MCP server {} cannot be decoded: {}", server, e.toString());
      return null;
    } catch (RuntimeException e) {
      LOG.warn("the tool list of MCP server {} cannot be decoded: {}", server, e.toString());
      return null;
    }
  }
}
