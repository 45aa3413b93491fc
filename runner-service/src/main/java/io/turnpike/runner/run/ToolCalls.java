package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRequested;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.HandoffOccurred;
import io.turnpike.avro.HandoffRecord;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunState;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolPhase;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.ToolSpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Tool phase: every tool call the model asks for goes through input guardrails, a human approval
 * where one is needed, execution (a tool worker or the sandbox), and output guardrails, in that
 * order; when the turn's last call has its output, the next turn starts.
 */
final class ToolCalls {
  private ToolCalls() {}

  static void start(Step step, FunctionCallItem f, int index, Map<String, AgentDefinition> agents) {
    AgentDefinition agent = step.agent();
    Optional<String> handoff = AgentView.handoffTarget(agent, f.getName());
    if (handoff.isPresent()) {
      handOff(step, f, handoff.get(), agents.get(handoff.get()));
      return;
    }
    Optional<ToolSpec> spec = AgentView.tool(agent, f.getName());
    if (spec.isEmpty()) {
      String available = AgentView.tools(agent).stream().map(ToolSpec::getName).collect(Collectors.joining(", "));
      output(step, f.getToolCallId(), f.getToolCallId(), f.getName(),
          "error: unknown tool '" + f.getName() + "'. Available tools: " + (available.isEmpty() ? "none" : available), true, List.of());
      return;
    }
    ToolCallProgress progress = ToolCallProgress.newBuilder()
        .setCallId(step.runId() + ":t" + step.b.getTurn() + "." + index)
        .setToolCallId(f.getToolCallId())
        .setName(f.getName())
        .setArguments(f.getArguments())
        .setKind(AgentView.kind(spec.get()))
        .setPhase(ToolPhase.INPUT_CHECK)
        .build();
    step.toolCalls().add(progress);
    List<GuardrailSpec> guards = AgentView.guardrails(agent, GuardrailStage.TOOL_INPUT, f.getName());
    if (guards.isEmpty()) {
      afterInputCheck(step, progress);
    } else {
      Guardrails.send(step, GuardrailStage.TOOL_INPUT, progress.getCallId() + ":in", f.getArguments(), f.getName(),
          progress.getCallId(), guards);
    }
  }

  /** Input guardrails passed: ask a human if needed, else run the call. */
  static void afterInputCheck(Step step, ToolCallProgress progress) {
    if (step.b.getAlwaysReject().contains(progress.getName())) {
      complete(step, progress, "rejected: a human rejected every call of " + progress.getName() + " for this run", true, List.of());
      return;
    }
    ToolSpec spec = AgentView.tool(step.agent(), progress.getName()).orElseThrow();
    String reason = AgentView.approvalReason(step.agent(), spec, progress.getArguments());
    if (reason != null && !step.b.getAlwaysApprove().contains(progress.getName())) {
      awaitApproval(step, progress, reason);
      return;
    }
    execute(step, progress);
  }

  /** The call waits for a human (the run is INTERRUPTED): a pending approval, and a timer when the agent has a timeout. */
  static void awaitApproval(Step step, ToolCallProgress progress, String reason) {
    step.replaceToolCall(ToolCallProgress.newBuilder(progress).setPhase(ToolPhase.APPROVAL).build());
    step.b.getApprovals().add(new PendingApproval(progress.getCallId(), progress.getToolCallId(), progress.getName(),
        progress.getArguments(), reason, step.now));
    step.emit(new ApprovalRequested(progress.getCallId(), progress.getName(), progress.getArguments(), reason));
    step.approvalsAdded();
    Long timeout = step.agent().getApprovalTimeoutMs();
    if (timeout != null && timeout > 0) {
      // Only a timer entry: the wait itself holds nothing.
      step.pending().add(PendingCall.newBuilder()
          .setCallId(progress.getCallId() + ":approval")
          .setKind(CallKind.APPROVAL)
          .setToolCallId(progress.getCallId())
          .setName(progress.getName())
          .setDeadline(step.now.plusMillis(timeout))
          .build());
    }
  }

