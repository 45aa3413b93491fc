package io.turnpike.client.agent;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.turnpike.avro.OutputType;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * {@code outputType:} of agent YAML: the JSON Schema the final answer must follow (the OpenAI Agents
 * SDK's {@code output_type}). Either the schema itself, or the long form:
 *
 * <pre>{@code
 * outputType:                       # short: the schema
 *   type: object
 *   properties: {city: {type: string}, days: {type: integer}}
 *
 * outputType:                       # long: a name for the format, strictness, the schema
 *   name: trip_plan                 # ^[a-zA-Z0-9_-]{1,64}$, default final_output
 *   strict: true                    # default
 *   schema: {type: object, properties: {...}}
 * }</pre>
 *
 * The schema must be a valid JSON Schema (draft 2020-12) whose root is an object. With {@code strict}
 * it is made strict as the SDK's {@code ensure_strict_json_schema} does, since OpenAI's strict mode
 * requires it: every object schema without {@code additionalProperties} gets {@code false}, and one
 * without {@code required} gets all its properties. What cannot be made strict without changing its
 * meaning is refused (an open object, a {@code required} that leaves a property out), with advice.
 * The published schema is the strict one, so the runner, the model and the validator see the same.
 */
final class OutputTypeYaml {
  static final String DEFAULT_NAME = "final_output";

  private static final Set<String> KEYS = AgentYaml.orderedSet("name", "strict", "schema");
  /** Keys that only a JSON Schema has at its top: a mapping with one of them is the short form. */
  private static final Set<String> SCHEMA_KEYS = Set.of("type", "properties", "$ref", "$defs", "anyOf", "allOf", "oneOf",
      "definitions", "$schema", "items", "enum", "const");
  private static final String META_SCHEMA = "https://json-schema.org/draft/2020-12/schema";
  /** Every keyword of JSON Schema draft 2020-12 (and draft 7's definitions), annotations included; common ones first, for hints. */
  private static final Set<String> KEYWORDS = AgentYaml.orderedSet("type", "properties", "required", "items",
      "description", "enum", "const", "title", "default", "examples", "format", "additionalProperties", "anyOf", "allOf",
      "oneOf", "not", "$ref", "$defs", "definitions", "$schema", "$id", "$comment", "$anchor", "$dynamicRef",
      "$dynamicAnchor", "$vocabulary", "deprecated", "readOnly", "writeOnly", "patternProperties", "propertyNames",
      "minProperties", "maxProperties", "dependentRequired", "dependentSchemas", "unevaluatedProperties", "prefixItems",
      "additionalItems", "contains", "minContains", "maxContains", "minItems", "maxItems", "uniqueItems",
      "unevaluatedItems", "if", "then", "else", "minLength", "maxLength", "pattern", "minimum", "maximum",
      "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "contentEncoding", "contentMediaType", "contentSchema");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static volatile Schema metaSchema;

  private OutputTypeYaml() {}

  static OutputType parse(AgentYaml.Obj top) {
    JsonNode n = top.node.get("outputType");
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isObject()) {
      throw top.error("outputType", "must be a JSON Schema (a mapping such as {type: object, properties: {...}}) or"
          + " {name, strict, schema}, got " + AgentYaml.kindOf(n));
    }
    AgentYaml.Obj o = new AgentYaml.Obj(top.source, top.path("outputType"), (ObjectNode) n);
    boolean shortForm = !n.has("schema") && n.properties().stream().anyMatch(e -> SCHEMA_KEYS.contains(e.getKey()));
    String name = DEFAULT_NAME;
    boolean strict = true;
    ObjectNode schema;
    String schemaField;
    if (shortForm) {
      schema = ((ObjectNode) n).deepCopy();
      schemaField = "";
    } else {
      o.rejectUnknown(KEYS);
      name = o.optString("name", DEFAULT_NAME);
      if (!AgentYaml.NAME.matcher(name).matches()) {
        throw o.error("name", "'" + name + "' is not a valid format name (must match " + AgentYaml.NAME.pattern() + ")");
      }
      Boolean s = o.optBoolean("strict");
      strict = s == null || s;
      JsonNode given = n.get("schema");
      if (given == null || given.isNull()) {
        throw o.error("schema", "is required: the JSON Schema the final answer must follow");
      }
      if (!given.isObject()) {
        throw o.error("schema", "must be a JSON Schema (a mapping such as {type: object, properties: {...}}), got "
            + AgentYaml.kindOf(given));
      }
      schema = ((ObjectNode) given).deepCopy();
      schemaField = "schema";
    }
    String at = schemaField.isEmpty() ? o.prefix : o.path(schemaField);
    List<Error> errors = meta().validate(schema);
    if (!errors.isEmpty()) {
      throw new AgentYamlException(top.source, at, "is not a valid JSON Schema (draft 2020-12): " + errors.stream().limit(3)
          .map(e -> (e.getInstanceLocation().toString().isEmpty() ? "" : e.getInstanceLocation() + ": ") + e.getMessage())
          .collect(Collectors.joining("; ")));
    }
    if (!"object".equals(schema.path("type").asText())) {
      throw new AgentYamlException(top.source, at, "the schema's root must be type: object (the model answers with a JSON"
          + " object); to ask for a list or a value, wrap it: {type: object, properties: {items: ...}}");
    }
    walk(schema, "", strict, top.source, at);
    String json;
    try {
      json = JSON.writeValueAsString(schema);
    } catch (JsonProcessingException e) {
      throw new AgentYamlException(top.source, at, "cannot be written as JSON: " + e.getOriginalMessage());
    }
    return OutputType.newBuilder().setName(name).setSchemaJson(json).setStrict(strict).setSha256(sha256(json)).build();
  }

  /**
   * Checks every schema below {@code node} for keywords JSON Schema does not have (a YAML flow mapping
   * ends a value at a comma, so {@code description: a, b} makes a keyword {@code b}), and with
   * {@code strict} makes every object schema strict, or says why it cannot be.
   */
  private static void walk(JsonNode node, String pointer, boolean strict, String source, String at) {
    if (node == null || !node.isObject()) {
      return;
    }
    ObjectNode schema = (ObjectNode) node;
    for (Iterator<String> it = schema.fieldNames(); it.hasNext(); ) {
      String keyword = it.next();
      if (!KEYWORDS.contains(keyword)) {
        String hint = AgentYaml.suggestion(keyword, KEYWORDS);
        throw new AgentYamlException(source, at, where(pointer) + "'" + keyword + "' is not a JSON Schema keyword"
            + (hint == null ? "" : " (did you mean '" + hint + "'?)")
            + "; in a YAML flow mapping a comma ends a value, so quote text that has one");
      }
    }
    if (strict) {
      closeObject(schema, pointer, source, at);
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = schema.path("properties").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> p = it.next();
      walk(p.getValue(), pointer + "/properties/" + p.getKey(), strict, source, at);
    }
    walk(schema.get("items"), pointer + "/items", strict, source, at);
    walk(schema.get("not"), pointer + "/not", strict, source, at);
    for (String list : List.of("anyOf", "allOf", "oneOf", "prefixItems")) {
      JsonNode arr = schema.get(list);
      if (arr != null && arr.isArray()) {
        for (int i = 0; i < arr.size(); i++) {
          walk(arr.get(i), pointer + "/" + list + "/" + i, strict, source, at);
        }
      }
    }
    for (String defs : List.of("$defs", "definitions")) {
      JsonNode d = schema.get(defs);
      if (d != null && d.isObject()) {
        for (Iterator<Map.Entry<String, JsonNode>> it = d.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          walk(e.getValue(), pointer + "/" + defs + "/" + e.getKey(), strict, source, at);
        }
      }
    }
  }

  /** Refuses a schema (a tool's parameters) with a keyword JSON Schema does not have; changes nothing. */
  static void checkKeywords(JsonNode schema, String source, String at) {
    walk(schema, "", false, source, at);
  }

  /** An object schema as strict mode wants it: closed, every property required. */
  private static void closeObject(ObjectNode schema, String pointer, String source, String at) {
    boolean object = "object".equals(schema.path("type").asText())
        || schema.path("type").isArray() && contains((ArrayNode) schema.get("type"), "object") || schema.has("properties");
    if (object) {
      JsonNode additional = schema.get("additionalProperties");
      if (additional == null) {
        schema.put("additionalProperties", false);
      } else if (!additional.isBoolean() || additional.asBoolean()) {
        throw new AgentYamlException(source, at, where(pointer) + "additionalProperties must be false in a strict output"
            + " type (the model may then add no other keys); remove it, or set strict: false");
      }
      JsonNode properties = schema.path("properties");
      Set<String> names = new LinkedHashSet<>();
      properties.fieldNames().forEachRemaining(names::add);
      JsonNode required = schema.get("required");
      if (required == null) {
        ArrayNode all = schema.putArray("required");
        names.forEach(all::add);
      } else {
        Set<String> listed = new LinkedHashSet<>();
        required.forEach(r -> listed.add(r.asText()));
        List<String> missing = names.stream().filter(p -> !listed.contains(p)).toList();
        if (!missing.isEmpty()) {
          throw new AgentYamlException(source, at, where(pointer) + "required leaves out " + quoted(missing)
              + "; a strict output type requires every property (make an optional one nullable, e.g. type: [string, 'null'],"
              + " and list it), or set strict: false");
        }
      }
    }
  }

  private static boolean contains(ArrayNode types, String type) {
    for (JsonNode t : types) {
      if (type.equals(t.asText())) {
        return true;
      }
    }
    return false;
  }

  private static String where(String pointer) {
    return pointer.isEmpty() ? "" : "at " + pointer + ": ";
  }

  private static String quoted(List<String> names) {
    List<String> q = new ArrayList<>();
    names.forEach(n -> q.add("'" + n + "'"));
    return String.join(", ", q);
  }

  private static Schema meta() {
    Schema m = metaSchema;
    if (m == null) {
      // bundled with the validator: nothing is fetched
      m = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(SchemaLocation.of(META_SCHEMA));
      metaSchema = m;
    }
    return m;
  }

  static String sha256(String json) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(json.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }
}
