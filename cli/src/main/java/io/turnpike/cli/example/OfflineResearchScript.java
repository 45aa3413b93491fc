package io.turnpike.cli.example;

import io.turnpike.devkit.HostedCall;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedReply;
import java.util.List;

/**
 * EXAMPLE CODE: how the offline model plays the research assistant ({@code agents/research-assistant.yaml},
 * recognised by its hosted file_search tool over {@value #GUIDES}). In one answer it does what a
 * model with hosted tools does: a web search and a file search (hosted calls the provider ran, with
 * their results), then text that cites both (a url_citation and a file_citation). The answer is
 * labelled {@link OfflineTravelScript#LABEL}, and the pages and the guide are made up for the demo.
 */
final class OfflineResearchScript {
  /** The example vector store of the research assistant. */
  static final String GUIDES = "vs_turnpike_travel_guides";

  private OfflineResearchScript() {}

  /** True for a request of the research assistant. */
  static boolean handles(ModelRequestView request) {
    return request.hostedTools().stream().anyMatch(t -> "file_search".equals(t.path("type").asText())
        && t.path("vector_store_ids").toString().contains(GUIDES));
  }

  static ScriptedReply reply(ModelRequestView request) {
    String city = OfflineTravelScript.cityOf(request.lastUserText());
    String page = "https://weather.example/" + city.toLowerCase(java.util.Locale.ROOT).replace(' ', '-');
    String guide = city.toLowerCase(java.util.Locale.ROOT).replace(' ', '-') + "-guide.md";
    String weather = "expect a mild, mostly sunny day around 19 C";
    String tip = "the guide suggests the old town on foot in the morning and a viewpoint at sunset";
    String text = OfflineTravelScript.LABEL + " In " + city + " " + weather + ". For the day, " + tip + ".";
    int w = text.indexOf(weather);
    int t = text.indexOf(tip);
    return ScriptedReply.text(text)
        .withHostedCalls(
            HostedCall.webSearch(city + " weather today", page),
            HostedCall.fileSearch("what to do in " + city, List.of(new HostedCall.FileHit("file-" + guide.hashCode(), guide,
                0.87, "Walk the old town early; end the day at a viewpoint."))))
        .withCitations(
            HostedCall.Citation.url(page, city + " weather (example)", w, w + weather.length()),
            HostedCall.Citation.file("file-" + guide.hashCode(), guide, t + tip.length()));
  }
}
