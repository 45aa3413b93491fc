package io.turnpike.client.agent;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRule;
import io.turnpike.avro.ApprovalTimeoutAction;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.HandoffInputFilter;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.ReasoningSettings;
import io.turnpike.avro.RetryPolicies;
import io.turnpike.avro.RetryPolicy;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.ToolUseBehavior;
import io.turnpike.avro.ToolUseMode;
import io.turnpike.schema.Capabilities;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import java.util.stream.Stream;

/**
 * Loads agent definitions from YAML files ({@code agents/*.yaml}) into {@link AgentDefinition}s, with
 * validation whose messages name the file and the field.
 *
 * <pre>{@code
 * name: travel-assistant          # required, ^[a-zA-Z0-9_-]{1,64}$
 * version: 1                      # required, >= 1
 * model: gpt-4.1-mini             # required
 * description: ...
 * instructions: |
 *   You help travellers...
 * modelSettings: {temperature: 0.2, topP: 1, maxOutputTokens: 800, toolChoice: auto,
 *                 parallelToolCalls: true, api: responses}   # api: responses | chat
 *   # also: reasoning: {effort: low, summary: auto}, truncation: auto (responses), verbosity: low,
 *   #       frequencyPenalty / presencePenalty (chat), metadata: {team: travel},
 *   #       stream: true (token deltas on turnpike.model.stream while the model answers)
 * modelProvider: local-llama      # a provider of the model invoker's configuration (default: its default one)
 * outputType: {type: object, properties: {...}}   # structured output: see OutputTypeYaml
 * toolUseBehavior: run_llm_again  # | stop_on_first_tool | {stopAtToolNames: [get_weather]}
 * resetToolChoice: true           # once the agent called a tool, toolChoice is no longer sent
 * tools:
 *   - name: get_weather           # required, ^[a-zA-Z0-9_-]{1,64}$, unique
 *     description: Current weather for a city
 *     kind: function              # function (default) | sandbox | mcp | hosted | agent (see AgentToolYaml)
 *                                 # mcp: a server of the MCP gateway, see McpToolYaml
 *                                 # hosted: type (default: the name) and its settings, see HostedToolYaml
 *     parameters:                 # a JSON schema object (stored as JSON text)
 *       type: object
 *       properties: {city: {type: string}}
 *       required: [city]
 *     strict: false
 *     needsApproval: false
 *     timeout: 30s                # 500ms, 30s, 2m, 1h
 * handoffs: [other-agent]          # adds a transfer_to_other-agent tool
 * capabilities: [filesystem, shell, skills]   # built-in sandbox tools (io.turnpike.schema.Capabilities)
 *                                 # and compaction (summarize old items near the context window: see CompactionYaml)
 * guardrails:
 *   - name: pii                   # required, unique
 *     stage: output               # input | output | tool_input | tool_output
 *     type: pii                   # regex | keywords | pii | max_length | ... | a custom SPI id
 *     mode: parallel              # input only: parallel (default) | blocking
 *     action: redact              # block (default) | redact | reject (tool_input only)
 *     tools: [shell]              # tool stages only; empty means every tool
 *     kinds: [email, phone]       # every other key is the type's settings (configJson)
 * guardrailTimeout: 30s
 * approvalRules:
 *   - {tool: shell, pattern: "rm |sudo "}   # a regex found anywhere in the call's JSON arguments
 * approvalTimeout: 30m            # how long a call waits for a human (default: forever)
 * approvalTimeoutAction: reject   # then: reject (the model is told) | fail (the run fails)
 * handoffInputFilter: none        # what a handoff passes on: none | remove_tool_calls | last_user_message
 * manifest: {...}                 # the sandbox workspace: see ManifestYaml
 * maxTurns: 10
 * modelTimeout: 2m
 * toolTimeout: 60s
 * retry:                          # how unanswered calls are re-sent, per call kind
 *   default:   {attempts: 10, backoff: 1s, maxBackoff: 30s, budget: 10m}   # every kind, field by field
 *   tool:      {attempts: 20, budget: 30m}   # model | tool | sandbox | guardrail override the default
 * maxAttempts: 10                 # shorthand for retry.default.attempts
 * metadata: {team: travel}
 * }</pre>
 *
 * <p>{@link #load(Path)} resolves the manifest's {@code source:} paths against the YAML file's
 * directory and inlines the files (the "agent bundle"), so the published definition is
 * self-contained; {@link #parse(String, String)} has no directory and rejects {@code source:}.
 */
public final class AgentYaml {
  private AgentYaml() {}

  /** Names of agents and tools: what the model APIs accept as function names. */
  public static final Pattern NAME = Pattern.compile("^[a-zA-Z0-9_-]{1,64}$");
  /** Names of model providers (modelProvider): they become parts of environment variable names. */
  public static final Pattern MODEL_PROVIDER = Pattern.compile("^[a-z0-9][a-z0-9_-]{0,62}$");
  public static final String DEFAULT_PARAMETERS = "{\"type\":\"object\",\"properties\":{}}";

  private static final YAMLMapper YAML = new YAMLMapper();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern DURATION = Pattern.compile("^\\s*(\\d+)\\s*(ms|s|m|h)\\s*$");

  private static final Set<String> TOP_KEYS = orderedSet("name", "version", "description", "instructions", "model",
      "modelSettings", "tools", "handoffs", "capabilities", "guardrails", "guardrailTimeout", "approvalRules", "approvalTimeout", "approvalTimeoutAction",
      "handoffInputFilter", "manifest",
      "maxTurns", "modelTimeout", "toolTimeout", "retry", "maxAttempts", "metadata",
      "outputType", "toolUseBehavior", "resetToolChoice", "modelProvider", "memory", "compaction");
  private static final Set<String> SETTINGS_KEYS = orderedSet("temperature", "topP", "maxOutputTokens", "toolChoice",
      "parallelToolCalls", "api", "reasoning", "truncation", "frequencyPenalty", "presencePenalty", "verbosity", "metadata",
      "stream");
  private static final Set<String> REASONING_KEYS = orderedSet("effort", "summary");
  private static final Set<String> REASONING_EFFORTS = orderedSet("none", "minimal", "low", "medium", "high", "xhigh");
  private static final Set<String> REASONING_SUMMARIES = orderedSet("auto", "concise", "detailed");
  private static final Set<String> TRUNCATIONS = orderedSet("auto", "disabled");
  private static final Set<String> VERBOSITIES = orderedSet("low", "medium", "high");
  private static final Set<String> TOOL_USE_BEHAVIORS = orderedSet("run_llm_again", "stop_on_first_tool");
  private static final Set<String> TOOL_USE_KEYS = orderedSet("stopAtToolNames");
  private static final Set<String> TOOL_KEYS = orderedSet("name", "description", "kind", "parameters", "strict",
      "needsApproval", "timeout");
  /** Keys of a guardrail entry; every other key is the type's settings (configJson). */
  private static final Set<String> GUARDRAIL_KEYS = orderedSet("name", "stage", "type", "mode", "action", "tools", "config");
  private static final Set<String> APPROVAL_RULE_KEYS = orderedSet("tool", "pattern");
  /** {@code retry:} holds a policy for every call kind ({@code default}) and per kind. */
  private static final Set<String> RETRY_KEYS = orderedSet("default", "model", "tool", "sandbox", "guardrail");
  private static final Set<String> RETRY_POLICY_KEYS = orderedSet("attempts", "backoff", "maxBackoff", "budget");
  /** Guardrail types, ids of custom ones included. */
  private static final Pattern GUARDRAIL_TYPE = Pattern.compile("^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$");

