package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.ResultIgnored;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStarted;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolCallRequested;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.Usage;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The run loop as a pure function: {@code (RunState, RunEvent, now) -> (RunState', effects)}. It
 * never does I/O and never reads a clock, so every transition is unit-testable and a replay of the
 * same inputs gives the same outputs (call ids are derived from the run id and turn, not random).
 *
 * <p>Rules: every command carries a callId, kept in {@code pending} until answered; an answer whose
 * callId is not pending is ignored (so duplicates and late answers are harmless); a command whose
 * deadline passes is sent again with the same callId, up to the agent's {@code maxAttempts}, then
 * the run fails.
 */
public final class RunStateMachine {

  /** The current RunState layout; bump with a one-line note in RunState.avsc's doc. */
  public static final int SCHEMA_VERSION = 1;

  private RunStateMachine() {}

  public static boolean isTerminal(RunStatus status) {
    return switch (status) {
      case COMPLETED, FAILED, CANCELLED, GUARDRAIL_TRIPPED -> true;
      default -> false;
    };
  }

  /** Applies one event to a run's state ({@code null} when the run does not exist yet). */
  public static Transition apply(RunState state, RunEvent event, Instant now) {
    if (state == null) {
      return event instanceof RunEvent.Started s ? start(s, now) : Transition.rejected("no run with this id");
    }
    return switch (event) {
      case RunEvent.Started s -> duplicateStart(state, s.request());
      case RunEvent.CommandReceived c -> command(state, c.command(), now);
      case RunEvent.ModelAnswered m -> modelAnswered(state, m.result(), now);
      case RunEvent.ToolAnswered t -> toolAnswered(state, t.result(), now);
      case RunEvent.DeadlinePassed d -> deadlinePassed(state, d.callId(), now);
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
        .setAgent(agent)
        .setInput(req.getInput())
        .setTurn(0)
        .setItems(new ArrayList<>(List.of(new MessageItem(Role.USER, req.getInput(), null))))
        .setPending(new ArrayList<>())
        .setUsage(new Usage(0L, 0L, 0L, 0))
        .setMetadata(new HashMap<>(req.getMetadata()))
        .setTraceId(started.traceId())
        .setCreatedAt(now)
        .setUpdatedAt(now)
        .setVersion(0L)
        .build();
    Step step = new Step(initial, now);
    step.emit(new RunStarted(agent.getVersion(), req.getInput()));
    requestModel(step);
    return step.done();
  }

  private static Transition duplicateStart(RunState state, RunRequest req) {
    boolean same = state.getInput().equals(req.getInput()) && state.getAgent().getName().equals(req.getAgent());
    // A producer retry re-delivering the same request is harmless; reusing a runId for other work is an error.
    return same ? Transition.unchanged()
        : Transition.rejected("run " + req.getRunId() + " already exists (agent " + state.getAgent().getName()
            + ", status " + state.getStatus() + "); use a new runId");
  }

  // --- commands -------------------------------------------------------------------------------

  private static Transition command(RunState state, RunCommand cmd, Instant now) {
    return switch (cmd.getType()) {
      case CANCEL -> {
        if (isTerminal(state.getStatus())) {
          yield Transition.unchanged();
        }
        Step step = new Step(state, now);
        step.b.setPending(new ArrayList<>());
        String reason = cmd.getMessage() == null ? "cancelled by command " + cmd.getCommandId() : cmd.getMessage();
        finish(step, RunStatus.CANCELLED, null, reason);
        yield step.done();
      }
      case APPROVE, REJECT, USER_MESSAGE, RESUME ->
          Transition.rejected("run command " + cmd.getType() + " is not supported yet");
      case UNKNOWN -> Transition.rejected("unknown run command type");
    };
  }

  // --- model ----------------------------------------------------------------------------------

  private static Transition modelAnswered(RunState state, ModelResult result, Instant now) {
    Optional<PendingCall> pending = pendingCall(state, result.getCallId(), CallKind.MODEL);
    if (pending.isEmpty()) {
      return ignored(state, result.getCallId(), now);
    }
    Step step = new Step(state, now);
    PendingCall call = pending.get();
    if (result.getError() != null) {
      ErrorInfo error = result.getError();
      step.emit(new ModelFailed(call.getCallId(), error));
      if (error.getRetryable() && call.getAttempt() < maxAttempts(state)) {
        resendModel(step, call);
      } else {
        step.removePending(call.getCallId());
        finish(step, RunStatus.FAILED, null,
            "model call " + call.getCallId() + " failed: " + error.getCode() + ": " + error.getMessage());
      }
      return step.done();
    }
    step.removePending(call.getCallId());
    addUsage(step, result.getUsage());
    List<Object> output = result.getOutput();
    step.emit(new ModelResponded(call.getCallId(), new ArrayList<>(output), result.getUsage()));
    String agentName = state.getAgent().getName();
    List<FunctionCallItem> calls = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    for (Object item : output) {
      if (item instanceof MessageItem m) {
        MessageItem tagged = MessageItem.newBuilder(m).setAgent(agentName).build();
        step.items().add(tagged);
        if (m.getRole() == Role.ASSISTANT) {
          if (!text.isEmpty()) {
            text.append("\n");
          }
          text.append(m.getText());
        }
      } else if (item instanceof FunctionCallItem f) {
        step.items().add(f);
        calls.add(f);
      }
    }
    if (calls.isEmpty()) {
      if (text.isEmpty()) {
        finish(step, RunStatus.FAILED, null, "model returned neither text nor tool calls (call " + call.getCallId() + ")");
      } else {
        finish(step, RunStatus.COMPLETED, text.toString(), null);
      }
      return step.done();
    }
    int index = 0;
    for (FunctionCallItem f : calls) {
      index++;
      Optional<ToolSpec> tool = state.getAgent().getTools().stream().filter(t -> t.getName().equals(f.getName())).findFirst();
      if (tool.isEmpty()) {
        String available = state.getAgent().getTools().stream().map(ToolSpec::getName).collect(Collectors.joining(", "));
        String msg = "error: unknown tool '" + f.getName() + "'. Available tools: " + (available.isEmpty() ? "none" : available);
        step.items().add(new FunctionCallOutputItem(f.getToolCallId(), f.getName(), msg, true, List.of()));
        step.emit(new ToolCallCompleted(f.getToolCallId(), f.getName(), msg, true));
        continue;
      }
      String callId = state.getRunId() + ":t" + state.getTurn() + "." + index;
      Instant deadline = now.plus(toolTimeout(state, tool.get()));
      PendingCall pc = new PendingCall(callId, CallKind.TOOL, f.getToolCallId(), f.getName(), 1, deadline);
      step.pending().add(pc);
      sendTool(step, pc, f.getArguments());
    }
    if (step.pending().isEmpty()) {
      nextTurnOrStop(step);
    }
    return step.done();
  }

  private static void requestModel(Step step) {
    RunState s = step.current();
    int turn = s.getTurn() + 1;
    step.b.setTurn(turn);
    String callId = s.getRunId() + ":m" + turn;
    PendingCall pc = new PendingCall(callId, CallKind.MODEL, null, null, 1, step.now.plus(modelTimeout(s)));
    step.pending().add(pc);
    sendModel(step, pc);
  }

  private static void resendModel(Step step, PendingCall call) {
    PendingCall retry = PendingCall.newBuilder(call)
        .setAttempt(call.getAttempt() + 1)
        .setDeadline(step.now.plus(modelTimeout(step.current())))
        .build();
    step.replacePending(retry);
    sendModel(step, retry);
  }

  private static void sendModel(Step step, PendingCall pc) {
    RunState s = step.current();
    AgentDefinition agent = s.getAgent();
    step.effects.add(new Effect.SendModelCall(ModelCall.newBuilder()
        .setRunId(s.getRunId())
        .setCallId(pc.getCallId())
        .setAttempt(pc.getAttempt())
        .setAgent(agent.getName())
        .setModel(agent.getModel())
        .setInstructions(agent.getInstructions())
        .setInput(new ArrayList<>(s.getItems()))
        .setTools(new ArrayList<>(agent.getTools()))
        .setSettings(agent.getModelSettings())
        .setDeadline(pc.getDeadline())
        .build()));
    step.emit(new ModelCallRequested(pc.getCallId(), pc.getAttempt(), agent.getModel()));
  }

  private static void nextTurnOrStop(Step step) {
    RunState s = step.current();
    int max = s.getAgent().getMaxTurns();
    if (s.getTurn() >= max) {
      finish(step, RunStatus.FAILED, null,
          "max turns exceeded: the agent made " + s.getTurn() + " model calls without a final answer (maxTurns=" + max + ")");
    } else {
      requestModel(step);
    }
  }

  // --- tools ----------------------------------------------------------------------------------

  private static Transition toolAnswered(RunState state, ToolResult result, Instant now) {
    Optional<PendingCall> pending = pendingCall(state, result.getCallId(), CallKind.TOOL);
    if (pending.isEmpty()) {
      return ignored(state, result.getCallId(), now);
    }
    PendingCall call = pending.get();
    Step step = new Step(state, now);
    step.removePending(call.getCallId());
    step.items().add(new FunctionCallOutputItem(call.getToolCallId(), call.getName(), result.getOutput(), result.getIsError(), List.of()));
    step.emit(new ToolCallCompleted(call.getCallId(), call.getName(), result.getOutput(), result.getIsError()));
    boolean toolsOutstanding = step.pending().stream().anyMatch(p -> p.getKind() == CallKind.TOOL);
    if (!toolsOutstanding) {
      nextTurnOrStop(step);
    }
    return step.done();
  }

  private static void sendTool(Step step, PendingCall pc, String arguments) {
    RunState s = step.current();
    step.effects.add(new Effect.SendToolCall(ToolCall.newBuilder()
        .setRunId(s.getRunId())
        .setCallId(pc.getCallId())
        .setAttempt(pc.getAttempt())
        .setAgent(s.getAgent().getName())
        .setToolCallId(pc.getToolCallId())
        .setName(pc.getName())
        .setArguments(arguments)
        .setDeadline(pc.getDeadline())
        .build()));
    step.emit(new ToolCallRequested(pc.getCallId(), pc.getAttempt(), pc.getName(), arguments));
  }

  // --- deadlines ------------------------------------------------------------------------------

  private static Transition deadlinePassed(RunState state, String callId, Instant now) {
    Optional<PendingCall> pending = state.getPending().stream().filter(p -> p.getCallId().equals(callId)).findFirst();
    if (pending.isEmpty() || isTerminal(state.getStatus()) || pending.get().getDeadline().isAfter(now)) {
      return Transition.unchanged();
    }
    PendingCall call = pending.get();
    Step step = new Step(state, now);
    boolean retry = call.getAttempt() < maxAttempts(state);
    step.emit(new CallTimedOut(callId, call.getKind(), call.getAttempt(), retry));
    if (retry) {
      if (call.getKind() == CallKind.MODEL) {
        resendModel(step, call);
      } else {
        PendingCall again = PendingCall.newBuilder(call)
            .setAttempt(call.getAttempt() + 1)
            .setDeadline(now.plus(toolTimeout(state, toolSpec(state, call.getName()))))
            .build();
        step.replacePending(again);
        sendTool(step, again, argumentsOf(state, call.getToolCallId()));
      }
    } else {
      step.b.setPending(new ArrayList<>());
      String what = call.getKind() == CallKind.MODEL ? "model call " + callId : "tool " + call.getName() + " (call " + callId + ")";
      finish(step, RunStatus.FAILED, null, what + " got no answer after " + call.getAttempt() + " attempt(s)");
    }
    return step.done();
  }

  // --- helpers --------------------------------------------------------------------------------

  private static Transition ignored(RunState state, String callId, Instant now) {
    Step step = new Step(state, now);
    String reason = isTerminal(state.getStatus()) ? "run already " + state.getStatus() : "call is not pending (duplicate or late answer)";
    step.emit(new ResultIgnored(callId, reason));
    return step.done();
  }

  private static void finish(Step step, RunStatus status, String output, String error) {
    step.b.setStatus(status).setFinalOutput(output).setError(error).setPending(new ArrayList<>());
    step.emit(new RunFinished(status, output, error));
    RunState s = step.current();
    step.effects.add(new Effect.Finish(RunResult.newBuilder()
        .setRunId(s.getRunId())
        .setStatus(status)
        .setAgent(s.getAgent().getName())
        .setAgentVersion(s.getAgent().getVersion())
        .setFinalOutput(output)
        .setError(error)
        .setTurns(s.getTurn())
        .setUsage(Usage.newBuilder(s.getUsage()).build())
        .setFinishedAt(step.now)
        .build()));
  }

  private static void addUsage(Step step, Usage u) {
    Usage total = step.b.getUsage();
    if (u == null) {
      total.setModelCalls(total.getModelCalls() + 1);
      return;
    }
    step.b.setUsage(new Usage(total.getInputTokens() + u.getInputTokens(), total.getOutputTokens() + u.getOutputTokens(),
        total.getTotalTokens() + u.getTotalTokens(), total.getModelCalls() + 1));
  }

  private static Optional<PendingCall> pendingCall(RunState state, String callId, CallKind kind) {
    if (isTerminal(state.getStatus())) {
      return Optional.empty();
    }
    return state.getPending().stream().filter(p -> p.getCallId().equals(callId) && p.getKind() == kind).findFirst();
  }

  private static ToolSpec toolSpec(RunState state, String name) {
    return state.getAgent().getTools().stream().filter(t -> t.getName().equals(name)).findFirst().orElse(null);
  }

  private static String argumentsOf(RunState state, String toolCallId) {
    for (int i = state.getItems().size() - 1; i >= 0; i--) {
      if (state.getItems().get(i) instanceof FunctionCallItem f && f.getToolCallId().equals(toolCallId)) {
        return f.getArguments();
      }
    }
    return "{}";
  }

  private static int maxAttempts(RunState s) {
    return Math.max(1, s.getAgent().getMaxAttempts());
  }

  private static Duration modelTimeout(RunState s) {
    return Duration.ofMillis(Math.max(1, s.getAgent().getModelTimeoutMs()));
  }

  private static Duration toolTimeout(RunState s, ToolSpec tool) {
    Long perTool = tool == null ? null : tool.getTimeoutMs();
    return Duration.ofMillis(Math.max(1, perTool != null ? perTool : s.getAgent().getToolTimeoutMs()));
  }

  /** Accumulates one transition: a builder over a copy of the state, the effects, and the version counter. */
  private static final class Step {
    final RunState.Builder b;
    final Instant now;
    final List<Effect> effects = new ArrayList<>();

    Step(RunState state, Instant now) {
      this.b = RunState.newBuilder(state);
      this.now = now;
      b.setUpdatedAt(now);
      // Avro's decoded and deep-copied arrays do not support removal; work on plain lists.
      b.setItems(new ArrayList<>(b.getItems()));
      b.setPending(new ArrayList<>(b.getPending()));
    }

    RunState current() {
      return b.build();
    }

    List<Object> items() {
      return b.getItems();
    }

    List<PendingCall> pending() {
      return b.getPending();
    }

    void removePending(String callId) {
      b.getPending().removeIf(p -> p.getCallId().equals(callId));
    }

    void replacePending(PendingCall call) {
      List<PendingCall> list = b.getPending();
      for (int i = 0; i < list.size(); i++) {
        if (list.get(i).getCallId().equals(call.getCallId())) {
          list.set(i, call);
          return;
        }
      }
      list.add(call);
    }

    void emit(Object stepRecord) {
      long version = b.getVersion() + 1;
      b.setVersion(version);
      effects.add(new Effect.Publish(TurnEvent.newBuilder()
          .setRunId(b.getRunId())
          .setSeq(version)
          .setTurn(b.getTurn())
          .setAgent(b.getAgent().getName())
          .setAt(now)
          .setStep(stepRecord)
          .build()));
    }

    Transition done() {
      return Transition.to(b.build(), effects);
    }
  }
}
