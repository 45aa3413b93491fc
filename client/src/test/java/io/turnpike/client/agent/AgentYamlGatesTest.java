package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRule;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import org.junit.jupiter.api.Test;

/** Capabilities, handoffs, guardrails and approval rules in agent YAML. */
class AgentYamlGatesTest {
  static final String HEAD = "name: a\nversion: 1\nmodel: m\n";
  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void parsesGuardrailsApprovalRulesCapabilitiesAndHandoffs() throws Exception {
    AgentDefinition d = AgentYaml.parse(HEAD + """
        tools:
          - name: lookup_invoice
        capabilities: [filesystem, shell, skills]
        handoffs: [billing-specialist, tech_support]
        guardrails:
          - {name: pii, stage: output, type: pii, action: redact, kinds: [email, phone]}
          - name: injection
            stage: input
            type: prompt_injection
            mode: blocking
          - name: no-rm
            stage: tool_input
            type: regex
            action: reject
            tools: [shell]
            patterns: ["rm -rf"]
            config: {ignoreCase: true}
          - {name: size, stage: TOOL_OUTPUT, type: max_length, max: 2000}
        guardrailTimeout: 5s
        approvalRules:
          - {tool: shell, pattern: "rm |sudo "}
          - {tool: lookup_invoice}
        """, "a.yaml");

    assertThat(d.getCapabilities()).containsExactly("filesystem", "shell", "skills");
    assertThat(d.getHandoffs()).containsExactly("billing-specialist", "tech_support");
    assertThat(d.getGuardrailTimeoutMs()).isEqualTo(5_000L);

    assertThat(d.getGuardrails()).hasSize(4);
    GuardrailSpec pii = d.getGuardrails().get(0);
    assertThat(pii.getName()).isEqualTo("pii");
    assertThat(pii.getStage()).isEqualTo(GuardrailStage.OUTPUT);
    assertThat(pii.getType()).isEqualTo("pii");
    assertThat(pii.getAction()).isEqualTo(GuardrailAction.REDACT);
    assertThat(pii.getMode()).isEqualTo(GuardrailMode.PARALLEL);
    assertThat(pii.getTools()).isEmpty();
    assertThat(pii.getConfigJson()).isEqualTo("{\"kinds\":[\"email\",\"phone\"]}");

    GuardrailSpec injection = d.getGuardrails().get(1);
    assertThat(injection.getStage()).isEqualTo(GuardrailStage.INPUT);
    assertThat(injection.getMode()).isEqualTo(GuardrailMode.BLOCKING);
    assertThat(injection.getAction()).isEqualTo(GuardrailAction.BLOCK);
    assertThat(injection.getConfigJson()).isEqualTo("{}");

    GuardrailSpec noRm = d.getGuardrails().get(2);
    assertThat(noRm.getStage()).isEqualTo(GuardrailStage.TOOL_INPUT);
    assertThat(noRm.getAction()).isEqualTo(GuardrailAction.REJECT);
    assertThat(noRm.getTools()).containsExactly("shell");
    var config = JSON.readTree(noRm.getConfigJson());
    assertThat(config.path("ignoreCase").asBoolean()).isTrue();
    assertThat(config.path("patterns").get(0).asText()).isEqualTo("rm -rf");
    assertThat(config.size()).isEqualTo(2);

    GuardrailSpec size = d.getGuardrails().get(3);
    assertThat(size.getStage()).isEqualTo(GuardrailStage.TOOL_OUTPUT);
    assertThat(size.getConfigJson()).isEqualTo("{\"max\":2000}");

    assertThat(d.getApprovalRules()).containsExactly(new ApprovalRule("shell", "rm |sudo "),
        new ApprovalRule("lookup_invoice", ".*"));
  }

  @Test
  void defaultsWhenNothingIsDeclared() {
    AgentDefinition d = AgentYaml.parse(HEAD, "a.yaml");
    assertThat(d.getGuardrails()).isEmpty();
    assertThat(d.getApprovalRules()).isEmpty();
    assertThat(d.getGuardrailTimeoutMs()).isEqualTo(30_000L);
    assertThat(d.getManifest()).isNull();
    assertThat(d.getCapabilities()).isEmpty();
    assertThat(d.getHandoffs()).isEmpty();
  }

