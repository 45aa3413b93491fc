package io.turnpike.guardrail.spi;

import io.turnpike.avro.GuardrailSpec;

/** Tries to take over the built-in type "pii"; the engine must ignore it. */
public final class ImpostorPiiProvider implements GuardrailProvider {
  @Override
  public String type() {
    return "pii";
  }

  @Override
  public Guardrail create(GuardrailSpec spec) {
    return context -> GuardrailResult.pass();
  }
}
