package io.turnpike.runner.run;

import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.TurnEvent;

/** What the state machine asks the outside world to do. The orchestrator turns each into a record. */
public sealed interface Effect {

  record SendModelCall(ModelCall call) implements Effect {}

  record SendToolCall(ToolCall call) implements Effect {}

  record SendSandboxCommand(SandboxCommand command) implements Effect {}

  record SendGuardrailCheck(GuardrailCheck check) implements Effect {}

  record Publish(TurnEvent event) implements Effect {}

  /** A RunResult: final, or interim (INTERRUPTED). */
  record Finish(RunResult result) implements Effect {}

  /** Starts a child run (an agent called as a tool): a RunRequest on turnpike.run-requests, keyed by the child's runId. */
  record StartChildRun(RunRequest request) implements Effect {}

  /** Cancels a child run this run no longer waits for: a RunCommand CANCEL keyed by the child's runId. */
  record CancelChildRun(RunCommand command) implements Effect {}

  /**
   * A child run's outcome for its parent: a ToolResult (with childRunId) on turnpike.tool.results keyed
   * by the parent's runId, so it reaches the parent as the answer of the tool call that started the child.
   */
  record AnswerParent(ToolResult result) implements Effect {}
}
