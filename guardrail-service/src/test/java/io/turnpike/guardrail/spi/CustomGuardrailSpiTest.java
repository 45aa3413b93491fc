package io.turnpike.guardrail.spi;

import static io.turnpike.guardrail.TestSpecs.check;
import static io.turnpike.guardrail.TestSpecs.output;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.guardrail.GuardrailEngine;
import org.junit.jupiter.api.Test;

/** Custom guardrails arrive through java.util.ServiceLoader, without touching the service. */
class CustomGuardrailSpiTest {

  @Test
  void aProviderOnTheClassPathIsFoundAndUsed() throws Exception {
    try (GuardrailEngine engine = GuardrailEngine.builder().build()) {
      assertThat(engine.types()).contains("no_bananas", "pii", "regex", "llm");
      GuardrailVerdict v = engine.evaluate(check(GuardrailStage.OUTPUT, "I like bаnаnas and BANANA bread", null,
          output("fruit-policy", "no_bananas", GuardrailAction.REDACT, "{\"replacement\": \"[fruit]\"}")));
      assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.REDACT);
      assertThat(v.getGuardrail()).isEqualTo("fruit-policy");
      assertThat(v.getContent()).isEqualTo("I like [fruit]s and [fruit] bread");
      assertThat(v.getFindings()).singleElement().satisfies(f -> {
        assertThat(f.getReason()).isEqualTo("banana mentioned at 2 place(s)");
        assertThat(f.getEvidence()).isEqualTo("b*****");
      });
    }
  }

  @Test
  void typeNamesAreMatchedLoosely() throws Exception {
    try (GuardrailEngine engine = GuardrailEngine.builder().build()) {
      GuardrailVerdict v = engine.evaluate(check(GuardrailStage.OUTPUT, "banana", null,
          output("fruit", "No-Bananas", GuardrailAction.BLOCK, "{}")));
      assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
    }
  }

  @Test
  void aProviderCannotTakeOverABuiltInType() throws Exception {
    try (GuardrailEngine engine = GuardrailEngine.builder().build()) {
      GuardrailVerdict v = engine.evaluate(check(GuardrailStage.OUTPUT, "card 4111 1111 1111 1111", null,
          output("pii", "pii", GuardrailAction.BLOCK, "{}")));
      assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.TRIP); // the built-in, not the impostor's pass
    }
  }

  @Test
  void discoveryCanBeTurnedOff() {
    try (GuardrailEngine engine = GuardrailEngine.builder().discoverProviders(false).build()) {
      assertThat(engine.types()).doesNotContain("no_bananas");
    }
  }
}
