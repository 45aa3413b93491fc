package io.turnpike.devkit.registry;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registry's view of {@code _schemas}, built only by {@link #apply applying} its records in
 * log order, so memory never holds anything the topic does not.
 *
 * <p>Records that are not Avro schemas or compatibility configs (modes, contexts, Confluent's
 * other key types, schemas of other types left by a real registry) are skipped rather than
 * rejected: this registry must be able to start on a topic another registry also wrote.
 */
final class RegistryState {

    private static final Logger LOG = LoggerFactory.getLogger(RegistryState.class);

    /** A schema as stored once per id, in Avro's normalised JSON form. */
    record Stored(int id, String schema, Schema parsed) {
    }

    /** One version of one subject. */
    record Version(String subject, int version, int id, boolean deleted) {
    }

    private final Map<Integer, Stored> byId = new HashMap<>();
    private final Map<String, Integer> idBySchema = new HashMap<>();
    private final Map<String, TreeMap<Integer, Version>> subjects = new TreeMap<>();
    private final Map<String, CompatibilityLevel> subjectLevels = new HashMap<>();
    private CompatibilityLevel globalLevel = CompatibilityLevel.DEFAULT;
    private int maxId;

    /**
     * The identity of a schema: Avro's normalised JSON, as Confluent compares it. Unlike the
     * Parsing Canonical Form it keeps defaults, docs and aliases, which matter for compatibility, so
     * two schemas that differ only in a default get different ids.
     */
    static String identity(Schema schema) {
        return schema.toString();
    }

    /** Parses an Avro schema with default values validated, as a registry must before accepting it. */
    static Schema parse(String text) {
        return new Schema.Parser().setValidateDefaults(true).parse(text);
    }

    synchronized void apply(JsonNode key, JsonNode value) {
        String keyType = key.path("keytype").asText("");
        switch (keyType) {
            case "SCHEMA" -> applySchema(key, value);
            case "CONFIG" -> applyConfig(key, value);
            default -> {
                // NOOP, MODE, DELETE_SUBJECT, CLEAR_SUBJECT, CONTEXT: nothing this registry serves.
            }
        }
    }

    private void applySchema(JsonNode key, JsonNode value) {
        String subject = key.path("subject").asText(null);
        int version = key.path("version").asInt(0);
        if (subject == null || version <= 0) {
            LOG.warn("Skipping a SCHEMA record without subject/version: {}", key);
            return;
        }
        if (value == null || value.isNull()) {
            TreeMap<Integer, Version> versions = subjects.get(subject);
            if (versions != null) {
                versions.remove(version);
                if (versions.isEmpty()) {
                    subjects.remove(subject);
                }
            }
            return;
        }
        String type = value.path("schemaType").asText("AVRO");
        int id = value.path("id").asInt(0);
        if (!type.equals("AVRO") || id <= 0) {
            LOG.debug("Skipping {} schema id {} for {} v{}", type, id, subject, version);
            return;
        }
        if (!byId.containsKey(id)) {
            Schema parsed;
            try {
                parsed = parse(value.path("schema").asText(""));
            } catch (SchemaParseException e) {
                LOG.warn("Skipping unparsable schema id {} for {} v{}: {}", id, subject, version, e.getMessage());
                return;
            }
            String identity = identity(parsed);
            byId.put(id, new Stored(id, identity, parsed));
            idBySchema.putIfAbsent(identity, id);
        }
        maxId = Math.max(maxId, id);
        subjects.computeIfAbsent(subject, s -> new TreeMap<>())
                .put(version, new Version(subject, version, id, value.path("deleted").asBoolean(false)));
    }

    private void applyConfig(JsonNode key, JsonNode value) {
        JsonNode subjectNode = key.get("subject");
        String subject = subjectNode == null || subjectNode.isNull() ? null : subjectNode.asText();
        Optional<CompatibilityLevel> level = value == null || value.isNull()
                ? Optional.empty()
                : CompatibilityLevel.parse(value.path("compatibilityLevel").asText(null));
        if (subject == null) {
            globalLevel = level.orElse(CompatibilityLevel.DEFAULT);
        } else if (level.isPresent()) {
            subjectLevels.put(subject, level.get());
        } else {
            subjectLevels.remove(subject);
        }
    }

    synchronized Optional<Stored> schema(int id) {
        return Optional.ofNullable(byId.get(id));
    }

    synchronized OptionalInt idOf(Schema schema) {
        Integer id = idBySchema.get(identity(schema));
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    synchronized int nextId() {
        return maxId + 1;
    }

    /** Subjects with at least one live version (or any version, if {@code includeDeleted}), sorted. */
    synchronized List<String> subjects(boolean includeDeleted) {
        List<String> out = new ArrayList<>();
        subjects.forEach((subject, versions) -> {
            if (includeDeleted || versions.values().stream().anyMatch(v -> !v.deleted())) {
                out.add(subject);
            }
        });
        return out;
    }

    /** Whether the subject has any version at all, soft-deleted ones included. */
    synchronized boolean known(String subject) {
        return subjects.containsKey(subject);
    }

    /** Versions of a subject, oldest first. */
    synchronized List<Version> versions(String subject, boolean includeDeleted) {
        TreeMap<Integer, Version> versions = subjects.get(subject);
        if (versions == null) {
            return List.of();
        }
        return versions.values().stream().filter(v -> includeDeleted || !v.deleted()).toList();
    }

    /** The next version number: after every version ever kept, so a soft-deleted number is not reused. */
    synchronized int nextVersion(String subject) {
        TreeMap<Integer, Version> versions = subjects.get(subject);
        return versions == null || versions.isEmpty() ? 1 : versions.lastKey() + 1;
    }

    /** The version of {@code subject} that holds {@code schema}, if any. */
    synchronized Optional<Version> find(String subject, Schema schema, boolean includeDeleted) {
        Integer id = idBySchema.get(identity(schema));
        if (id == null) {
            return Optional.empty();
        }
        return versions(subject, includeDeleted).stream().filter(v -> v.id() == id).findFirst();
    }

    /** Live versions of a subject with their schemas, oldest first, for compatibility checks. */
    synchronized List<CompatibilityLevel.Previous> liveSchemas(String subject) {
        return versions(subject, false).stream()
                .map(v -> new CompatibilityLevel.Previous(v.version(), byId.get(v.id()).parsed()))
                .toList();
    }

    /** Every version, in any subject, that uses schema {@code id}. */
    synchronized List<Version> usesOf(int id, boolean includeDeleted) {
        List<Version> out = new ArrayList<>();
        for (TreeMap<Integer, Version> versions : subjects.values()) {
            for (Version v : versions.values()) {
                if (v.id() == id && (includeDeleted || !v.deleted())) {
                    out.add(v);
                }
            }
        }
        return out;
    }

    synchronized CompatibilityLevel globalLevel() {
        return globalLevel;
    }

    synchronized Optional<CompatibilityLevel> subjectLevel(String subject) {
        return Optional.ofNullable(subjectLevels.get(subject));
    }

    synchronized CompatibilityLevel effectiveLevel(String subject) {
        return subjectLevels.getOrDefault(subject, globalLevel);
    }
}
