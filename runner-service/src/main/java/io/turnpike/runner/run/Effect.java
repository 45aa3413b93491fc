package io.turnpike.runner.run;

import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.ToolCall;
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
}