  /** Loads one agent file. */
  public static AgentDefinition load(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (NoSuchFileException e) {
      throw new AgentYamlException(file.toString(), null, "no such file");
    } catch (IOException e) {
      throw new AgentYamlException(file.toString(), null, "cannot read: " + e.getMessage());
    }
    Path dir = file.toAbsolutePath().normalize().getParent();
    return parse(text, file.toString(), dir);
  }

  /**
   * Loads a file, or every {@code *.yaml} / {@code *.yml} file of a directory (sorted by name). Two
   * files defining the same agent name are an error.
   */
  public static List<AgentDefinition> loadAll(Path fileOrDirectory) {
    if (!Files.exists(fileOrDirectory)) {
      throw new AgentYamlException(fileOrDirectory.toString(), null, "no such file or directory");
    }
    if (!Files.isDirectory(fileOrDirectory)) {
      return List.of(load(fileOrDirectory));
    }
    List<Path> files;
    try (Stream<Path> s = Files.list(fileOrDirectory)) {
      files = s.filter(p -> {
        String n = p.getFileName().toString();
        return Files.isRegularFile(p) && (n.endsWith(".yaml") || n.endsWith(".yml"));
      }).sorted(Comparator.comparing(Path::toString)).toList();
    } catch (IOException e) {
      throw new AgentYamlException(fileOrDirectory.toString(), null, "cannot list: " + e.getMessage());
    }
    if (files.isEmpty()) {
      throw new AgentYamlException(fileOrDirectory.toString(), null, "no *.yaml or *.yml agent files in this directory");
    }
    List<AgentDefinition> out = new ArrayList<>();
    Map<String, Path> seen = new HashMap<>();
    for (Path f : files) {
      AgentDefinition d = load(f);
      Path before = seen.putIfAbsent(d.getName(), f);
      if (before != null) {
        throw new AgentYamlException(f.toString(), "name", "agent '" + d.getName() + "' is also defined in " + before);
      }
      out.add(d);
    }
    return out;
  }

  /**
   * Parses one agent from YAML text; {@code source} names it in error messages. There is no agent
   * directory, so manifest files and skills must be inline ({@code source:} and skill {@code path:}
   * are rejected); use {@link #load(Path)} or {@link #parse(String, String, Path)} for those.
   */
  public static AgentDefinition parse(String yaml, String source) {
    return parse(yaml, source, null);
  }

