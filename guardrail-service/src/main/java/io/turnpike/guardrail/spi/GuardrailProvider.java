package io.turnpike.guardrail.spi;

import io.turnpike.avro.GuardrailSpec;

/**
 * The extension point for custom guardrails. A team ships a jar with an implementation of this
 * interface and a file {@code META-INF/services/io.turnpike.guardrail.spi.GuardrailProvider} naming
 * it; the guardrail service finds it with {@link java.util.ServiceLoader} at start-up, and an agent
 * declares {@code type: <type()>} in its YAML. Built-in type names (regex, keywords, pii, max_length,
 * json_schema, prompt_injection, tool_policy, llm) cannot be taken over.
 *
 * <p>Implementations need a public no-argument constructor and must be thread-safe.
 */
public interface GuardrailProvider {
  /** The {@code type} an agent's guardrail declares to use this provider, e.g. {@code acme_profanity}. */
  String type();

  /**
   * Builds a guardrail from its declaration ({@code spec.getConfigJson()} holds the type-specific
   * settings; {@link GuardrailSpecs#config(GuardrailSpec)} parses them). Called once per distinct
   * declaration; the result is cached and used concurrently. Throw {@link IllegalArgumentException}
   * for an invalid configuration: the check then trips (fail closed) with that message as its reason.
   */
  Guardrail create(GuardrailSpec spec);
}