  static void execute(Step step, ToolCallProgress progress) {
    if (progress.getKind() == ToolKind.HOSTED) {
      HostedCalls.answerApproval(step, progress, true, null); // the provider makes the call once it is approved
      return;
    }
    AgentDefinition agent = step.agent();
    ToolSpec spec = AgentView.tool(agent, progress.getName()).orElse(null);
    if (progress.getKind() == ToolKind.AGENT) {
      ChildRuns.start(step, progress, spec); // another agent, as a child run of its own
      return;
    }
    CallKind kind = progress.getKind() == ToolKind.SANDBOX ? CallKind.SANDBOX : CallKind.TOOL;
    PendingCall pc = PendingCall.newBuilder()
        .setCallId(progress.getCallId())
        .setKind(kind)
        .setToolCallId(progress.getToolCallId())
        .setName(progress.getName())
        .setDeadline(step.now.plus(AgentView.toolTimeout(agent, spec)))
        .setFirstSentAt(step.now)
        .build();
    step.replaceToolCall(ToolCallProgress.newBuilder(progress).setPhase(ToolPhase.RUNNING).build());
    step.pending().add(pc);
    send(step, pc, progress.getArguments());
  }

  static void resend(Step step, PendingCall call) {
    PendingCall again = Retries.nextAttempt(step, call);
    step.replacePending(again);
    String args = step.toolCall(call.getCallId()).map(ToolCallProgress::getArguments).orElse("{}");
    send(step, again, args);
  }

  private static void send(Step step, PendingCall pc, String arguments) {
    if (pc.getKind() == CallKind.SANDBOX) {
      step.effects.add(new Effect.SendSandboxCommand(SandboxCommand.newBuilder()
          .setRunId(step.runId())
          .setCallId(pc.getCallId())
          .setAttempt(pc.getAttempt())
          .setSessionId(step.runId())
          .setAgent(step.agent().getName())
          .setTool(pc.getName())
          .setArguments(arguments)
          .setManifest(step.agent().getManifest())
          .setDeadline(pc.getDeadline())
          .build()));
    } else {
      step.effects.add(new Effect.SendToolCall(ToolCall.newBuilder()
          .setRunId(step.runId())
          .setCallId(pc.getCallId())
          .setAttempt(pc.getAttempt())
          .setAgent(step.agent().getName())
          .setToolCallId(pc.getToolCallId())
          .setName(pc.getName())
          .setArguments(arguments)
          .setDeadline(pc.getDeadline())
          .build()));
    }
    step.emit(new ToolCallRequested(pc.getCallId(), pc.getAttempt(), pc.getName(), arguments));
  }

  static Transition toolAnswered(RunState state, ToolResult r, long maxImageBytes, Instant now) {
    return answered(state, r.getCallId(), CallKind.TOOL, r.getOutput(), r.getIsError(), r.getImages(), maxImageBytes, now);
  }

  static Transition sandboxAnswered(RunState state, SandboxResult r, long maxImageBytes, Instant now) {
    return answered(state, r.getCallId(), CallKind.SANDBOX, r.getOutput(), r.getIsError(), r.getImages(), maxImageBytes, now);
  }

  private static Transition answered(RunState state, String callId, CallKind kind, String answer, boolean isError,
      List<ImageContent> answerImages, long maxImageBytes, Instant now) {
    Optional<PendingCall> pending = RunStateMachine.pendingCall(state, callId, kind);
    if (pending.isEmpty()) {
      return RunStateMachine.ignored(state, callId, now);
    }
    Step step = new Step(state, now);
    step.removePending(callId);
    Optional<ToolCallProgress> progress = step.toolCall(callId);
    if (progress.isEmpty()) {
      return RunStateMachine.ignored(state, callId, now);
    }
    // Kept now, once, whatever the output guardrails say: the call's progress and items then refer to them.
    Images.Kept kept = Images.keep(step, answerImages, maxImageBytes);
    outputReady(step, progress.get(), answer + kept.note(), isError, kept.references());
    return step.done();
  }

  /** A call has its output (a worker's, the sandbox's or a child run's): output guardrails judge it, else it completes. */
  static void outputReady(Step step, ToolCallProgress progress, String output, boolean isError, List<ImageContent> images) {
    String callId = progress.getCallId();
    List<GuardrailSpec> guards = AgentView.guardrails(step.agent(), GuardrailStage.TOOL_OUTPUT, progress.getName());
    if (guards.isEmpty()) {
      complete(step, progress, output, isError, images);
    } else {
      // The output is judged before the model (or RunState) sees it; only the verdict's content is kept.
      step.replaceToolCall(ToolCallProgress.newBuilder(progress).setPhase(ToolPhase.OUTPUT_CHECK)
          .setResultIsError(isError).setResultImages(new ArrayList<>(images)).build());
      Guardrails.send(step, GuardrailStage.TOOL_OUTPUT, callId + ":out", output, progress.getName(), callId, guards);
    }
  }

