package io.turnpike.guardrail.builtin;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.spi.GuardrailSpecs;
import io.turnpike.guardrail.text.Glob;
import java.util.List;
import java.util.Optional;

/**
 * {@code type: tool_policy} — tool allow and deny lists for an agent (tool stages). A tool on the deny
 * list hits; with a non-empty allow list, a tool on neither list hits. Names may use {@code *} and
 * {@code ?}. Usually declared with {@code stage: TOOL_INPUT, action: REJECT} so the model is told and
 * can do something else.
 *
 * <pre>configJson: {"allow": ["get_weather", "search_*"], "deny": ["shell", "exec_*"]}</pre>
 */
public final class ToolPolicyGuardrail implements Guardrail {
  private final List<String> allow;
  private final List<String> deny;

  private ToolPolicyGuardrail(List<String> allow, List<String> deny) {
    this.allow = allow;
    this.deny = deny;
  }

  public static ToolPolicyGuardrail create(GuardrailSpec spec) {
    ObjectNode c = GuardrailSpecs.config(spec);
    List<String> allow = List.copyOf(GuardrailSpecs.strings(c, "allow"));
    List<String> deny = List.copyOf(GuardrailSpecs.strings(c, "deny"));
    if (allow.isEmpty() && deny.isEmpty()) {
      throw new IllegalArgumentException("a tool_policy guardrail needs 'allow' or 'deny'");
    }
    return new ToolPolicyGuardrail(allow, deny);
  }

  @Override
  public GuardrailResult evaluate(GuardrailContext context) {
    Optional<String> tool = context.toolName();
    if (tool.isEmpty()) {
      return GuardrailResult.pass();
    }
    String name = tool.get();
    if (Glob.anyMatches(deny, name)) {
      return GuardrailResult.hit("tool '" + name + "' is on the deny list", "tool " + name);
    }
    if (!allow.isEmpty() && !Glob.anyMatches(allow, name)) {
      return GuardrailResult.hit("tool '" + name + "' is not on the allow list", "tool " + name);
    }
    return GuardrailResult.pass();
  }
}
