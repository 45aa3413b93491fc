package io.turnpike.devkit.registry;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.avro.Schema;
import org.apache.kafka.common.KafkaException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every change to the registry, written to {@code _schemas} first and applied to memory only by
 * reading it back, so a restart (which replays the topic) rebuilds exactly the same state.
 *
 * <p>One writer at a time: each change catches up with the topic, decides (ids, versions,
 * compatibility) on that state, appends, and reads its own record back, all under one lock. That
 * is enough for one dev registry per cluster; two registries writing to one cluster at once could
 * hand out the same id, which Confluent avoids with leader election and this registry does not.
 */
final class SchemaStore implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SchemaStore.class);
    static final ObjectMapper JSON = new ObjectMapper();

    /** The outcome of a registration: the id and version now holding the schema. */
    record Registered(int id, int version) {
    }

    private final SchemaLog log;
    private final RegistryState state = new RegistryState();
    private final ReentrantLock writer = new ReentrantLock();

    private SchemaStore(SchemaLog log) {
        this.log = log;
    }

    /** Opens {@code _schemas} and replays it from the beginning to its current end. */
    static SchemaStore open(SchemaLog log) {
        SchemaStore store = new SchemaStore(log);
        store.writer.lock();
        try {
            log.readToEnd(store::apply);
        } finally {
            store.writer.unlock();
        }
        return store;
    }

    RegistryState state() {
        return state;
    }

    /**
     * Catches up with records another registry wrote since the last change, so a read that missed
     * (an unknown id) can look again. Gives up quietly if a write holds the lock for long.
     */
    void refresh() {
        try {
            if (writer.tryLock(1, TimeUnit.SECONDS)) {
                try {
                    log.readToEnd(this::apply);
                } catch (KafkaException | SchemaLog.TimeoutStoreException e) {
                    LOG.debug("Could not catch up with {}: {}", SchemaLog.TOPIC, e.getMessage());
                } finally {
                    writer.unlock();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Registers {@code schema} under {@code subject}: the existing version if the subject already
     * holds it, else a new version after a compatibility check, reusing the schema's global id if
     * any subject has it.
     *
     * @throws RegistryError 409 if the subject's compatibility level rejects it
     */
    Registered register(String subject, Schema schema) {
        return underWriteLock(() -> {
            Optional<RegistryState.Version> existing = state.find(subject, schema, false);
            if (existing.isPresent()) {
                return new Registered(existing.get().id(), existing.get().version());
            }
            CompatibilityLevel level = state.effectiveLevel(subject);
            List<String> problems = level.check(schema, state.liveSchemas(subject));
            if (!problems.isEmpty()) {
                throw RegistryError.incompatible("Schema being registered is incompatible with an earlier schema"
                        + " for subject \"" + subject + "\", details: " + problems);
            }
            int id = state.idOf(schema).orElseGet(state::nextId);
            int version = state.nextVersion(subject);
            write(schemaKey(subject, version), schemaValue(subject, version, id, RegistryState.identity(schema), false));
            LOG.debug("Registered {} v{} as id {}", subject, version, id);
            return new Registered(id, version);
        });
    }

    /** Sets the global level ({@code subject} null) or a subject's. */
    void setLevel(String subject, CompatibilityLevel level) {
        underWriteLock(() -> {
            ObjectNode value = JSON.createObjectNode().put("compatibilityLevel", level.name());
            write(configKey(subject), value);
            return null;
        });
    }

    /** Removes a subject's own level so it follows the global one again; returns the removed level. */
    CompatibilityLevel deleteLevel(String subject) {
        return underWriteLock(() -> {
            CompatibilityLevel previous = state.subjectLevel(subject)
                    .orElseThrow(() -> RegistryError.subjectLevelNotConfigured(subject));
            write(configKey(subject), null);
            return previous;
        });
    }

    /**
     * Soft-deletes every live version of a subject, or with {@code permanent} removes versions that
     * were soft-deleted before (Confluent's two-step delete). Returns the version numbers affected.
     */
    List<Integer> deleteSubject(String subject, boolean permanent) {
        return underWriteLock(() -> {
            if (!state.known(subject)) {
                throw RegistryError.subjectNotFound(subject);
            }
            List<RegistryState.Version> live = state.versions(subject, false);
            List<Integer> affected = new ArrayList<>();
            if (permanent) {
                if (!live.isEmpty()) {
                    throw RegistryError.subjectNotSoftDeleted(subject);
                }
                for (RegistryState.Version v : state.versions(subject, true)) {
                    write(schemaKey(subject, v.version()), null);
                    affected.add(v.version());
                }
                return affected;
            }
            if (live.isEmpty()) {
                throw RegistryError.subjectSoftDeleted(subject);
            }
            for (RegistryState.Version v : live) {
                String schema = state.schema(v.id()).orElseThrow().schema();
                write(schemaKey(subject, v.version()), schemaValue(subject, v.version(), v.id(), schema, true));
                affected.add(v.version());
            }
            return affected;
        });
    }

    /**
     * Soft-deletes one version, or with {@code permanent} removes one that was soft-deleted before
     * (Confluent's {@code DELETE /subjects/{s}/versions/{v}}). Returns the version number.
     */
    int deleteVersion(RegistryState.Version v, boolean permanent) {
        return underWriteLock(() -> {
            if (permanent) {
                if (!v.deleted()) {
                    throw RegistryError.versionNotSoftDeleted(v.subject(), v.version());
                }
                write(schemaKey(v.subject(), v.version()), null);
                return v.version();
            }
            if (v.deleted()) {
                throw RegistryError.versionSoftDeleted(v.subject(), v.version());
            }
            String schema = state.schema(v.id()).orElseThrow().schema();
            write(schemaKey(v.subject(), v.version()), schemaValue(v.subject(), v.version(), v.id(), schema, true));
            return v.version();
        });
    }

    @Override
    public void close() {
        writer.lock();
        try {
            log.close();
        } finally {
            writer.unlock();
        }
    }

    // ---------------------------------------------------------------------------------------------

    private interface Change<T> {
        T run();
    }

    private <T> T underWriteLock(Change<T> change) {
        writer.lock();
        try {
            log.readToEnd(this::apply);
            return change.run();
        } catch (SchemaLog.TimeoutStoreException | org.apache.kafka.common.errors.TimeoutException e) {
            throw RegistryError.timeout(e.getMessage());
        } catch (KafkaException | IllegalStateException e) {
            throw RegistryError.store(e.getMessage());
        } finally {
            writer.unlock();
        }
    }

    private void write(ObjectNode key, JsonNode value) {
        long offset = log.append(text(key), value == null ? null : text(value));
        log.readUntil(offset + 1, this::apply);
    }

    private void apply(String key, String value) {
        try {
            state.apply(JSON.readTree(key), value == null ? null : JSON.readTree(value));
        } catch (JsonProcessingException e) {
            LOG.warn("Skipping a {} record that is not JSON: {}", SchemaLog.TOPIC, e.getOriginalMessage());
        }
    }

    // Field order matters: compaction keeps the last record per key *bytes*, so a key must always
    // serialise the same way, and this is the order Confluent's registry writes.
    static ObjectNode schemaKey(String subject, int version) {
        return JSON.createObjectNode().put("keytype", "SCHEMA").put("subject", subject)
                .put("version", version).put("magic", 1);
    }

    static ObjectNode configKey(String subject) {
        ObjectNode key = JSON.createObjectNode().put("keytype", "CONFIG");
        if (subject == null) {
            key.putNull("subject");
        } else {
            key.put("subject", subject);
        }
        return key.put("magic", 0);
    }

    private static ObjectNode schemaValue(String subject, int version, int id, String schema, boolean deleted) {
        return JSON.createObjectNode().put("subject", subject).put("version", version).put("id", id)
                .put("schemaType", "AVRO").put("schema", schema).put("deleted", deleted);
    }

    private static String text(JsonNode node) {
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
