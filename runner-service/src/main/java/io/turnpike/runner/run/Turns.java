package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelOutputHeld;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
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
    for (String queued : step.b.getQueuedMessages()) {
      step.items().add(new MessageItem(Role.USER, queued, null));
    }
    step.b.getQueuedMessages().clear();
    int turn = step.b.getTurn() + 1;
    step.b.setTurn(turn);
    AgentDefinition agent = step.agent();
    PendingCall pc = PendingCall.newBuilder()
        .setCallId(step.runId() + ":m" + turn)
        .setKind(CallKind.MODEL)
        .setDeadline(step.now.plus(AgentView.modelTimeout(agent)))
        .setFirstSentAt(step.now)
        .build();
    step.pending().add(pc);
    sendModel(step, pc);
  }

  static void resendModel(Step step, PendingCall call) {
    PendingCall retry = Retries.nextAttempt(step, call);
    step.replacePending(retry);
    sendModel(step, retry);
  }

  private static void sendModel(Step step, PendingCall pc) {
    AgentDefinition agent = step.agent();
    step.effects.add(new Effect.SendModelCall(ModelCall.newBuilder()
        .setRunId(step.runId())
        .setCallId(pc.getCallId())
        .setAttempt(pc.getAttempt())
        .setAgent(agent.getName())
        .setModel(agent.getModel())
        .setInstructions(AgentView.instructions(agent))
        .setInput(new ArrayList<>(step.items()))
        .setTools(AgentView.tools(agent))
        .setSettings(agent.getModelSettings())
        .setDeadline(pc.getDeadline())
        .build()));
    step.emit(new ModelCallRequested(pc.getCallId(), pc.getAttempt(), agent.getModel()));
  }

  static Transition modelAnswered(RunState state, ModelResult result, Map<String, AgentDefinition> agents, java.time.Instant now) {
    Optional<PendingCall> pending = RunStateMachine.pendingCall(state, result.getCallId(), CallKind.MODEL);
    if (pending.isEmpty()) {
      return RunStateMachine.ignored(state, result.getCallId(), now);
    }
    Step step = new Step(state, now);
    PendingCall call = pending.get();
    if (result.getError() != null) {
      ErrorInfo error = result.getError();
      if (call.getBackingOff()) {
        // An earlier attempt's late error: the next attempt is already scheduled.
        step.emit(new ModelFailed(call.getCallId(), error, call.getDeadline()));
        return step.done();
      }
      Optional<java.time.Instant> next = error.getRetryable()
          ? Retries.nextSend(step.agent(), call, now, now) : Optional.empty();
      step.emit(new ModelFailed(call.getCallId(), error, next.orElse(null)));
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
    step.removePending(call.getCallId());
    boolean inputJudged = step.pending().stream()
        .noneMatch(p -> p.getKind() == CallKind.GUARDRAIL && p.getStage() == GuardrailStage.INPUT);
    if (!inputJudged) {
      // A parallel input guardrail is still judging: keep the answer aside; a tripwire discards it.
      step.b.setHeld(new ArrayList<>(result.getOutput()));
      step.b.setHeldUsage(result.getUsage());
      step.emit(new ModelOutputHeld(call.getCallId(), "input guardrails have not answered yet"));
      return step.done();
    }
    applyModelOutput(step, call.getCallId(), result.getOutput(), result.getUsage(), agents);
    return step.done();
  }

  /** Reads a model answer into the run: text, tool calls, or a final answer (maybe checked first). */
  static void applyModelOutput(Step step, String callId, List<Object> output, Usage usage, Map<String, AgentDefinition> agents) {
    step.addUsage(usage);
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
    List<GuardrailSpec> outputGuards = AgentView.guardrails(step.agent(), GuardrailStage.OUTPUT, null);
    if (calls.isEmpty() && !text.isEmpty() && !outputGuards.isEmpty()) {
      // The final answer is judged before it lands anywhere: not in RunState, not in the events.
      step.emit(new ModelResponded(callId, List.of(new MessageItem(Role.ASSISTANT, HELD_MARKER, agentName)), usage));
      Guardrails.send(step, GuardrailStage.OUTPUT, step.runId() + ":m" + step.b.getTurn() + ":out", text.toString(), null, null, outputGuards);
      return;
    }
    step.emit(new ModelResponded(callId, new ArrayList<>(output), usage));
    for (Object item : output) {
      if (item instanceof MessageItem m) {
        step.items().add(MessageItem.newBuilder(m).setAgent(agentName).build());
      } else if (item instanceof FunctionCallItem f) {
        step.items().add(f);
      }
    }
    if (calls.isEmpty()) {
      if (text.isEmpty()) {
        RunStateMachine.finish(step, RunStatus.FAILED, null, "model returned neither text nor tool calls (call " + callId + ")", null);
      } else {
        RunStateMachine.finish(step, RunStatus.COMPLETED, text.toString(), null, null);
      }
      return;
    }
    int index = 0;
    for (FunctionCallItem f : calls) {
      ToolCalls.start(step, f, ++index, agents);
      if (step.terminal()) {
        return;
      }
    }
    if (step.toolCalls().isEmpty()) {
      nextTurnOrStop(step);
    }
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
      step.items().add(new MessageItem(Role.USER, text, null));
      step.b.setStatus(RunStatus.RUNNING).setFinalOutput(null).setError(null).setSegmentStartTurn(step.b.getTurn());
      requestModel(step);
    } else {
      step.b.getQueuedMessages().add(text);
    }
  }

  static void emitFinished(Step step, RunStatus status, String output, String error) {
    step.emit(new RunFinished(status, output, error));
  }
}
