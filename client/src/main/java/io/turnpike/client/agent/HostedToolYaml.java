package io.turnpike.client.agent;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import java.net.URI;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code kind: hosted} entry of {@code tools:}: a tool the model provider runs itself (Responses API
 * only). The entry's {@code type} (default: its {@code name}) says which, and the other keys are that
 * type's settings, in camelCase, checked here and published as the JSON the API takes
 * ({@link ToolSpec#getHostedJson()}), so the model invoker builds the tool without guessing:
 *
 * <pre>{@code
 * - {name: web_search, kind: hosted, searchContextSize: low, allowedDomains: [yr.no],
 *    userLocation: {country: NO, city: Oslo, region: Oslo, timezone: Europe/Oslo}}
 * - {name: file_search, kind: hosted, vectorStoreIds: [vs_123], maxNumResults: 5,
 *    filters: {type: eq, key: region, value: nordic}}
 * - {name: code_interpreter, kind: hosted, container: auto, fileIds: [file-1], memoryLimit: 1g}
 * - {name: image_generation, kind: hosted, size: 1024x1024, quality: low, background: opaque, outputFormat: png}
 * - {name: deepwiki, kind: hosted, type: mcp, serverUrl: "https://mcp.deepwiki.com/mcp",
 *    allowedTools: [ask_question], requireApproval: {never: [ask_question]},   # else a human approves
 *    headers: {Authorization: "Bearer ${TURNPIKE_MCP_DEEPWIKI_TOKEN}"}}
 * }</pre>
 *
 * A hosted MCP server's headers are never values: each is a reference to an environment variable of
 * the model invoker named {@code TURNPIKE_MCP_*} (optionally after a scheme such as {@code Bearer}),
 * resolved by the invoker when it builds the request, so no secret is in the YAML, the published
 * definition, the events or the RunState, and an agent cannot send the invoker's other secrets (its
 * OpenAI key) to a server of its choosing.
 */
final class HostedToolYaml {
  private HostedToolYaml() {}

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The hosted tool types the Responses API has and Turnpike records. */
  static final Set<String> TYPES = AgentYaml.orderedSet("web_search", "web_search_preview", "file_search",
      "code_interpreter", "image_generation", "mcp");

  private static final Set<String> COMMON_KEYS = AgentYaml.orderedSet("name", "kind", "type");
  private static final Map<String, Set<String>> KEYS = Map.of(
      "web_search", AgentYaml.orderedSet("searchContextSize", "userLocation", "allowedDomains"),
      "web_search_preview", AgentYaml.orderedSet("searchContextSize", "userLocation"),
      "file_search", AgentYaml.orderedSet("vectorStoreIds", "maxNumResults", "filters", "scoreThreshold"),
      "code_interpreter", AgentYaml.orderedSet("container", "fileIds", "memoryLimit"),
      "image_generation", AgentYaml.orderedSet("size", "quality", "background", "outputFormat", "outputCompression",
          "moderation", "model", "inputFidelity"),
      "mcp", AgentYaml.orderedSet("serverLabel", "serverUrl", "serverDescription", "allowedTools", "requireApproval",
          "headers"));
  /** Function-tool keys, each with why a hosted tool has none. */
  private static final Map<String, String> NOT_HOSTED = Map.of(
      "description", "the provider describes a hosted tool to the model itself (hosted MCP: serverDescription)",
      "parameters", "the provider defines a hosted tool's arguments",
      "strict", "the provider defines a hosted tool's arguments",
      "timeout", "the provider runs a hosted tool within the model call (modelTimeout bounds it)",
      "needsApproval", "the provider runs a hosted tool within the model call, before Turnpike sees it"
          + " (hosted MCP: requireApproval)");
  private static final Set<String> USER_LOCATION_KEYS = AgentYaml.orderedSet("country", "city", "region", "timezone");
  private static final Set<String> CONTEXT_SIZES = AgentYaml.orderedSet("low", "medium", "high");
  private static final Set<String> MEMORY_LIMITS = AgentYaml.orderedSet("1g", "4g", "16g", "64g");
  private static final Set<String> IMAGE_SIZES = AgentYaml.orderedSet("auto", "1024x1024", "1024x1536", "1536x1024");
  private static final Set<String> IMAGE_QUALITIES = AgentYaml.orderedSet("auto", "low", "medium", "high");
  private static final Set<String> IMAGE_BACKGROUNDS = AgentYaml.orderedSet("auto", "transparent", "opaque");
  private static final Set<String> IMAGE_FORMATS = AgentYaml.orderedSet("png", "webp", "jpeg");
  private static final Set<String> IMAGE_MODERATIONS = AgentYaml.orderedSet("auto", "low");
  private static final Set<String> INPUT_FIDELITIES = AgentYaml.orderedSet("low", "high");
  private static final Set<String> COMPARISONS = AgentYaml.orderedSet("eq", "ne", "gt", "gte", "lt", "lte");
  private static final Set<String> COMPOUNDS = AgentYaml.orderedSet("and", "or");
  private static final Pattern COUNTRY = Pattern.compile("^[A-Z]{2}$");
  private static final Pattern SERVER_LABEL = Pattern.compile("^[a-zA-Z][a-zA-Z0-9_-]{0,63}$");
  private static final Pattern HEADER_NAME = McpHeaders.NAME;
  /** What a header value may be: {@link McpHeaders}' rule, shared with the MCP gateway's configuration. */
  static final Pattern HEADER_REFERENCE = McpHeaders.REFERENCE;

  /** The hosted tool's type: its {@code type}, else its name. */
  static String type(AgentYaml.Obj t) {
    String type = t.optString("type", null);
    return (type == null ? t.optString("name", "") : type).trim().toLowerCase(Locale.ROOT);
  }

  /** Reads one {@code kind: hosted} entry. */
  static ToolSpec parse(AgentYaml.Obj t) {
    String type = type(t);
    if (!TYPES.contains(type)) {
      String hint = AgentYaml.suggestion(type, TYPES);
      String field = t.node.hasNonNull("type") ? "type" : "name";
      throw t.error(field, "'" + type + "' is not a hosted tool" + (hint == null ? "" : " (did you mean '" + hint + "'?)")
          + "; hosted tools: " + String.join(", ", TYPES) + (t.node.hasNonNull("type") ? ""
          : " (name the tool as you like and say which with type:)"));
    }
    Set<String> allowed = new java.util.LinkedHashSet<>(COMMON_KEYS);
    allowed.addAll(KEYS.get(type));
    for (Iterator<String> it = t.node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (NOT_HOSTED.containsKey(k)) {
        throw t.error(k, "a hosted tool has none: " + NOT_HOSTED.get(k));
      }
    }
    t.rejectUnknown(allowed);
    ObjectNode json = JSON.createObjectNode();
    json.put("type", type);
    switch (type) {
      case "web_search", "web_search_preview" -> webSearch(t, json);
      case "file_search" -> fileSearch(t, json);
      case "code_interpreter" -> codeInterpreter(t, json);
      case "image_generation" -> imageGeneration(t, json);
      default -> mcp(t, json);
    }
    String name = t.optString("name", type);
    try {
      return ToolSpec.newBuilder()
          .setName(name)
          .setKind(ToolKind.HOSTED)
          .setHostedJson(JSON.writeValueAsString(json))
          .build();
    } catch (JsonProcessingException e) {
      throw t.error("type", "cannot be written as JSON: " + e.getOriginalMessage());
    }
  }

  /** Two hosted tools of one type (other than MCP servers, told apart by label) would be offered twice. */
  static String identity(ToolSpec hosted) {
    try {
      JsonNode json = JSON.readTree(hosted.getHostedJson());
      String type = json.path("type").asText();
      return type.equals("mcp") ? "mcp server_label " + json.path("server_label").asText() : type.replace("_preview", "");
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Approval rules, tool guardrails and stopAtToolNames act on the calls Turnpike runs; a hosted tool
   * runs at the provider inside the model call, so naming one there would silently never apply.
   */
  static void refuseTurnpikeOnlySettings(AgentYaml.Obj top, List<ToolSpec> tools) {
    Set<String> hosted = new java.util.TreeSet<>();
    tools.stream().filter(t -> t.getKind() == ToolKind.HOSTED).forEach(t -> hosted.add(t.getName()));
    if (hosted.isEmpty()) {
      return;
    }
    String why = " is a hosted tool: the provider runs it inside the model call, so Turnpike never sees the call to ";
    JsonNode rules = top.node.path("approvalRules");
    for (int i = 0; i < rules.size(); i++) {
      String tool = rules.path(i).path("tool").asText(null);
      if (tool != null && hosted.contains(tool)) {
        throw new AgentYamlException(top.source, top.path("approvalRules[" + i + "].tool"), "'" + tool + "'" + why
            + "hold it for a human (hosted MCP: requireApproval)");
      }
    }
    JsonNode guards = top.node.path("guardrails");
    for (int i = 0; i < guards.size(); i++) {
      JsonNode names = guards.path(i).path("tools");
      for (int j = 0; j < names.size(); j++) {
        if (hosted.contains(names.path(j).asText())) {
          throw new AgentYamlException(top.source, top.path("guardrails[" + i + "].tools[" + j + "]"), "'"
              + names.path(j).asText() + "'" + why + "judge it (an output guardrail judges the answer built on it)");
        }
      }
    }
    JsonNode stopAt = top.node.path("toolUseBehavior").path("stopAtToolNames");
    for (int i = 0; i < stopAt.size(); i++) {
      if (hosted.contains(stopAt.path(i).asText())) {
        throw new AgentYamlException(top.source, top.path("toolUseBehavior.stopAtToolNames[" + i + "]"), "'"
            + stopAt.path(i).asText() + "'" + why + "stop at its output: the model answers after it in the same call");
      }
    }
  }

  private static void webSearch(AgentYaml.Obj t, ObjectNode json) {
    String size = oneOf(t, "searchContextSize", CONTEXT_SIZES);
    if (size != null) {
      json.put("search_context_size", size);
    }
    AgentYaml.Obj loc = t.optObject("userLocation");
    if (loc != null) {
      loc.rejectUnknown(USER_LOCATION_KEYS);
      ObjectNode l = json.putObject("user_location").put("type", "approximate");
      for (String k : USER_LOCATION_KEYS) {
        if (loc.node.path(k).isBoolean()) {
          // YAML 1.1 reads NO (Norway) as false: say so rather than "'false' is not a country".
          throw loc.error(k, "is the boolean " + loc.node.path(k).asText() + " to YAML (NO, YES, ON and OFF are); quote it: "
              + k + ": \"" + (loc.node.path(k).asBoolean() ? "YES" : "NO") + "\"");
        }
        String v = loc.optString(k, null);
        if (v == null) {
          continue;
        }
        if (v.isBlank()) {
          throw loc.error(k, "is empty; leave it out");
        }
        if (k.equals("country") && !COUNTRY.matcher(v).matches()) {
          throw loc.error(k, "'" + v + "' is not a two-letter ISO country code such as NO or US");
        }
        if (k.equals("timezone") && !java.time.ZoneId.getAvailableZoneIds().contains(v)) {
          throw loc.error(k, "'" + v + "' is not an IANA time zone such as Europe/Oslo");
        }
        l.put(k, v);
      }
      if (l.size() == 1) {
        throw t.error("userLocation", "is empty; give country, city, region or timezone, or leave it out");
      }
    }
    List<String> domains = list(t, "allowedDomains");
    if (domains != null) {
      for (int i = 0; i < domains.size(); i++) {
        String d = domains.get(i);
        if (d.contains("/") || d.contains(":") || d.contains(" ") || !d.contains(".")) {
          throw t.error("allowedDomains[" + i + "]", "'" + d + "' is not a domain such as example.com (no scheme, no path)");
        }
      }
      ArrayNode a = json.putObject("filters").putArray("allowed_domains");
      domains.forEach(a::add);
    }
  }

  private static void fileSearch(AgentYaml.Obj t, ObjectNode json) {
    List<String> ids = list(t, "vectorStoreIds");
    if (ids == null) {
      throw t.error("vectorStoreIds", "is required: the vector stores to search (ids such as vs_abc123)");
    }
    ArrayNode a = json.putArray("vector_store_ids");
    ids.forEach(a::add);
    Integer max = t.optIntOrNull("maxNumResults", 1);
    if (max != null) {
      if (max > 50) {
        throw t.error("maxNumResults", "must be at most 50 (the API's limit), got " + max);
      }
      json.put("max_num_results", max);
    }
    Double threshold = t.optDouble("scoreThreshold", 0, 1);
    if (threshold != null) {
      json.putObject("ranking_options").put("score_threshold", threshold);
    }
    JsonNode filters = t.node.get("filters");
    if (filters != null && !filters.isNull()) {
      json.set("filters", filter(t, t.path("filters"), filters));
    }
  }

  /** A file_search filter: a comparison {type: eq, key, value} or a compound {type: and|or, filters: [...]}. */
  private static JsonNode filter(AgentYaml.Obj t, String path, JsonNode f) {
    if (!f.isObject()) {
      throw new AgentYamlException(t.source, path, "must be a filter such as {type: eq, key: region, value: nordic}"
          + " or {type: and, filters: [...]}, got " + AgentYaml.kindOf(f));
    }
    AgentYaml.Obj o = new AgentYaml.Obj(t.source, path, (ObjectNode) f);
    String type = o.requiredString("type").toLowerCase(Locale.ROOT);
    ObjectNode out = JSON.createObjectNode().put("type", type);
    if (COMPARISONS.contains(type)) {
      o.rejectUnknown(AgentYaml.orderedSet("type", "key", "value"));
      out.put("key", o.requiredString("key"));
      JsonNode value = f.get("value");
      if (value == null || value.isNull() || !(value.isTextual() || value.isNumber() || value.isBoolean())) {
        throw o.error("value", "is required: the text, number or boolean the attribute is compared with");
      }
      out.set("value", value);
    } else if (COMPOUNDS.contains(type)) {
      o.rejectUnknown(AgentYaml.orderedSet("type", "filters"));
      JsonNode list = f.get("filters");
      if (list == null || !list.isArray() || list.isEmpty()) {
        throw o.error("filters", "is required: a list of the filters to combine with " + type);
      }
      ArrayNode a = out.putArray("filters");
      for (int i = 0; i < list.size(); i++) {
        a.add(filter(t, o.path("filters") + "[" + i + "]", list.get(i)));
      }
    } else {
      throw o.error("type", "'" + type + "' is not a filter type (comparisons: " + String.join(", ", COMPARISONS)
          + "; compounds: " + String.join(", ", COMPOUNDS) + ")");
    }
    return out;
  }

  private static void codeInterpreter(AgentYaml.Obj t, ObjectNode json) {
    String container = t.optString("container", "auto").trim();
    List<String> files = list(t, "fileIds");
    String memory = oneOf(t, "memoryLimit", MEMORY_LIMITS);
    if (container.equals("auto")) {
      ObjectNode c = json.putObject("container").put("type", "auto");
      if (files != null) {
        ArrayNode a = c.putArray("file_ids");
        files.forEach(a::add);
      }
      if (memory != null) {
        c.put("memory_limit", memory);
      }
    } else {
      if (container.isEmpty() || container.contains(" ")) {
        throw t.error("container", "must be auto (a new container per call) or the id of a container you created");
      }
      if (files != null || memory != null) {
        throw t.error(files != null ? "fileIds" : "memoryLimit", "applies to container: auto only (a container you"
            + " created has its files and limits already)");
      }
      json.put("container", container);
    }
  }

  private static void imageGeneration(AgentYaml.Obj t, ObjectNode json) {
    putOneOf(t, json, "size", "size", IMAGE_SIZES);
    putOneOf(t, json, "quality", "quality", IMAGE_QUALITIES);
    String background = putOneOf(t, json, "background", "background", IMAGE_BACKGROUNDS);
    String format = putOneOf(t, json, "outputFormat", "output_format", IMAGE_FORMATS);
    putOneOf(t, json, "moderation", "moderation", IMAGE_MODERATIONS);
    putOneOf(t, json, "inputFidelity", "input_fidelity", INPUT_FIDELITIES);
    if ("transparent".equals(background) && "jpeg".equals(format)) {
      throw t.error("background", "transparent needs outputFormat png or webp (jpeg has no transparency)");
    }
    Integer compression = t.optIntOrNull("outputCompression", 0);
    if (compression != null) {
      if (compression > 100) {
        throw t.error("outputCompression", "must be 0..100, got " + compression);
      }
      if (format == null || format.equals("png")) {
        throw t.error("outputCompression", "applies to outputFormat jpeg or webp only");
      }
      json.put("output_compression", compression);
    }
    String model = t.optString("model", null);
    if (model != null) {
      if (model.isBlank()) {
        throw t.error("model", "is empty; leave it out for the provider's default image model");
      }
      json.put("model", model.trim());
    }
  }

  private static void mcp(AgentYaml.Obj t, ObjectNode json) {
    String label = t.optString("serverLabel", t.optString("name", null));
    if (label == null || !SERVER_LABEL.matcher(label).matches()) {
      throw t.error("serverLabel", "'" + label + "' is not a server label (a letter, then letters, digits, _ or -;"
          + " the tool's name when not given)");
    }
    json.put("server_label", label);
    String url = t.optString("serverUrl", null);
    if (url == null || url.isBlank()) {
      throw t.error("serverUrl", "is required: the remote MCP server's URL (https://...)");
    }
    URI uri;
    try {
      uri = URI.create(url.trim());
    } catch (IllegalArgumentException e) {
      throw t.error("serverUrl", "'" + url + "' is not a URL: " + e.getMessage());
    }
    if (uri.getHost() == null || !("https".equals(uri.getScheme()) || "http".equals(uri.getScheme()))) {
      throw t.error("serverUrl", "'" + url + "' is not an http(s) URL with a host");
    }
    if (uri.getUserInfo() != null || (uri.getQuery() != null && uri.getQuery().toLowerCase(Locale.ROOT)
        .matches(".*(key|token|secret|password|auth)[^=]*=.*"))) {
      throw t.error("serverUrl", "has what looks like a credential in it; the agent's definition is copied into every"
          + " RunState and event: send it in headers, as a reference to a TURNPIKE_MCP_* variable of the model invoker");
    }
    json.put("server_url", uri.toString());
    String description = t.optString("serverDescription", null);
    if (description != null) {
      json.put("server_description", description);
    }
    List<String> tools = list(t, "allowedTools");
    if (tools != null) {
      ArrayNode a = json.putArray("allowed_tools");
      tools.forEach(a::add);
    }
    requireApproval(t, json);
    AgentYaml.Obj headers = t.optObject("headers");
    if (headers != null) {
      ObjectNode h = json.putObject("headers");
      for (Iterator<Map.Entry<String, JsonNode>> it = headers.node.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!HEADER_NAME.matcher(e.getKey()).matches()) {
          throw headers.error(e.getKey(), "is not a valid HTTP header name");
        }
        String value = e.getValue().isTextual() ? e.getValue().asText().trim() : null;
        Matcher m = value == null ? null : HEADER_REFERENCE.matcher(value);
        if (m == null || !m.matches()) {
          // Whatever it is, it must not be echoed: it may be the secret itself.
          throw headers.error(e.getKey(), "must be a reference to an environment variable of the model invoker,"
              + " \"${TURNPIKE_MCP_NAME}\" or \"Bearer ${TURNPIKE_MCP_NAME}\", never the value itself: the agent's"
              + " definition is copied into every RunState and event");
        }
        h.put(e.getKey(), value);
      }
    }
  }

  /**
   * {@code never}, {@code always} (the API's default when not given), or {@code {always: [tools],
   * never: [tools]}}. An approval the provider asks for is a Turnpike approval: the run waits for a
   * human (approve / reject, as for a function tool with needsApproval).
   */
  private static void requireApproval(AgentYaml.Obj t, ObjectNode json) {
    JsonNode n = t.node.get("requireApproval");
    if (n == null || n.isNull()) {
      return;
    }
    if (n.isTextual()) {
      String v = n.asText().trim().toLowerCase(Locale.ROOT);
      if (!v.equals("never") && !v.equals("always")) {
        throw t.error("requireApproval", "'" + n.asText() + "' is not never, always or {always: [tools], never: [tools]}");
      }
      json.put("require_approval", v);
      return;
    }
    if (!n.isObject()) {
      throw t.error("requireApproval", "must be never, always or {always: [tools], never: [tools]}, got " + AgentYaml.kindOf(n));
    }
    AgentYaml.Obj o = new AgentYaml.Obj(t.source, t.path("requireApproval"), (ObjectNode) n);
    o.rejectUnknown(AgentYaml.orderedSet("always", "never"));
    ObjectNode filter = json.putObject("require_approval");
    for (String k : List.of("always", "never")) {
      List<String> tools = list(o, k);
      if (tools != null) {
        ArrayNode a = filter.putObject(k).putArray("tool_names");
        tools.forEach(a::add);
      }
    }
    if (filter.isEmpty()) {
      throw t.error("requireApproval", "is empty; give always: [tools] and/or never: [tools], or say never or always");
    }
  }

  private static String oneOf(AgentYaml.Obj o, String field, Set<String> allowed) {
    String v = o.optString(field, null);
    if (v == null) {
      return null;
    }
    String value = v.trim().toLowerCase(Locale.ROOT);
    if (!allowed.contains(value)) {
      String hint = AgentYaml.suggestion(value, allowed);
      throw o.error(field, "'" + v + "' is not one of " + String.join(", ", allowed)
          + (hint == null ? "" : " (did you mean '" + hint + "'?)"));
    }
    return value;
  }

  private static String putOneOf(AgentYaml.Obj o, ObjectNode json, String field, String apiField, Set<String> allowed) {
    String v = oneOf(o, field, allowed);
    if (v != null) {
      json.put(apiField, v);
    }
    return v;
  }

  /** A non-empty list of distinct non-empty strings, or null when not given. */
  private static List<String> list(AgentYaml.Obj o, String field) {
    JsonNode arr = o.node.get(field);
    if (arr == null || arr.isNull()) {
      return null;
    }
    if (!arr.isArray()) {
      throw o.error(field, "must be a list, got " + AgentYaml.kindOf(arr));
    }
    if (arr.isEmpty()) {
      throw o.error(field, "is empty; leave it out or list at least one");
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < arr.size(); i++) {
      JsonNode n = arr.get(i);
      if (!n.isTextual() || n.asText().isBlank()) {
        throw o.error(field + "[" + i + "]", "must be non-empty text, got " + AgentYaml.kindOf(n));
      }
      if (out.contains(n.asText().trim())) {
        throw o.error(field + "[" + i + "]", "'" + n.asText() + "' is listed twice");
      }
      out.add(n.asText().trim());
    }
    return out;
  }
}
