package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelOutputHeld;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.ReasoningItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.StructuredOutput;
import io.turnpike.avro.ToolUseMode;
import io.turnpike.avro.Usage;
import io.turnpike.avro.UserMessageAdded;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Turn phase: asking the model, and reading its answer into the run. */
final class Turns {
  static final String HELD_MARKER = "[held for output guardrails]";

  private Turns() {}

  static void requestModel(Step step) {
    step.b.setTurn(step.b.getTurn() + 1);
    callModel(step, true);
  }

  /**
   * Sends the current turn's model call, with the user messages queued since the last; with
   * {@code mayCompact}, a compaction call goes first when the input has reached the agent's threshold
   * ({@link Compaction}), and this call follows its answer (with what was queued meanwhile).
   */
  static void callModel(Step step, boolean mayCompact) {
    for (String queued : step.b.getQueuedMessages()) {
      step.items().add(new MessageItem(Role.USER, queued, null, java.util.List.of()));
    }
    step.b.getQueuedMessages().clear();
    String callId = step.runId() + ":m" + step.b.getTurn();
    if (mayCompact && Compaction.startIfDue(step, callId)) {
      return;
    }
    PendingCall pc = PendingCall.newBuilder()
        .setCallId(callId)
        .setKind(CallKind.MODEL)
        .setDeadline(step.now.plus(AgentView.modelTimeout(step.agent())))
        .setFirstSentAt(step.now)
        .build();
    step.pending().add(pc);
    sendModel(step, pc);
  }

  static void resendModel(Step step, PendingCall call) {
    PendingCall retry = Retries.nextAttempt(step, call);
    step.replacePending(retry);
    if (Compaction.isCall(retry.getCallId())) {
      Compaction.send(step, retry);
    } else {
      sendModel(step, retry);
    }
  }

  private static void sendModel(Step step, PendingCall pc) {
    AgentDefinition agent = step.agent();
    send(step, pc, modelCall(step, pc)
        .setInstructions(RunMemories.instructions(AgentView.instructions(agent), step.b.getMemory(), agent))
        .setInput(Images.inline(step.b.getImages(), step.items()))
        .setTools(AgentView.tools(agent))
        .setSettings(AgentView.settings(agent, step.b.getToolUsers()))
        .setOutputType(agent.getOutputType())
        .setStream(AgentView.streams(agent, step.b.getStream())));
  }

  /** A model call of the run's current agent for {@code pc}: who, which call and attempt, until when; the caller adds what it asks. */
  static ModelCall.Builder modelCall(Step step, PendingCall pc) {
    AgentDefinition agent = step.agent();
    return ModelCall.newBuilder()
        .setRunId(step.runId())
        .setCallId(pc.getCallId())
        .setAttempt(pc.getAttempt())
        .setAgent(agent.getName())
        .setModel(agent.getModel())
        .setModelProvider(agent.getModelProvider())
        .setDeadline(pc.getDeadline());
  }

  /**
   * Records that the call was asked and sends it. An invoker with early start begins the call before this
   * step's transaction commits (see ModelInvokerConfig#earlyStart), so the call carries the seq of the event
   * that first asked it, and only an answer with that seq is taken ({@link #modelAnswered}): one to a
   * send that was aborted and then taken again differently (another event processed first on replay)
   * is ignored. Retries keep attempt 1's seq: they ask the same.
   */
  static void send(Step step, PendingCall pc, ModelCall.Builder call) {
    step.emit(new ModelCallRequested(pc.getCallId(), pc.getAttempt(), step.agent().getModel()));
    if (pc.getSentSeq() == 0) {
      pc.setSentSeq(step.b.getVersion());
    }
    step.effects.add(new Effect.SendModelCall(call.setSentSeq(pc.getSentSeq()).build()));
  }

