package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Hosted tools in agent YAML: each type's settings, published as the JSON the Responses API takes, and every refusal. */
class AgentYamlHostedTest {
  static final String HEAD = "name: a\nversion: 1\nmodel: m\n";
  static final ObjectMapper JSON = new ObjectMapper();

  static AgentDefinition parse(String yaml) {
    return AgentYaml.parse(HEAD + yaml, "a.yaml");
  }

  static JsonNode hosted(String toolYaml) throws Exception {
    ToolSpec t = parse("tools:\n  - " + toolYaml + "\n").getTools().get(0);
    assertThat(t.getKind()).isEqualTo(ToolKind.HOSTED);
    return JSON.readTree(t.getHostedJson());
  }

  static void refused(String toolYaml, String message) {
    assertThatThrownBy(() -> parse("tools:\n  - " + toolYaml + "\n")).isInstanceOf(AgentYamlException.class)
        .hasMessage(message);
  }

  @Test
  void webSearchWithItsSettings() throws Exception {
    JsonNode j = hosted("{name: web_search, kind: hosted, searchContextSize: low, allowedDomains: [yr.no, met.no],"
        + " userLocation: {country: \"NO\", city: Oslo, timezone: Europe/Oslo}}");
    assertThat(j).isEqualTo(JSON.readTree("{\"type\":\"web_search\",\"search_context_size\":\"low\","
        + "\"user_location\":{\"type\":\"approximate\",\"country\":\"NO\",\"city\":\"Oslo\",\"timezone\":\"Europe/Oslo\"},"
        + "\"filters\":{\"allowed_domains\":[\"yr.no\",\"met.no\"]}}"));
  }

  @Test
  void aHostedToolWithoutSettingsIsItsType() throws Exception {
    assertThat(hosted("{name: web_search, kind: hosted}")).isEqualTo(JSON.readTree("{\"type\":\"web_search\"}"));
    assertThat(hosted("{kind: hosted, type: code_interpreter}"))
        .isEqualTo(JSON.readTree("{\"type\":\"code_interpreter\",\"container\":{\"type\":\"auto\"}}"));
    assertThat(parse("tools: [{kind: hosted, type: image_generation}]").getTools().get(0).getName())
        .as("the name defaults to the type").isEqualTo("image_generation");
  }

  @Test
  void fileSearchWithVectorStoresAndFilters() throws Exception {
    JsonNode j = hosted("{name: docs, kind: hosted, type: file_search, vectorStoreIds: [vs_1, vs_2], maxNumResults: 5,"
        + " scoreThreshold: 0.4, filters: {type: and, filters: [{type: eq, key: region, value: nordic}, {type: gte, key: year, value: 2020}]}}");
    assertThat(j).isEqualTo(JSON.readTree("{\"type\":\"file_search\",\"vector_store_ids\":[\"vs_1\",\"vs_2\"],"
        + "\"max_num_results\":5,\"ranking_options\":{\"score_threshold\":0.4},\"filters\":{\"type\":\"and\",\"filters\":["
        + "{\"type\":\"eq\",\"key\":\"region\",\"value\":\"nordic\"},{\"type\":\"gte\",\"key\":\"year\",\"value\":2020}]}}"));
  }

  @Test
  void codeInterpreterAutoWithFilesOrAContainer() throws Exception {
    assertThat(hosted("{name: code_interpreter, kind: hosted, fileIds: [file-1], memoryLimit: 4g}"))
        .isEqualTo(JSON.readTree("{\"type\":\"code_interpreter\",\"container\":{\"type\":\"auto\",\"file_ids\":[\"file-1\"],"
            + "\"memory_limit\":\"4g\"}}"));
    assertThat(hosted("{name: code_interpreter, kind: hosted, container: cntr_123}"))
        .isEqualTo(JSON.readTree("{\"type\":\"code_interpreter\",\"container\":\"cntr_123\"}"));
  }

