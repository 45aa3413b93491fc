package io.turnpike.runner.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.CallTimedOut;
import io.turnpike.avro.ChildRun;
import io.turnpike.avro.ChildRunFinished;
import io.turnpike.avro.ChildRunStarted;
import io.turnpike.avro.ParentRun;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolPhase;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.ToolSpec;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Optional;

/**
 * Agents as tools (the SDK's {@code agent.as_tool()}): a call of a tool of kind AGENT, once past its
 * input guardrails and approval, starts a <em>child run</em> of that tool's agent, a normal durable run
 * with its own runId, turn events and RunResult, and waits for it; the child's final outcome is the
 * call's output.
 *
 * <ul>
 *   <li>The child's runId is derived from the call ({@code <callId>/<agent>}), so a start that is
 *       replayed after a crash names the same run, and the run request dedupe makes it a no-op.</li>
 *   <li>The parent records the child in {@code RunState.children} and a {@code ChildRunStarted}
 *       event; the child carries the parent link ({@code RunState.parent}: parent runId, callId,
 *       root, depth, the agents above it).</li>
 *   <li>When the child ends, whatever the way, its orchestrator writes a ToolResult with
 *       {@code childRunId} to the parent's key on {@code turnpike.tool.results}, in the transaction
 *       that ends the child: COMPLETED gives its final output (the structured JSON when it has one),
 *       any other status an error output the model sees.</li>
 *   <li>A parent that ends (cancelled, failed, tripped) cancels every child still running.</li>
 *   <li>An agent tool has no deadline unless its {@code timeout} is set; then the child is cancelled
 *       and the model told when it passes. It is never re-sent: the child is durable already.</li>
 * </ul>
 */
final class ChildRuns {
  /** How deep runs may nest: a top-level run is at depth 0, its children at 1. */
  static final int MAX_DEPTH = 5;
  /** The most of a child's output the parent takes: it becomes part of the parent's state and every model call after. */
  static final int MAX_OUTPUT_CHARS = 256 * 1024;

  private static final ObjectMapper JSON = new ObjectMapper();

  private ChildRuns() {}

  /** The child run a call of an agent tool starts: the same for every replay of the call. */
  static String childRunId(String callId, String agent) {
    return callId + "/" + agent;
  }

  /** The call passed its input guardrails and approval: start the child run, or tell the model why it cannot. */
  static void start(Step step, ToolCallProgress progress, ToolSpec spec) {
    String target = spec == null ? null : spec.getAgent();
    if (target == null || target.isBlank()) {
      ToolCalls.complete(step, progress, "error: agent tool '" + progress.getName() + "' names no agent", true, List.of());
      return;
    }
    String input = input(progress.getArguments());
    if (input.isBlank()) {
      ToolCalls.complete(step, progress, "error: agent tool '" + progress.getName() + "' needs an input for agent '" + target
          + "', as {\"input\": \"...\"}; got " + progress.getArguments(), true, List.of());
      return;
    }
    ParentRun above = step.b.getParent();
    List<String> chain = new ArrayList<>(above == null ? List.of() : above.getAgents());
    chain.add(step.agent().getName());
    if (chain.contains(target)) {
      ToolCalls.complete(step, progress, "error: cannot call agent '" + target + "' as a tool: it is already running above"
          + " this call (" + String.join(" -> ", chain) + " -> " + target + "); agent tools must not form a cycle", true, List.of());
      return;
    }
    int depth = above == null ? 1 : above.getDepth() + 1;
    if (depth > MAX_DEPTH) {
      ToolCalls.complete(step, progress, "error: cannot call agent '" + target + "' as a tool: runs nest at most " + MAX_DEPTH
          + " deep, and this run is at depth " + (depth - 1) + " (" + String.join(" -> ", chain) + ")", true, List.of());
      return;
    }
    String childId = childRunId(progress.getCallId(), target);
    ParentRun link = ParentRun.newBuilder()
        .setRunId(step.runId())
        .setCallId(progress.getCallId())
        .setTool(progress.getName())
        .setRootRunId(above == null ? step.runId() : above.getRootRunId())
        .setDepth(depth)
        .setAgents(chain)
        .setTraceId(step.b.getTraceId())
        .build();
    step.effects.add(new Effect.StartChildRun(RunRequest.newBuilder()
        .setRunId(childId)
        .setAgent(target)
        .setAgentVersion(spec.getAgentVersion())
        .setInput(input)
        .setMetadata(new HashMap<>(step.b.getMetadata()))
        .setUser(step.b.getUser()) // the same person: a child's user-scoped memory is theirs
        .setRequestedAt(step.now)
        .setParent(link)
        .build()));
    step.replaceToolCall(ToolCallProgress.newBuilder(progress).setPhase(ToolPhase.RUNNING).build());
    step.b.getChildren().add(new ChildRun(progress.getCallId(), childId, progress.getName(), target, RunStatus.RUNNING,
        step.now, null));
    step.emit(new ChildRunStarted(progress.getCallId(), childId, target, spec.getAgentVersion()));
    if (spec.getTimeoutMs() != null) {
      // Only a timer: when it fires, the child is cancelled and the model told (never re-sent).
      step.pending().add(PendingCall.newBuilder()
          .setCallId(progress.getCallId())
          .setKind(CallKind.AGENT)
          .setToolCallId(progress.getToolCallId())
          .setName(progress.getName())
          .setDeadline(step.now.plusMillis(Math.max(1, spec.getTimeoutMs())))
          .setFirstSentAt(step.now)
          .build());
    }
  }

