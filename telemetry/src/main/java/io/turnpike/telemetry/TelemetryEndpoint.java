package io.turnpike.telemetry;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /metrics}, {@code /health/live} and {@code /health/ready} on the JDK's HTTP server: one
 * virtual thread per request, nothing else to depend on.
 */
final class TelemetryEndpoint implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TelemetryEndpoint.class);

  static final String TEXT_004 = "text/plain; version=0.0.4; charset=utf-8";
  static final String OPENMETRICS_100 = "application/openmetrics-text; version=1.0.0; charset=utf-8";
  private static final String JSON = "application/json; charset=utf-8";

  private final HttpServer server;
  private final ExecutorService executor;
  private final Telemetry telemetry;

  private TelemetryEndpoint(HttpServer server, ExecutorService executor, Telemetry telemetry) {
    this.server = server;
    this.executor = executor;
    this.telemetry = telemetry;
  }

  static TelemetryEndpoint start(String host, int port, Telemetry telemetry) {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(host, port), 0);
    } catch (IOException e) {
      throw new IllegalStateException("cannot serve metrics and health on " + host + ":" + port + ": " + e.getMessage(), e);
    }
    ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    TelemetryEndpoint endpoint = new TelemetryEndpoint(server, executor, telemetry);
    server.setExecutor(executor);
    server.createContext("/", endpoint::handle);
    server.start();
    return endpoint;
  }

  int port() {
    return server.getAddress().getPort();
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      String method = exchange.getRequestMethod();
      if (!method.equals("GET") && !method.equals("HEAD")) {
        exchange.getResponseHeaders().set("Allow", "GET, HEAD");
        send(exchange, 405, "text/plain; charset=utf-8", "method not allowed\n");
        return;
      }
      switch (exchange.getRequestURI().getPath()) {
        case "/metrics" -> {
          boolean openMetrics = wantsOpenMetrics(exchange.getRequestHeaders().getFirst("Accept"));
          String contentType = openMetrics ? OPENMETRICS_100 : TEXT_004;
          send(exchange, 200, contentType, telemetry.scrape(contentType));
        }
        case "/health/live" -> {
          Telemetry.Liveness l = telemetry.liveness();
          send(exchange, l.live() ? 200 : 503, JSON, l.toJson());
        }
        case "/health/ready" -> {
          Telemetry.Readiness r = telemetry.readiness();
          send(exchange, r.ready() ? 200 : 503, JSON, r.toJson());
        }
        default -> send(exchange, 404, "text/plain; charset=utf-8", "not found: try /metrics, /health/live, /health/ready\n");
      }
    } catch (RuntimeException e) {
      LOG.warn("telemetry endpoint failed on {}", exchange.getRequestURI(), e);
      throw e;
    }
  }

  /** Prometheus asks for OpenMetrics first when it can take it; anything else gets the classic text format. */
  static boolean wantsOpenMetrics(String accept) {
    return accept != null && accept.contains("application/openmetrics-text");
  }

  private static void send(HttpExchange exchange, int status, String contentType, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", contentType);
    boolean head = exchange.getRequestMethod().equals("HEAD");
    exchange.sendResponseHeaders(status, head ? -1 : bytes.length);
    if (!head) {
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(bytes);
      }
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdown();
    try {
      if (!executor.awaitTermination(2, TimeUnit.SECONDS)) {
        executor.shutdownNow();
      }
    } catch (InterruptedException e) {
      executor.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
