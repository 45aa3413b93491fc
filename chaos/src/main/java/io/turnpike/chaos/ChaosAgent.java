package io.turnpike.chaos;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.ToolSpec;
import java.util.List;

/**
 * The agent every chaos run uses: the function tool {@code get_weather} (served by the tool worker),
 * the sandbox capabilities filesystem and shell with a one-file manifest, an input guardrail and an
 * output guardrail (rule-based, and never tripped by the scripted text), per-attempt deadlines like
 * the README's example and no retry policy of its own (the runner's defaults: 10 attempts with doubling
 * backoff within 10 minutes), so that what a fault does to a run is what it would do to anyone's.
 */
public final class ChaosAgent {
  public static final String NAME = "chaos-agent";
  public static final long TOOL_TIMEOUT_MS = 15_000;
  public static final long MODEL_TIMEOUT_MS = 60_000;
  public static final long GUARDRAIL_TIMEOUT_MS = 30_000;

  private ChaosAgent() {}

  public static AgentDefinition definition() {
    String cityParam = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}";
    return AgentDefinition.newBuilder()
        .setName(NAME)
        .setVersion(1)
        .setModel("scripted")
        .setInstructions("Answer with the weather and what the sandbox printed. Use the tools.")
        .setTools(List.of(ToolSpec.newBuilder().setName(ChaosScript.WEATHER_TOOL)
            .setDescription("Current weather in a city").setParametersJson(cityParam).build()))
        .setCapabilities(List.of("filesystem", "shell"))
        .setManifest(Manifest.newBuilder()
            .setFiles(List.of(ManifestFile.newBuilder().setPath(ChaosScript.SEEDED_FILE)
                .setContent(ChaosScript.SEEDED_TEXT + "\n").build()))
            .build())
        .setGuardrails(List.of(
            GuardrailSpec.newBuilder().setName("no-forbidden-words").setStage(GuardrailStage.INPUT)
                .setType("keywords").setMode(GuardrailMode.PARALLEL).setAction(GuardrailAction.BLOCK)
                .setConfigJson("{\"words\":[\"chaos-forbidden-word\"]}").build(),
            GuardrailSpec.newBuilder().setName("bounded-answer").setStage(GuardrailStage.OUTPUT)
                .setType("max_length").setAction(GuardrailAction.BLOCK)
                .setConfigJson("{\"maxChars\":20000}").build()))
        .setMaxTurns(4)
        .setModelTimeoutMs(MODEL_TIMEOUT_MS)
        .setToolTimeoutMs(TOOL_TIMEOUT_MS)
        .setGuardrailTimeoutMs(GUARDRAIL_TIMEOUT_MS)
        .build();
  }
}
