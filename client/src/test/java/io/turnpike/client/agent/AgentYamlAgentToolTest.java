package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import org.junit.jupiter.api.Test;

/** {@code kind: agent}: another agent as a tool (agents as tools). */
class AgentYamlAgentToolTest {
  static AgentDefinition parse(String tools) {
    return AgentYaml.parse("name: planner\nversion: 1\nmodel: m\n" + tools, "planner.yaml");
  }

  @Test
  void anAgentToolNamesItsAgentAndTakesAnInputByDefault() {
    AgentDefinition a = parse("""
        tools:
          - {kind: agent, agent: weather-specialist}
          - {kind: agent, agent: booker, agentVersion: 2, name: book, description: Books it, needsApproval: true, timeout: 30m}
        """);
    ToolSpec weather = a.getTools().get(0);
    assertThat(weather.getKind()).isEqualTo(ToolKind.AGENT);
    assertThat(weather.getName()).isEqualTo("weather-specialist");
    assertThat(weather.getAgent()).isEqualTo("weather-specialist");
    assertThat(weather.getAgentVersion()).isNull();
    assertThat(weather.getParametersJson()).isEqualTo(AgentToolYaml.DEFAULT_PARAMETERS);
    assertThat(weather.getStrict()).isTrue();
    assertThat(weather.getTimeoutMs()).as("no deadline unless given").isNull();
    assertThat(weather.getDescription()).contains("weather-specialist");
    ToolSpec book = a.getTools().get(1);
    assertThat(book.getName()).isEqualTo("book");
    assertThat(book.getAgentVersion()).isEqualTo(2);
    assertThat(book.getNeedsApproval()).isTrue();
    assertThat(book.getDescription()).isEqualTo("Books it");
    assertThat(book.getTimeoutMs()).as("longer than the tool retry budget, which does not apply to it").isEqualTo(1_800_000L);
  }

  @Test
  void ownParametersAreKept() {
    AgentDefinition a = parse("""
        tools:
          - kind: agent
            agent: booker
            parameters: {type: object, properties: {city: {type: string}}, required: [city]}
        modelSettings: {toolChoice: booker}
        """);
    assertThat(a.getTools().get(0).getParametersJson()).contains("\"city\"");
    assertThat(a.getTools().get(0).getStrict()).isFalse();
    assertThat(a.getModelSettings().getToolChoice()).isEqualTo("booker");
  }

  @Test
  void mistakesAreRefusedWithWhereAndWhy() {
    assertThatThrownBy(() -> parse("tools: [{kind: agent}]\n"))
        .hasMessageContaining("planner.yaml: tools[0].agent:");
    assertThatThrownBy(() -> parse("tools: [{kind: agent, agent: planner}]\n"))
        .hasMessageContaining("tools[0].agent: an agent cannot call itself as a tool");
    assertThatThrownBy(() -> parse("tools: [{kind: agent, agent: 'a b'}]\n"))
        .hasMessageContaining("'a b' is not a valid agent name");
    assertThatThrownBy(() -> parse("tools: [{kind: agent, agent: x, agentVersoin: 2}]\n"))
        .hasMessageContaining("agentVersoin").hasMessageContaining("agentVersion");
    assertThatThrownBy(() -> parse("tools: [{kind: agent, agent: x, name: shell}]\n"))
        .hasMessageContaining("tools[0].name: 'shell' is a sandbox tool's name");
    assertThatThrownBy(() -> parse("tools: [{name: x, kind: function}, {kind: agent, agent: x}]\n"))
        .hasMessageContaining("tools[1].name: duplicate tool name 'x'");
    assertThatThrownBy(() -> parse("handoffs: [booker]\ntools: [{kind: agent, agent: booker, name: transfer_to_booker}]\n"))
        .hasMessageContaining("'transfer_to_booker' is reserved for the handoff to 'booker'");
    assertThatThrownBy(() -> parse("tools: [{kind: agnet, name: x}]\n"))
        .hasMessageContaining("is not a tool kind (use function, sandbox, mcp, hosted or agent)");
  }
}
