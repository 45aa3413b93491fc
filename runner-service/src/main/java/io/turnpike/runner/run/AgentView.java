package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRule;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.SkillRef;
import io.turnpike.avro.StructuredOutput;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.ToolUseMode;
import io.turnpike.schema.Capabilities;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** What an agent definition means for a run: the tools and instructions the model gets, its gates. */
final class AgentView {
  static final String HANDOFF_PREFIX = "transfer_to_";

  private AgentView() {}

  /** The agent's own tools, its capabilities' sandbox tools, and one transfer tool per handoff. */
  static List<ToolSpec> tools(AgentDefinition agent) {
    Map<String, ToolSpec> tools = new LinkedHashMap<>();
    for (String capability : agent.getCapabilities()) {
      for (ToolSpec t : Capabilities.TOOLS.getOrDefault(capability, List.of())) {
        tools.put(t.getName(), t);
      }
    }
    for (ToolSpec t : agent.getTools()) {
      tools.put(t.getName(), t); // the agent's own declaration wins (e.g. needsApproval on shell)
    }
    for (String target : agent.getHandoffs()) {
      String name = handoffToolName(target);
      tools.put(name, ToolSpec.newBuilder()
          .setName(name)
          .setDescription("Hand the conversation off to the agent '" + target + "', which takes over from here.")
          .setParametersJson("{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}")
          .setKind(ToolKind.FUNCTION)
          .build());
    }
    return new ArrayList<>(tools.values());
  }

  static Optional<ToolSpec> tool(AgentDefinition agent, String name) {
    return tools(agent).stream().filter(t -> t.getName().equals(name)).findFirst();
  }

  /** Tool kind as routed: capability tools go to the sandbox even when declared as functions. */
  static ToolKind kind(ToolSpec spec) {
    return Capabilities.isSandboxTool(spec.getName()) ? ToolKind.SANDBOX : spec.getKind();
  }

  static String handoffToolName(String agentName) {
    String safe = agentName.replaceAll("[^a-zA-Z0-9_-]", "_");
    String name = HANDOFF_PREFIX + safe;
    return name.length() > 64 ? name.substring(0, 64) : name;
  }

  static Optional<String> handoffTarget(AgentDefinition agent, String toolName) {
    return agent.getHandoffs().stream().filter(h -> handoffToolName(h).equals(toolName)).findFirst();
  }

  static String instructions(AgentDefinition agent) {
    StringBuilder sb = new StringBuilder(agent.getInstructions());
    for (String capability : agent.getCapabilities()) {
      String extra = Capabilities.INSTRUCTIONS.get(capability);
      if (extra != null) {
        sb.append(sb.isEmpty() ? "" : "\n\n").append(extra);
      }
      if (capability.equals(Capabilities.SKILLS) && agent.getManifest() != null && !agent.getManifest().getSkills().isEmpty()) {
        sb.append("\nAvailable skills:");
        for (SkillRef s : agent.getManifest().getSkills()) {
          sb.append("\n- ").append(s.getName()).append(": ").append(s.getDescription());
        }
      }
    }
    return sb.toString();
  }

  static List<GuardrailSpec> guardrails(AgentDefinition agent, GuardrailStage stage, String toolName) {
    return agent.getGuardrails().stream()
        .filter(g -> g.getStage() == stage)
        .filter(g -> toolName == null || g.getTools().isEmpty() || g.getTools().contains(toolName))
        .toList();
  }

  static boolean inputBlocking(List<GuardrailSpec> inputGuardrails) {
    return inputGuardrails.stream().anyMatch(g -> g.getMode() == GuardrailMode.BLOCKING);
  }

  /** Why a call needs a human approval, or null when it does not. */
  static String approvalReason(AgentDefinition agent, ToolSpec spec, String arguments) {
    if (spec.getNeedsApproval()) {
      return "tool " + spec.getName() + " needs approval";
    }
    for (ApprovalRule rule : agent.getApprovalRules()) {
      if (!rule.getTool().equals(spec.getName())) {
        continue;
      }
      try {
        if (Pattern.compile(rule.getPattern()).matcher(arguments).find()) {
          return "arguments match approval rule /" + rule.getPattern() + "/";
        }
      } catch (PatternSyntaxException e) {
        return "approval rule /" + rule.getPattern() + "/ is not a valid regex, so every call needs approval";
      }
    }
    return null;
  }

  /**
   * The model settings of the next call: the agent's, without its toolChoice once it has called a tool
   * in this run when resetToolChoice is on (the SDK's reset_tool_choice), so that a required or named
   * tool choice cannot make the model call tools forever.
   */
  static ModelSettings settings(AgentDefinition agent, List<String> toolUsers) {
    ModelSettings s = agent.getModelSettings();
    if (s == null || s.getToolChoice() == null || !agent.getResetToolChoice() || !toolUsers.contains(agent.getName())) {
      return s;
    }
    return ModelSettings.newBuilder(s).setToolChoice(null).build();
  }

  /**
   * Whether the agent's model calls are streamed: the run ({@code RunRequest.stream}) or the agent
   * ({@code modelSettings.stream}) asks for it, and the agent has no output guardrail. An answer under
   * an output guardrail is judged before it shows anywhere; its deltas would show it first.
   */
  static boolean streams(AgentDefinition agent, boolean runAsks) {
    boolean asked = runAsks || (agent.getModelSettings() != null && agent.getModelSettings().getStream());
    return asked && guardrails(agent, GuardrailStage.OUTPUT, null).isEmpty();
  }

  /** A final answer as structured output when the agent has an outputType (the model invoker checked it), else null. */
  static StructuredOutput structured(AgentDefinition agent, String text) {
    OutputType type = agent.getOutputType();
    return type == null ? null : new StructuredOutput(text, type.getName(), type.getSha256());
  }

  static ToolUseMode toolUseMode(AgentDefinition agent) {
    return agent.getToolUseBehavior() == null ? ToolUseMode.RUN_LLM_AGAIN : agent.getToolUseBehavior().getMode();
  }

  static Duration modelTimeout(AgentDefinition agent) {
    return Duration.ofMillis(Math.max(1, agent.getModelTimeoutMs()));
  }

  static Duration toolTimeout(AgentDefinition agent, ToolSpec tool) {
    Long perTool = tool == null ? null : tool.getTimeoutMs();
    return Duration.ofMillis(Math.max(1, perTool != null ? perTool : agent.getToolTimeoutMs()));
  }

  static Duration guardrailTimeout(AgentDefinition agent) {
    return Duration.ofMillis(Math.max(1, agent.getGuardrailTimeoutMs()));
  }

  /** One attempt's timeout for a pending call: the model's, the tool's own or the agent's, the guardrails'. */
  static Duration timeout(AgentDefinition agent, PendingCall call) {
    return switch (call.getKind()) {
      case MODEL -> modelTimeout(agent);
      case TOOL, SANDBOX, AGENT -> toolTimeout(agent, tool(agent, call.getName()).orElse(null));
      case GUARDRAIL -> guardrailTimeout(agent);
      case APPROVAL -> Duration.ofMillis(agent.getApprovalTimeoutMs() == null ? 0 : agent.getApprovalTimeoutMs()); // its only wait
    };
  }
}
