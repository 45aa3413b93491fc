package io.turnpike.runner.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolPhase;
import io.turnpike.avro.ToolSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * Calls of hosted tools in a model answer (web search, file search, code interpreter, image
 * generation, hosted MCP): the provider ran them inside the model call, so they are facts to record,
 * not calls to make. They join the conversation in the order the model gave them and are replayed
 * with it; none goes through guardrails, approvals or a worker. A generated image is kept once per
 * run like a {@code view_image} image ({@link Images}).
 *
 * <p>The exception is a hosted MCP server's {@code mcp_approval_request} (its {@code requireApproval}):
 * the provider waits for an answer before it calls the server's tool. It becomes one of the turn's
 * tool calls (kind HOSTED) that only waits for a human, through the ordinary approval flow (the run is
 * INTERRUPTED, APPROVE / REJECT, {@code always}, {@code approvalTimeout}); the decision joins the
 * conversation as an {@code mcp_approval_response} item and the model is asked again, which makes the
 * call (or not) in its next answer.
 */
final class HostedCalls {
  private HostedCalls() {}

  private static final ObjectMapper JSON = new ObjectMapper();
  static final String APPROVAL_REQUEST = "mcp_approval_request";
  static final String APPROVAL_RESPONSE = "mcp_approval_response";

  /** The answer's hosted MCP approval requests, in order. */
  static List<HostedToolCallItem> approvalRequests(List<Object> output) {
    List<HostedToolCallItem> out = new ArrayList<>();
    for (Object item : output) {
      if (item instanceof HostedToolCallItem h && h.getType().equals(APPROVAL_REQUEST)) {
        out.add(h);
      }
    }
    return out;
  }

  /**
   * An approval request becomes the turn's call number {@code index}, waiting for a human (or decided
   * at once by an {@code always} given for the same hosted tool in this run).
   */
  static void askApproval(Step step, HostedToolCallItem request, int index) {
    JsonNode json = read(request.getJson());
    String label = json.path("server_label").asText();
    String mcpTool = json.path("name").asText();
    ObjectNode arguments = JSON.createObjectNode().put("server", label).put("tool", mcpTool);
    JsonNode args = read(json.path("arguments").asText("{}"));
    arguments.set("arguments", args.isMissingNode() ? JSON.getNodeFactory().textNode(json.path("arguments").asText()) : args);
    ToolCallProgress progress = ToolCallProgress.newBuilder()
        .setCallId(step.runId() + ":t" + step.b.getTurn() + "." + index)
        .setToolCallId(request.getItemId())
        .setName(toolOf(step, label))
        .setArguments(arguments.toString())
        .setKind(ToolKind.HOSTED)
        .setPhase(ToolPhase.APPROVAL)
        .build();
    step.toolCalls().add(progress);
    // Decided at once by an earlier "always": the turn goes on when all its calls are answered (the caller checks).
    if (step.b.getAlwaysReject().contains(progress.getName())) {
      record(step, progress, false, "a human rejected every call of " + progress.getName() + " for this run");
    } else if (step.b.getAlwaysApprove().contains(progress.getName())) {
      record(step, progress, true, null);
    } else {
      ToolCalls.awaitApproval(step, progress, "hosted MCP server " + label + " asks before calling " + mcpTool
          + " (requireApproval)");
    }
  }

  /**
   * The decision on an approval request joins the conversation as the provider expects it; when it was
   * the turn's last call, the turn goes on (the model is asked again and makes the call, or not).
   */
  static void answerApproval(Step step, ToolCallProgress progress, boolean approve, String reason) {
    record(step, progress, approve, reason);
    if (step.toolCalls().isEmpty() && !step.terminal()) {
      Turns.afterTools(step);
    }
  }

  private static void record(Step step, ToolCallProgress progress, boolean approve, String reason) {
    step.toolCalls().removeIf(t -> t.getCallId().equals(progress.getCallId()));
    ObjectNode json = JSON.createObjectNode().put("type", APPROVAL_RESPONSE)
        .put("approval_request_id", progress.getToolCallId()).put("approve", approve);
    if (!approve && reason != null) {
      json.put("reason", reason);
    }
    String summary = (approve ? "approved " : "rejected ") + progress.getName() + " " + progress.getArguments()
        + (approve || reason == null ? "" : ": " + reason);
    step.items().add(HostedToolCallItem.newBuilder()
        .setItemId(progress.getCallId()) // Turnpike's: the API gives an approval response no id of its own
        .setType(APPROVAL_RESPONSE)
        .setJson(json.toString())
        .setSummary(summary.length() <= 300 ? summary : summary.substring(0, 297) + "...")
        .setAgent(step.agent().getName())
        .build());
    step.emit(new ToolCallCompleted(progress.getCallId(), progress.getName(), approve ? "approved" : "rejected"
        + (reason == null ? "" : ": " + reason), !approve, new ArrayList<>()));
  }

  /** The agent's hosted MCP tool with this server label (what approve --always names), else "mcp:<label>". */
  private static String toolOf(Step step, String label) {
    for (ToolSpec t : step.agent().getTools()) {
      if (t.getKind() == ToolKind.HOSTED && t.getHostedJson() != null) {
        JsonNode json = read(t.getHostedJson());
        if ("mcp".equals(json.path("type").asText()) && label.equals(json.path("server_label").asText())) {
          return t.getName();
        }
      }
    }
    return "mcp:" + label;
  }

  private static JsonNode read(String json) {
    try {
      return JSON.readTree(json);
    } catch (Exception e) {
      return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }
  }

  /** The answer's hosted calls, as the run records them. */
  static List<HostedToolCallItem> of(List<Object> output, String agent) {
    List<HostedToolCallItem> out = new ArrayList<>();
    for (Object item : output) {
      if (item instanceof HostedToolCallItem h) {
        out.add(HostedToolCallItem.newBuilder(h).setAgent(agent).build());
      }
    }
    return out;
  }

  /**
   * The answer with every generated image kept in {@code RunState.images} (within {@code maxBytes} for
   * all the run's images) and replaced by a reference. An image over the budget stays a reference the
   * run cannot resolve: it is replayed without its picture, and the item's summary says why.
   */
  static List<Object> keepImages(Step step, List<Object> output, long maxBytes) {
    if (output.stream().noneMatch(o -> o instanceof HostedToolCallItem h && h.getImage() != null && h.getImage().getData() != null)) {
      return output;
    }
    List<Object> out = new ArrayList<>(output.size());
    for (Object item : output) {
      if (item instanceof HostedToolCallItem h && h.getImage() != null && h.getImage().getData() != null) {
        Images.Kept kept = Images.keep(step, List.of(h.getImage()), maxBytes);
        HostedToolCallItem.Builder b = HostedToolCallItem.newBuilder(h);
        if (kept.references().isEmpty()) {
          ImageContent reference = Images.references(List.of(h.getImage())).get(0);
          b.setImage(reference).setSummary(h.getSummary() + kept.note().replace("\n", " "));
        } else {
          b.setImage(kept.references().get(0));
        }
        out.add(b.build());
      } else {
        out.add(item);
      }
    }
    return out;
  }
}
