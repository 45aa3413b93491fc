package io.turnpike.telemetry;

import io.turnpike.schema.Settings;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What a service's {@link Telemetry} opens and where its spans go, read from {@link Settings}.
 *
 * <table>
 *   <caption>Keys (environment spelling in brackets)</caption>
 *   <tr><td>{@code turnpike.http.port} ({@code TURNPIKE_HTTP_PORT})</td><td>unset: no HTTP server; {@code 0}: any free port</td></tr>
 *   <tr><td>{@code turnpike.http.host}</td><td>bind address, default {@code 0.0.0.0}</td></tr>
 *   <tr><td>{@code turnpike.otel.exporter}</td><td>{@code otlp}, {@code logging} or {@code none}; default {@code otlp} when an endpoint is set, else {@code none}</td></tr>
 *   <tr><td>{@code turnpike.otel.exporter.otlp.endpoint}</td><td>collector base URL (OTLP over HTTP/protobuf), e.g. {@code http://localhost:4318}</td></tr>
 *   <tr><td>{@code turnpike.otel.exporter.otlp.headers}</td><td>{@code key=value,key2=value2} sent with every export</td></tr>
 * </table>
 *
 * @param httpPort the port for {@code /metrics} and {@code /health/*}; {@code null} for none
 * @param exporter where finished spans go
 * @param otlpEndpoint the collector's base URL; required for {@link Exporter#OTLP}
 */
public record TelemetryConfig(Integer httpPort, String httpHost, Exporter exporter, String otlpEndpoint,
    Map<String, String> otlpHeaders) {

  public static final String HTTP_PORT = "turnpike.http.port";
  public static final String HTTP_HOST = "turnpike.http.host";
  public static final String EXPORTER = "turnpike.otel.exporter";
  public static final String OTLP_ENDPOINT = "turnpike.otel.exporter.otlp.endpoint";
  public static final String OTLP_HEADERS = "turnpike.otel.exporter.otlp.headers";

  /** Where finished spans go. Spans are always created, so trace context still propagates with {@link #NONE}. */
  public enum Exporter { NONE, LOGGING, OTLP }

  public TelemetryConfig {
    Objects.requireNonNull(exporter, "exporter");
    httpHost = httpHost == null ? "0.0.0.0" : httpHost;
    otlpHeaders = Map.copyOf(otlpHeaders == null ? Map.of() : otlpHeaders);
    if (httpPort != null && (httpPort < 0 || httpPort > 65535)) {
      throw new IllegalArgumentException(HTTP_PORT + " must be between 0 and 65535, got " + httpPort);
    }
    if (exporter == Exporter.OTLP && (otlpEndpoint == null || otlpEndpoint.isBlank())) {
      throw new IllegalArgumentException(EXPORTER + "=otlp needs " + OTLP_ENDPOINT
          + " (e.g. http://localhost:4318); nothing is sent anywhere by default");
    }
  }

  /** No HTTP server, no export. */
  public static TelemetryConfig quiet() {
    return new TelemetryConfig(null, null, Exporter.NONE, null, Map.of());
  }

  public static TelemetryConfig from(Settings settings) {
    String port = settings.get(HTTP_PORT, null);
    String endpoint = settings.get(OTLP_ENDPOINT, null);
    String exporterName = settings.get(EXPORTER, endpoint == null ? "none" : "otlp").trim().toLowerCase();
    Exporter exporter = switch (exporterName) {
      case "none" -> Exporter.NONE;
      case "logging" -> Exporter.LOGGING;
      case "otlp" -> Exporter.OTLP;
      default -> throw new IllegalArgumentException(EXPORTER + " must be otlp, logging or none, got '" + exporterName + "'");
    };
    return new TelemetryConfig(
        port == null ? null : settings.getInt(HTTP_PORT, 0),
        settings.get(HTTP_HOST, null),
        exporter,
        endpoint,
        parseHeaders(settings.get(OTLP_HEADERS, "")));
  }

  /** The URL spans are POSTed to: the OTLP/HTTP convention appends {@code /v1/traces} to the base URL. */
  public String otlpTracesUrl() {
    if (otlpEndpoint == null) {
      return null;
    }
    String base = otlpEndpoint.trim();
    if (base.endsWith("/v1/traces")) {
      return base;
    }
    return (base.endsWith("/") ? base.substring(0, base.length() - 1) : base) + "/v1/traces";
  }

  /** Header values are usually credentials: never print them. */
  @Override
  public String toString() {
    return "TelemetryConfig[httpPort=" + httpPort + ", httpHost=" + httpHost + ", exporter=" + exporter
        + ", otlpEndpoint=" + otlpEndpoint + ", otlpHeaders=" + otlpHeaders.keySet() + "]";
  }

  static Map<String, String> parseHeaders(String spec) {
    Map<String, String> headers = new LinkedHashMap<>();
    for (String pair : spec.split(",")) {
      if (pair.isBlank()) {
        continue;
      }
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException(OTLP_HEADERS + " must be key=value pairs separated by commas, got '" + pair.trim() + "'");
      }
      headers.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
    }
    return headers;
  }
}
