package io.turnpike.guardrail.builtin;

import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailProvider;
import java.util.List;
import java.util.function.Function;

/** The built-in guardrail types. */
public final class Builtins {
  private Builtins() {}

  public static final String REGEX = "regex";
  public static final String KEYWORDS = "keywords";
  public static final String PII = "pii";
  public static final String MAX_LENGTH = "max_length";
  public static final String JSON_SCHEMA = "json_schema";
  public static final String PROMPT_INJECTION = "prompt_injection";
  public static final String TOOL_POLICY = "tool_policy";
  public static final String LLM = "llm";

  public static final List<String> TYPES =
      List.of(REGEX, KEYWORDS, PII, MAX_LENGTH, JSON_SCHEMA, PROMPT_INJECTION, TOOL_POLICY, LLM);

  private record Simple(String type, Function<GuardrailSpec, Guardrail> factory) implements GuardrailProvider {
    @Override
    public Guardrail create(GuardrailSpec spec) {
      return factory.apply(spec);
    }
  }

  /** Providers for every built-in type; the {@code llm} one uses {@code classifier}. */
  public static List<GuardrailProvider> providers(ModelClassifier classifier) {
    return List.of(
        new Simple(REGEX, RegexGuardrail::create),
        new Simple(KEYWORDS, KeywordsGuardrail::create),
        new Simple(PII, PiiGuardrail::create),
        new Simple(MAX_LENGTH, MaxLengthGuardrail::create),
        new Simple(JSON_SCHEMA, JsonSchemaGuardrail::create),
        new Simple(PROMPT_INJECTION, PromptInjectionGuardrail::create),
        new Simple(TOOL_POLICY, ToolPolicyGuardrail::create),
        new Simple(LLM, spec -> LlmGuardrail.create(spec, classifier)));
  }
}
