package io.turnpike.chaos;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ModelScript;
import io.turnpike.devkit.ScriptedReply;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * The model of every chaos run, decided from the conversation in the request alone, so a model server
 * killed and started again (or a model call sent twice) continues any run where it was: the first turn
 * asks, in parallel, for the function tool {@code get_weather} and the sandbox's {@code shell}; every
 * later turn answers with text that quotes the tool outputs.
 */
public final class ChaosScript implements ModelScript {
  public static final String WEATHER_TOOL = "get_weather";
  public static final String SANDBOX_TOOL = "shell";
  /** What the weather tool always answers: its presence in a final answer proves the tool's output reached the model. */
  public static final String WEATHER_OUTPUT = "sunny";
  /** What the shell prints: its presence in a final answer proves the sandbox ran the command. */
  public static final String SANDBOX_OUTPUT = "sandbox-ok";
  /** A file the agent's manifest seeds: the shell prints it, so a lost workspace shows in the answer. */
  public static final String SEEDED_FILE = "README.md";
  public static final String SEEDED_TEXT = "chaos workspace";

  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

  private final Duration delay;

  public ChaosScript(Duration delay) {
    this.delay = Objects.requireNonNull(delay);
  }

  /** The input of run {@code runId}: the script reads the city and the run's marker back from it. */
  public static String input(String city, String runId) {
    return "Weather in " + city + " for " + runId;
  }

  @Override
  public ScriptedReply reply(ModelRequestView request) {
    String input = Objects.requireNonNullElse(request.firstUserText(), "");
    ScriptedReply reply;
    if (request.turn() == 0) {
      ObjectNode weather = JSON.objectNode().put("city", city(input));
      ObjectNode shell = JSON.objectNode().put("command", "echo " + SANDBOX_OUTPUT + " " + marker(input) + " && cat " + SEEDED_FILE);
      reply = ScriptedReply.toolCalls(List.of(
          new ScriptedReply.ToolCallSpec(WEATHER_TOOL, weather.toString()),
          new ScriptedReply.ToolCallSpec(SANDBOX_TOOL, shell.toString())));
    } else {
      reply = ScriptedReply.text("Chaos answer for " + marker(input) + ": " + outputs(request));
    }
    return delay.isZero() ? reply : reply.withDelay(delay);
  }

  /** Whether a final answer carries both tools' real outputs (and not, say, a timeout message instead). */
  public static boolean answerUsesBothTools(String finalOutput) {
    return finalOutput != null && finalOutput.contains(WEATHER_OUTPUT) && finalOutput.contains(SANDBOX_OUTPUT)
        && finalOutput.contains(SEEDED_TEXT);
  }

  private static String outputs(ModelRequestView request) {
    StringBuilder sb = new StringBuilder();
    for (InputItem item : request.input()) {
      if (item instanceof InputItem.FunctionCallOutput o) {
        if (!sb.isEmpty()) {
          sb.append(" | ");
        }
        sb.append(o.output().strip());
      }
    }
    return sb.toString();
  }

  /** "Weather in Oslo for chaos-1-0007" → "Oslo". */
  static String city(String input) {
    String[] words = input.split(" ");
    return words.length > 2 && words[0].equals("Weather") ? words[2] : "Nowhere";
  }

  /** "Weather in Oslo for chaos-1-0007" → "chaos-1-0007". */
  static String marker(String input) {
    int i = input.lastIndexOf(' ');
    return i < 0 ? input : input.substring(i + 1);
  }
}