  /**
   * Parses one agent from YAML text whose bundle files ({@code source:}, skill {@code path:}) are
   * read from {@code agentDir} (null: none may be referenced).
   */
  public static AgentDefinition parse(String yaml, String source, Path agentDir) {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (JsonProcessingException e) {
      JsonLocation loc = e.getLocation();
      String where = loc == null || loc.getLineNr() < 0 ? "" : " at line " + loc.getLineNr() + ", column " + loc.getColumnNr();
      throw new AgentYamlException(source, null, "invalid YAML" + where + ": " + firstLine(e.getOriginalMessage()));
    }
    if (root == null || root.isMissingNode() || root.isNull()) {
      throw new AgentYamlException(source, null, "the file is empty; an agent needs at least name, version and model");
    }
    if (!root.isObject()) {
      throw new AgentYamlException(source, null, "expected a mapping of agent fields (name, version, model, ...), got "
          + kindOf(root));
    }
    Obj o = new Obj(source, "", (ObjectNode) root);
    o.rejectUnknown(TOP_KEYS);

    AgentDefinition.Builder b = AgentDefinition.newBuilder();
    String name = o.requiredString("name");
    if (!NAME.matcher(name).matches()) {
      throw o.error("name", "'" + name + "' is not a valid agent name (must match " + NAME.pattern() + ")");
    }
    b.setName(name);
    b.setVersion(o.requiredInt("version", 1));
    b.setModel(o.requiredString("model"));
    b.setModelProvider(modelProvider(o));
    b.setDescription(o.optString("description", ""));
    b.setInstructions(o.optString("instructions", ""));
    b.setModelSettings(modelSettings(o));
    List<ToolSpec> tools = tools(o);
    b.setTools(tools);
    List<String> handoffs = names(o, "handoffs", true);
    for (int i = 0; i < handoffs.size(); i++) {
      if (handoffs.get(i).equals(name)) {
        throw o.error("handoffs[" + i + "]", "an agent cannot hand off to itself");
      }
    }
    b.setHandoffs(handoffs);
    List<String> capabilities = names(o, "capabilities", false);
    for (int i = 0; i < capabilities.size(); i++) {
      String c = capabilities.get(i);
      if (!Capabilities.names().contains(c)) {
        Set<String> known = Capabilities.names();
        String hint = suggestion(c, known);
        throw o.error("capabilities[" + i + "]", "'" + c + "' is not a capability"
            + (hint == null ? "" : " (did you mean '" + hint + "'?)") + "; known: " + String.join(", ", known));
      }
    }
    b.setCapabilities(capabilities);
    for (int i = 0; i < tools.size(); i++) {
      for (String h : handoffs) {
        if (tools.get(i).getName().equals(handoffToolName(h))) {
          throw o.error("tools[" + i + "].name", "'" + tools.get(i).getName() + "' is reserved for the handoff to '" + h
              + "' (listed in handoffs)");
        }
      }
    }
    Set<String> toolNames = offeredToolNames(tools, capabilities);
    toolChoice(o, b.getModelSettings(), toolNames, handoffs);
    hostedToolsNeedResponses(o, tools, b.getModelSettings());
    HostedToolYaml.refuseTurnpikeOnlySettings(o, tools);
    b.setOutputType(OutputTypeYaml.parse(o));
    b.setToolUseBehavior(toolUseBehavior(o, toolNames));
    Boolean reset = o.optBoolean("resetToolChoice");
    b.setResetToolChoice(reset == null || reset);
    b.setGuardrails(guardrails(o, toolNames));
    if (b.getModelSettings() != null && b.getModelSettings().getStream()
        && b.getGuardrails().stream().anyMatch(g -> g.getStage() == GuardrailStage.OUTPUT)) {
      throw o.error("modelSettings.stream", "cannot be on with an output guardrail: the answer is judged before it shows"
          + " anywhere, and streamed deltas would show it first (remove stream, or the output guardrail; a run that asks"
          + " to stream gets this agent's answers unstreamed)");
    }
    b.setGuardrailTimeoutMs(o.optDurationMs("guardrailTimeout", 30_000L));
    b.setApprovalRules(approvalRules(o, toolNames));
    b.setApprovalTimeoutMs(o.optDurationMs("approvalTimeout", null));
    String onTimeout = o.optString("approvalTimeoutAction", null);
    if (onTimeout != null) {
      if (b.getApprovalTimeoutMs() == null) {
        throw o.error("approvalTimeoutAction", "has no effect without approvalTimeout (approvals wait forever by default)");
      }
      b.setApprovalTimeoutAction(switch (onTimeout.toLowerCase(Locale.ROOT)) {
        case "reject" -> ApprovalTimeoutAction.REJECT;
        case "fail" -> ApprovalTimeoutAction.FAIL;
        default -> throw o.error("approvalTimeoutAction", "'" + onTimeout + "' is not an action (use reject: the model"
            + " is told the call was not run, or fail: the run fails)");
      });
    }
    String filter = o.optString("handoffInputFilter", null);
    if (filter != null) {
      if (handoffs.isEmpty()) {
        throw o.error("handoffInputFilter", "has no effect: this agent lists no handoffs");
      }
      b.setHandoffInputFilter(switch (filter.toLowerCase(Locale.ROOT).replace('-', '_')) {
        case "none" -> HandoffInputFilter.NONE;
        case "remove_tool_calls" -> HandoffInputFilter.REMOVE_TOOL_CALLS;
        case "last_user_message" -> HandoffInputFilter.LAST_USER_MESSAGE;
        default -> throw o.error("handoffInputFilter", "'" + filter + "' is not a handoff input filter (use none,"
            + " remove_tool_calls or last_user_message)");
      });
    }
    Obj manifest = o.optObject("manifest");
    b.setManifest(manifest == null ? null : ManifestYaml.parse(manifest, agentDir));
    b.setMaxTurns(o.optInt("maxTurns", 10, 1));
    b.setModelTimeoutMs(o.optDurationMs("modelTimeout", 120_000L));
    b.setToolTimeoutMs(o.optDurationMs("toolTimeout", 60_000L));
    retry(o, b);
    b.setMetadata(metadata(o));
    b.setMemory(MemoryYaml.parse(o));
    b.setCompaction(CompactionYaml.parse(o, capabilities));
    b.setTools(MemoryYaml.withMemoryTool(o, b.getTools(), b.getMemory()));
    return b.build();
  }

  /** Parses {@code 500ms}, {@code 30s}, {@code 2m} or {@code 1h}. */
  public static Duration parseDuration(String text) {
    Matcher m = text == null ? null : DURATION.matcher(text);
    if (m == null || !m.matches()) {
      throw new IllegalArgumentException("'" + text + "' is not a duration like 500ms, 30s, 2m or 1h");
    }
    long n = Long.parseLong(m.group(1));
    return switch (m.group(2)) {
      case "ms" -> Duration.ofMillis(n);
      case "s" -> Duration.ofSeconds(n);
      case "m" -> Duration.ofMinutes(n);
      default -> Duration.ofHours(n);
    };
  }

  // ------------------------------------------------------------------------------------------

  private static ModelSettings modelSettings(Obj top) {
    Obj s = top.optObject("modelSettings");
    if (s == null) {
      return null;
    }
    s.rejectUnknown(SETTINGS_KEYS);
    ModelSettings.Builder b = ModelSettings.newBuilder();
    b.setTemperature(s.optDouble("temperature", 0, 2));
    b.setTopP(s.optDouble("topP", 0, 1));
    Integer max = s.optIntOrNull("maxOutputTokens", 1);
    b.setMaxOutputTokens(max == null ? null : max.longValue());
    b.setToolChoice(s.optString("toolChoice", null));
    b.setParallelToolCalls(s.optBoolean("parallelToolCalls"));
    String api = s.optString("api", null);
    if (api == null) {
      b.setApi(ModelApi.RESPONSES);
    } else {
      b.setApi(switch (api.toLowerCase(Locale.ROOT)) {
        case "responses" -> ModelApi.RESPONSES;
        case "chat", "chat_completions", "chat-completions" -> ModelApi.CHAT_COMPLETIONS;
        default -> throw s.error("api", "'" + api + "' is not a model API (use responses or chat)");
      });
    }
    boolean chat = b.getApi() == ModelApi.CHAT_COMPLETIONS;
    Obj reasoning = s.optObject("reasoning");
    if (reasoning != null) {
      reasoning.rejectUnknown(REASONING_KEYS);
      String effort = oneOf(reasoning, "effort", REASONING_EFFORTS);
      String summary = oneOf(reasoning, "summary", REASONING_SUMMARIES);
      if (summary != null && chat) {
        throw reasoning.error("summary", "Chat Completions returns no reasoning summary (only effort applies there); remove"
            + " it, or use api: responses");
      }
      b.setReasoning(new ReasoningSettings(effort, summary));
    }
    String truncation = oneOf(s, "truncation", TRUNCATIONS);
    if (truncation != null && chat) {
      throw s.error("truncation", "is a Responses API setting; Chat Completions has none (remove it, or use api: responses)");
    }
    b.setTruncation(truncation);
    for (String penalty : List.of("frequencyPenalty", "presencePenalty")) {
      Double v = s.optDouble(penalty, -2, 2);
      if (v != null && !chat) {
        throw s.error(penalty, "the Responses API has no penalties, so it would not be sent; set api: chat to use it,"
            + " or remove it");
      }
      if (penalty.equals("frequencyPenalty")) {
        b.setFrequencyPenalty(v);
      } else {
        b.setPresencePenalty(v);
      }
    }
    b.setVerbosity(oneOf(s, "verbosity", VERBOSITIES));
    b.setMetadata(requestMetadata(s));
    Boolean stream = s.optBoolean("stream");
    b.setStream(stream != null && stream);
    return b.build();
  }