  /**
   * What the child is asked: the {@code input} of the default arguments ({@code {"input": "..."}}), else
   * the arguments as the model wrote them (an agent tool with its own parameters).
   */
  static String input(String arguments) {
    try {
      JsonNode args = JSON.readTree(arguments);
      if (args != null && args.isObject() && args.size() == 1 && args.path("input").isTextual()) {
        return args.get("input").asText();
      }
      if (args != null && args.isObject() && args.isEmpty()) {
        return "";
      }
    } catch (IOException e) {
      // not JSON: the child gets the text as it is
    }
    return arguments == null ? "" : arguments;
  }

  /** A child run's outcome arrived: it is the output of the call that started the child. */
  static Transition answered(RunState state, ToolResult r, Instant now) {
    Optional<ToolCallProgress> progress = RunStateMachine.isTerminal(state.getStatus()) ? Optional.empty()
        : state.getToolCalls().stream().filter(t -> t.getCallId().equals(r.getCallId()) && t.getKind() == ToolKind.AGENT
            && t.getPhase() == ToolPhase.RUNNING).findFirst();
    Optional<ChildRun> child = state.getChildren().stream()
        .filter(c -> c.getCallId().equals(r.getCallId()) && c.getRunId().equals(r.getChildRunId())).findFirst();
    if (progress.isEmpty() || child.isEmpty() || child.get().getStatus() != RunStatus.RUNNING) {
      return RunStateMachine.ignored(state, r.getCallId(), now);
    }
    Step step = new Step(state, now);
    step.removePending(r.getCallId()); // its timer, when the tool has a timeout
    RunStatus status = r.getChildStatus() == null ? (r.getIsError() ? RunStatus.FAILED : RunStatus.COMPLETED) : r.getChildStatus();
    settle(step, child.get(), status);
    step.emit(new ChildRunFinished(r.getCallId(), r.getChildRunId(), status, r.getIsError() ? r.getOutput() : null));
    ToolCalls.outputReady(step, progress.get(), r.getOutput(), r.getIsError(), List.of());
    return step.done();
  }

