package io.turnpike.runner.e2e;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ToolSpec;
import io.turnpike.devkit.ModelScript;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import java.util.List;

/** The agent and scripted model used by the end-to-end tests: two function-tool turns, then an answer. */
final class TravelScript {
  private TravelScript() {}

  static final String AGENT = "travel";

  static AgentDefinition agent(String name, int maxTurns, long toolTimeoutMs) {
    String cityParam = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}";
    return AgentDefinition.newBuilder()
        .setName(name)
        .setVersion(1)
        .setInstructions("You help travellers. Use the tools.")
        .setModel("gpt-scripted")
        .setTools(List.of(
            ToolSpec.newBuilder().setName("get_weather").setDescription("Weather in a city").setParametersJson(cityParam).build(),
            ToolSpec.newBuilder().setName("get_time").setDescription("Local time in a city").setParametersJson(cityParam).build()))
        .setMaxTurns(maxTurns)
        .setToolTimeoutMs(toolTimeoutMs)
        .setModelTimeoutMs(30_000)
        .build();
  }

  /** Turn 0 asks for the weather, turn 1 for the time, turn 2 answers with both tool outputs. */
  @SuppressWarnings("unchecked")
  static ModelScript script() {
    return Scripts.byTurn(
        req -> ScriptedReply.toolCall("get_weather", "{\"city\":\"" + city(req.firstUserText()) + "\"}"),
        req -> ScriptedReply.toolCall("get_time", "{\"city\":\"" + city(req.firstUserText()) + "\"}"),
        req -> ScriptedReply.text("Answer: " + outputs(req)));
  }

  private static String outputs(io.turnpike.devkit.ModelRequestView req) {
    StringBuilder sb = new StringBuilder();
    for (var item : req.input()) {
      if (item instanceof io.turnpike.devkit.InputItem.FunctionCallOutput o) {
        if (!sb.isEmpty()) {
          sb.append(" | ");
        }
        sb.append(o.output());
      }
    }
    return sb.toString();
  }

  /** Inputs look like "Trip to Oslo #run-7"; the city is the word after "to". */
  static String city(String input) {
    if (input == null) {
      return "Nowhere";
    }
    String[] words = input.split(" ");
    for (int i = 0; i < words.length - 1; i++) {
      if (words[i].equals("to")) {
        return words[i + 1];
      }
    }
    return "Nowhere";
  }
}
