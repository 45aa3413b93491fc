package io.turnpike.cli.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ModelScript;
import io.turnpike.devkit.ScriptedReply;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * EXAMPLE CODE: the offline stand-in for a model, used by {@code turnpike dev} when no
 * {@code OPENAI_API_KEY} is set. For the travel assistant it plays three turns: call
 * {@code get_weather}, call {@code get_local_time}, then answer with text composed from the two tool
 * outputs it received (so the answer shows the real tool results that flowed through Kafka). Every
 * answer it writes starts with {@link #LABEL}.
 */
public final class OfflineTravelScript implements ModelScript {
  public static final String LABEL = "[scripted offline model]";
  public static final String DEFAULT_CITY = "Lisbon";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern CITY = Pattern.compile(
      "\\b(?:in|for|at|to|of)\\s+((?:[A-Z][\\p{L}'.-]*)(?:\\s+[A-Z][\\p{L}'.-]*)*)");

  @Override
  public ScriptedReply reply(ModelRequestView request) {
    if (!request.toolNames().contains("get_weather") || !request.toolNames().contains("get_local_time")) {
      return ScriptedReply.text(LABEL + " This offline model only knows the travel-assistant example. You said: "
          + request.lastUserText() + " (set OPENAI_API_KEY to use a real model).");
    }
    String city = cityOf(request.firstUserText());
    return switch (request.turn()) {
      case 0 -> ScriptedReply.toolCall("get_weather", args(city));
      case 1 -> ScriptedReply.toolCall("get_local_time", args(city));
      default -> ScriptedReply.text(compose(city, request));
    };
  }

  /** The capitalised words after "in", "for", "at", ... in the question, else Lisbon. */
  static String cityOf(String question) {
    if (question == null) {
      return DEFAULT_CITY;
    }
    Matcher m = CITY.matcher(question);
    return m.find() ? m.group(1).replaceAll("[.?!,]+$", "") : DEFAULT_CITY;
  }

  private static String args(String city) {
    ObjectNode o = JSON.createObjectNode();
    o.put("city", city);
    return o.toString();
  }

  private static String compose(String city, ModelRequestView request) {
    Map<String, String> nameByCallId = new HashMap<>();
    Map<String, String> outputByTool = new HashMap<>();
    for (InputItem item : request.input()) {
      if (item instanceof InputItem.FunctionCall fc) {
        nameByCallId.put(fc.callId(), fc.name());
      } else if (item instanceof InputItem.FunctionCallOutput out) {
        outputByTool.put(nameByCallId.getOrDefault(out.callId(), "?"), out.output());
      }
    }
    StringBuilder sb = new StringBuilder(LABEL).append(' ');
    JsonNode weather = parse(outputByTool.get("get_weather"));
    JsonNode time = parse(outputByTool.get("get_local_time"));
    if (weather != null && weather.has("condition")) {
      sb.append("In ").append(weather.path("city").asText(city)).append(" it is ")
          .append(weather.path("condition").asText()).append(" and ")
          .append(weather.path("temperature_c").asInt()).append(" C (humidity ")
          .append(weather.path("humidity_pct").asInt()).append("%, wind ")
          .append(weather.path("wind_kmh").asInt()).append(" km/h). ");
    } else {
      sb.append("The weather tool answered: ").append(outputByTool.getOrDefault("get_weather", "nothing")).append(". ");
    }
    if (time != null && time.has("local_time")) {
      sb.append("The local time there is ").append(time.path("local_time").asText()).append(" (")
          .append(time.path("timezone").asText()).append(", UTC").append(time.path("utc_offset").asText()).append(").");
    } else {
      sb.append("The time tool answered: ").append(outputByTool.getOrDefault("get_local_time", "nothing")).append('.');
    }
    return sb.toString();
  }

  private static JsonNode parse(String s) {
    if (s == null) {
      return null;
    }
    try {
      return JSON.readTree(s);
    } catch (Exception e) {
      return null;
    }
  }
}
