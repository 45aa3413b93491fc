package io.turnpike.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code --console}: the operator console's REST API ({@code docs/console.md}), which the commands that
 * have this option ask instead of reading topics: the console keeps every run materialized, so an answer
 * costs one HTTP call. The bearer token comes from {@code $TURNPIKE_CONSOLE_TOKEN} only (an option
 * would show it in the process list) and is never printed.
 */
final class ConsoleOptions {
  static final Duration TIMEOUT = Duration.ofSeconds(10);

  @Option(names = "--console", paramLabel = "URL", description = "Ask this operator console instead of reading the"
      + " topics (default: $TURNPIKE_CONSOLE_URL; token: $TURNPIKE_CONSOLE_TOKEN).")
  String url;

  @Spec(Spec.Target.MIXEE)
  picocli.CommandLine.Model.CommandSpec mixee;

  /** The console to ask, when one is configured. */
  Optional<Api> console() {
    String given = url != null && !url.isBlank() ? url.trim() : null;
    String fromEnv = TurnpikeCli.env(mixee).get("TURNPIKE_CONSOLE_URL");
    String chosen = given != null ? given : fromEnv == null || fromEnv.isBlank() ? null : fromEnv.trim();
    if (chosen == null) {
      return Optional.empty();
    }
    KafkaOptions.httpUrl(chosen, given != null ? "--console" : "TURNPIKE_CONSOLE_URL", "console", "http://localhost:8088");
    String token = TurnpikeCli.env(mixee).get("TURNPIKE_CONSOLE_TOKEN");
    return Optional.of(new Api(chosen.endsWith("/") ? chosen.substring(0, chosen.length() - 1) : chosen,
        token == null || token.isBlank() ? null : token.trim()));
  }

  /** One console: GET and POST of its {@code /api}, errors as one-line {@link CliException}s. */
  record Api(String base, String token) {
    JsonNode get(String path) {
      return send(HttpRequest.newBuilder(URI.create(base + path)).GET(), "GET " + path);
    }

    JsonNode post(String path, Object body) {
      return post(path, body, null);
    }

    /** A POST on behalf of {@code user} (the console records it as who decided: X-Turnpike-User), if given. */
    JsonNode post(String path, Object body, String user) {
      String json;
      try {
        json = OutputOptions.JSON.writeValueAsString(body);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(json));
      if (user != null) {
        request.header("X-Turnpike-User", user);
      }
      return send(request, "POST " + path);
    }

    static String segment(String s) {
      return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private JsonNode send(HttpRequest.Builder request, String what) {
      request.timeout(TIMEOUT).header("Accept", "application/json");
      if (token != null) {
        request.header("Authorization", "Bearer " + token);
      }
      HttpResponse<String> res;
      try (HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build()) {
        res = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
      } catch (IOException e) {
        throw new CliException("cannot reach the console at " + base + " (" + KafkaOptions.why(e, TIMEOUT) + "); without --console and"
            + " TURNPIKE_CONSOLE_URL the command reads the topics itself");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CliException("interrupted while asking the console at " + base);
      }
      JsonNode body;
      try {
        body = res.body().isBlank() ? OutputOptions.JSON.nullNode() : OutputOptions.JSON.readTree(res.body());
      } catch (IOException e) {
        throw new CliException("the console at " + base + " answered " + what + " with HTTP " + res.statusCode()
            + " and a body that is not JSON; is that the console's base URL?");
      }
      if (res.statusCode() / 100 != 2) {
        String message = body.path("error").asText("");
        throw new CliException(message.isBlank() ? "the console at " + base + " answered " + what + " with HTTP "
            + res.statusCode() : message + (res.statusCode() == 401 ? " (set TURNPIKE_CONSOLE_TOKEN)" : ""));
      }
      return body;
    }
  }
}
