package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.RetryPolicies;
import io.turnpike.avro.RetryPolicy;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.ToolResult;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.Usage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Builders for the records the orchestrator consumes. */
final class Fixtures {
  static final Instant T0 = Instant.parse("2026-11-25T12:00:00Z");

  private Fixtures() {}

  static AgentDefinition agent(int maxTurns, String... tools) {
    List<ToolSpec> specs = new ArrayList<>();
    for (String t : tools) {
      specs.add(ToolSpec.newBuilder().setName(t).setDescription("tool " + t)
          .setParametersJson("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}").build());
    }
    return AgentDefinition.newBuilder()
        .setName("weather")
        .setVersion(3)
        .setInstructions("Be brief.")
        .setModel("gpt-test")
        .setTools(specs)
        .setMaxTurns(maxTurns)
        .setModelTimeoutMs(30_000)
        .setToolTimeoutMs(10_000)
        .setRetry(failFast(2))
        .build();
  }

  /**
   * A retry policy that gives up quickly: {@code attempts} sends, re-sent as soon as one times out
   * (no backoff), within a budget far longer than they take. Tests of timeouts use it so that a few
   * deadlines end the run; tests of the default policies build their agents without it.
   */
  static RetryPolicies failFast(int attempts) {
    RetryPolicy p = RetryPolicy.newBuilder().setAttempts(attempts).setBackoffMs(0).build();
    return RetryPolicies.newBuilder().setModel(p).setTool(p).setSandbox(p).setGuardrail(p).build();
  }

  static RunRequest request(String runId, String input) {
    return RunRequest.newBuilder().setRunId(runId).setAgent("weather").setInput(input)
        .setMetadata(Map.of()).setRequestedAt(T0).build();
  }

  static ModelResult text(String runId, String callId, String text) {
    return ModelResult.newBuilder().setRunId(runId).setCallId(callId)
        .setOutput(List.of(new MessageItem(Role.ASSISTANT, text, null, java.util.List.of())))
        .setUsage(Usage.newBuilder().setInputTokens(10L).setOutputTokens(5L).setTotalTokens(15L).setModelCalls(1).build()).build();
  }

  static ModelResult toolCalls(String runId, String callId, String... nameAndArgs) {
    List<Object> out = new ArrayList<>();
    for (int i = 0; i < nameAndArgs.length; i += 2) {
      out.add(new FunctionCallItem("fc_" + callId + "_" + i, nameAndArgs[i], nameAndArgs[i + 1], null));
    }
    return ModelResult.newBuilder().setRunId(runId).setCallId(callId).setOutput(out)
        .setUsage(Usage.newBuilder().setInputTokens(20L).setOutputTokens(7L).setTotalTokens(27L).setModelCalls(1).build()).build();
  }

  static ModelResult modelError(String runId, String callId, boolean retryable) {
    return ModelResult.newBuilder().setRunId(runId).setCallId(callId)
        .setError(new ErrorInfo(retryable ? "model_http_503" : "model_http_400", "boom", retryable)).build();
  }

  static ToolResult toolResult(String runId, String callId, String name, String output) {
    return ToolResult.newBuilder().setRunId(runId).setCallId(callId).setName(name).setOutput(output).build();
  }

  static RunCommand command(String runId, RunCommandType type) {
    return RunCommand.newBuilder().setRunId(runId).setCommandId("cmd-1").setType(type).setIssuedAt(T0).build();
  }
}
