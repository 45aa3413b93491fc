package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AgentYamlTest {

  static final String FULL = """
      name: travel-assistant
      version: 3
      description: Helps travellers
      instructions: |
        You help travellers.
        Use the tools.
      model: gpt-4.1-mini
      modelSettings:
        temperature: 0.2
        topP: 0.9
        maxOutputTokens: 800
        toolChoice: auto
        parallelToolCalls: false
        api: chat
      tools:
        - name: get_weather
          description: Current weather
          parameters:
            type: object
            properties:
              city: {type: string, description: City name}
            required: [city]
            additionalProperties: false
          strict: true
          timeout: 30s
        - name: shell
          kind: sandbox
          needsApproval: true
      handoffs: [billing-agent]
      capabilities: [filesystem, shell]
      maxTurns: 7
      modelTimeout: 2m
      toolTimeout: 500ms
      maxAttempts: 5
      metadata:
        team: travel
        tier: 2
      """;

  @Test
  void parsesEveryField() throws Exception {
    AgentDefinition d = AgentYaml.parse(FULL, "full.yaml");
    assertThat(d.getName()).isEqualTo("travel-assistant");
    assertThat(d.getVersion()).isEqualTo(3);
    assertThat(d.getDescription()).isEqualTo("Helps travellers");
    assertThat(d.getInstructions()).isEqualTo("You help travellers.\nUse the tools.\n");
    assertThat(d.getModel()).isEqualTo("gpt-4.1-mini");
    assertThat(d.getModelSettings().getTemperature()).isEqualTo(0.2);
    assertThat(d.getModelSettings().getTopP()).isEqualTo(0.9);
    assertThat(d.getModelSettings().getMaxOutputTokens()).isEqualTo(800L);
    assertThat(d.getModelSettings().getToolChoice()).isEqualTo("auto");
    assertThat(d.getModelSettings().getParallelToolCalls()).isFalse();
    assertThat(d.getModelSettings().getApi()).isEqualTo(ModelApi.CHAT_COMPLETIONS);
    assertThat(d.getTools()).hasSize(2);
    ToolSpec weather = d.getTools().get(0);
    assertThat(weather.getName()).isEqualTo("get_weather");
    assertThat(weather.getKind()).isEqualTo(ToolKind.FUNCTION);
    assertThat(weather.getStrict()).isTrue();
    assertThat(weather.getNeedsApproval()).isFalse();
    assertThat(weather.getTimeoutMs()).isEqualTo(30_000L);
    var schema = new ObjectMapper().readTree(weather.getParametersJson());
    assertThat(schema.path("properties").path("city").path("type").asText()).isEqualTo("string");
    assertThat(schema.path("required").get(0).asText()).isEqualTo("city");
    assertThat(schema.path("additionalProperties").asBoolean(true)).isFalse();
    ToolSpec shell = d.getTools().get(1);
    assertThat(shell.getKind()).isEqualTo(ToolKind.SANDBOX);
    assertThat(shell.getNeedsApproval()).isTrue();
    assertThat(shell.getTimeoutMs()).isNull();
    assertThat(shell.getParametersJson()).isEqualTo(AgentYaml.DEFAULT_PARAMETERS);
    assertThat(d.getHandoffs()).containsExactly("billing-agent");
    assertThat(d.getCapabilities()).containsExactly("filesystem", "shell");
    assertThat(d.getMaxTurns()).isEqualTo(7);
    assertThat(d.getModelTimeoutMs()).isEqualTo(120_000L);
    assertThat(d.getToolTimeoutMs()).isEqualTo(500L);
    assertThat(d.getMaxAttempts()).isEqualTo(5);
    // maxAttempts is the shorthand for retry.default.attempts: every call kind gets it
    assertThat(List.of(d.getRetry().getModel(), d.getRetry().getTool(), d.getRetry().getSandbox(), d.getRetry().getGuardrail()))
        .allSatisfy(p -> assertThat(p.getAttempts()).isEqualTo(5));
    assertThat(d.getMetadata()).containsEntry("team", "travel").containsEntry("tier", "2");
  }

  @Test
  void minimalAgentGetsTheSchemaDefaults() {
    AgentDefinition d = AgentYaml.parse("name: a\nversion: 1\nmodel: m\n", "min.yaml");
    assertThat(d.getTools()).isEmpty();
    assertThat(d.getModelSettings()).isNull();
    assertThat(d.getMaxTurns()).isEqualTo(10);
    assertThat(d.getModelTimeoutMs()).isEqualTo(120_000L);
    assertThat(d.getToolTimeoutMs()).isEqualTo(60_000L);
    assertThat(d.getMaxAttempts()).isEqualTo(10);
    assertThat(d.getRetry().getTool().getAttempts()).isEqualTo(10);
    assertThat(d.getInstructions()).isEmpty();
  }

  @Test
  void missingRequiredFieldsAreNamed() {
    assertError("version: 1\nmodel: m\n", "name", "a.yaml: name: is required");
    assertError("name: a\nmodel: m\n", "version", "a.yaml: version: is required");
    assertError("name: a\nversion: 1\n", "model", "a.yaml: model: is required");
    assertError("name: a\nversion: 0\nmodel: m\n", "version", "must be at least 1");
    assertError("name: a\nversion: one\nmodel: m\n", "version", "must be a whole number");
  }

  @Test
  void unknownKeysAreRejectedWithASuggestion() {
    assertError("name: a\nversion: 1\nmodel: m\nmax_turns: 3\n", "max_turns", "did you mean 'maxTurns'");
    assertError("name: a\nversion: 1\nmodel: m\ninstruction: hi\n", "instruction", "did you mean 'instructions'");
    assertError("name: a\nversion: 1\nmodel: m\ncolour: red\n", "colour", "unknown field; allowed here: name, version");
    assertError("name: a\nversion: 1\nmodel: m\nmodelSettings: {temp: 1}\n", "modelSettings.temp", "unknown field");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: t, params: {}}]\n", "tools[0].params",
        "did you mean 'parameters'");
  }

  @Test
  void badToolsAreRejected() {
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: get weather}]\n", "tools[0].name",
        "'get weather' is not a valid tool name (must match ^[a-zA-Z0-9_-]{1,64}$)");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: " + "x".repeat(65) + "}]\n", "tools[0].name",
        "is not a valid tool name");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: t}, {name: u}, {name: t}]\n", "tools[2].name",
        "duplicate tool name 't'");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: t, parameters: [1, 2]}]\n", "tools[0].parameters",
        "must be a JSON schema object");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: t, parameters: '{\"type\":\"object\"}'}]\n",
        "tools[0].parameters", "must be a JSON schema object");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: t, parameters: {type: string}}]\n",
        "tools[0].parameters", "type must be object");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: t, kind: magic}]\n", "tools[0].kind",
        "'magic' is not a tool kind");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{description: no name}]\n", "tools[0].name", "is required");
    assertError("name: a\nversion: 1\nmodel: m\ntools: get_weather\n", "tools", "must be a list of tools");
  }

  @Test
  void durationsNeedAUnit() {
    assertThat(AgentYaml.parseDuration("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(AgentYaml.parseDuration("30s")).isEqualTo(Duration.ofSeconds(30));
    assertThat(AgentYaml.parseDuration("2m")).isEqualTo(Duration.ofMinutes(2));
    assertThat(AgentYaml.parseDuration("1h")).isEqualTo(Duration.ofHours(1));
    assertError("name: a\nversion: 1\nmodel: m\ntoolTimeout: 30\n", "toolTimeout", "must be a duration with a unit");
    assertError("name: a\nversion: 1\nmodel: m\nmodelTimeout: soon\n", "modelTimeout",
        "'soon' is not a duration like 500ms, 30s, 2m or 1h");
    assertError("name: a\nversion: 1\nmodel: m\ntools: [{name: t, timeout: 0s}]\n", "tools[0].timeout", "longer than 0");
  }

  @Test
  void settingsAreChecked() {
    assertError("name: a\nversion: 1\nmodel: m\nmodelSettings: {api: grpc}\n", "modelSettings.api", "use responses or chat");
    assertError("name: a\nversion: 1\nmodel: m\nmodelSettings: {temperature: 3}\n", "modelSettings.temperature",
        "between 0.0 and 2.0");
    assertError("name: a\nversion: 1\nmodel: m\nmodelSettings: {parallelToolCalls: maybe}\n",
        "modelSettings.parallelToolCalls", "true or false");
    assertError("name: a b\nversion: 1\nmodel: m\n", "name", "not a valid agent name");
    assertError("name: a\nversion: 1\nmodel: m\nhandoffs: [b, b]\n", "handoffs[1]", "listed twice");
    assertError("name: a\nversion: 1\nmodel: m\nmetadata: {x: [1]}\n", "metadata.x", "plain text");
  }

  @Test
  void invalidYamlAndWrongShapesSayWhere() {
    assertThatThrownBy(() -> AgentYaml.parse("name: a\n  version: [1\n", "bad.yaml"))
        .isInstanceOf(AgentYamlException.class)
        .hasMessageStartingWith("bad.yaml: invalid YAML at line ");
    assertThatThrownBy(() -> AgentYaml.parse("", "empty.yaml")).hasMessageContaining("empty.yaml: the file is empty");
    assertThatThrownBy(() -> AgentYaml.parse("- a\n- b\n", "list.yaml"))
        .hasMessageContaining("list.yaml: expected a mapping of agent fields");
  }

  @Test
  void loadsADirectoryAndRejectsDuplicateAgents(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("b.yaml"), "name: b\nversion: 1\nmodel: m\n");
    Files.writeString(dir.resolve("a.yml"), "name: a\nversion: 2\nmodel: m\n");
    Files.writeString(dir.resolve("notes.txt"), "not an agent");
    List<AgentDefinition> all = AgentYaml.loadAll(dir);
    assertThat(all).extracting(AgentDefinition::getName).containsExactly("a", "b");

    Files.writeString(dir.resolve("c.yaml"), "name: a\nversion: 3\nmodel: m\n");
    assertThatThrownBy(() -> AgentYaml.loadAll(dir))
        .isInstanceOf(AgentYamlException.class)
        .hasMessageContaining("c.yaml: name: agent 'a' is also defined in")
        .hasMessageContaining("a.yml");

    assertThatThrownBy(() -> AgentYaml.load(dir.resolve("missing.yaml")))
        .hasMessageEndingWith("missing.yaml: no such file");
    Path empty = Files.createDirectory(dir.resolve("empty"));
    assertThatThrownBy(() -> AgentYaml.loadAll(empty)).hasMessageContaining("no *.yaml or *.yml agent files");
  }

  private static void assertError(String yaml, String field, String messagePart) {
    assertThatThrownBy(() -> AgentYaml.parse(yaml, "a.yaml"))
        .isInstanceOf(AgentYamlException.class)
        .hasMessageContaining(messagePart)
        .satisfies(e -> assertThat(((AgentYamlException) e).field()).isEqualTo(field))
        .satisfies(e -> assertThat(((AgentYamlException) e).source()).isEqualTo("a.yaml"));
  }
}
