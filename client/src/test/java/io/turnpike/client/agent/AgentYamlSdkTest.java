package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.ToolUseMode;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** What agents ported from the OpenAI Agents SDK write: outputType, toolUseBehavior, resetToolChoice, reasoning and settings. */
class AgentYamlSdkTest {
  static final String HEAD = "name: a\nversion: 1\nmodel: m\ntools: [{name: get_weather}, {name: get_time}]\n";
  static final ObjectMapper JSON = new ObjectMapper();

  static AgentDefinition parse(String yaml) {
    return AgentYaml.parse(HEAD + yaml, "a.yaml");
  }

  static void refused(String yaml, String message) {
    assertThatThrownBy(() -> parse(yaml)).isInstanceOf(AgentYamlException.class).hasMessage(message);
  }

  static void refusedContaining(String yaml, String... parts) {
    assertThatThrownBy(() -> parse(yaml)).isInstanceOf(AgentYamlException.class).hasMessageContainingAll(parts);
  }

  @Test
  void anOldAgentHasNoneOfThemAndResetsToolChoice() {
    AgentDefinition d = parse("");
    assertThat(d.getOutputType()).isNull();
    assertThat(d.getToolUseBehavior()).isNull();
    assertThat(d.getResetToolChoice()).isTrue();
  }

  @Test
  void aShortOutputTypeIsTheSchemaMadeStrict() throws Exception {
    AgentDefinition d = parse("""
        outputType:
          type: object
          properties:
            city: {type: string}
            days: {type: array, items: {type: object, properties: {day: {type: integer}, plan: {type: string}}}}
        """);
    OutputType t = d.getOutputType();
    assertThat(t.getName()).isEqualTo("final_output");
    assertThat(t.getStrict()).isTrue();
    JsonNode schema = JSON.readTree(t.getSchemaJson());
    assertThat(schema.path("additionalProperties").asBoolean(true)).isFalse();
    assertThat(schema.path("required")).extracting(JsonNode::asText).containsExactly("city", "days");
    JsonNode day = schema.path("properties").path("days").path("items");
    assertThat(day.path("additionalProperties").asBoolean(true)).isFalse();
    assertThat(day.path("required")).extracting(JsonNode::asText).containsExactly("day", "plan");
    assertThat(t.getSha256()).hasSize(64).isEqualTo(OutputTypeYaml.sha256(t.getSchemaJson()));
  }

  @Test
  void theLongFormNamesTheFormatAndMayBeLoose() throws Exception {
    AgentDefinition d = parse("""
        outputType:
          name: trip_plan
          strict: false
          schema: {type: object, properties: {city: {type: string}}, required: []}
        """);
    assertThat(d.getOutputType().getName()).isEqualTo("trip_plan");
    assertThat(d.getOutputType().getStrict()).isFalse();
    assertThat(JSON.readTree(d.getOutputType().getSchemaJson()).has("additionalProperties")).isFalse();
  }

  @Test
  void outputTypeMistakesNameTheFieldAndSayWhatToDo() {
    refused("outputType: {nme: x, schema: {type: object}}\n",
        "a.yaml: outputType.nme: unknown field (did you mean 'name'?); allowed here: name, strict, schema");
    refusedContaining("outputType: {type: objekt}\n", "a.yaml: outputType: is not a valid JSON Schema (draft 2020-12):",
        "/type");
    refusedContaining("outputType: {type: array, items: {type: string}}\n",
        "a.yaml: outputType: the schema's root must be type: object", "wrap it");
    refusedContaining("outputType: {schema: {type: object, properties: {a: {type: string}, b: {type: string}}, required: [a]}}\n",
        "a.yaml: outputType.schema: required leaves out 'b'", "nullable");
    refusedContaining("outputType: {type: object, properties: {tags: {type: object, additionalProperties: true}}}\n",
        "a.yaml: outputType: at /properties/tags: additionalProperties must be false");
    refused("outputType: {name: \"trip plan\", schema: {type: object}}\n",
        "a.yaml: outputType.name: 'trip plan' is not a valid format name (must match ^[a-zA-Z0-9_-]{1,64}$)");
    refused("outputType: {name: x}\n", "a.yaml: outputType.schema: is required: the JSON Schema the final answer must follow");
    refused("outputType: {type: object, properties: {w: {type: string, description: One line, e.g. sunny}}}\n",
        "a.yaml: outputType: at /properties/w: 'e.g. sunny' is not a JSON Schema keyword; in a YAML flow mapping a comma"
            + " ends a value, so quote text that has one");
    refusedContaining("outputType: {type: object, propertes: {w: {type: string}}}\n",
        "a.yaml: outputType: 'propertes' is not a JSON Schema keyword (did you mean 'properties'?)");
  }

  @Test
  void toolUseBehaviorTakesTheSdksValues() {
    assertThat(parse("toolUseBehavior: run_llm_again\n").getToolUseBehavior().getMode()).isEqualTo(ToolUseMode.RUN_LLM_AGAIN);
    assertThat(parse("toolUseBehavior: stop_on_first_tool\n").getToolUseBehavior().getMode())
        .isEqualTo(ToolUseMode.STOP_ON_FIRST_TOOL);
    AgentDefinition d = parse("toolUseBehavior: {stopAtToolNames: [get_time]}\nresetToolChoice: false\n");
    assertThat(d.getToolUseBehavior().getMode()).isEqualTo(ToolUseMode.STOP_AT_TOOLS);
    assertThat(d.getToolUseBehavior().getStopAtToolNames()).containsExactly("get_time");
    assertThat(d.getResetToolChoice()).isFalse();
  }

