package io.turnpike.runner.model;

import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.Role;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** ModelCalls for tests. */
final class TestCalls {
  private TestCalls() {}

  static final String WEATHER_SCHEMA =
      "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],"
          + "\"additionalProperties\":false}";

  static MessageItem user(String text) {
    return MessageItem.newBuilder().setRole(Role.USER).setText(text).build();
  }

  static MessageItem message(Role role, String text) {
    return MessageItem.newBuilder().setRole(role).setText(text).build();
  }

  static FunctionCallItem functionCall(String id, String name, String args) {
    return FunctionCallItem.newBuilder().setToolCallId(id).setName(name).setArguments(args).setItemId("fc_" + id)
        .build();
  }

  static FunctionCallOutputItem output(String id, String name, String output) {
    return FunctionCallOutputItem.newBuilder().setToolCallId(id).setName(name).setOutput(output).build();
  }

  static ToolSpec tool(String name, ToolKind kind) {
    return ToolSpec.newBuilder().setName(name).setDescription("the " + name + " tool")
        .setParametersJson(WEATHER_SCHEMA).setKind(kind).setStrict(kind == ToolKind.FUNCTION).build();
  }

  static ModelCall.Builder call(String runId, String callId, List<Object> input) {
    return ModelCall.newBuilder()
        .setRunId(runId)
        .setCallId(callId)
        .setAttempt(1)
        .setAgent("assistant")
        .setModel("gpt-test")
        .setInstructions("Be brief.")
        .setInput(new ArrayList<>(input))
        .setTools(new ArrayList<>())
        .setSettings(null)
        .setDeadline(Instant.now().plus(Duration.ofMinutes(5)));
  }

  static ModelCall simple(String runId, String callId, String text) {
    return call(runId, callId, List.of(user(text))).build();
  }

  static ModelSettings.Builder settings() {
    return ModelSettings.newBuilder().setApi(ModelApi.RESPONSES);
  }
}