  static Transition modelAnswered(RunState state, ModelResult result, Map<String, AgentDefinition> agents, long maxImageBytes,
      java.time.Instant now) {
    Optional<PendingCall> pending = RunStateMachine.pendingCall(state, result.getCallId(), CallKind.MODEL);
    if (pending.isEmpty()) {
      return RunStateMachine.ignored(state, result.getCallId(), now);
    }
    if (pending.get().getSentSeq() != 0 && result.getSentSeq() != 0 && result.getSentSeq() != pending.get().getSentSeq()) {
      return RunStateMachine.ignored(state, result.getCallId(), now, "answer to a send of this call that was not committed (sentSeq "
          + result.getSentSeq() + ", the committed send is " + pending.get().getSentSeq() + ")");
    }
    Step step = new Step(state, now);
    PendingCall call = pending.get();
    if (result.getError() != null) {
      ErrorInfo error = result.getError();
      if (result.getUsage() != null) {
        step.addUsage(result.getUsage()); // an answer that was refused (not the outputType) was still paid for
      }
      if (call.getBackingOff()) {
        // An earlier attempt's late error: the next attempt is already scheduled.
        step.emit(new ModelFailed(call.getCallId(), error, call.getDeadline(), result.getUsage()));
        return step.done();
      }
      Optional<java.time.Instant> next = error.getRetryable()
          ? Retries.nextSend(step.agent(), call, now, now) : Optional.empty();
      step.emit(new ModelFailed(call.getCallId(), error, next.orElse(null), result.getUsage()));
      if (next.isPresent()) {
        Retries.schedule(step, call, next.get());
      } else {
        step.removePending(call.getCallId());
        String reason = error.getRetryable()
            ? "model call " + call.getCallId() + " failed" + Retries.attempts(step, call) + ": " + error.getCode() + ": "
                + error.getMessage() + Retries.budgetSpent(step, call)
            : "model call " + call.getCallId() + " failed: " + error.getCode() + ": " + error.getMessage();
        RunStateMachine.finish(step, RunStatus.FAILED, null, reason, null);
      }
      return step.done();
    }
    if (Compaction.isCall(call.getCallId())) {
      Compaction.answered(step, call, result);
      return step.done();
    }
    step.removePending(call.getCallId());
    Compaction.reported(step, result.getUsage(), step.items().size());
    boolean inputJudged = step.pending().stream()
        .noneMatch(p -> p.getKind() == CallKind.GUARDRAIL && p.getStage() == GuardrailStage.INPUT);
    if (!inputJudged) {
      // A parallel input guardrail is still judging: keep the answer aside; a tripwire discards it.
      step.b.setHeld(new ArrayList<>(result.getOutput()));
      step.b.setHeldUsage(result.getUsage());
      step.emit(new ModelOutputHeld(call.getCallId(), "input guardrails have not answered yet"));
      return step.done();
    }
    applyModelOutput(step, call.getCallId(), result.getOutput(), result.getUsage(), agents, maxImageBytes);
    return step.done();
  }

  /** As below, keeping generated images within the default budget (an answer released after an input guardrail). */
  static void applyModelOutput(Step step, String callId, List<Object> output, Usage usage, Map<String, AgentDefinition> agents) {
    applyModelOutput(step, callId, output, usage, agents, Images.DEFAULT_MAX_BYTES);
  }

