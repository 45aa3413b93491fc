package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.Usage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One transition being built: a builder over a deep copy of the state, the effects so far, and the
 * version counter (every turn event bumps it, so {@code TurnEvent.seq == RunState.version}).
 */
final class Step {
  final RunState.Builder b;
  final Instant now;
  final List<Effect> effects = new ArrayList<>();
  private boolean approvalsAdded;

  Step(RunState state, Instant now) {
    this.b = RunState.newBuilder(state);
    this.now = now;
    b.setUpdatedAt(now);
    // Avro's decoded and deep-copied arrays do not support removal; work on plain lists.
    b.setItems(new ArrayList<>(b.getItems()));
    b.setPending(new ArrayList<>(b.getPending()));
    b.setToolCalls(new ArrayList<>(b.getToolCalls()));
    b.setHeld(new ArrayList<>(b.getHeld()));
    b.setApprovals(new ArrayList<>(b.getApprovals()));
    b.setAlwaysApprove(new ArrayList<>(b.getAlwaysApprove()));
    b.setAlwaysReject(new ArrayList<>(b.getAlwaysReject()));
    b.setHandoffs(new ArrayList<>(b.getHandoffs()));
    b.setGuardrailResults(new ArrayList<>(b.getGuardrailResults()));
    b.setQueuedMessages(new ArrayList<>(b.getQueuedMessages()));
    b.setImages(new ArrayList<>(b.getImages()));
    b.setToolUsers(new ArrayList<>(b.getToolUsers()));
    b.setChildren(new ArrayList<>(b.getChildren()));
  }

  RunState current() {
    return b.build();
  }

  AgentDefinition agent() {
    return b.getAgent();
  }

  String runId() {
    return b.getRunId();
  }

  boolean terminal() {
    return RunStateMachine.isTerminal(b.getStatus());
  }

  List<Object> items() {
    return b.getItems();
  }

  List<PendingCall> pending() {
    return b.getPending();
  }

  List<ToolCallProgress> toolCalls() {
    return b.getToolCalls();
  }

  Optional<PendingCall> findPending(String callId) {
    return b.getPending().stream().filter(p -> p.getCallId().equals(callId)).findFirst();
  }

  Optional<ToolCallProgress> toolCall(String callId) {
    return b.getToolCalls().stream().filter(t -> t.getCallId().equals(callId)).findFirst();
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

  void replaceToolCall(ToolCallProgress progress) {
    List<ToolCallProgress> list = b.getToolCalls();
    for (int i = 0; i < list.size(); i++) {
      if (list.get(i).getCallId().equals(progress.getCallId())) {
        list.set(i, progress);
        return;
      }
    }
    list.add(progress);
  }

  void approvalsAdded() {
    approvalsAdded = true;
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

  void addUsage(Usage u) {
    Usage total = b.getUsage();
    Usage.Builder sum = Usage.newBuilder(total).setModelCalls(total.getModelCalls() + 1);
    if (u != null) {
      sum.setInputTokens(total.getInputTokens() + u.getInputTokens())
          .setOutputTokens(total.getOutputTokens() + u.getOutputTokens())
          .setTotalTokens(total.getTotalTokens() + u.getTotalTokens())
          .setCachedInputTokens(total.getCachedInputTokens() + u.getCachedInputTokens())
          .setReasoningTokens(total.getReasoningTokens() + u.getReasoningTokens());
    }
    b.setUsage(sum.build());
  }

  RunResult.Builder result(RunStatus status) {
    return RunResult.newBuilder()
        .setRunId(b.getRunId())
        .setStatus(status)
        .setAgent(b.getAgent().getName())
        .setAgentVersion(b.getAgent().getVersion())
        .setTurns(b.getTurn())
        .setUsage(Usage.newBuilder(b.getUsage()).build())
        .setFinishedAt(now);
  }

  /**
   * Settles the run's status (INTERRUPTED while approvals are pending) and, when this step asked
   * for new approvals, publishes an interim INTERRUPTED result listing them.
   */
  Transition done() {
    if (!terminal()) {
      b.setStatus(b.getApprovals().isEmpty() ? RunStatus.RUNNING : RunStatus.INTERRUPTED);
      if (approvalsAdded) {
        effects.add(new Effect.Finish(result(RunStatus.INTERRUPTED)
            .setInterruptions(new ArrayList<>(b.getApprovals()))
            .build()));
      }
    }
    return Transition.to(b.build(), effects);
  }
}
