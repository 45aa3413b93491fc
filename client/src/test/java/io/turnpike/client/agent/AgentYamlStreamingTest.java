package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.AgentDefinition;
import org.junit.jupiter.api.Test;

/** {@code modelSettings.stream} and {@code modelProvider}: how an agent asks for streamed calls and picks its model endpoint. */
class AgentYamlStreamingTest {
  static final String HEAD = "name: a\nversion: 1\nmodel: m\n";

  static AgentDefinition parse(String yaml) {
    return AgentYaml.parse(HEAD + yaml, "a.yaml");
  }

  @Test
  void anAgentDoesNotStreamAndUsesTheDefaultProviderUnlessItSaysSo() {
    AgentDefinition d = parse("");
    assertThat(d.getModelSettings()).isNull();
    assertThat(d.getModelProvider()).isNull();
    assertThat(parse("modelSettings: {temperature: 0.1}\n").getModelSettings().getStream()).isFalse();
  }

  @Test
  void streamAndProviderAreRead() {
    AgentDefinition d = parse("modelSettings: {stream: true, api: chat}\nmodelProvider: local-llama\n");
    assertThat(d.getModelSettings().getStream()).isTrue();
    assertThat(d.getModelProvider()).isEqualTo("local-llama");
  }

  @Test
  void anAgentWhoseAnswerIsJudgedCannotStreamIt() {
    assertThatThrownBy(() -> parse("""
        modelSettings: {stream: true}
        guardrails:
          - {name: pii-out, stage: output, type: pii, action: redact}
        """))
        .isInstanceOf(AgentYamlException.class)
        .hasMessageContaining("a.yaml: modelSettings.stream: cannot be on with an output guardrail");
    // an input guardrail judges the user's message, not the answer
    assertThat(parse("""
        modelSettings: {stream: true}
        guardrails:
          - {name: no-secrets, stage: input, type: keywords, words: [password]}
        """).getModelSettings().getStream()).isTrue();
  }

  @Test
  void aProviderIsANameNeverAnEndpointOrAKey() {
    assertThatThrownBy(() -> parse("modelProvider: http://localhost:8080/v1\n"))
        .isInstanceOf(AgentYamlException.class)
        .hasMessageContainingAll("a.yaml: modelProvider: 'http://localhost:8080/v1' is not a provider name",
            "TURNPIKE_MODEL_PROVIDER_<NAME>_*");
    assertThatThrownBy(() -> parse("modelProvider: Local\n")).hasMessageContaining("is not a provider name");
    assertThatThrownBy(() -> parse("modelSettings: {stream: yes please}\n"))
        .isInstanceOf(AgentYamlException.class).hasMessageContaining("modelSettings.stream");
    assertThatThrownBy(() -> parse("modelSettings: {streaming: true}\n"))
        .isInstanceOf(AgentYamlException.class).hasMessageContaining("did you mean 'stream'");
    assertThatThrownBy(() -> parse("modelProvidr: x\n"))
        .isInstanceOf(AgentYamlException.class).hasMessageContaining("did you mean 'modelProvider'");
  }
}