  /**
   * Reads a model answer into the run: text, tool calls, or a final answer (maybe checked first).
   * Hosted tool calls in it were run by the provider: they are recorded (a generated image kept once,
   * within {@code maxImageBytes}) and replayed, and go through none of the tool call phases.
   */
  static void applyModelOutput(Step step, String callId, List<Object> output, Usage usage, Map<String, AgentDefinition> agents,
      long maxImageBytes) {
    step.addUsage(usage);
    output = HostedCalls.keepImages(step, output, maxImageBytes);
    String agentName = step.agent().getName();
    List<FunctionCallItem> calls = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    for (Object item : output) {
      if (item instanceof FunctionCallItem f) {
        calls.add(f);
      } else if (item instanceof MessageItem m && m.getRole() == Role.ASSISTANT) {
        text.append(text.isEmpty() ? "" : "\n").append(m.getText());
      }
    }
    if (calls.isEmpty() && HostedCalls.approvalRequests(output).isEmpty() && !text.isEmpty()
        && !AgentView.guardrails(step.agent(), GuardrailStage.OUTPUT, null).isEmpty()) {
      // The final answer is judged before it lands anywhere: not in RunState, not in the events. Its
      // reasoning is left out too (a summary may say what the answer said).
      // Hosted calls are what the provider did, not the answer: they are recorded before it is judged.
      List<Object> responded = new ArrayList<>(HostedCalls.of(output, agentName));
      responded.add(new MessageItem(Role.ASSISTANT, HELD_MARKER, agentName, java.util.List.of()));
      step.emit(new ModelResponded(callId, responded, usage));
      step.items().addAll(HostedCalls.of(output, agentName));
      finalAnswer(step, text.toString(), null);
      return;
    }
    step.emit(new ModelResponded(callId, forEvent(output, agentName), usage));
    for (Object item : output) {
      switch (item) {
        case MessageItem m -> step.items().add(MessageItem.newBuilder(m).setAgent(agentName).build());
        case FunctionCallItem f -> step.items().add(f);
        case ReasoningItem r -> step.items().add(ReasoningItem.newBuilder(r).setAgent(agentName).build());
        case HostedToolCallItem h -> step.items().add(HostedToolCallItem.newBuilder(h).setAgent(agentName).build());
        default -> { }
      }
    }
    List<HostedToolCallItem> approvals = HostedCalls.approvalRequests(output);
    if (calls.isEmpty() && approvals.isEmpty()) {
      if (text.isEmpty() && !HostedCalls.of(output, agentName).isEmpty()) {
        // Only provider-run calls (an image generated, nothing said): as in the SDK, the final output is empty text.
        finalAnswer(step, "", null);
      } else if (text.isEmpty()) {
        RunStateMachine.finish(step, RunStatus.FAILED, null, "model returned neither text nor tool calls (call " + callId + ")", null);
      } else {
        finalAnswer(step, text.toString(), null);
      }
      return;
    }
    if (!step.b.getToolUsers().contains(agentName)) {
      step.b.getToolUsers().add(agentName);
    }
    int index = 0;
    // Hosted MCP approval requests first: while one waits for a human, the turn does not end under the others.
    for (HostedToolCallItem request : approvals) {
      HostedCalls.askApproval(step, request, ++index);
    }
    for (FunctionCallItem f : calls) {
      ToolCalls.start(step, f, ++index, agents);
      if (step.terminal()) {
        return;
      }
    }
    if (step.toolCalls().isEmpty()) {
      afterTools(step);
    }
  }

  /** The answer as a turn event carries it: reasoning without its encrypted content (opaque, and the bulk of it). */
  private static List<Object> forEvent(List<Object> output, String agentName) {
    List<Object> out = new ArrayList<>(output.size());
    for (Object item : output) {
      out.add(item instanceof ReasoningItem r
          ? ReasoningItem.newBuilder(r).setEncryptedContent(null).setAgent(agentName).build() : item);
    }
    return out;
  }

  /**
   * The run has its final output: the model's text, or (toolUseBehavior) a tool's output, named by
   * {@code fromTool}. Output guardrails judge it first when the agent has any.
   */
  static void finalAnswer(Step step, String text, String fromTool) {
    List<GuardrailSpec> outputGuards = AgentView.guardrails(step.agent(), GuardrailStage.OUTPUT, null);
    if (!outputGuards.isEmpty()) {
      Guardrails.send(step, GuardrailStage.OUTPUT, step.runId() + ":m" + step.b.getTurn() + ":out", text, fromTool, null, outputGuards);
      return;
    }
    complete(step, text, fromTool == null ? AgentView.structured(step.agent(), text) : null);
  }

  /**
   * Completes the run with its final output. A tool's output that ends the run is not checked against
   * the outputType (as in the SDK), so it is never a structured output.
   */
  static void complete(Step step, String text, StructuredOutput structured) {
    step.b.setStructuredOutput(structured);
    RunStateMachine.finish(step, RunStatus.COMPLETED, text, null, null);
  }