  @Test
  void toolUseBehaviorMistakes() {
    refused("toolUseBehavior: stop_on_first_tools\n",
        "a.yaml: toolUseBehavior: 'stop_on_first_tools' is not one of run_llm_again, stop_on_first_tool"
            + " (did you mean 'stop_on_first_tool'?)");
    refused("toolUseBehavior: {stop_at_tool_names: [get_time]}\n",
        "a.yaml: toolUseBehavior.stop_at_tool_names: unknown field (did you mean 'stopAtToolNames'?); allowed here: stopAtToolNames");
    refusedContaining("toolUseBehavior: {stopAtToolNames: [get_wether]}\n",
        "a.yaml: toolUseBehavior.stopAtToolNames[0]: 'get_wether' is not a tool of this agent (did you mean 'get_weather'?)");
    refused("toolUseBehavior: {stopAtToolNames: []}\n",
        "a.yaml: toolUseBehavior.stopAtToolNames: is required: the tools whose output ends the run");
    refused("resetToolChoice: sometimes\n", "a.yaml: resetToolChoice: must be true or false, got text 'sometimes'");
  }

  @Test
  void reasoningAndTheOtherSettings() {
    ModelSettings s = parse("""
        modelSettings:
          reasoning: {effort: High, summary: auto}
          truncation: auto
          verbosity: low
          toolChoice: get_time
          metadata: {team: travel, tier: 2}
        """).getModelSettings();
    assertThat(s.getReasoning().getEffort()).isEqualTo("high");
    assertThat(s.getReasoning().getSummary()).isEqualTo("auto");
    assertThat(s.getTruncation()).isEqualTo("auto");
    assertThat(s.getVerbosity()).isEqualTo("low");
    assertThat(s.getToolChoice()).isEqualTo("get_time");
    assertThat(s.getMetadata()).containsEntry("team", "travel").containsEntry("tier", "2");

    ModelSettings chat = parse("modelSettings: {api: chat, reasoning: {effort: low}, frequencyPenalty: 0.5, presencePenalty: -1}\n")
        .getModelSettings();
    assertThat(chat.getApi()).isEqualTo(ModelApi.CHAT_COMPLETIONS);
    assertThat(chat.getReasoning().getEffort()).isEqualTo("low");
    assertThat(chat.getFrequencyPenalty()).isEqualTo(0.5);
    assertThat(chat.getPresencePenalty()).isEqualTo(-1.0);
  }

  @Test
  void settingsMistakes() {
    refused("modelSettings: {reasoning: {effort: mediun}}\n",
        "a.yaml: modelSettings.reasoning.effort: 'mediun' is not one of none, minimal, low, medium, high, xhigh (did you mean 'medium'?)");
    refusedContaining("modelSettings: {reasoning: {efort: low}}\n",
        "a.yaml: modelSettings.reasoning.efort: unknown field (did you mean 'effort'?)");
    refusedContaining("modelSettings: {frequencyPenalty: 0.5}\n",
        "a.yaml: modelSettings.frequencyPenalty: the Responses API has no penalties", "api: chat");
    refusedContaining("modelSettings: {api: chat, truncation: auto}\n",
        "a.yaml: modelSettings.truncation: is a Responses API setting");
    refusedContaining("modelSettings: {api: chat, reasoning: {summary: auto}}\n",
        "a.yaml: modelSettings.reasoning.summary: Chat Completions returns no reasoning summary");
    refusedContaining("modelSettings: {presencePenalty: 3, api: chat}\n",
        "a.yaml: modelSettings.presencePenalty: must be between -2.0 and 2.0, got 3.0");
    refusedContaining("modelSettings: {toolChoice: get_wether}\n",
        "a.yaml: modelSettings.toolChoice: 'get_wether' is neither auto, required, none nor a tool of this agent"
            + " (did you mean 'get_weather'?)");
    refusedContaining("modelSettings: {verbosity: loud}\n", "a.yaml: modelSettings.verbosity: 'loud' is not one of low, medium, high");
  }

  @Test
  void aToolsParametersWithAStrayKeywordAreRefused() {
    assertThatThrownBy(() -> AgentYaml.parse("name: a\nversion: 1\nmodel: m\n"
        + "tools: [{name: t, parameters: {type: object, properties: {city: {type: string, description: City, e.g. Oslo}}}}]\n",
        "a.yaml"))
        .hasMessageStartingWith("a.yaml: tools[0].parameters: at /properties/city: 'e.g. Oslo' is not a JSON Schema keyword");
  }

  @Test
  void aHostedToolOnTheChatPathIsRefused() {
    assertThatThrownBy(() -> AgentYaml.parse("name: a\nversion: 1\nmodel: m\nmodelSettings: {api: chat}\n"
        + "tools: [{name: web_search, kind: hosted}]\n", "a.yaml"))
        .hasMessage("a.yaml: tools[0].kind: hosted tool 'web_search' is offered by the Responses API only, and this agent"
            + " uses api: chat; use api: responses, or remove it");
  }

  @Test
  void theBundledAgentsStillLoad() {
    assertThat(AgentYaml.loadAll(Path.of("../agents"))).isNotEmpty();
  }
}