  /** The agent tool's timeout passed: cancel the child and tell the model. */
  static void timedOut(Step step, PendingCall timer) {
    step.removePending(timer.getCallId());
    Optional<ToolCallProgress> progress = step.toolCall(timer.getCallId());
    step.emit(new CallTimedOut(timer.getCallId(), CallKind.AGENT, timer.getAttempt(), false, null));
    String waited = Retries.human(Duration.between(timer.getFirstSentAt() == null ? step.now : timer.getFirstSentAt(), step.now));
    Optional<ChildRun> child = running(step).stream().filter(c -> c.getCallId().equals(timer.getCallId())).findFirst();
    child.ifPresent(c -> cancel(step, c, "the call " + c.getCallId() + " of run " + step.runId() + " timed out after " + waited));
    progress.ifPresent(p -> ToolCalls.complete(step, p, "error: agent '" + child.map(ChildRun::getAgent).orElse(p.getName())
        + "' did not finish within " + waited + " (the tool's timeout); its run " + child.map(ChildRun::getRunId).orElse("?")
        + " was cancelled", true, List.of()));
  }

  /** The run ends: every child still running is cancelled (nothing would take its outcome). */
  static void cancelRunning(Step step, RunStatus status, String error) {
    String reason = "parent run " + step.runId() + " ended " + status + (error == null ? "" : ": " + error);
    for (ChildRun c : running(step)) {
      cancel(step, c, reason);
    }
  }

  /** The run ends and has a parent: its outcome answers the parent's call, in the same transaction. */
  static void answerParent(Step step, RunStatus status, String output, String error, String guardrail) {
    ParentRun parent = step.b.getParent();
    if (parent == null) {
      return;
    }
    String result = status == RunStatus.COMPLETED && step.b.getStructuredOutput() != null
        ? step.b.getStructuredOutput().getJson() : output;
    step.effects.add(new Effect.AnswerParent(answer(parent, step.runId(), step.agent().getName(), status, result,
        status == RunStatus.GUARDRAIL_TRIPPED && error == null ? "guardrail " + guardrail + " tripped" : error,
        Duration.between(step.b.getCreatedAt(), step.now))));
  }

  /**
   * The answer to a parent's call: the child's output when it COMPLETED, else an error output saying
   * how it ended. Also what the orchestrator sends when a child request cannot even start.
   */
  static ToolResult answer(ParentRun parent, String childRunId, String agent, RunStatus status, String output, String error,
      Duration took) {
    boolean ok = status == RunStatus.COMPLETED;
    String text = ok ? (output == null ? "" : output)
        : "error: agent '" + agent + "' (run " + childRunId + ") ended " + status + (error == null ? "" : ": " + error);
    if (text.length() > MAX_OUTPUT_CHARS) {
      text = text.substring(0, MAX_OUTPUT_CHARS) + "\n[truncated: the output of run " + childRunId + " was " + text.length()
          + " characters; the first " + MAX_OUTPUT_CHARS + " are shown]";
    }
    return ToolResult.newBuilder()
        .setRunId(parent.getRunId())
        .setCallId(parent.getCallId())
        .setName(parent.getTool())
        .setOutput(text)
        .setIsError(!ok)
        .setWorker("run " + childRunId)
        .setDurationMs(Math.max(0, took.toMillis()))
        .setChildRunId(childRunId)
        .setChildStatus(status)
        .build();
  }

  private static List<ChildRun> running(Step step) {
    return step.b.getChildren().stream().filter(c -> c.getStatus() == RunStatus.RUNNING).toList();
  }

  private static void cancel(Step step, ChildRun child, String reason) {
    step.effects.add(new Effect.CancelChildRun(RunCommand.newBuilder()
        .setRunId(child.getRunId())
        .setCommandId(step.runId() + ":cancel:" + child.getRunId())
        .setType(RunCommandType.CANCEL)
        .setMessage(reason)
        .setIssuedAt(step.now)
        .build()));
    settle(step, child, RunStatus.CANCELLED);
  }

  private static void settle(Step step, ChildRun child, RunStatus status) {
    List<ChildRun> children = step.b.getChildren();
    for (int i = 0; i < children.size(); i++) {
      if (children.get(i).getRunId().equals(child.getRunId())) {
        children.set(i, ChildRun.newBuilder(child).setStatus(status).setFinishedAt(step.now).build());
      }
    }
  }
}
