package io.turnpike.devkit.registry;

import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;

/**
 * Confluent's REST API over a {@link SchemaStore}: request in, {@link Reply} out, no HTTP server
 * types, so every route reads as one small method. Failures are thrown as {@link RegistryError}
 * and rendered by the caller.
 */
final class RegistryApi {

    /** A response body, already JSON text, and its status. */
    record Reply(int status, String body) {
    }

    private final SchemaStore store;
    private final RegistryState state;

    RegistryApi(SchemaStore store) {
        this.store = store;
        this.state = store.state();
    }

    /**
     * Routes one request.
     *
     * @param path  the path split on {@code /}, each segment already percent-decoded
     * @param query decoded query parameters (last value wins)
     */
    Reply handle(String method, List<String> path, Map<String, String> query, String body) {
        int n = path.size();
        String first = n > 0 ? path.get(0) : "";
        return switch (first) {
            case "" -> n <= 1 ? only(method, "GET", () -> ok(object())) : throwNotFound();
            case "schemas" -> schemas(method, path);
            case "subjects" -> subjects(method, path, query, body);
            case "config" -> config(method, path, query, body);
            case "mode" -> n <= 2 ? only(method, "GET", () -> ok(object().put("mode", "READWRITE"))) : throwNotFound();
            case "compatibility" -> compatibility(method, path, query, body);
            default -> throwNotFound();
        };
    }

    // ---- /schemas ------------------------------------------------------------------------------

    private Reply schemas(String method, List<String> path) {
        if (path.size() == 2 && path.get(1).equals("types")) {
            return only(method, "GET", () -> ok(array().add("AVRO")));
        }
        if (path.size() < 3 || path.size() > 4 || !path.get(1).equals("ids")) {
            return throwNotFound();
        }
        int id = parseId(path.get(2));
        String tail = path.size() == 4 ? path.get(3) : "";
        return only(method, "GET", () -> {
            RegistryState.Stored stored = schemaById(id);
            return switch (tail) {
                case "" -> ok(object().put("schema", stored.schema()));
                case "schema" -> new Reply(200, stored.schema());
                case "subjects" -> {
                    ArrayNode out = array();
                    state.usesOf(id, false).stream().map(RegistryState.Version::subject).distinct().forEach(out::add);
                    yield ok(out);
                }
                case "versions" -> {
                    ArrayNode out = array();
                    state.usesOf(id, false).forEach(v -> out.addObject()
                            .put("subject", v.subject()).put("version", v.version()));
                    yield ok(out);
                }
                default -> throwNotFound();
            };
        });
    }

    private RegistryState.Stored schemaById(int id) {
        Optional<RegistryState.Stored> stored = state.schema(id);
        if (stored.isEmpty()) {
            // Another registry on the same cluster may have written it since we last read _schemas.
            store.refresh();
            stored = state.schema(id);
        }
        return stored.orElseThrow(() -> RegistryError.schemaIdNotFound(id));
    }

    // ---- /subjects -----------------------------------------------------------------------------

