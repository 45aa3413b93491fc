package io.turnpike.guardrail.builtin;

import static io.turnpike.guardrail.TestSpecs.context;
import static io.turnpike.guardrail.TestSpecs.spec;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.guardrail.spi.GuardrailResult;
import org.junit.jupiter.api.Test;

class ToolPolicyGuardrailTest {

  private static GuardrailResult run(String config, String tool) {
    GuardrailSpec spec = spec("tools", GuardrailStage.TOOL_INPUT, "tool_policy", GuardrailAction.REJECT, config);
    return ToolPolicyGuardrail.create(spec).evaluate(context(spec, "{}", tool));
  }

  @Test
  void denyList() {
    String cfg = "{\"deny\": [\"shell\", \"exec_*\"]}";
    assertThat(run(cfg, "shell").reason()).isEqualTo("tool 'shell' is on the deny list");
    assertThat(run(cfg, "exec_python").isHit()).isTrue();
    assertThat(run(cfg, "get_weather").isHit()).isFalse();
    assertThat(run(cfg, null).isHit()).isFalse();
  }

  @Test
  void allowList() {
    String cfg = "{\"allow\": [\"get_weather\", \"search_*\"], \"deny\": [\"search_private\"]}";
    assertThat(run(cfg, "get_weather").isHit()).isFalse();
    assertThat(run(cfg, "search_web").isHit()).isFalse();
    assertThat(run(cfg, "search_private").reason()).isEqualTo("tool 'search_private' is on the deny list");
    assertThat(run(cfg, "shell").reason()).isEqualTo("tool 'shell' is not on the allow list");
  }

  @Test
  void needsAList() {
    assertThatThrownBy(() -> run("{}", "x")).hasMessageContaining("needs 'allow' or 'deny'");
  }
}
