package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRule;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.McpServerRef;
import io.turnpike.avro.McpToolInfo;
import io.turnpike.avro.McpToolList;
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
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
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
      if (isMcpServerEntry(t)) {
        continue; // expanded into the server's tools when the run started (withMcpTools); never offered itself
      }
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

  /** A {@code kind: mcp} entry of agent YAML: an MCP gateway server, not yet its tools. */
  static boolean isMcpServerEntry(ToolSpec t) {
    return t.getKind() == ToolKind.MCP && t.getMcp() != null && t.getMcp().getTool() == null;
  }

  /**
   * The agent with each MCP server entry followed by that server's tools as the MCP gateway last listed them
   * ({@code turnpike.mcp.tools}): the allow and deny filters applied, {@code requireApproval} as needsApproval
   * (the usual approval flow holds the call), the entry's timeout on each. Done once, when a run starts (or
   * hands off): the run keeps the tools it started with, as it keeps the agent's version. A tool whose name
   * the agent already uses is left out (the agent's own wins). An entry whose server has no list stays
   * unexpanded (see {@link #missingMcpServers}).
   */
  static AgentDefinition withMcpTools(AgentDefinition agent, Function<String, McpToolList> lists) {
    if (agent.getTools().stream().noneMatch(AgentView::isMcpServerEntry)) {
      return agent;
    }
    Set<String> taken = new HashSet<>();
    agent.getTools().stream().filter(t -> !isMcpServerEntry(t)).forEach(t -> taken.add(t.getName()));
    List<ToolSpec> out = new ArrayList<>();
    for (ToolSpec t : agent.getTools()) {
      out.add(t);
      if (!isMcpServerEntry(t)) {
        continue;
      }
      McpServerRef ref = t.getMcp();
      McpToolList list = lists.apply(ref.getServer());
      if (list == null) {
        continue;
      }
      boolean all = ref.getRequireApproval().contains("*");
      for (McpToolInfo tool : list.getTools()) {
        if (ref.getDeny().contains(tool.getName()) || (!ref.getAllow().isEmpty() && !ref.getAllow().contains(tool.getName()))
            || !taken.add(tool.getModelName())) {
          continue;
        }
        out.add(ToolSpec.newBuilder()
            .setName(tool.getModelName())
            .setDescription(tool.getDescription())
            .setParametersJson(tool.getInputSchemaJson())
            .setKind(ToolKind.MCP)
            .setNeedsApproval(all || ref.getRequireApproval().contains(tool.getName()))
            .setTimeoutMs(t.getTimeoutMs())
            .setMcp(McpServerRef.newBuilder().setServer(ref.getServer()).setTool(tool.getName()).build())
            .build());
      }
    }
    return AgentDefinition.newBuilder(agent).setTools(out).build();
  }

  /** The MCP servers the agent names whose tools it does not have (no list on {@code turnpike.mcp.tools}). */
  static List<String> missingMcpServers(AgentDefinition agent) {
    Set<String> expanded = new HashSet<>();
    agent.getTools().stream().filter(t -> t.getKind() == ToolKind.MCP && t.getMcp() != null && t.getMcp().getTool() != null)
        .forEach(t -> expanded.add(t.getMcp().getServer()));
    return agent.getTools().stream().filter(AgentView::isMcpServerEntry).map(t -> t.getMcp().getServer())
        .filter(s -> !expanded.contains(s)).toList();
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