    private Reply subjects(String method, List<String> path, Map<String, String> query, String body) {
        boolean deleted = flag(query, "deleted");
        int n = path.size();
        if (n == 1) {
            // subjectPrefix: Kafka UI lists a topic's subjects this way (Confluent 7.x+).
            String prefix = query.getOrDefault("subjectPrefix", "");
            return only(method, "GET", () -> {
                ArrayNode out = array();
                state.subjects(deleted).stream().filter(s -> s.startsWith(prefix)).forEach(out::add);
                return ok(out);
            });
        }
        String subject = path.get(1);
        if (n == 2) {
            return switch (method) {
                case "POST" -> lookup(subject, body, deleted);
                case "DELETE" -> {
                    ArrayNode out = array();
                    store.deleteSubject(subject, flag(query, "permanent")).forEach(out::add);
                    yield ok(out);
                }
                default -> throw RegistryError.methodNotAllowed();
            };
        }
        if (!path.get(2).equals("versions") || n > 5) {
            return throwNotFound();
        }
        if (n == 3) {
            return switch (method) {
                case "GET" -> {
                    List<RegistryState.Version> versions = state.versions(subject, deleted);
                    if (versions.isEmpty()) {
                        throw RegistryError.subjectNotFound(subject);
                    }
                    ArrayNode out = array();
                    versions.forEach(v -> out.add(v.version()));
                    yield ok(out);
                }
                case "POST" -> {
                    SchemaStore.Registered r = store.register(subject, schemaFrom(body));
                    yield ok(object().put("id", r.id()));
                }
                default -> throw RegistryError.methodNotAllowed();
            };
        }
        boolean rawSchema = n == 5 && path.get(4).equals("schema");
        if (n == 5 && !rawSchema) {
            return throwNotFound();
        }
        if (n == 4 && method.equals("DELETE")) {
            boolean permanent = flag(query, "permanent");
            // A numbered version is looked for among soft-deleted ones too: deleting it again is 40406, and a
            // permanent delete names one that is already soft-deleted. "latest" is the newest live one.
            RegistryState.Version v = version(subject, path.get(3), permanent || !isLatest(path.get(3)));
            return ok(SchemaStore.JSON.getNodeFactory().numberNode(store.deleteVersion(v, permanent)));
        }
        return only(method, "GET", () -> {
            RegistryState.Version v = version(subject, path.get(3), deleted);
            String schema = state.schema(v.id()).orElseThrow().schema();
            return rawSchema ? new Reply(200, schema) : ok(describe(v, schema));
        });
    }

    private Reply lookup(String subject, String body, boolean deleted) {
        Schema schema = schemaFrom(body);
        if (state.versions(subject, deleted).isEmpty()) {
            throw RegistryError.subjectNotFound(subject);
        }
        RegistryState.Version v = state.find(subject, schema, deleted).orElseThrow(RegistryError::schemaNotFound);
        return ok(describe(v, state.schema(v.id()).orElseThrow().schema()));
    }

    /** A version by number, or the newest for {@code latest} / {@code -1}. */
    private RegistryState.Version version(String subject, String version, boolean deleted) {
        List<RegistryState.Version> versions = state.versions(subject, deleted);
        if (versions.isEmpty()) {
            throw RegistryError.subjectNotFound(subject);
        }
        if (isLatest(version)) {
            return versions.getLast();
        }
        int wanted = parseVersion(version);
        return versions.stream().filter(v -> v.version() == wanted).findFirst()
                .orElseThrow(() -> RegistryError.versionNotFound(wanted));
    }

    // ---- /config -------------------------------------------------------------------------------

    private Reply config(String method, List<String> path, Map<String, String> query, String body) {
        if (path.size() > 2) {
            return throwNotFound();
        }
        String subject = path.size() == 2 ? path.get(1) : null;
        return switch (method) {
            case "GET" -> {
                CompatibilityLevel level = subject == null ? state.globalLevel()
                        : state.subjectLevel(subject).or(() -> flag(query, "defaultToGlobal")
                                ? Optional.of(state.globalLevel()) : Optional.empty())
                        .orElseThrow(() -> RegistryError.subjectLevelNotConfigured(subject));
                yield ok(object().put("compatibilityLevel", level.name()));
            }
            case "PUT" -> {
                JsonNode request = json(body);
                CompatibilityLevel level = CompatibilityLevel.parse(request.path("compatibility").asText(null))
                        .orElseThrow(RegistryError::invalidCompatibility);
                store.setLevel(subject, level);
                yield ok(object().put("compatibility", level.name()));
            }
            case "DELETE" -> {
                if (subject == null) {
                    CompatibilityLevel previous = state.globalLevel();
                    store.setLevel(null, CompatibilityLevel.DEFAULT);
                    yield ok(object().put("compatibilityLevel", previous.name()));
                }
                yield ok(object().put("compatibilityLevel", store.deleteLevel(subject).name()));
            }
            default -> throw RegistryError.methodNotAllowed();
        };
    }

    // ---- /compatibility ------------------------------------------------------------------------