  /**
   * {@code modelProvider}: the name of a provider the model invoker is configured with (its base URL,
   * API and the environment variable holding its key live there, never here). Only the name is
   * checked: the invoker knows its providers, and fails a call naming one it does not know.
   */
  private static String modelProvider(Obj top) {
    String name = top.optString("modelProvider", null);
    if (name == null) {
      return null;
    }
    if (!MODEL_PROVIDER.matcher(name).matches()) {
      throw top.error("modelProvider", "'" + name + "' is not a provider name (lower-case letters, digits, - and _, as"
          + " in local-llama; it names TURNPIKE_MODEL_PROVIDER_<NAME>_* settings of the model invoker, not a URL)");
    }
    return name;
  }

  /** A setting that takes one of {@code allowed}, lower-cased; a near miss gets a "did you mean". */
  private static String oneOf(Obj o, String field, Set<String> allowed) {
    String v = o.optString(field, null);
    if (v == null) {
      return null;
    }
    String value = v.trim().toLowerCase(Locale.ROOT);
    if (!allowed.contains(value)) {
      String hint = suggestion(value, allowed);
      throw o.error(field, "'" + v + "' is not one of " + String.join(", ", allowed)
          + (hint == null ? "" : " (did you mean '" + hint + "'?)"));
    }
    return value;
  }

