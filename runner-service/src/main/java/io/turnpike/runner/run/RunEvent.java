package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.ToolResult;

/** Everything that can happen to a run, as seen by the {@link RunStateMachine}. */
public sealed interface RunEvent {

  /** A run request whose agent was found; {@code agent} is the definition the run pins. */
  record Started(RunRequest request, AgentDefinition agent, String traceId) implements RunEvent {}

  record CommandReceived(RunCommand command) implements RunEvent {}

  record ModelAnswered(ModelResult result) implements RunEvent {}

  record ToolAnswered(ToolResult result) implements RunEvent {}

  /** A pending call's deadline passed without an answer. */
  record DeadlinePassed(String callId) implements RunEvent {}
}
