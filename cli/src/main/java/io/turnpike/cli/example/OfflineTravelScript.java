package io.turnpike.cli.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ModelScript;
import io.turnpike.devkit.ScriptedReply;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * EXAMPLE CODE: the offline stand-in for a model, used by {@code turnpike dev} when no
 * {@code OPENAI_API_KEY} is set. For the travel assistant it plays three turns: call
 * {@code get_weather}, call {@code get_local_time}, then answer with text composed from the two tool
 * outputs it received (so the answer shows the real tool results that flowed through Kafka). Every
 * answer it writes starts with {@link #LABEL}.
 *
 * <p>For the trip planner ({@code agents/trip-planner.yaml}, recognised by the JSON schema format
 * {@value #TRIP_PLAN} the runner asks for) it plays a reasoning model with structured output: the
 * same two tool calls, each with a reasoning item (whose encrypted content the runner replays), then a
 * JSON answer that follows the schema, labelled in its {@code advice}.
 *
 * <p>For the trip concierge ({@code agents/trip-concierge.yaml}, recognised by its agent tool
 * {@value #ASK_TRAVEL_ASSISTANT}) it asks the travel assistant, which runs as a child run (and is
 * played by this same script, as above), then recommends something from what the child answered.
 */
public final class OfflineTravelScript implements ModelScript {
  public static final String LABEL = "[scripted offline model]";
  public static final String DEFAULT_CITY = "Lisbon";
  /** The name of the trip planner's output type. */
  public static final String TRIP_PLAN = "trip_plan";
  /** The trip concierge's agent tool: the travel assistant, called as a tool. */
  public static final String ASK_TRAVEL_ASSISTANT = "ask_travel_assistant";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern CITY = Pattern.compile(
      "\\b(?:in|for|at|to|of)\\s+((?:[A-Z][\\p{L}'.-]*)(?:\\s+[A-Z][\\p{L}'.-]*)*)");

  @Override
  public ScriptedReply reply(ModelRequestView request) {
    if (OfflineResearchScript.handles(request)) {
      return OfflineResearchScript.reply(request); // agents/research-assistant.yaml: hosted tools and citations
    }
    if (OfflineSupportScript.handles(request)) {
      return OfflineSupportScript.reply(request); // support-triage and billing-specialist: a handoff, an approval
    }
    if (OfflineWorkspaceScript.handles(request)) {
      return OfflineWorkspaceScript.reply(request); // workspace-coder: the sandbox's file tools, a skill, the shell
    }
    if (request.toolNames().contains(ASK_TRAVEL_ASSISTANT)) {
      return concierge(request);
    }
    if (!request.toolNames().contains("get_weather") || !request.toolNames().contains("get_local_time")) {
      return ScriptedReply.text(LABEL + " This offline model only knows the bundled agents in agents/. You said: "
          + request.lastUserText() + " (set OPENAI_API_KEY to use a real model).");
    }
    String city = cityOf(request.firstUserText());
    if (TRIP_PLAN.equals(request.raw() == null ? null : request.raw().path("text").path("format").path("name").asText(null))) {
      return switch (request.turn()) {
        case 0 -> ScriptedReply.toolCall("get_weather", args(city))
            .withReasoning(LABEL + " The plan depends on the weather in " + city + ": ask for it first.").withUsageDetails(0, 24);
        case 1 -> ScriptedReply.toolCall("get_local_time", args(city))
            .withReasoning(LABEL + " Now the local time, to say what is still possible today.").withUsageDetails(0, 18);
        default -> ScriptedReply.text(plan(city, request)).withUsageDetails(0, 30);
      };
    }
    return switch (request.turn()) {
      case 0 -> ScriptedReply.toolCall("get_weather", args(city));
      case 1 -> ScriptedReply.toolCall("get_local_time", args(city));
      default -> ScriptedReply.text(compose(city, request));
    };
  }

  /** The concierge: ask the travel assistant (a child run), then recommend something from its answer. */
  private static ScriptedReply concierge(ModelRequestView request) {
    String city = cityOf(request.firstUserText());
    if (request.turn() == 0) {
      ObjectNode args = JSON.createObjectNode();
      args.put("input", "What's the weather like in " + city + " right now, and what time is it there?");
      return ScriptedReply.toolCall(ASK_TRAVEL_ASSISTANT, args.toString());
    }
    String answer = request.lastToolOutput() == null ? "nothing" : request.lastToolOutput().replace(LABEL + " ", "");
    String lower = answer.toLowerCase(java.util.Locale.ROOT);
    String idea = lower.startsWith("error") ? "I could not find out more, so keep the plan flexible."
        : lower.contains("rain") || lower.contains("shower") ? "Spend the next hours in a museum or a cafe."
        : lower.contains("snow") ? "Find a warm cafe and a view." : "Take a walk through the old town while the light lasts.";
    return ScriptedReply.text(LABEL + " The travel assistant told me: " + answer + " " + idea);
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

  /** The trip plan as JSON that follows the trip planner's outputType, built from the tools' outputs. */
  static String plan(String city, ModelRequestView request) {
    Map<String, String> outputByTool = request.toolOutputs();
    JsonNode weather = parse(outputByTool.get("get_weather"));
    JsonNode time = parse(outputByTool.get("get_local_time"));
    ObjectNode plan = JSON.createObjectNode();
    plan.put("city", weather != null && weather.has("city") ? weather.path("city").asText(city) : city);
    boolean known = weather != null && weather.has("condition");
    plan.put("weather", known ? weather.path("condition").asText() + ", " + weather.path("temperature_c").asInt() + " C"
        : "unknown (" + outputByTool.getOrDefault("get_weather", "no answer") + ")");
    plan.put("localTime", time != null && time.has("local_time")
        ? time.path("local_time").asText() + " (" + time.path("timezone").asText() + ")" : "unknown");
    String condition = known ? weather.path("condition").asText().toLowerCase(java.util.Locale.ROOT) : "";
    plan.put("advice", LABEL + " " + (condition.contains("rain") || condition.contains("shower")
        ? "Take an umbrella and keep a museum in reserve."
        : condition.contains("snow") ? "Dress warmly; plan indoor stops." : "A good day to explore on foot."));
    return plan.toString();
  }

  private static String compose(String city, ModelRequestView request) {
    Map<String, String> outputByTool = request.toolOutputs();
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
