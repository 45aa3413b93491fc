package io.turnpike.guardrail.builtin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.spi.GuardrailSpecs;
import java.util.List;
import java.util.stream.Collectors;

/**
 * {@code type: json_schema} — the content (a structured final output, tool arguments or a tool
 * output) must be JSON valid against a JSON Schema (networknt json-schema-validator; draft 2020-12
 * unless the schema's {@code $schema} says otherwise; remote {@code $ref}s are not fetched).
 *
 * <pre>
 * configJson: {"schema": {"type": "object", "required": ["answer"], ...},   // or the schema as a string
 *              "allowFenced": true,       // accept the JSON inside one markdown code fence
 *              "draft": "2020-12"}        // 4, 6, 7, 2019-09, 2020-12
 * </pre>
 * Reasons list the first violations by location and keyword ("$.age: integer expected"); values of
 * the content are not repeated. With {@code action: REDACT} the whole content is replaced by a marker.
 */
public final class JsonSchemaGuardrail implements Guardrail {
  private final Schema schema;
  private final boolean allowFenced;

  private JsonSchemaGuardrail(Schema schema, boolean allowFenced) {
    this.schema = schema;
    this.allowFenced = allowFenced;
  }

  public static JsonSchemaGuardrail create(GuardrailSpec spec) {
    ObjectNode c = GuardrailSpecs.config(spec);
    JsonNode schemaNode = c.get("schema");
    if (schemaNode == null || schemaNode.isNull()) {
      throw new IllegalArgumentException("a json_schema guardrail needs 'schema'");
    }
    if (schemaNode.isTextual()) {
      try {
        schemaNode = GuardrailSpecs.JSON.readTree(schemaNode.asText());
      } catch (JsonProcessingException e) {
        throw new IllegalArgumentException("'schema' is not valid JSON: " + e.getOriginalMessage());
      }
    }
    if (!schemaNode.isObject() && !schemaNode.isBoolean()) {
      throw new IllegalArgumentException("'schema' must be a JSON Schema object");
    }
    SpecificationVersion version = draft(GuardrailSpecs.text(c, "draft", "2020-12"));
    Schema schema;
    try {
      SchemaRegistry registry = SchemaRegistry.withDefaultDialect(version);
      schema = registry.getSchema(schemaNode);
      schema.initializeValidators();
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("'schema' is not a usable JSON Schema: " + e.getMessage());
    }
    return new JsonSchemaGuardrail(schema, GuardrailSpecs.bool(c, "allowFenced", true));
  }

  private static SpecificationVersion draft(String d) {
    return switch (d.replaceAll("[^0-9]", "").replaceFirst("^0+", "")) {
      case "4" -> SpecificationVersion.DRAFT_4;
      case "6" -> SpecificationVersion.DRAFT_6;
      case "7" -> SpecificationVersion.DRAFT_7;
      case "201909" -> SpecificationVersion.DRAFT_2019_09;
      case "202012" -> SpecificationVersion.DRAFT_2020_12;
      default -> throw new IllegalArgumentException("unknown JSON Schema draft '" + d + "'");
    };
  }

  static String unfence(String s) {
    String t = s.strip();
    if (t.startsWith("```") && t.endsWith("```") && t.length() >= 6) {
      int nl = t.indexOf('\n');
      if (nl > 0 && nl < t.length() - 3) {
        return t.substring(nl + 1, t.length() - 3).strip();
      }
    }
    return s;
  }

  @Override
  public GuardrailResult evaluate(GuardrailContext context) {
    String text = allowFenced ? unfence(context.content()) : context.content();
    JsonNode node;
    try {
      node = GuardrailSpecs.JSON.readTree(text);
    } catch (JsonProcessingException e) {
      String where = e.getLocation() == null ? Texts.truncate(e.getOriginalMessage(), 120)
          : "line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
      return GuardrailResult.hit("content is not valid JSON (" + where + ")", "not JSON");
    }
    if (node == null || node.isMissingNode()) {
      return GuardrailResult.hit("content is empty, JSON expected", "empty");
    }
    context.checkDeadline();
    List<Error> errors = schema.validate(node);
    if (errors.isEmpty()) {
      return GuardrailResult.pass();
    }
    String first = errors.stream().limit(3).map(JsonSchemaGuardrail::describe).collect(Collectors.joining("; "));
    String reason = "does not match the JSON schema (" + errors.size() + (errors.size() == 1 ? " violation" : " violations")
        + "): " + Texts.truncate(first, 400);
    String evidence = errors.stream().limit(5).map(e -> e.getInstanceLocation() + " " + keyword(e))
        .collect(Collectors.joining(", "));
    return GuardrailResult.hit(reason, evidence);
  }

  private static String keyword(Error e) {
    String k = e.getKeyword();
    return k == null ? "violation" : k;
  }

  private static String describe(Error e) {
    String m = e.getMessage();
    String at = String.valueOf(e.getInstanceLocation());
    if (m == null) {
      return at + ": " + keyword(e);
    }
    return Texts.truncate(m.startsWith(at) ? m : at + ": " + m, 150);
  }
}
