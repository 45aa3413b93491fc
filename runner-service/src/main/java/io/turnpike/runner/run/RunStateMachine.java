package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunStarted;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.Usage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The run loop as a pure function: {@code (RunState, RunEvent, now) -> (RunState', effects)}. It
 * never does I/O and never reads a clock, so every transition is unit-testable and a replay of the
 * same inputs gives the same outputs (call ids are derived from the run id and turn, not random).
 *
 * <p>The phases live one per file: {@link Turns} (model calls), {@link ToolCalls} (guardrails,
 * approval, execution and output of each tool call), {@link Guardrails} (checks and verdicts),
 * {@link Approvals} (human decisions); {@link Step} accumulates one transition.
 *
 * <p>Rules: every command carries a callId, kept in {@code pending} until answered; an answer whose
 * callId is not pending is ignored (so duplicates and late answers are harmless); a command whose
 * deadline passes backs off and is sent again with the same callId, as the agent's retry policy for
 * its kind allows ({@link Retries}), then the run fails with a reason that says the budget is spent.
 */
public final class RunStateMachine {

  /** The current RunState layout (see RunState.avsc's doc for what each version added). */
  public static final int SCHEMA_VERSION = 6;

  private RunStateMachine() {}

  public static boolean isTerminal(RunStatus status) {
    return switch (status) {
      case COMPLETED, FAILED, CANCELLED, GUARDRAIL_TRIPPED -> true;
      default -> false;
    };
  }

  /** Applies one event to a run's state ({@code null} when the run does not exist yet). */
  public static Transition apply(RunState stored, RunEvent event, Instant now) {
    RunState state = stored;
    if (state == null) {
      return event instanceof RunEvent.Started s ? start(s, now) : Transition.rejected("no run with this id");
    }
    state = RunStateUpgrade.upgrade(state);
    return switch (event) {
      case RunEvent.Started s -> duplicateStart(state, s.request());
      case RunEvent.CommandReceived c -> command(state, c.command(), now);
      case RunEvent.ModelAnswered m -> Turns.modelAnswered(state, m.result(), m.agents(), m.maxImageBytes(), now);
      case RunEvent.ToolAnswered t -> ToolCalls.toolAnswered(state, t.result(), t.maxImageBytes(), now);
      case RunEvent.ChildAnswered c -> ChildRuns.answered(state, c.result(), now);
      case RunEvent.SandboxAnswered s -> ToolCalls.sandboxAnswered(state, s.result(), s.maxImageBytes(), now);
      case RunEvent.GuardrailAnswered g -> Guardrails.verdict(state, g.verdict(), g.agents(), now);
      case RunEvent.DeadlinePassed d -> deadlinePassed(state, d.callId(), now);
      case RunEvent.Abandoned a -> abandoned(state, a.reason(), now);
      case RunEvent.MemoryRefreshed m -> memoryRefreshed(state, m.memory(), now);
    };
  }

  // --- start ---------------------------------------------------------------------------------

  private static Transition start(RunEvent.Started started, Instant now) {
    RunRequest req = started.request();
    AgentDefinition agent = started.agent();
    RunState initial = RunState.newBuilder()
        .setSchemaVersion(SCHEMA_VERSION)
        .setRunId(req.getRunId())
        .setStatus(RunStatus.RUNNING)
        .setAgent(RunMemories.withFiles(agent, started.memory()))
        .setInput(req.getInput())
        .setTurn(0)
        .setItems(new ArrayList<>(List.of(new MessageItem(Role.USER, req.getInput(), null, java.util.List.of()))))
        .setPending(new ArrayList<>())
        .setUsage(Usage.newBuilder().build())
        .setMetadata(new HashMap<>(req.getMetadata()))
        .setStream(req.getStream())
        .setTraceId(started.traceId())
        .setParent(req.getParent())
        .setUser(req.getUser())
        .setMemory(started.memory())
        .setUser(req.getUser())
        .setCreatedAt(now)
        .setUpdatedAt(now)
        .setVersion(0L)
        .build();
    Step step = new Step(initial, now);
    step.emit(new RunStarted(agent.getVersion(), req.getInput()));
    Guardrails.startInput(step);
    return step.done();
  }

  private static Transition duplicateStart(RunState state, RunRequest req) {
    String original = state.getHandoffs().isEmpty() ? state.getAgent().getName() : state.getHandoffs().get(0).getFromAgent();
    boolean inputRedacted = state.getGuardrailResults().stream()
        .anyMatch(g -> g.getStage() == io.turnpike.avro.GuardrailStage.INPUT && g.getOutcome().equals("REDACT"));
    boolean same = original.equals(req.getAgent()) && (inputRedacted || state.getInput().equals(req.getInput()));
    // A producer retry re-delivering the same request is harmless; reusing a runId for other work is an error.
    return same ? Transition.unchanged()
        : Transition.rejected("run " + req.getRunId() + " already exists (agent " + original
            + ", status " + state.getStatus() + "); use a new runId");
  }

  private static Transition abandoned(RunState state, String reason, Instant now) {
    if (isTerminal(state.getStatus())) {
      return Transition.unchanged();
    }
    Step step = new Step(state, now);
    step.b.getHeld().clear();
    finish(step, RunStatus.FAILED, null, reason, null);
    return step.done();
  }

  /**
   * A newer memory for a running run (memory.liveUpdate): kept in place of what it read, so its next
   * model calls, a restart and a replay all see the same. The workspace keeps the files it was seeded
   * with; only the instructions change. An older or equal version changes nothing (a redelivery).
   */
  private static Transition memoryRefreshed(RunState state, io.turnpike.avro.RunMemory memory, Instant now) {
    io.turnpike.avro.RunMemory had = state.getMemory();
    if (isTerminal(state.getStatus()) || memory == null
        || had != null && (!had.getScope().equals(memory.getScope()) || had.getVersion() >= memory.getVersion())) {
      return Transition.unchanged();
    }
    Step step = new Step(state, now);
    step.b.setMemory(io.turnpike.avro.RunMemory.newBuilder(memory)
        .setFiles(had == null ? java.util.Map.of() : had.getFiles()).build());
    step.emit(new io.turnpike.avro.MemoryRefreshed(memory.getScope(), had == null ? null : had.getVersion(), memory.getVersion()));
    return step.done();
  }

  // --- commands -------------------------------------------------------------------------------

  private static Transition command(RunState state, RunCommand cmd, Instant now) {
    boolean terminal = isTerminal(state.getStatus());
    return switch (cmd.getType()) {
      case CANCEL -> {
        if (terminal) {
          yield Transition.unchanged();
        }
        Step step = new Step(state, now);
        step.toolCalls().clear();
        step.b.getApprovals().clear();
        step.b.getHeld().clear();
        String reason = cmd.getMessage() == null ? "cancelled by command " + cmd.getCommandId() : cmd.getMessage();
        finish(step, RunStatus.CANCELLED, null, reason, null);
        yield step.done();
      }
      case APPROVE, REJECT -> terminal
          ? Transition.rejected("run " + state.getRunId() + " is " + state.getStatus() + "; nothing to approve")
          : Approvals.resolve(state, cmd, now);
      case USER_MESSAGE -> {
        if (cmd.getMessage() == null || cmd.getMessage().isBlank()) {
          yield Transition.rejected("USER_MESSAGE needs a message");
        }
        if (terminal && state.getStatus() != RunStatus.COMPLETED) {
          yield Transition.rejected("run " + state.getRunId() + " is " + state.getStatus() + "; only running, interrupted or completed runs take messages");
        }
        Step step = new Step(state, now);
        Turns.userMessage(step, cmd.getMessage());
        yield step.done();
      }
      case RESUME -> Transition.rejected("RESUME is not needed: a run resumes by itself once its approvals are resolved");
      case UNKNOWN -> Transition.rejected("unknown run command type");
    };
  }

  // --- deadlines ------------------------------------------------------------------------------

  private static Transition deadlinePassed(RunState state, String callId, Instant now) {
    Optional<PendingCall> pending = state.getPending().stream().filter(p -> p.getCallId().equals(callId)).findFirst();
    if (pending.isEmpty() || isTerminal(state.getStatus()) || pending.get().getDeadline().isAfter(now)) {
      return Transition.unchanged();
    }
    PendingCall call = pending.get();
    Step step = new Step(state, now);
    if (call.getKind() == CallKind.APPROVAL) {
      step.removePending(callId);
      Approvals.timedOut(step, call);
    } else if (call.getKind() == CallKind.AGENT) {
      ChildRuns.timedOut(step, call);
    } else {
      Retries.deadlinePassed(step, call);
    }
    return step.done();
  }

  // --- shared ---------------------------------------------------------------------------------

  static Transition ignored(RunState state, String callId, Instant now) {
    return ignored(state, callId, now,
        isTerminal(state.getStatus()) ? "run already " + state.getStatus() : "call is not pending (duplicate or late answer)");
  }

  static Transition ignored(RunState state, String callId, Instant now, String reason) {
    Step step = new Step(state, now);
    step.emit(new ResultIgnored(callId, reason));
    return step.done();
  }

  static Optional<PendingCall> pendingCall(RunState state, String callId, CallKind kind) {
    if (isTerminal(state.getStatus())) {
      return Optional.empty();
    }
    return state.getPending().stream().filter(p -> p.getCallId().equals(callId) && p.getKind() == kind).findFirst();
  }

  /** Ends the run: status, result, a RunFinished event; nothing stays pending. */
  static void finish(Step step, RunStatus status, String output, String error, String guardrail) {
    if (status != RunStatus.COMPLETED) {
      step.b.setStructuredOutput(null);
    }
    step.b.setStatus(status).setFinalOutput(output).setError(error).setPending(new ArrayList<>());
    step.toolCalls().clear();
    step.b.getApprovals().clear();
    ChildRuns.cancelRunning(step, status, error);
    Turns.emitFinished(step, status, output, error);
    step.effects.add(new Effect.Finish(step.result(status).setFinalOutput(output).setError(error).setGuardrail(guardrail)
        .setStructuredOutput(step.b.getStructuredOutput()).build()));
    ChildRuns.answerParent(step, status, output, error, guardrail);
  }

  /**
   * The state as published on {@code turnpike.run-state}, which users read: without the content of
   * pending output-side guardrail checks and the model answer held for a parallel input guardrail, and
   * with references instead of image bytes. Only the
   * runner's own store (and its internal changelog) keeps those: a check can then be re-sent and the
   * model shown the images, while output under judgement reaches no topic users read before its
   * verdict (as before checks were retried) and the public copy of every step stays small.
   */
  public static RunState published(RunState state) {
    state = Images.withoutBytes(state);
    if (state.getPending().stream().allMatch(p -> p.getContent() == null) && state.getHeld().isEmpty()) {
      return state;
    }
    List<PendingCall> pending = state.getPending().stream()
        .map(p -> p.getContent() == null ? p : PendingCall.newBuilder(p).setContent(null).build())
        .toList();
    // a model answer held while a parallel input guardrail judges is output under judgement too: a tripwire discards it
    return RunState.newBuilder(state).setPending(new ArrayList<>(pending)).setHeld(new ArrayList<>()).build();
  }

  /**
   * The state of a run that must end but whose state no longer fits its topic: without the conversation
   * (items, images, held output, queued messages; all of it is in turnpike.turn-events), the content of
   * pending checks, the workspace files of its memory and its agent's manifest, and with its input cut
   * to 64 Ki characters. What is left is small whatever the run did, so ending it can always be written.
   */
  static RunState withoutConversation(RunState state) {
    String input = state.getInput().length() > 65_536 ? state.getInput().substring(0, 65_536) + "[...]" : state.getInput();
    RunState.Builder b = RunState.newBuilder(state)
        .setInput(input)
        .setItems(new ArrayList<>())
        .setImages(new ArrayList<>())
        .setHeld(new ArrayList<>())
        .setQueuedMessages(new ArrayList<>())
        .setPending(new ArrayList<>())
        .setToolCalls(new ArrayList<>())
        .setApprovals(new ArrayList<>())
        .setGuardrailResults(new ArrayList<>())
        .setAgent(AgentDefinition.newBuilder(state.getAgent()).setManifest(null).build());
    if (state.getMemory() != null) {
      b.setMemory(io.turnpike.avro.RunMemory.newBuilder(state.getMemory()).setFiles(Map.of()).build());
    }
    return b.build();
  }

  /** Names of the agents a run's held or new model output hands off to; the orchestrator resolves them. */
  public static List<String> handoffTargets(RunState state, List<Object> output) {
    List<String> targets = new ArrayList<>();
    AgentDefinition agent = state == null ? null : state.getAgent();
    if (agent == null) {
      return targets;
    }
    for (Object item : output) {
      if (item instanceof io.turnpike.avro.FunctionCallItem f) {
        AgentView.handoffTarget(agent, f.getName()).ifPresent(targets::add);
      }
    }
    return targets;
  }

}