  /** The turn's tool calls all have their outputs: stop with one of them (toolUseBehavior), or ask the model again. */
  static void afterTools(Step step) {
    if (step.terminal()) {
      return;
    }
    Optional<FunctionCallOutputItem> last = toolFinalOutput(step);
    if (last.isPresent()) {
      finalAnswer(step, last.get().getOutput(), last.get().getName());
      return;
    }
    nextTurnOrStop(step);
  }

  /**
   * The output that ends the run under the agent's toolUseBehavior: the first of the turn's calls (in
   * the order the model made them) of one of the agent's tools (STOP_ON_FIRST_TOOL), or of a tool in
   * stopAtToolNames (STOP_AT_TOOLS). A handoff in the turn wins, as in the SDK: the run goes on with
   * the next agent. Calls of unknown tools, whose output is an error the runner made up, do not count.
   */
  static Optional<FunctionCallOutputItem> toolFinalOutput(Step step) {
    AgentDefinition agent = step.agent();
    ToolUseMode mode = AgentView.toolUseMode(agent);
    int turn = step.b.getTurn();
    if (mode == ToolUseMode.RUN_LLM_AGAIN || step.b.getHandoffs().stream().anyMatch(h -> h.getTurn() == turn)) {
      return Optional.empty();
    }
    List<Object> items = step.items();
    Map<String, FunctionCallOutputItem> outputs = new java.util.HashMap<>();
    int i = items.size() - 1;
    for (; i >= 0 && items.get(i) instanceof FunctionCallOutputItem o; i--) {
      outputs.put(o.getToolCallId(), o);
    }
    List<FunctionCallItem> calls = new ArrayList<>();
    for (; i >= 0 && (items.get(i) instanceof FunctionCallItem || items.get(i) instanceof ReasoningItem
        || items.get(i) instanceof HostedToolCallItem); i--) {
      if (items.get(i) instanceof FunctionCallItem f) {
        calls.add(0, f); // a model may reason between its calls: they are still one turn's
      }
    }
    List<String> stopAt = agent.getToolUseBehavior().getStopAtToolNames();
    for (FunctionCallItem f : calls) {
      FunctionCallOutputItem out = outputs.get(f.getToolCallId());
      boolean ownTool = AgentView.handoffTarget(agent, f.getName()).isEmpty() && AgentView.tool(agent, f.getName()).isPresent();
      if (out != null && ownTool && (mode == ToolUseMode.STOP_ON_FIRST_TOOL || stopAt.contains(f.getName()))) {
        return Optional.of(out);
      }
    }
    return Optional.empty();
  }

  static void nextTurnOrStop(Step step) {
    if (step.terminal()) {
      return;
    }
    int max = step.agent().getMaxTurns();
    int used = step.b.getTurn() - step.b.getSegmentStartTurn();
    if (used >= max) {
      RunStateMachine.finish(step, RunStatus.FAILED, null,
          "max turns exceeded: the agent made " + used + " model calls without a final answer (maxTurns=" + max + ")", null);
    } else {
      requestModel(step);
    }
  }

  /** A follow-up user message: continues a completed run, or waits for the next model call. */
  static void userMessage(Step step, String text) {
    step.emit(new UserMessageAdded(text));
    if (step.b.getStatus() == RunStatus.COMPLETED) {
      step.items().add(new MessageItem(Role.USER, text, null, java.util.List.of()));
      step.b.setStatus(RunStatus.RUNNING).setFinalOutput(null).setStructuredOutput(null).setError(null)
          .setSegmentStartTurn(step.b.getTurn());
      step.b.getToolUsers().clear(); // a new exchange, as a new Runner.run is in the SDK: toolChoice applies again
      requestModel(step);
    } else {
      step.b.getQueuedMessages().add(text);
    }
  }

  static void emitFinished(Step step, RunStatus status, String output, String error) {
    step.emit(new RunFinished(status, output, error));
  }
}