    private Reply compatibility(String method, List<String> path, Map<String, String> query, String body) {
        int n = path.size();
        if (n < 4 || n > 5 || !path.get(1).equals("subjects") || !path.get(3).equals("versions")) {
            return throwNotFound();
        }
        return only(method, "POST", () -> {
            String subject = path.get(2);
            Schema candidate = schemaFrom(body);
            CompatibilityLevel level = state.effectiveLevel(subject);
            List<CompatibilityLevel.Previous> live = state.liveSchemas(subject);
            List<String> problems;
            if (n == 4) {
                problems = level.check(candidate, live);
            } else if (isLatest(path.get(4)) && live.isEmpty()) {
                problems = List.of();
            } else {
                RegistryState.Version v = version(subject, path.get(4), false);
                Schema schema = state.schema(v.id()).orElseThrow().parsed();
                problems = level.checkPair(candidate, new CompatibilityLevel.Previous(v.version(), schema));
            }
            ObjectNode out = object().put("is_compatible", problems.isEmpty());
            if (flag(query, "verbose")) {
                ArrayNode messages = out.putArray("messages");
                problems.forEach(messages::add);
            }
            return ok(out);
        });
    }

    // ---- parsing and rendering -----------------------------------------------------------------

    /** The schema of a register / lookup / compatibility body: {@code {"schema":"...","schemaType":"AVRO"}}. */
    private static Schema schemaFrom(String body) {
        JsonNode request = json(body);
        String type = request.path("schemaType").asText("AVRO");
        if (!type.equalsIgnoreCase("AVRO")) {
            throw RegistryError.invalidSchema("Invalid schema type " + type
                    + ": the dev schema registry serves AVRO only");
        }
        JsonNode references = request.path("references");
        if (references.isArray() && !references.isEmpty()) {
            throw RegistryError.invalidSchema("Schema references are not supported by the dev schema registry");
        }
        JsonNode schema = request.get("schema");
        if (schema == null || !schema.isTextual() || schema.asText().isBlank()) {
            throw RegistryError.invalidSchema("Empty schema: the body needs a \"schema\" string");
        }
        try {
            return RegistryState.parse(schema.asText());
        } catch (SchemaParseException e) {
            throw RegistryError.invalidSchema("Invalid schema: " + e.getMessage());
        } catch (RuntimeException e) {
            // Avro reports some malformed schemas (a bad default, for one) with other exception types.
            throw RegistryError.invalidSchema("Invalid schema: " + e);
        }
    }

    private static JsonNode json(String body) {
        if (body == null || body.isBlank()) {
            throw RegistryError.badRequest("The request body must be a JSON object, and it is empty");
        }
        try {
            JsonNode node = SchemaStore.JSON.readTree(body);
            if (node == null || !node.isObject()) {
                throw RegistryError.badRequest("The request body must be a JSON object");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw RegistryError.badRequest("Unparsable JSON body: " + e.getOriginalMessage());
        }
    }

    private static int parseId(String text) {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw RegistryError.notFound();
        }
    }

    private static boolean isLatest(String version) {
        return version.equalsIgnoreCase("latest") || version.equals("-1");
    }

    private static int parseVersion(String text) {
        try {
            int v = Integer.parseInt(text);
            if (v >= 1) {
                return v;
            }
        } catch (NumberFormatException e) {
            // falls through to the error below
        }
        throw RegistryError.invalidVersion(text);
    }

    private static boolean flag(Map<String, String> query, String name) {
        return Boolean.parseBoolean(query.getOrDefault(name, "false"));
    }

    private static ObjectNode describe(RegistryState.Version v, String schema) {
        return object().put("subject", v.subject()).put("version", v.version()).put("id", v.id())
                .put("schema", schema);
    }

    private static ObjectNode object() {
        return SchemaStore.JSON.createObjectNode();
    }

    private static ArrayNode array() {
        return SchemaStore.JSON.createArrayNode();
    }

    private static Reply ok(JsonNode body) {
        try {
            return new Reply(200, SchemaStore.JSON.writeValueAsString(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private interface Route {
        Reply run();
    }

    private static Reply only(String method, String allowed, Route route) {
        if (!method.equals(allowed)) {
            throw RegistryError.methodNotAllowed();
        }
        return route.run();
    }

    private static Reply throwNotFound() {
        throw RegistryError.notFound();
    }
}
