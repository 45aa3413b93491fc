package io.turnpike.schema;

import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryCommand;
import io.turnpike.avro.MemoryConsolidation;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryScopeState;
import io.turnpike.schema.registry.SchemaRegistries;
import io.turnpike.schema.registry.SchemaRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The wire-format serdes of memory's records, bound to one registry, next to {@link TurnpikeSerdes}
 * (kept apart so memory's types do not widen every service's serde record).
 */
public record MemorySerdes(
    AvroSerde<MemoryCandidates> candidates,
    AvroSerde<MemoryDocument> document,
    AvroSerde<MemoryCommand> command,
    AvroSerde<MemoryConsolidation> consolidation,
    AvroSerde<MemoryScopeState> scopeState) {

  /** The subject of the memory service's store changelog records (not a catalog topic). */
  public static final String SCOPE_STATE_SUBJECT_TOPIC = "turnpike-memory-scopes-changelog";

  private static final Map<SchemaRegistry, MemorySerdes> SHARED = new ConcurrentHashMap<>();

  public static MemorySerdes using(SchemaRegistry registry) {
    return SHARED.computeIfAbsent(registry, r -> new MemorySerdes(
        AvroSerde.of(MemoryCandidates.class, r, Topics.MEMORY_CANDIDATES.name()),
        AvroSerde.of(MemoryDocument.class, r, Topics.MEMORY.name()),
        AvroSerde.of(MemoryCommand.class, r, Topics.MEMORY_COMMANDS.name()),
        AvroSerde.of(MemoryConsolidation.class, r, Topics.MEMORY_CONSOLIDATION_REQUESTS.name()),
        AvroSerde.of(MemoryScopeState.class, r, SCOPE_STATE_SUBJECT_TOPIC)));
  }

  public static MemorySerdes forUrl(String url) {
    return using(SchemaRegistries.forUrl(url));
  }
}
