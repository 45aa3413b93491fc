package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ToolResult;
import java.util.Map;

/** Everything that can happen to a run, as seen by the {@link RunStateMachine}. */
public sealed interface RunEvent {

  /** A run request whose agent was found; {@code agent} is the definition the run pins. */
  record Started(RunRequest request, AgentDefinition agent, String traceId, io.turnpike.avro.RunMemory memory) implements RunEvent {
    /** A start without memory (the agent reads none, or its scope has none yet). */
    public Started(RunRequest request, AgentDefinition agent, String traceId) {
      this(request, agent, traceId, null);
    }
  }

  record CommandReceived(RunCommand command) implements RunEvent {}

  /**
   * A model answer. {@code agents} holds the current definitions of the agents the answer hands off
   * to (looked up by the orchestrator, which owns I/O); a missing entry means the agent is unknown.
   * Of the images hosted tools generated the run keeps at most {@code maxImageBytes} in all, as for
   * sandbox answers.
   */
  record ModelAnswered(ModelResult result, Map<String, AgentDefinition> agents, long maxImageBytes) implements RunEvent {
    public ModelAnswered(ModelResult result) {
      this(result, Map.of());
    }

    public ModelAnswered(ModelResult result, Map<String, AgentDefinition> agents) {
      this(result, agents, Images.DEFAULT_MAX_BYTES);
    }
  }

  /** A tool worker's answer; of its images (an MCP tool's) the run keeps at most {@code maxImageBytes} in all, as for the sandbox's. */
  record ToolAnswered(ToolResult result, long maxImageBytes) implements RunEvent {
    public ToolAnswered(ToolResult result) {
      this(result, Images.DEFAULT_MAX_BYTES);
    }
  }

  /** A child run's outcome (a ToolResult with childRunId): the answer of the agent tool call that started it. */
  record ChildAnswered(ToolResult result) implements RunEvent {}

  /**
   * A sandbox answer; of the images it returns the run keeps at most {@code maxImageBytes} in all
   * ({@code turnpike.runner.max-image-bytes}, which the orchestrator reads).
   */
  record SandboxAnswered(SandboxResult result, long maxImageBytes) implements RunEvent {
    public SandboxAnswered(SandboxResult result) {
      this(result, Images.DEFAULT_MAX_BYTES);
    }
  }

  /** A guardrail verdict; {@code agents} resolves handoffs in a model answer it releases (see ModelAnswered). */
  record GuardrailAnswered(GuardrailVerdict verdict, Map<String, AgentDefinition> agents) implements RunEvent {
    public GuardrailAnswered(GuardrailVerdict verdict) {
      this(verdict, Map.of());
    }
  }

  /** A pending call's deadline passed without an answer. */
  record DeadlinePassed(String callId) implements RunEvent {}

  /**
   * The orchestrator cannot carry the run on (its next state would not fit the topics' limits): the run
   * ends FAILED with {@code reason}, so nothing waits for it forever.
   */
  record Abandoned(String reason) implements RunEvent {}

  /**
   * memory.liveUpdate: the run's memory scope has a newer document than the run read (the orchestrator
   * looked it up in its local store); the next model calls carry it.
   */
  record MemoryRefreshed(io.turnpike.avro.RunMemory memory) implements RunEvent {}
}
