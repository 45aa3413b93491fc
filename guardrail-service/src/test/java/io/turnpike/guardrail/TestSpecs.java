package io.turnpike.guardrail;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.guardrail.spi.GuardrailContext;
import java.time.Instant;
import java.util.List;

/** Builders for specs, checks and contexts in tests. */
public final class TestSpecs {
  private TestSpecs() {}

  public static GuardrailSpec spec(String name, GuardrailStage stage, String type, GuardrailAction action,
      String configJson, String... tools) {
    return GuardrailSpec.newBuilder().setName(name).setStage(stage).setType(type).setMode(GuardrailMode.PARALLEL)
        .setAction(action).setTools(List.of(tools)).setConfigJson(configJson).build();
  }

  public static GuardrailSpec output(String name, String type, GuardrailAction action, String configJson) {
    return spec(name, GuardrailStage.OUTPUT, type, action, configJson);
  }

  public static GuardrailCheck check(GuardrailStage stage, String content, String toolName, GuardrailSpec... specs) {
    return GuardrailCheck.newBuilder().setRunId("run-1").setCallId("run-1:g1").setAttempt(1).setAgent("agent")
        .setStage(stage).setGuardrails(List.of(specs)).setContent(content).setToolName(toolName)
        .setDeadline(Instant.now().plusSeconds(120)).build();
  }

  public static GuardrailContext context(GuardrailSpec spec, String content) {
    return context(spec, content, null);
  }

  /** A context with a distant deadline: timing bounds are the tests' own, generous for a busy machine. */
  public static GuardrailContext context(GuardrailSpec spec, String content, String tool) {
    return new GuardrailContext(spec, spec.getStage(), content, tool, "run-1", "agent", "run-1:g1",
        Instant.now().plusSeconds(120), GuardrailContext.memo(content));
  }
}