  /** {@code modelSettings.metadata}: sent with every request, so within the API's limits (16 pairs, 64/512 characters). */
  private static Map<String, String> requestMetadata(Obj s) {
    Obj m = s.optObject("metadata");
    if (m == null) {
      return Map.of();
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = m.node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isValueNode() || e.getValue().isNull()) {
        throw m.error(e.getKey(), "metadata values must be plain text, numbers or booleans, got " + kindOf(e.getValue()));
      }
      if (e.getKey().length() > 64 || e.getValue().asText().length() > 512) {
        throw m.error(e.getKey(), "the model APIs take keys of up to 64 characters and values of up to 512");
      }
      out.put(e.getKey(), e.getValue().asText());
    }
    if (out.size() > 16) {
      throw s.error("metadata", "has " + out.size() + " pairs; the model APIs take at most 16");
    }
    return out;
  }

  /** {@code toolChoice}: auto, required, none, or the name of a tool the agent offers (handoff tools included). */
  private static void toolChoice(Obj top, ModelSettings settings, Set<String> toolNames, List<String> handoffs) {
    if (settings == null || settings.getToolChoice() == null) {
      return;
    }
    String choice = settings.getToolChoice().trim();
    if (Set.of("auto", "required", "none").contains(choice.toLowerCase(Locale.ROOT))) {
      return;
    }
    Set<String> offered = new java.util.TreeSet<>(toolNames);
    handoffs.forEach(h -> offered.add(handoffToolName(h)));
    if (!offered.contains(choice)) {
      String hint = suggestion(choice, offered);
      throw new AgentYamlException(top.source, top.path("modelSettings.toolChoice"), "'" + choice + "' is neither auto,"
          + " required, none nor a tool of this agent" + (hint == null ? "" : " (did you mean '" + hint + "'?)")
          + "; its tools: " + (offered.isEmpty() ? "none" : String.join(", ", offered)));
    }
  }

  /** Hosted tools exist in the Responses API only: on the Chat path they would silently not be offered. */
  private static void hostedToolsNeedResponses(Obj top, List<ToolSpec> tools, ModelSettings settings) {
    if (settings == null || settings.getApi() != ModelApi.CHAT_COMPLETIONS) {
      return;
    }
    for (int i = 0; i < tools.size(); i++) {
      if (tools.get(i).getKind() == ToolKind.HOSTED) {
        throw new AgentYamlException(top.source, top.path("tools[" + i + "].kind"), "hosted tool '" + tools.get(i).getName()
            + "' is offered by the Responses API only, and this agent uses api: chat; use api: responses, or remove it");
      }
    }
  }

  /**
   * {@code toolUseBehavior} with the SDK's meanings: {@code run_llm_again} (the default),
   * {@code stop_on_first_tool}, or {@code {stopAtToolNames: [...]}}.
   */
  private static ToolUseBehavior toolUseBehavior(Obj top, Set<String> toolNames) {
    JsonNode n = top.node.get("toolUseBehavior");
    if (n == null || n.isNull()) {
      return null;
    }
    if (n.isTextual()) {
      String v = oneOf(top, "toolUseBehavior", TOOL_USE_BEHAVIORS);
      return new ToolUseBehavior(v.equals("stop_on_first_tool") ? ToolUseMode.STOP_ON_FIRST_TOOL : ToolUseMode.RUN_LLM_AGAIN,
          List.of());
    }
    if (!n.isObject()) {
      throw top.error("toolUseBehavior", "must be run_llm_again, stop_on_first_tool or {stopAtToolNames: [a tool, ...]}, got "
          + kindOf(n));
    }
    Obj o = new Obj(top.source, top.path("toolUseBehavior"), (ObjectNode) n);
    o.rejectUnknown(TOOL_USE_KEYS);
    List<String> names = names(o, "stopAtToolNames", false);
    if (names.isEmpty()) {
      throw o.error("stopAtToolNames", "is required: the tools whose output ends the run");
    }
    for (int i = 0; i < names.size(); i++) {
      requireOfferedTool(o, "stopAtToolNames[" + i + "]", names.get(i), toolNames);
    }
    return new ToolUseBehavior(ToolUseMode.STOP_AT_TOOLS, names);
  }

  private static List<ToolSpec> tools(Obj top) {
    JsonNode arr = top.node.get("tools");
    if (arr == null || arr.isNull()) {
      return List.of();
    }
    if (!arr.isArray()) {
      throw top.error("tools", "must be a list of tools, got " + kindOf(arr));
    }
    List<ToolSpec> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < arr.size(); i++) {
      String path = top.path("tools") + "[" + i + "]";
      JsonNode n = arr.get(i);
      if (!n.isObject()) {
        throw new AgentYamlException(top.source, path, "must be a mapping with at least a name, got " + kindOf(n));
      }
      Obj t = new Obj(top.source, path, (ObjectNode) n);
      if (t.node.path("kind").isTextual() && t.node.path("kind").asText().trim().equalsIgnoreCase("hosted")) {
        // A hosted tool's other keys are its type's settings, not a function tool's: HostedToolYaml checks them.
        ToolSpec hosted = HostedToolYaml.parse(t);
        if (!NAME.matcher(hosted.getName()).matches()) {
          throw t.error("name", "'" + hosted.getName() + "' is not a valid tool name (must match " + NAME.pattern() + ")");
        }
        if (!names.add(hosted.getName())) {
          throw t.error("name", "duplicate tool name '" + hosted.getName() + "'");
        }
        for (ToolSpec earlier : out) {
          if (earlier.getKind() == ToolKind.HOSTED && HostedToolYaml.identity(earlier).equals(HostedToolYaml.identity(hosted))) {
            throw t.error("type", "the agent already has a hosted " + HostedToolYaml.identity(hosted) + " ('"
                + earlier.getName() + "'); the API takes one of each (hosted MCP servers: one per serverLabel)");
          }
        }
        out.add(hosted);
        continue;
      }
      if (McpToolYaml.isMcpServer(t)) {
        // An MCP gateway server's tools (its own keys: server, allow, deny, requireApproval); one entry per server.
        ToolSpec server = McpToolYaml.parse(t);
        if (!names.add(server.getName())) {
          throw t.error("server", "MCP server '" + server.getMcp().getServer() + "' is listed twice; keep one entry");
        }
        out.add(server);
        continue;
      }
      if (AgentToolYaml.isAgentTool(t)) {
        // Another agent as a tool (its own keys: agent, agentVersion); the name rules are the same.
        ToolSpec agentTool = AgentToolYaml.parse(t, top.node.path("name").asText());
        if (!NAME.matcher(agentTool.getName()).matches()) {
          throw t.error("name", "'" + agentTool.getName() + "' is not a valid tool name (must match " + NAME.pattern() + ")");
        }
        if (!names.add(agentTool.getName())) {
          throw t.error("name", "duplicate tool name '" + agentTool.getName() + "'");
        }
        out.add(agentTool);
        continue;
      }
      t.rejectUnknown(TOOL_KEYS);
      String name = t.requiredString("name");
      if (!NAME.matcher(name).matches()) {
        throw t.error("name", "'" + name + "' is not a valid tool name (must match " + NAME.pattern() + ")");
      }
      if (!names.add(name)) {
        throw t.error("name", "duplicate tool name '" + name + "'");
      }
      ToolSpec.Builder b = ToolSpec.newBuilder().setName(name);
      b.setDescription(t.optString("description", ""));
      String kind = t.optString("kind", "function");
      b.setKind(switch (kind.toLowerCase(Locale.ROOT)) {
        case "function" -> ToolKind.FUNCTION;
        case "sandbox" -> ToolKind.SANDBOX;
        case "hosted" -> ToolKind.HOSTED;
        default -> throw t.error("kind", "'" + kind + "' is not a tool kind (use function, sandbox, mcp, hosted or agent)");
      });
      JsonNode params = t.node.get("parameters");
      if (params == null || params.isNull()) {
        b.setParametersJson(DEFAULT_PARAMETERS);
      } else if (!params.isObject()) {
        throw t.error("parameters", "must be a JSON schema object (a mapping such as {type: object, properties: {...}}), got "
            + kindOf(params));
      } else {
        JsonNode type = params.get("type");
        if (type != null && !"object".equals(type.asText())) {
          throw t.error("parameters", "the schema's type must be object (tool arguments are a JSON object), got '"
              + type.asText() + "'");
        }
        OutputTypeYaml.checkKeywords(params, t.source, t.path("parameters"));
        try {
          b.setParametersJson(JSON.writeValueAsString(params));
        } catch (JsonProcessingException e) {
          throw t.error("parameters", "cannot be written as JSON: " + e.getOriginalMessage());
        }
      }
      b.setStrict(Boolean.TRUE.equals(t.optBoolean("strict")));
      b.setNeedsApproval(Boolean.TRUE.equals(t.optBoolean("needsApproval")));
      Long timeout = t.optDurationMs("timeout", null);
      b.setTimeoutMs(timeout);
      out.add(b.build());
    }
    return out;
  }

  /** One field of a retry policy as resolved for a kind, and where its value came from (for messages). */
  private record Setting(long value, String path) {
    boolean given() {
      return path != null;
    }

    String from() {
      return path == null ? "the default" : path;
    }
  }

  /** One timeout an attempt of a kind can run for, and the field that sets it. */
  private record AttemptTimeout(long ms, String path, boolean given) {
    String from() {
      return given ? path : "the default " + path;
    }
  }

  /**
   * {@code retry:} and its shorthand {@code maxAttempts}, resolved into one complete policy per call
   * kind (each field: the kind's own, else {@code default}'s, else RetryPolicy's schema default), so
   * the published definition says exactly what the runner will do.
   */
  private static void retry(Obj top, AgentDefinition.Builder b) {
    Integer maxAttempts = top.optIntOrNull("maxAttempts", 1);
    Obj r = top.optObject("retry");
    if (r != null && r.node.has("approval")) {
      throw r.error("approval", "approvals are not retried: a call waits for a human until approvalTimeout; remove it");
    }
    if (r != null) {
      r.rejectUnknown(RETRY_KEYS);
    }
    Obj defaults = r == null ? null : r.optObject("default");
    if (defaults != null) {
      defaults.rejectUnknown(RETRY_POLICY_KEYS);
      if (maxAttempts != null && defaults.node.hasNonNull("attempts")) {
        throw top.error("maxAttempts", "is a shorthand for retry.default.attempts, which is also given; keep one");
      }
    }
    RetryPolicy schemaDefaults = RetryPolicy.newBuilder().build();
    RetryPolicies.Builder policies = RetryPolicies.newBuilder();
    for (String kind : List.of("model", "tool", "sandbox", "guardrail")) {
      Obj own = r == null ? null : r.optObject(kind);
      if (own != null) {
        own.rejectUnknown(RETRY_POLICY_KEYS);
      }
      Setting attempts = setting(own, defaults, "attempts", schemaDefaults.getAttempts());
      if (!attempts.given() && maxAttempts != null) {
        attempts = new Setting(maxAttempts, top.path("maxAttempts"));
      }
      Setting backoff = setting(own, defaults, "backoff", schemaDefaults.getBackoffMs());
      Setting maxBackoff = setting(own, defaults, "maxBackoff", schemaDefaults.getMaxBackoffMs());
      Setting budget = setting(own, defaults, "budget", schemaDefaults.getBudgetMs());
      if (backoff.value() > maxBackoff.value()) {
        String at = backoff.given() ? backoff.path() : maxBackoff.path();
        throw new AgentYamlException(top.source, at, kind + " backoff " + human(backoff.value()) + " (" + backoff.from()
            + ") is longer than its maxBackoff " + human(maxBackoff.value()) + " (" + maxBackoff.from()
            + "); the wait doubles from backoff up to maxBackoff, so backoff must not be longer");
      }
      AttemptTimeout longest = longestAttempt(top, b, kind);
      if (attempts.value() > 1 && budget.value() <= longest.ms()) {
        String advice = "; a call could not be re-sent within the budget (it counts from the first send)";
        if (budget.given() || !longest.given()) {
          throw new AgentYamlException(top.source, budget.path() == null ? top.path("retry") : budget.path(),
              kind + " retry budget " + human(budget.value()) + " (" + budget.from() + ") must be longer than one "
                  + kind + " attempt (" + human(longest.ms()) + ", " + longest.from() + ")" + advice);
        }
        throw new AgentYamlException(top.source, longest.path(), human(longest.ms()) + " is not shorter than the " + kind
            + " retry budget (" + human(budget.value()) + ", the default)" + advice + "; set retry." + kind
            + ".budget (or retry.default.budget) above it");
      }
      RetryPolicy policy = RetryPolicy.newBuilder().setAttempts((int) attempts.value()).setBackoffMs(backoff.value())
          .setMaxBackoffMs(maxBackoff.value()).setBudgetMs(budget.value()).build();
      switch (kind) {
        case "model" -> policies.setModel(policy);
        case "tool" -> policies.setTool(policy);
        case "sandbox" -> policies.setSandbox(policy);
        default -> policies.setGuardrail(policy);
      }
    }
    b.setRetry(policies.build());
    // Runners that predate retry policies read maxAttempts; give them the default policy's attempts.
    Setting attempts = setting(null, defaults, "attempts", schemaDefaults.getAttempts());
    b.setMaxAttempts(maxAttempts != null ? maxAttempts : (int) attempts.value());
  }

  /** A policy field: the kind's own, else the default policy's, else the schema default. */
  private static Setting setting(Obj own, Obj defaults, String field, long schemaDefault) {
    for (Obj o : new Obj[] {own, defaults}) {
      if (o == null || !o.node.hasNonNull(field)) {
        continue;
      }
      long value = field.equals("attempts") ? o.optIntOrNull(field, 1) : o.optDurationMs(field, null);
      return new Setting(value, o.path(field));
    }
    return new Setting(schemaDefault, null);
  }

  /** The longest time one attempt of a call kind may take, and the field that sets it. */
  private static AttemptTimeout longestAttempt(Obj top, AgentDefinition.Builder b, String kind) {
    return switch (kind) {
      case "model" -> new AttemptTimeout(b.getModelTimeoutMs(), "modelTimeout", top.node.hasNonNull("modelTimeout"));
      case "guardrail" -> new AttemptTimeout(b.getGuardrailTimeoutMs(), "guardrailTimeout", top.node.hasNonNull("guardrailTimeout"));
      default -> {
        // A tool without its own timeout runs for toolTimeout; sandbox tools are the capabilities' and those declared so.
        AttemptTimeout longest = new AttemptTimeout(b.getToolTimeoutMs(), "toolTimeout", top.node.hasNonNull("toolTimeout"));
        List<ToolSpec> tools = b.getTools();
        for (int i = 0; i < tools.size(); i++) {
          ToolSpec t = tools.get(i);
          boolean sandbox = t.getKind() == ToolKind.SANDBOX || Capabilities.isSandboxTool(t.getName());
          // An agent tool's timeout bounds a child run, which is never re-sent: no retry budget applies to it.
          if (t.getTimeoutMs() != null && t.getKind() != ToolKind.AGENT && sandbox == kind.equals("sandbox")
              && t.getTimeoutMs() > longest.ms()) {
            longest = new AttemptTimeout(t.getTimeoutMs(), "tools[" + i + "].timeout", true);
          }
        }
        yield longest;
      }
    };
  }

  /** 500ms, 30s, 2m, 1h30m: how durations are written in agent YAML. */
  static String human(long ms) {
    if (ms < 1000 || ms % 1000 != 0) {
      return ms + "ms";
    }
    long s = ms / 1000;
    StringBuilder out = new StringBuilder();
    if (s >= 3600) {
      out.append(s / 3600).append('h');
    }
    if (s % 3600 >= 60) {
      out.append(s % 3600 / 60).append('m');
    }
    if (s % 60 > 0) {
      out.append(s % 60).append('s');
    }
    return out.toString();
  }

  /** The tool a handoff to {@code agentName} is offered as (what the runner names it). */
  public static String handoffToolName(String agentName) {
    String name = "transfer_to_" + agentName.replaceAll("[^a-zA-Z0-9_-]", "_");
    return name.length() > 64 ? name.substring(0, 64) : name;
  }

  /** The agent's own tools and its capabilities' sandbox tools, by name (sorted). */
  private static Set<String> offeredToolNames(List<ToolSpec> tools, List<String> capabilities) {
    Set<String> out = new java.util.TreeSet<>();
    tools.forEach(t -> out.add(t.getName()));
    for (String c : capabilities) {
      Capabilities.TOOLS.getOrDefault(c, List.of()).forEach(t -> out.add(t.getName()));
    }
    return out;
  }

  private static List<GuardrailSpec> guardrails(Obj top, Set<String> toolNames) {
    JsonNode arr = top.node.get("guardrails");
    if (arr == null || arr.isNull()) {
      return List.of();
    }
    if (!arr.isArray()) {
      throw top.error("guardrails", "must be a list of guardrails ({name, stage, type, ...}), got " + kindOf(arr));
    }
    List<GuardrailSpec> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < arr.size(); i++) {
      String path = top.path("guardrails") + "[" + i + "]";
      JsonNode n = arr.get(i);
      if (!n.isObject()) {
        throw new AgentYamlException(top.source, path, "must be a mapping such as {name: pii, stage: output, type: pii},"
            + " got " + kindOf(n));
      }
      Obj g = new Obj(top.source, path, (ObjectNode) n);
      String name = g.requiredString("name");
      if (!NAME.matcher(name).matches()) {
        throw g.error("name", "'" + name + "' is not a valid guardrail name (must match " + NAME.pattern() + ")");
      }
      if (!names.add(name)) {
        throw g.error("name", "duplicate guardrail name '" + name + "'");
      }
      GuardrailStage stage = switch (g.requiredString("stage").toLowerCase(Locale.ROOT).replace('-', '_')) {
        case "input" -> GuardrailStage.INPUT;
        case "output" -> GuardrailStage.OUTPUT;
        case "tool_input" -> GuardrailStage.TOOL_INPUT;
        case "tool_output" -> GuardrailStage.TOOL_OUTPUT;
        default -> throw g.error("stage", "'" + g.requiredString("stage")
            + "' is not a guardrail stage (use input, output, tool_input or tool_output)");
      };
      String type = g.requiredString("type");
      if (!GUARDRAIL_TYPE.matcher(type).matches()) {
        throw g.error("type", "'" + type + "' is not a guardrail type (regex, keywords, pii, max_length, json_schema,"
            + " prompt_injection, tool_policy, llm, or the id of a custom one)");
      }
      GuardrailSpec.Builder b = GuardrailSpec.newBuilder().setName(name).setStage(stage).setType(type);
      String mode = g.optString("mode", null);
      if (mode != null) {
        if (stage != GuardrailStage.INPUT) {
          throw g.error("mode", "applies to input guardrails only (it says whether the first model call waits for"
              + " them); remove it");
        }
        b.setMode(switch (mode.toLowerCase(Locale.ROOT)) {
          case "parallel" -> GuardrailMode.PARALLEL;
          case "blocking" -> GuardrailMode.BLOCKING;
          default -> throw g.error("mode", "'" + mode + "' is not a mode (use parallel or blocking)");
        });
      }
      String action = g.optString("action", null);
      if (action != null) {
        b.setAction(switch (action.toLowerCase(Locale.ROOT)) {
          case "block" -> GuardrailAction.BLOCK;
          case "redact" -> GuardrailAction.REDACT;
          case "reject" -> {
            if (stage != GuardrailStage.TOOL_INPUT) {
              throw g.error("action", "reject refuses a tool call with a message the model sees, so it applies to"
                  + " stage tool_input only; use block or redact");
            }
            yield GuardrailAction.REJECT;
          }
          default -> throw g.error("action", "'" + action + "' is not an action (use block, redact or reject)");
        });
      }
      JsonNode tools = g.node.get("tools");
      if (tools != null && !tools.isNull()) {
        if (stage != GuardrailStage.TOOL_INPUT && stage != GuardrailStage.TOOL_OUTPUT) {
          throw g.error("tools", "applies to tool_input and tool_output guardrails only; remove it");
        }
        List<String> list = names(g, "tools", false);
        for (int t = 0; t < list.size(); t++) {
          requireOfferedTool(g, "tools[" + t + "]", list.get(t), toolNames);
        }
        b.setTools(list);
      }
      b.setConfigJson(guardrailConfig(g));
      out.add(b.build());
    }
    return out;
  }

  /** The entry's own settings: {@code config:} and every key that is not a guardrail field, as a JSON object. */
  private static String guardrailConfig(Obj g) {
    ObjectNode config = JSON.createObjectNode();
    JsonNode explicit = g.node.get("config");
    if (explicit != null && !explicit.isNull()) {
      if (!explicit.isObject()) {
        throw g.error("config", "must be a mapping of the guardrail type's settings, got " + kindOf(explicit));
      }
      config.setAll((ObjectNode) explicit);
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = g.node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (GUARDRAIL_KEYS.contains(e.getKey())) {
        continue;
      }
      String hint = suggestion(e.getKey(), GUARDRAIL_KEYS);
      if (hint != null) {
        throw g.error(e.getKey(), "unknown guardrail field (did you mean '" + hint + "'?); if it is a setting of the"
            + " guardrail type, put it under config: {" + e.getKey() + ": ...}");
      }
      if (config.has(e.getKey())) {
        throw g.error(e.getKey(), "is also given under config");
      }
      config.set(e.getKey(), e.getValue());
    }
    try {
      return JSON.writeValueAsString(config);
    } catch (JsonProcessingException e) {
      throw g.error("config", "cannot be written as JSON: " + e.getOriginalMessage());
    }
  }

  private static List<ApprovalRule> approvalRules(Obj top, Set<String> toolNames) {
    JsonNode arr = top.node.get("approvalRules");
    if (arr == null || arr.isNull()) {
      return List.of();
    }
    if (!arr.isArray()) {
      throw top.error("approvalRules", "must be a list of rules such as {tool: shell, pattern: \"rm \"}, got "
          + kindOf(arr));
    }
    List<ApprovalRule> out = new ArrayList<>();
    for (int i = 0; i < arr.size(); i++) {
      String path = top.path("approvalRules") + "[" + i + "]";
      JsonNode n = arr.get(i);
      if (!n.isObject()) {
        throw new AgentYamlException(top.source, path, "must be a mapping such as {tool: shell, pattern: \"rm \"}, got "
            + kindOf(n));
      }
      Obj r = new Obj(top.source, path, (ObjectNode) n);
      r.rejectUnknown(APPROVAL_RULE_KEYS);
      String tool = r.requiredString("tool");
      requireOfferedTool(r, "tool", tool, toolNames);
      String pattern = r.optString("pattern", ".*");
      if (pattern.isEmpty()) {
        throw r.error("pattern", "is empty; leave it out to require approval for every call of " + tool);
      }
      try {
        Pattern.compile(pattern);
      } catch (PatternSyntaxException e) {
        throw r.error("pattern", "'" + pattern + "' is not a valid regex: " + e.getDescription()
            + (e.getIndex() >= 0 ? " near index " + e.getIndex() : ""));
      }
      out.add(new ApprovalRule(tool, pattern));
    }
    return out;
  }

  private static void requireOfferedTool(Obj o, String field, String tool, Set<String> toolNames) {
    if (!toolNames.contains(tool)) {
      String hint = suggestion(tool, toolNames);
      throw o.error(field, "'" + tool + "' is not a tool of this agent" + (hint == null ? "" : " (did you mean '" + hint
          + "'?)") + "; its tools: " + (toolNames.isEmpty() ? "none" : String.join(", ", toolNames))
          + " (capabilities add their sandbox tools)");
    }
  }

  private static List<String> names(Obj top, String field, boolean mustBeAgentName) {
    JsonNode arr = top.node.get(field);
    if (arr == null || arr.isNull()) {
      return List.of();
    }
    if (!arr.isArray()) {
      throw top.error(field, "must be a list of names, got " + kindOf(arr));
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < arr.size(); i++) {
      JsonNode n = arr.get(i);
      String path = field + "[" + i + "]";
      if (!n.isTextual() || n.asText().isBlank()) {
        throw top.error(path, "must be a non-empty name, got " + kindOf(n));
      }
      if (mustBeAgentName && !NAME.matcher(n.asText()).matches()) {
        throw top.error(path, "'" + n.asText() + "' is not a valid agent name (must match " + NAME.pattern() + ")");
      }
      if (out.contains(n.asText())) {
        throw top.error(path, "'" + n.asText() + "' is listed twice");
      }
      out.add(n.asText());
    }
    return out;
  }

  private static Map<String, String> metadata(Obj top) {
    Obj m = top.optObject("metadata");
    if (m == null) {
      return Map.of();
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = m.node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isValueNode() || e.getValue().isNull()) {
        throw m.error(e.getKey(), "metadata values must be plain text, numbers or booleans, got " + kindOf(e.getValue()));
      }
      out.put(e.getKey(), e.getValue().asText());
    }
    return out;
  }

  static String kindOf(JsonNode n) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return "nothing";
    }
    if (n.isObject()) {
      return "a mapping";
    }
    if (n.isArray()) {
      return "a list";
    }
    if (n.isTextual()) {
      return "text '" + abbreviate(n.asText()) + "'";
    }
    if (n.isBoolean()) {
      return "a boolean (" + n.asText() + ")";
    }
    if (n.isNumber()) {
      return "a number (" + n.asText() + ")";
    }
    return n.getNodeType().toString().toLowerCase(Locale.ROOT);
  }

  static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 37) + "...";
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  @SafeVarargs
  static <T> Set<T> orderedSet(T... items) {
    return new LinkedHashSet<>(List.of(items));
  }

  /** A mapping being read, with its path for messages. */
  static final class Obj {
    final String source;
    final String prefix;
    final ObjectNode node;

    Obj(String source, String prefix, ObjectNode node) {
      this.source = source;
      this.prefix = prefix;
      this.node = node;
    }

    String path(String field) {
      return prefix.isEmpty() ? field : prefix + "." + field;
    }

    AgentYamlException error(String field, String problem) {
      return new AgentYamlException(source, path(field), problem);
    }

    void rejectUnknown(Set<String> allowed) {
      for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!allowed.contains(k)) {
          String hint = suggestion(k, allowed);
          throw error(k, "unknown field" + (hint == null ? "" : " (did you mean '" + hint + "'?)")
              + "; allowed here: " + String.join(", ", allowed));
        }
      }
    }

    String requiredString(String field) {
      JsonNode n = node.get(field);
      if (n == null || n.isNull() || (n.isTextual() && n.asText().isBlank())) {
        throw error(field, "is required");
      }
      if (!n.isValueNode()) {
        throw error(field, "must be text, got " + kindOf(n));
      }
      return n.asText().trim();
    }

    String optString(String field, String fallback) {
      JsonNode n = node.get(field);
      if (n == null || n.isNull()) {
        return fallback;
      }
      if (!n.isValueNode()) {
        throw error(field, "must be text, got " + kindOf(n));
      }
      return n.asText();
    }

    int requiredInt(String field, int min) {
      if (node.get(field) == null || node.get(field).isNull()) {
        throw error(field, "is required");
      }
      return optInt(field, 0, min);
    }

    int optInt(String field, int fallback, int min) {
      Integer v = optIntOrNull(field, min);
      return v == null ? fallback : v;
    }

    Integer optIntOrNull(String field, int min) {
      JsonNode n = node.get(field);
      if (n == null || n.isNull()) {
        return null;
      }
      if (!n.isIntegralNumber() || !n.canConvertToInt()) {
        throw error(field, "must be a whole number, got " + kindOf(n));
      }
      if (n.asInt() < min) {
        throw error(field, "must be at least " + min + ", got " + n.asInt());
      }
      return n.asInt();
    }

    Double optDouble(String field, double min, double max) {
      JsonNode n = node.get(field);
      if (n == null || n.isNull()) {
        return null;
      }
      if (!n.isNumber()) {
        throw error(field, "must be a number, got " + kindOf(n));
      }
      double v = n.asDouble();
      if (v < min || v > max) {
        throw error(field, "must be between " + min + " and " + max + ", got " + v);
      }
      return v;
    }

    Boolean optBoolean(String field) {
      JsonNode n = node.get(field);
      if (n == null || n.isNull()) {
        return null;
      }
      if (!n.isBoolean()) {
        throw error(field, "must be true or false, got " + kindOf(n));
      }
      return n.asBoolean();
    }

    Long optDurationMs(String field, Long fallback) {
      JsonNode n = node.get(field);
      if (n == null || n.isNull()) {
        return fallback;
      }
      if (!n.isTextual()) {
        throw error(field, "must be a duration with a unit like 500ms, 30s, 2m or 1h, got " + kindOf(n));
      }
      try {
        Duration d = parseDuration(n.asText());
        if (d.isZero()) {
          throw error(field, "must be longer than 0");
        }
        return d.toMillis();
      } catch (IllegalArgumentException e) {
        if (e instanceof AgentYamlException ae) {
          throw ae;
        }
        throw error(field, e.getMessage());
      }
    }

    Obj optObject(String field) {
      JsonNode n = node.get(field);
      if (n == null || n.isNull()) {
        return null;
      }
      if (!n.isObject()) {
        throw error(field, "must be a mapping, got " + kindOf(n));
      }
      return new Obj(source, path(field), (ObjectNode) n);
    }
  }

  /** A close allowed key, for "did you mean": same letters ignoring case and separators, or a small edit distance. */
  static String suggestion(String key, Set<String> allowed) {
    String norm = key.replace("_", "").replace("-", "").toLowerCase(Locale.ROOT);
    String best = null;
    int bestDist = Integer.MAX_VALUE;
    for (String a : allowed) {
      String al = a.toLowerCase(Locale.ROOT);
      if (al.equals(norm)) {
        return a;
      }
      int common = 0;
      while (common < Math.min(al.length(), norm.length()) && al.charAt(common) == norm.charAt(common)) {
        common++;
      }
      if (common >= 4 && common * 2 >= norm.length()) {
        return a;
      }
      int d = distance(key.toLowerCase(Locale.ROOT), a.toLowerCase(Locale.ROOT));
      if (d < bestDist) {
        bestDist = d;
        best = a;
      }
    }
    return bestDist <= Math.max(1, key.length() / 4) ? best : null;
  }

  private static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