  @Test
  void imageGenerationWithItsSettings() throws Exception {
    assertThat(hosted("{name: image_generation, kind: hosted, size: 1024x1536, quality: low, background: opaque,"
        + " outputFormat: webp, outputCompression: 80, moderation: low, model: gpt-image-1}"))
        .isEqualTo(JSON.readTree("{\"type\":\"image_generation\",\"size\":\"1024x1536\",\"quality\":\"low\","
            + "\"background\":\"opaque\",\"output_format\":\"webp\",\"moderation\":\"low\",\"output_compression\":80,"
            + "\"model\":\"gpt-image-1\"}"));
  }

  @Test
  void hostedMcpWithHeadersAsReferencesOnly() throws Exception {
    JsonNode j = hosted("{name: deepwiki, kind: hosted, type: mcp, serverUrl: \"https://mcp.deepwiki.com/mcp\","
        + " allowedTools: [ask_question], requireApproval: never,"
        + " headers: {Authorization: \"Bearer ${TURNPIKE_MCP_DEEPWIKI_TOKEN}\", X-Team: \"${TURNPIKE_MCP_TEAM}\"}}");
    assertThat(j).isEqualTo(JSON.readTree("{\"type\":\"mcp\",\"server_label\":\"deepwiki\","
        + "\"server_url\":\"https://mcp.deepwiki.com/mcp\",\"allowed_tools\":[\"ask_question\"],\"require_approval\":\"never\","
        + "\"headers\":{\"Authorization\":\"Bearer ${TURNPIKE_MCP_DEEPWIKI_TOKEN}\",\"X-Team\":\"${TURNPIKE_MCP_TEAM}\"}}"));
  }

  @Test
  void hostedMcpApprovalsAsTheApiTakesThem() throws Exception {
    String head = "{name: m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp\"";
    assertThat(hosted(head + "}").has("require_approval")).as("the API's default: always").isFalse();
    assertThat(hosted(head + ", requireApproval: always}").path("require_approval").asText()).isEqualTo("always");
    assertThat(hosted(head + ", requireApproval: {never: [ask], always: [write]}}").path("require_approval"))
        .isEqualTo(JSON.readTree("{\"always\":{\"tool_names\":[\"write\"]},\"never\":{\"tool_names\":[\"ask\"]}}"));
  }

  @Test
  void twoMcpServersAreToldApartByLabel() {
    AgentDefinition d = parse("tools:\n"
        + "  - {name: wiki, kind: hosted, type: mcp, serverUrl: \"https://a.example/mcp\", requireApproval: never}\n"
        + "  - {name: docs, kind: hosted, type: mcp, serverUrl: \"https://b.example/mcp\", requireApproval: never}\n");
    assertThat(d.getTools()).extracting(ToolSpec::getName).containsExactly("wiki", "docs");
  }

