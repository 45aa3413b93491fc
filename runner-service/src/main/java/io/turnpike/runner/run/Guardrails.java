package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailCheckRequested;
import io.turnpike.avro.GuardrailChecked;
import io.turnpike.avro.GuardrailFinding;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailRecord;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.Usage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Guardrail phase: sending checks and applying verdicts. Content under judgement is carried by the
 * check and comes back in the verdict, so output a guardrail blocks never enters the conversation,
 * the events or the result. While an output-side check is pending its content is kept with it
 * ({@code PendingCall.content}) so that a check that got no answer can be sent again; the verdict
 * removes it.
 */
final class Guardrails {
  private Guardrails() {}

  static void send(Step step, GuardrailStage stage, String callId, String content, String toolName, String toolCallRef,
      List<GuardrailSpec> guards) {
    AgentDefinition agent = step.agent();
    boolean outputSide = stage == GuardrailStage.OUTPUT || stage == GuardrailStage.TOOL_OUTPUT;
    PendingCall pc = PendingCall.newBuilder()
        .setCallId(callId)
        .setKind(CallKind.GUARDRAIL)
        .setToolCallId(toolCallRef)
        .setName(toolName)
        .setStage(stage)
        .setDeadline(step.now.plus(AgentView.guardrailTimeout(agent)))
        .setFirstSentAt(step.now)
        // Output under judgement lives nowhere else in RunState; it leaves with the verdict.
        .setContent(outputSide ? content : null)
        .build();
    step.pending().add(pc);
    emitCheck(step, pc, content, guards);
  }

  private static void emitCheck(Step step, PendingCall pc, String content, List<GuardrailSpec> guards) {
    step.effects.add(new Effect.SendGuardrailCheck(GuardrailCheck.newBuilder()
        .setRunId(step.runId())
        .setCallId(pc.getCallId())
        .setAttempt(pc.getAttempt())
        .setAgent(step.agent().getName())
        .setStage(pc.getStage())
        .setGuardrails(new ArrayList<>(guards))
        .setContent(content)
        .setToolName(pc.getName())
        .setDeadline(pc.getDeadline())
        .build()));
    step.emit(new GuardrailCheckRequested(pc.getCallId(), pc.getStage(), guards.stream().map(GuardrailSpec::getName).toList(),
        pc.getAttempt()));
  }

  /** Input guardrails, then the first model call: alongside them (parallel) or after them (blocking). */
  static void startInput(Step step) {
    List<GuardrailSpec> guards = AgentView.guardrails(step.agent(), GuardrailStage.INPUT, null);
    if (guards.isEmpty()) {
      Turns.requestModel(step);
      return;
    }
    send(step, GuardrailStage.INPUT, step.runId() + ":in", step.b.getInput(), null, null, guards);
    if (!AgentView.inputBlocking(guards)) {
      Turns.requestModel(step);
    }
  }

  /** What a check judges, for a resend: the input, the tool arguments, or the output kept with the check. */
  static String content(Step step, PendingCall call) {
    return switch (call.getStage()) {
      case INPUT -> step.b.getInput();
      case TOOL_INPUT -> step.toolCall(call.getToolCallId()).map(ToolCallProgress::getArguments).orElse(null);
      case OUTPUT, TOOL_OUTPUT -> call.getContent();
    };
  }

  /** Sends a check again, same callId, next attempt; the content comes from RunState (see {@link #content}). */
  static void resend(Step step, PendingCall call) {
    String content = content(step, call);
    if (content == null) {
      RunStateMachine.finish(step, RunStatus.FAILED, null, Retries.describe(call)
          + " cannot be re-sent: its content is gone; failing closed", null);
      return;
    }
    PendingCall again = Retries.nextAttempt(step, call);
    step.replacePending(again);
    emitCheck(step, again, content, AgentView.guardrails(step.agent(), call.getStage(), call.getName()));
  }