  @Test
  void capabilitiesMustBeKnown() {
    assertError(HEAD + "capabilities: [filesytem]\n", "capabilities[0]",
        "'filesytem' is not a capability (did you mean 'filesystem'?); known: compaction, filesystem, shell, skills");
    assertError(HEAD + "capabilities: [browser]\n", "capabilities[0]", "known: compaction, filesystem, shell, skills");
    assertError(HEAD + "capabilities: [shell, shell]\n", "capabilities[1]", "listed twice");
    assertError(HEAD + "capabilities: shell\n", "capabilities", "must be a list of names");
  }

  @Test
  void handoffsAreAgentNamesAndNotThisAgent() {
    assertError(HEAD + "handoffs: [a]\n", "handoffs[0]", "cannot hand off to itself");
    assertError(HEAD + "handoffs: ['billing team']\n", "handoffs[0]", "not a valid agent name");
    assertError(HEAD + "handoffs: [b]\ntools: [{name: transfer_to_b}]\n", "tools[0].name",
        "'transfer_to_b' is reserved for the handoff to 'b'");
    assertThat(AgentYaml.handoffToolName("billing-specialist")).isEqualTo("transfer_to_billing-specialist");
  }

  @Test
  void badGuardrailsAreRejected() {
    assertError(HEAD + "guardrails: [{stage: input, type: pii}]\n", "guardrails[0].name", "is required");
    assertError(HEAD + "guardrails: [{name: g, type: pii}]\n", "guardrails[0].stage", "is required");
    assertError(HEAD + "guardrails: [{name: g, stage: during, type: pii}]\n", "guardrails[0].stage",
        "'during' is not a guardrail stage (use input, output, tool_input or tool_output)");
    assertError(HEAD + "guardrails: [{name: g, stage: input}]\n", "guardrails[0].type", "is required");
    assertError(HEAD + "guardrails: [{name: g, stage: input, type: 'no such'}]\n", "guardrails[0].type",
        "is not a guardrail type");
    assertError(HEAD + "guardrails: [{name: g, stage: output, type: pii, mode: blocking}]\n", "guardrails[0].mode",
        "applies to input guardrails only");
    assertError(HEAD + "guardrails: [{name: g, stage: input, type: pii, mode: eventually}]\n", "guardrails[0].mode",
        "use parallel or blocking");
    assertError(HEAD + "guardrails: [{name: g, stage: input, type: pii, action: shout}]\n", "guardrails[0].action",
        "'shout' is not an action (use block, redact or reject)");
    assertError(HEAD + "guardrails: [{name: g, stage: output, type: pii, action: reject}]\n", "guardrails[0].action",
        "applies to stage tool_input only");
    assertError(HEAD + "guardrails: [{name: g, stage: output, type: pii, tools: [x]}]\n", "guardrails[0].tools",
        "applies to tool_input and tool_output guardrails only");
    assertError(HEAD + "capabilities: [shell]\nguardrails: [{name: g, stage: tool_input, type: regex, tools: [shel]}]\n",
        "guardrails[0].tools[0]", "'shel' is not a tool of this agent (did you mean 'shell'?); its tools: shell");
    assertError(HEAD + "guardrails: [{name: g, stage: input, type: pii}, {name: g, stage: output, type: pii}]\n",
        "guardrails[1].name", "duplicate guardrail name 'g'");
    assertError(HEAD + "guardrails: [{name: g, stage: input, type: pii, stge: output}]\n", "guardrails[0].stge",
        "unknown guardrail field (did you mean 'stage'?); if it is a setting of the guardrail type, put it under config");
    assertError(HEAD + "guardrails: [{name: g, stage: input, type: pii, config: [1]}]\n", "guardrails[0].config",
        "must be a mapping");
    assertError(HEAD + "guardrails: [{name: g, stage: input, type: pii, max: 1, config: {max: 2}}]\n",
        "guardrails[0].max", "is also given under config");
    assertError(HEAD + "guardrails: [pii]\n", "guardrails[0]", "must be a mapping");
    assertError(HEAD + "guardrails: {name: g}\n", "guardrails", "must be a list of guardrails");
    assertError(HEAD + "guardrailTimeout: 30\n", "guardrailTimeout", "must be a duration with a unit");
  }

