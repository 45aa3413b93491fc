package io.turnpike.chaos;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** How the harness knows that a started process is ready to do its job. */
@FunctionalInterface
public interface Readiness {
  /**
   * @param log what the process printed so far in this start
   * @return true when ready; false, or an exception, when not yet
   */
  boolean ready(String log) throws Exception;

  /** Ready once the process printed {@code line} (the devkit and chaos mains print one when ready). */
  static Readiness printed(String line) {
    return log -> log.contains(line);
  }

  /**
   * Ready once {@code url} (a service's {@code /health/ready}) answers 200 with at least one check in
   * its body. A body with no check at all ({@code "checks":{}}) only says that the HTTP server is up:
   * the service has not yet registered what it waits for (a runner answers so before its orchestrator
   * even exists), so it is not taken as ready.
   */
  static Readiness http(String url) {
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).GET().build();
    return log -> {
      HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
      return response.statusCode() == 200 && !response.body().replace(" ", "").contains("\"checks\":{}");
    };
  }
}