  static Transition verdict(RunState state, GuardrailVerdict v, Map<String, AgentDefinition> agents, Instant now) {
    Optional<PendingCall> pending = RunStateMachine.pendingCall(state, v.getCallId(), CallKind.GUARDRAIL);
    if (pending.isEmpty()) {
      return RunStateMachine.ignored(state, v.getCallId(), now);
    }
    PendingCall call = pending.get();
    Step step = new Step(state, now);
    step.removePending(call.getCallId());
    GuardrailStage stage = call.getStage();
    step.b.getGuardrailResults().add(new GuardrailRecord(v.getCallId(), stage, v.getOutcome().name(), v.getGuardrail(), v.getReason()));
    step.emit(new GuardrailChecked(v.getCallId(), stage, v.getOutcome().name(), v.getGuardrail(), v.getReason(),
        v.getFindings().stream().map(Guardrails::describe).toList()));
    GuardrailOutcome outcome = v.getOutcome();
    switch (stage) {
      case INPUT -> input(step, v, outcome, agents);
      case OUTPUT -> {
        // A tool's output that ends the run (toolUseBehavior) is already in the conversation as that
        // tool's output; only the model's own answer becomes an assistant message.
        boolean fromTool = call.getName() != null;
        if (outcome == GuardrailOutcome.ALLOW || outcome == GuardrailOutcome.REDACT) {
          String text = v.getContent() == null ? "" : v.getContent();
          if (!fromTool) {
            step.items().add(new MessageItem(Role.ASSISTANT, text, step.agent().getName(), java.util.List.of()));
          }
          // A redacted answer is no longer the one checked against the outputType.
          Turns.complete(step, text, !fromTool && outcome == GuardrailOutcome.ALLOW ? AgentView.structured(step.agent(), text) : null);
        } else {
          if (!fromTool) {
            step.items().add(new MessageItem(Role.ASSISTANT, "[output blocked by guardrail " + v.getGuardrail() + "]",
                step.agent().getName(), java.util.List.of()));
          }
          trip(step, v, stage);
        }
      }
      case TOOL_INPUT -> {
        Optional<ToolCallProgress> progress = step.toolCall(call.getToolCallId());
        if (progress.isPresent()) {
          switch (outcome) {
            case ALLOW -> ToolCalls.afterInputCheck(step, progress.get());
            case REDACT, REJECT -> ToolCalls.complete(step, progress.get(), v.getContent() != null ? v.getContent()
                : "rejected by guardrail " + v.getGuardrail() + ": " + v.getReason(), true, List.of());
            case TRIP -> trip(step, v, stage);
          }
        }
      }
      case TOOL_OUTPUT -> {
        Optional<ToolCallProgress> progress = step.toolCall(call.getToolCallId());
        if (progress.isPresent()) {
          if (outcome == GuardrailOutcome.ALLOW || outcome == GuardrailOutcome.REDACT) {
            ToolCalls.complete(step, progress.get(), v.getContent() == null ? "" : v.getContent(),
                progress.get().getResultIsError(), progress.get().getResultImages());
          } else {
            trip(step, v, stage);
          }
        }
      }
    }
    return step.done();
  }

  private static void input(Step step, GuardrailVerdict v, GuardrailOutcome outcome, Map<String, AgentDefinition> agents) {
    boolean modelPending = step.pending().stream().anyMatch(p -> p.getKind() == CallKind.MODEL);
    switch (outcome) {
      case TRIP, REJECT -> trip(step, v, GuardrailStage.INPUT);
      case REDACT -> {
        // The model must not answer what it should not have seen: discard its answer, ask again.
        String redacted = v.getContent() == null ? "" : v.getContent();
        step.b.setInput(redacted);
        List<Object> items = step.items();
        for (int i = 0; i < items.size(); i++) {
          if (items.get(i) instanceof MessageItem m && m.getRole() == Role.USER) {
            items.set(i, MessageItem.newBuilder(m).setText(redacted).build());
            break;
          }
        }
        step.b.getHeld().clear();
        step.b.setHeldUsage(null);
        step.pending().removeIf(p -> p.getKind() == CallKind.MODEL);
        Turns.requestModel(step);
      }
      case ALLOW -> {
        if (!step.b.getHeld().isEmpty()) {
          List<Object> held = new ArrayList<>(step.b.getHeld());
          Usage usage = step.b.getHeldUsage();
          step.b.getHeld().clear();
          step.b.setHeldUsage(null);
          Turns.applyModelOutput(step, step.runId() + ":m" + step.b.getTurn(), held, usage, agents);
        } else if (!modelPending && step.b.getTurn() == 0) {
          Turns.requestModel(step); // blocking mode: the first model call waited for this verdict
        }
      }
    }
  }

  private static void trip(Step step, GuardrailVerdict v, GuardrailStage stage) {
    step.b.getHeld().clear();
    step.b.setHeldUsage(null);
    step.toolCalls().clear();
    step.b.getApprovals().clear();
    String reason = "guardrail '" + v.getGuardrail() + "' tripped on the " + stage.name().toLowerCase().replace('_', ' ')
        + (v.getReason() == null ? "" : ": " + v.getReason());
    RunStateMachine.finish(step, RunStatus.GUARDRAIL_TRIPPED, null, reason, v.getGuardrail());
  }

  private static String describe(GuardrailFinding f) {
    return f.getGuardrail() + ": " + f.getOutcome() + ": " + f.getReason() + (f.getEvidence() == null ? "" : " (" + f.getEvidence() + ")");
  }
}