  @Test
  void approvalRulesNeedAKnownToolAndAValidRegex() {
    assertError(HEAD + "capabilities: [shell]\napprovalRules: [{tool: shell, pattern: 'rm (-rf'}]\n",
        "approvalRules[0].pattern", "'rm (-rf' is not a valid regex: Unclosed group");
    assertError(HEAD + "approvalRules: [{tool: shell}]\n", "approvalRules[0].tool",
        "'shell' is not a tool of this agent; its tools: none (capabilities add their sandbox tools)");
    assertError(HEAD + "approvalRules: [{pattern: x}]\n", "approvalRules[0].tool", "is required");
    assertError(HEAD + "capabilities: [shell]\napprovalRules: [{tool: shell, regex: x}]\n", "approvalRules[0].regex",
        "unknown field; allowed here: tool, pattern");
    assertError(HEAD + "capabilities: [shell]\napprovalRules: [{tool: shell, pattern: ''}]\n", "approvalRules[0].pattern",
        "is empty");
    assertError(HEAD + "approvalRules: shell\n", "approvalRules", "must be a list of rules");
  }

  @Test
  void approvalTimeoutsAndHandoffFilters() {
    AgentDefinition d = AgentYaml.parse(HEAD + "handoffs: [b]\napprovalTimeout: 30m\napprovalTimeoutAction: fail\n"
        + "handoffInputFilter: remove_tool_calls\n", "a.yaml");
    assertThat(d.getApprovalTimeoutMs()).isEqualTo(1_800_000L);
    assertThat(d.getApprovalTimeoutAction()).isEqualTo(io.turnpike.avro.ApprovalTimeoutAction.FAIL);
    assertThat(d.getHandoffInputFilter()).isEqualTo(io.turnpike.avro.HandoffInputFilter.REMOVE_TOOL_CALLS);
    AgentDefinition defaults = AgentYaml.parse(HEAD, "a.yaml");
    assertThat(defaults.getApprovalTimeoutMs()).isNull();
    assertThat(defaults.getApprovalTimeoutAction()).isEqualTo(io.turnpike.avro.ApprovalTimeoutAction.REJECT);
    assertThat(defaults.getHandoffInputFilter()).isEqualTo(io.turnpike.avro.HandoffInputFilter.NONE);

    assertError(HEAD + "approvalTimeoutAction: fail\n", "approvalTimeoutAction", "has no effect without approvalTimeout");
    assertError(HEAD + "approvalTimeout: 1m\napprovalTimeoutAction: shrug\n", "approvalTimeoutAction",
        "'shrug' is not an action");
    assertError(HEAD + "handoffInputFilter: none\n", "handoffInputFilter", "this agent lists no handoffs");
    assertError(HEAD + "handoffs: [b]\nhandoffInputFilter: all\n", "handoffInputFilter", "is not a handoff input filter");
  }

  @Test
  void topLevelTyposGetHints() {
    assertError(HEAD + "guardrail: []\n", "guardrail", "did you mean 'guardrails'");
    assertError(HEAD + "approval_rules: []\n", "approval_rules", "did you mean 'approvalRules'");
    assertError(HEAD + "manifests: {}\n", "manifests", "did you mean 'manifest'");
  }

  static void assertError(String yaml, String field, String messagePart) {
    assertThatThrownBy(() -> AgentYaml.parse(yaml, "a.yaml"))
        .isInstanceOf(AgentYamlException.class)
        .hasMessageContaining(messagePart)
        .satisfies(e -> assertThat(((AgentYamlException) e).field()).isEqualTo(field))
        .satisfies(e -> assertThat(e.getMessage()).startsWith("a.yaml: " + field + ": "));
  }
}