  /** The call has its final output: record it; when it was the turn's last call, start the next turn. */
  static void complete(Step step, ToolCallProgress progress, String output, boolean isError, List<ImageContent> images) {
    if (progress.getKind() == ToolKind.HOSTED) {
      HostedCalls.answerApproval(step, progress, false, output); // rejected (a human, always, or the approval timeout)
      return;
    }
    step.toolCalls().removeIf(t -> t.getCallId().equals(progress.getCallId()));
    output(step, progress.getCallId(), progress.getToolCallId(), progress.getName(), output, isError, images);
    if (step.toolCalls().isEmpty() && !step.terminal()) {
      inCallOrder(step.items());
      Turns.afterTools(step);
    }
  }

  private static void output(Step step, String callId, String toolCallId, String name, String output, boolean isError,
      List<ImageContent> images) {
    List<ImageContent> references = Images.references(images);
    step.items().add(new FunctionCallOutputItem(toolCallId, name, output, isError, new ArrayList<>(references), null));
    step.emit(new ToolCallCompleted(callId, name, output, isError, new ArrayList<>(references)));
  }

  /**
   * The turn's calls ran in parallel and their outputs were recorded as they arrived: put them in the
   * order the model made the calls, so the model gets them back as it asked for them (and a replay
   * or a retried worker cannot change what it sees).
   */
  static void inCallOrder(List<Object> items) {
    int end = items.size();
    int start = end;
    while (start > 0 && items.get(start - 1) instanceof FunctionCallOutputItem) {
      start--;
    }
    Map<String, Integer> order = new java.util.HashMap<>();
    for (int i = start - 1; i >= 0 && !(items.get(i) instanceof FunctionCallOutputItem); i--) {
      if (items.get(i) instanceof FunctionCallItem f) {
        order.put(f.getToolCallId(), i);
      }
    }
    if (end - start < 2) {
      return;
    }
    List<Object> outputs = new ArrayList<>(items.subList(start, end));
    outputs.sort(java.util.Comparator.comparingInt(
        o -> order.getOrDefault(((FunctionCallOutputItem) o).getToolCallId(), Integer.MAX_VALUE)));
    for (int i = 0; i < outputs.size(); i++) {
      items.set(start + i, outputs.get(i));
    }
  }

  /** What the next agent sees of the conversation, per the handing-off agent's filter. */
  private static void filterHistory(Step step, io.turnpike.avro.HandoffInputFilter filter) {
    List<Object> items = step.items();
    switch (filter) {
      case NONE -> { }
      // As the SDK's remove_all_tools: hosted tool calls (web and file searches, MCP calls, ...) go too.
      case REMOVE_TOOL_CALLS -> items.removeIf(i -> i instanceof FunctionCallItem || i instanceof FunctionCallOutputItem
          || i instanceof io.turnpike.avro.HostedToolCallItem);
      case LAST_USER_MESSAGE -> {
        Object last = null;
        for (Object i : items) {
          if (i instanceof io.turnpike.avro.MessageItem m && m.getRole() == io.turnpike.avro.Role.USER) {
            last = i;
          }
        }
        items.clear();
        if (last != null) {
          items.add(last);
        }
      }
    }
  }

  private static void handOff(Step step, FunctionCallItem f, String target, AgentDefinition to) {
    if (to == null) {
      output(step, f.getToolCallId(), f.getToolCallId(), f.getName(),
          "error: cannot hand off: no agent named '" + target + "' is published", true, List.of());
      return;
    }
    String from = step.agent().getName();
    output(step, f.getToolCallId(), f.getToolCallId(), f.getName(),
        "Transferred to " + target + ". You are now " + target + "; continue the conversation.", false, List.of());
    step.b.getHandoffs().add(new HandoffRecord(from, to.getName(), to.getVersion(), step.b.getTurn(), step.now));
    filterHistory(step, step.agent().getHandoffInputFilter());
    step.b.setAgent(to);
    step.emit(new HandoffOccurred(from, to.getName(), to.getVersion()));
  }
}
