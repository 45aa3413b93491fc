package io.turnpike.client.agent;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import io.turnpike.schema.Capabilities;
import java.util.Set;

/**
 * A {@code kind: agent} entry of {@code tools:}: another agent, called as a tool (the SDK's
 * {@code agent.as_tool(tool_name, tool_description)}). Each call runs that agent as a child run of its
 * own (its own runId, events and result, linked to the calling run) and its final output is the
 * tool's output:
 *
 * <pre>{@code
 * - kind: agent
 *   agent: weather-specialist     # required: the agent to run (an agent name)
 *   agentVersion: 2               # optional: the child run must use this version (default: the current one)
 *   name: ask_weather             # optional: the tool's name for the model (default: the agent's name)
 *   description: Ask the weather specialist   # optional (default: says which agent it runs)
 *   parameters: {...}             # optional: default {input: string}, whose input is what the child is asked;
 *                                 # with other parameters the child is given the arguments' JSON
 *   needsApproval: true           # as for any tool
 *   timeout: 30m                  # optional: no deadline by default (a child may wait for approvals);
 *                                 # when it passes, the child run is cancelled and the model told
 * }</pre>
 *
 * As for handoffs, whether the agent is published is checked when a call starts the child, not here:
 * an unknown agent is an error output the model sees. What can be known from the file is checked:
 * an agent calling itself, and a name that would be routed elsewhere (a sandbox tool, a handoff's
 * {@code transfer_to_} tool: checked with the other tool names in {@link AgentYaml}).
 */
final class AgentToolYaml {
  private AgentToolYaml() {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Set<String> KEYS = AgentYaml.orderedSet("name", "description", "kind", "agent", "agentVersion",
      "parameters", "strict", "needsApproval", "timeout");

  /** The arguments an agent tool takes unless it declares its own: what the SDK's as_tool gives the model. */
  static final String DEFAULT_PARAMETERS = "{\"type\":\"object\",\"properties\":{\"input\":{\"type\":\"string\","
      + "\"description\":\"What to ask the agent: the input of its run.\"}},\"required\":[\"input\"],"
      + "\"additionalProperties\":false}";

  static boolean isAgentTool(AgentYaml.Obj t) {
    return t.node.path("kind").isTextual() && t.node.path("kind").asText().trim().equalsIgnoreCase("agent");
  }

  /** Parses one {@code kind: agent} tool of the agent named {@code caller}. */
  static ToolSpec parse(AgentYaml.Obj t, String caller) {
    t.rejectUnknown(KEYS);
    String agent = t.requiredString("agent");
    if (!AgentYaml.NAME.matcher(agent).matches()) {
      throw t.error("agent", "'" + agent + "' is not a valid agent name (must match " + AgentYaml.NAME.pattern() + ")");
    }
    if (agent.equals(caller)) {
      throw t.error("agent", "an agent cannot call itself as a tool (its child run would call it again, without end)");
    }
    String name = t.optString("name", agent);
    if (Capabilities.isSandboxTool(name)) {
      throw t.error("name", "'" + name + "' is a sandbox tool's name, and calls of it go to the sandbox; give the agent"
          + " tool another name");
    }
    ToolSpec.Builder b = ToolSpec.newBuilder()
        .setName(name)
        .setKind(ToolKind.AGENT)
        .setAgent(agent)
        .setAgentVersion(t.optIntOrNull("agentVersion", 1))
        .setDescription(t.optString("description", "Ask the agent '" + agent + "': it works on the input as a run of"
            + " its own and its final answer is this tool's output."));
    JsonNode params = t.node.get("parameters");
    if (params == null || params.isNull()) {
      b.setParametersJson(DEFAULT_PARAMETERS);
      Boolean strict = t.optBoolean("strict");
      b.setStrict(strict == null || strict); // the default schema is strict-ready, as the SDK makes it
    } else {
      if (!params.isObject() || !"object".equals(params.path("type").asText("object"))) {
        throw t.error("parameters", "must be a JSON schema of an object (tool arguments are a JSON object), got "
            + AgentYaml.kindOf(params));
      }
      OutputTypeYaml.checkKeywords(params, t.source, t.path("parameters"));
      try {
        b.setParametersJson(JSON.writeValueAsString(params));
      } catch (JsonProcessingException e) {
        throw t.error("parameters", "cannot be written as JSON: " + e.getOriginalMessage());
      }
      b.setStrict(Boolean.TRUE.equals(t.optBoolean("strict")));
    }
    b.setNeedsApproval(Boolean.TRUE.equals(t.optBoolean("needsApproval")));
    b.setTimeoutMs(t.optDurationMs("timeout", null));
    return b.build();
  }
}