  // ------------------------------------------------------------------------------------ refusals

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "{name: teleport, kind: hosted}|a.yaml: tools[0].name: 'teleport' is not a hosted tool; hosted tools: web_search,"
          + " web_search_preview, file_search, code_interpreter, image_generation, mcp (name the tool as you like and say which with type:)",
      "{name: x, kind: hosted, type: file_serch}|a.yaml: tools[0].type: 'file_serch' is not a hosted tool (did you mean"
          + " 'file_search'?); hosted tools: web_search, web_search_preview, file_search, code_interpreter, image_generation, mcp",
      "{name: web_search, kind: hosted, search_context_size: low}|a.yaml: tools[0].search_context_size: unknown field (did"
          + " you mean 'searchContextSize'?); allowed here: name, kind, type, searchContextSize, userLocation, allowedDomains",
      "{name: web_search, kind: hosted, searchContextSize: huge}|a.yaml: tools[0].searchContextSize: 'huge' is not one of"
          + " low, medium, high",
      "{name: web_search, kind: hosted, userLocation: {country: Norway}}|a.yaml: tools[0].userLocation.country: 'Norway'"
          + " is not a two-letter ISO country code such as NO or US",
      "{name: web_search, kind: hosted, userLocation: {country: NO}}|a.yaml: tools[0].userLocation.country: is the"
          + " boolean false to YAML (NO, YES, ON and OFF are); quote it: country: \"NO\"",
      "{name: web_search, kind: hosted, userLocation: {timezone: Oslo}}|a.yaml: tools[0].userLocation.timezone: 'Oslo' is"
          + " not an IANA time zone such as Europe/Oslo",
      "{name: web_search, kind: hosted, userLocation: {}}|a.yaml: tools[0].userLocation: is empty; give country, city,"
          + " region or timezone, or leave it out",
      "{name: web_search, kind: hosted, allowedDomains: [\"https://yr.no/\"]}|a.yaml: tools[0].allowedDomains[0]:"
          + " 'https://yr.no/' is not a domain such as example.com (no scheme, no path)",
      "{name: web_search, kind: hosted, allowedDomains: []}|a.yaml: tools[0].allowedDomains: is empty; leave it out or"
          + " list at least one",
      "{name: web_search, kind: hosted, description: Search}|a.yaml: tools[0].description: a hosted tool has none: the"
          + " provider describes a hosted tool to the model itself (hosted MCP: serverDescription)",
      "{name: web_search, kind: hosted, needsApproval: true}|a.yaml: tools[0].needsApproval: a hosted tool has none: the"
          + " provider runs a hosted tool within the model call, before Turnpike sees it (hosted MCP: requireApproval)",
      "{name: web_search, kind: hosted, timeout: 10s}|a.yaml: tools[0].timeout: a hosted tool has none: the provider runs"
          + " a hosted tool within the model call (modelTimeout bounds it)",
      "{name: file_search, kind: hosted}|a.yaml: tools[0].vectorStoreIds: is required: the vector stores to search (ids"
          + " such as vs_abc123)",
      "{name: file_search, kind: hosted, vectorStoreIds: vs_1}|a.yaml: tools[0].vectorStoreIds: must be a list, got text 'vs_1'",
      "{name: file_search, kind: hosted, vectorStoreIds: [vs_1, vs_1]}|a.yaml: tools[0].vectorStoreIds[1]: 'vs_1' is"
          + " listed twice",
      "{name: file_search, kind: hosted, vectorStoreIds: [vs_1], maxNumResults: 51}|a.yaml: tools[0].maxNumResults: must"
          + " be at most 50 (the API's limit), got 51",
      "{name: file_search, kind: hosted, vectorStoreIds: [vs_1], maxNumResults: 0}|a.yaml: tools[0].maxNumResults: must"
          + " be at least 1, got 0",
      "{name: file_search, kind: hosted, vectorStoreIds: [vs_1], scoreThreshold: 2}|a.yaml: tools[0].scoreThreshold: must"
          + " be between 0.0 and 1.0, got 2.0",
      "{name: file_search, kind: hosted, vectorStoreIds: [vs_1], filters: {type: like, key: a, value: b}}|a.yaml:"
          + " tools[0].filters.type: 'like' is not a filter type (comparisons: eq, ne, gt, gte, lt, lte; compounds: and, or)",
      "{name: file_search, kind: hosted, vectorStoreIds: [vs_1], filters: {type: eq, key: a}}|a.yaml:"
          + " tools[0].filters.value: is required: the text, number or boolean the attribute is compared with",
      "{name: file_search, kind: hosted, vectorStoreIds: [vs_1], filters: {type: or, filters: [{type: eq, value: 1}]}}|"
          + "a.yaml: tools[0].filters.filters[0].key: is required",
      "{name: code_interpreter, kind: hosted, container: cntr_1, fileIds: [f]}|a.yaml: tools[0].fileIds: applies to"
          + " container: auto only (a container you created has its files and limits already)",
      "{name: code_interpreter, kind: hosted, memoryLimit: 2g}|a.yaml: tools[0].memoryLimit: '2g' is not one of 1g, 4g,"
          + " 16g, 64g (did you mean '1g'?)",
      "{name: image_generation, kind: hosted, size: 512x512}|a.yaml: tools[0].size: '512x512' is not one of auto,"
          + " 1024x1024, 1024x1536, 1536x1024",
      "{name: image_generation, kind: hosted, quality: ultra}|a.yaml: tools[0].quality: 'ultra' is not one of auto, low,"
          + " medium, high",
      "{name: image_generation, kind: hosted, outputFormat: gif}|a.yaml: tools[0].outputFormat: 'gif' is not one of png,"
          + " webp, jpeg",
      "{name: image_generation, kind: hosted, background: transparent, outputFormat: jpeg}|a.yaml: tools[0].background:"
          + " transparent needs outputFormat png or webp (jpeg has no transparency)",
      "{name: image_generation, kind: hosted, outputCompression: 50}|a.yaml: tools[0].outputCompression: applies to"
          + " outputFormat jpeg or webp only",
      "{name: image_generation, kind: hosted, outputFormat: jpeg, outputCompression: 101}|a.yaml:"
          + " tools[0].outputCompression: must be 0..100, got 101",
      "{name: m, kind: hosted, type: mcp, requireApproval: never}|a.yaml: tools[0].serverUrl: is required: the remote MCP"
          + " server's URL (https://...)",
      "{name: m, kind: hosted, type: mcp, serverUrl: \"ftp://x.example\", requireApproval: never}|a.yaml:"
          + " tools[0].serverUrl: 'ftp://x.example' is not an http(s) URL with a host",
      "{name: m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp?api_key=sk-1\", requireApproval: never}|a.yaml:"
          + " tools[0].serverUrl: has what looks like a credential in it; the agent's definition is copied into every"
          + " RunState and event: send it in headers, as a reference to a TURNPIKE_MCP_* variable of the model invoker",
      "{name: m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp\", requireApproval: sometimes}|a.yaml:"
          + " tools[0].requireApproval: 'sometimes' is not never, always or {always: [tools], never: [tools]}",
      "{name: m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp\", requireApproval: {allways: [a]}}|a.yaml:"
          + " tools[0].requireApproval.allways: unknown field (did you mean 'always'?); allowed here: always, never",
      "{name: m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp\", requireApproval: {}}|a.yaml:"
          + " tools[0].requireApproval: is empty; give always: [tools] and/or never: [tools], or say never or always",
      "{name: 1m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp\", requireApproval: never}|a.yaml:"
          + " tools[0].serverLabel: '1m' is not a server label (a letter, then letters, digits, _ or -; the tool's name when"
          + " not given)",
      "{name: m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp\", requireApproval: never, headers:"
          + " {Authorization: \"Bearer sk-live-123\"}}|a.yaml: tools[0].headers.Authorization: must be a reference to an"
          + " environment variable of the model invoker, \"${TURNPIKE_MCP_NAME}\" or \"Bearer ${TURNPIKE_MCP_NAME}\", never"
          + " the value itself: the agent's definition is copied into every RunState and event",
      "{name: m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp\", requireApproval: never, headers:"
          + " {Authorization: \"Bearer ${OPENAI_API_KEY}\"}}|a.yaml: tools[0].headers.Authorization: must be a reference"
          + " to an environment variable of the model invoker, \"${TURNPIKE_MCP_NAME}\" or \"Bearer ${TURNPIKE_MCP_NAME}\","
          + " never the value itself: the agent's definition is copied into every RunState and event",
  })
  void eachMistakeIsRefusedNamingItsField(String toolYaml, String message) {
    refused(toolYaml, message);
  }

  @Test
  void aSecretInAHeaderIsNeverRepeatedInTheError() {
    assertThatThrownBy(() -> parse("tools:\n  - {name: m, kind: hosted, type: mcp, serverUrl: \"https://x.example/mcp\","
        + " requireApproval: never, headers: {Authorization: sk-live-abcdef}}\n"))
        .isInstanceOf(AgentYamlException.class).message().doesNotContain("sk-live");
  }

  @Test
  void oneOfEachTypeButAnyNumberOfMcpServers() {
    assertThatThrownBy(() -> parse("tools:\n  - {name: web_search, kind: hosted}\n"
        + "  - {name: search2, kind: hosted, type: web_search_preview}\n"))
        .hasMessage("a.yaml: tools[1].type: the agent already has a hosted web_search ('web_search'); the API takes one of"
            + " each (hosted MCP servers: one per serverLabel)");
    assertThatThrownBy(() -> parse("tools:\n"
        + "  - {name: a, kind: hosted, type: mcp, serverLabel: wiki, serverUrl: \"https://a.example/mcp\", requireApproval: never}\n"
        + "  - {name: b, kind: hosted, type: mcp, serverLabel: wiki, serverUrl: \"https://b.example/mcp\", requireApproval: never}\n"))
        .hasMessage("a.yaml: tools[1].type: the agent already has a hosted mcp server_label wiki ('a'); the API takes one"
            + " of each (hosted MCP servers: one per serverLabel)");
    assertThatThrownBy(() -> parse("tools:\n  - {name: web_search, kind: hosted}\n  - {name: web_search}\n"))
        .hasMessage("a.yaml: tools[1].name: duplicate tool name 'web_search'");
  }

  @Test
  void everyHostedKindIsRefusedOnTheChatPath() {
    for (String tool : new String[] {"{name: web_search, kind: hosted}", "{name: file_search, kind: hosted, vectorStoreIds: [vs_1]}",
        "{name: code_interpreter, kind: hosted}", "{name: image_generation, kind: hosted}",
        "{name: wiki, kind: hosted, type: mcp, serverUrl: \"https://a.example/mcp\", requireApproval: never}"}) {
      assertThatThrownBy(() -> parse("modelSettings: {api: chat}\ntools:\n  - " + tool + "\n"))
          .hasMessageStartingWith("a.yaml: tools[0].kind: hosted tool '")
          .hasMessageEndingWith("' is offered by the Responses API only, and this agent uses api: chat; use api: responses,"
              + " or remove it");
    }
  }

  @Test
  void settingsThatActOnTurnpikesOwnCallsCannotNameAHostedTool() {
    String tools = "tools: [{name: web_search, kind: hosted}, {name: get_weather}]\n";
    assertThatThrownBy(() -> parse(tools + "approvalRules: [{tool: web_search}]\n"))
        .hasMessage("a.yaml: approvalRules[0].tool: 'web_search' is a hosted tool: the provider runs it inside the model"
            + " call, so Turnpike never sees the call to hold it for a human (hosted MCP: requireApproval)");
    assertThatThrownBy(() -> parse(tools + "guardrails: [{name: g, stage: tool_input, type: regex, patterns: [x],"
        + " tools: [get_weather, web_search]}]\n"))
        .hasMessage("a.yaml: guardrails[0].tools[1]: 'web_search' is a hosted tool: the provider runs it inside the model"
            + " call, so Turnpike never sees the call to judge it (an output guardrail judges the answer built on it)");
    assertThatThrownBy(() -> parse(tools + "toolUseBehavior: {stopAtToolNames: [web_search]}\n"))
        .hasMessage("a.yaml: toolUseBehavior.stopAtToolNames[0]: 'web_search' is a hosted tool: the provider runs it"
            + " inside the model call, so Turnpike never sees the call to stop at its output: the model answers after it"
            + " in the same call");
    assertThat(parse(tools + "modelSettings: {toolChoice: web_search}\n").getModelSettings().getToolChoice())
        .as("the model may be told to use a hosted tool").isEqualTo("web_search");
  }
}
