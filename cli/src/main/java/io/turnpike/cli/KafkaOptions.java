package io.turnpike.cli;

import io.turnpike.client.internal.KafkaSupport;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Collection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code --bootstrap-server} and {@code --schema-registry}, shared by every command that talks to Kafka. */
public final class KafkaOptions {
  /** How long a command waits for an unreachable broker or registry before it gives up. */
  public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
  /** The registry answers a local GET in milliseconds; this leaves room for a slow network and still fails in time. */
  static final Duration REGISTRY_TIMEOUT = Duration.ofSeconds(5);

  @Option(names = {"-b", "--bootstrap-server"}, paramLabel = "HOST:PORT",
      description = "Kafka bootstrap servers (default: $TURNPIKE_BOOTSTRAP_SERVERS, else localhost:9092).")
  String bootstrapServer;

  @Option(names = {"--schema-registry"}, paramLabel = "URL",
      description = "Confluent-compatible schema registry (default: $TURNPIKE_SCHEMA_REGISTRY_URL, else http://localhost:8081).")
  String schemaRegistry;

  @Spec(Spec.Target.MIXEE)
  picocli.CommandLine.Model.CommandSpec mixee;

  public String bootstrap() {
    if (bootstrapServer != null && !bootstrapServer.isBlank()) {
      return bootstrapServer;
    }
    String fromEnv = TurnpikeCli.env(mixee).get("TURNPIKE_BOOTSTRAP_SERVERS");
    return fromEnv == null || fromEnv.isBlank() ? "localhost:9092" : fromEnv;
  }

  /** The registry's base URL; one that is not an http(s) URL is a usage error (exit code 2). */
  public String registry() {
    String given = schemaRegistry != null && !schemaRegistry.isBlank() ? schemaRegistry.trim() : null;
    String fromEnv = TurnpikeCli.env(mixee).get("TURNPIKE_SCHEMA_REGISTRY_URL");
    String url = given != null ? given : fromEnv == null || fromEnv.isBlank() ? "http://localhost:8081" : fromEnv.trim();
    return registryUrl(url, given != null ? "--schema-registry" : "TURNPIKE_SCHEMA_REGISTRY_URL");
  }

  /** {@code url} if it is an http(s) URL with a host; else a usage error (exit code 2) naming {@code source}. */
  static String registryUrl(String url, String source) {
    if (url.startsWith("mock://")) {
      return url; // the in-JVM registry the tests share with the services they start
    }
    return httpUrl(url, source, "registry", "http://localhost:8081");
  }

  /** The one check of a base URL given to the CLI (registry, console): http(s) with a host, else exit code 2. */
  static String httpUrl(String url, String source, String what, String example) {
    URI uri;
    try {
      uri = URI.create(url);
    } catch (IllegalArgumentException e) {
      uri = null;
    }
    if (uri == null || uri.getHost() == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))) {
      throw new CliException(source + ": '" + url + "' is not a " + what + " URL; give its base URL, e.g. " + example, 2);
    }
    return url;
  }

  /** Why an HTTP call failed, in a few words ("connection refused", "no answer within 5s", ...). */
  static String why(IOException e, Duration timeout) {
    return e instanceof java.net.http.HttpTimeoutException ? "no answer within " + KafkaSupport.human(timeout)
        : e instanceof java.net.ConnectException ? "connection refused"
        : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
  }

  /**
   * Fails within {@link #CONNECT_TIMEOUT}, with one message naming what is missing, when the broker,
   * the topics or the schema registry cannot be reached; returns the bootstrap servers. Both are checked
   * at once, so a command that reads values never learns of an outage one record at a time.
   */
  public String requireKafka(Collection<String> topics) {
    String registry = registry();
    // Its own thread, not the common pool: that may be busy (or, on two cores, one thread) with other work.
    CompletableFuture<Void> registryCheck = new CompletableFuture<>();
    Thread.ofVirtual().name("registry-check").start(() -> {
      try {
        requireRegistry(registry);
        registryCheck.complete(null);
      } catch (RuntimeException e) {
        registryCheck.completeExceptionally(e);
      }
    });
    String bootstrap = requireBroker(topics);
    try {
      registryCheck.join();
    } catch (CompletionException e) {
      throw e.getCause() instanceof CliException ce ? ce : new CliException(KafkaSupport.rootMessage(e));
    }
    return bootstrap;
  }

  /** As {@link #requireKafka} for commands that never touch a value (e.g. {@code topics create}): the broker only. */
  public String requireBroker(Collection<String> topics) {
    String b = bootstrap();
    try {
      KafkaSupport.requireReachable(b, CONNECT_TIMEOUT, topics);
    } catch (io.turnpike.client.TurnpikeException e) {
      String hint = e.getMessage().startsWith("cannot") ? "; is Kafka running? Start one with `turnpike dev --keep-running`,"
          + " or point --bootstrap-server / TURNPIKE_BOOTSTRAP_SERVERS at yours" : "";
      throw new CliException(e.getMessage() + hint);
    }
    return b;
  }

  /** Asks the registry for its subjects ({@code GET /subjects}, which every Confluent-compatible registry serves). */
  static void requireRegistry(String url) {
    if (url.startsWith("mock://")) {
      return;
    }
    String base = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    String hint = "; is it running? `turnpike dev` starts one; or point --schema-registry / TURNPIKE_SCHEMA_REGISTRY_URL"
        + " at yours";
    HttpClient http = HttpClient.newBuilder().connectTimeout(REGISTRY_TIMEOUT).build();
    try {
      HttpResponse<Void> res = http.send(HttpRequest.newBuilder(URI.create(base + "/subjects")).timeout(REGISTRY_TIMEOUT)
          .header("Accept", "application/vnd.schemaregistry.v1+json, application/json").GET().build(),
          HttpResponse.BodyHandlers.discarding());
      if (res.statusCode() / 100 != 2) {
        throw new CliException("the schema registry at " + url + " answered HTTP " + res.statusCode()
            + " to GET /subjects; is that a Confluent-compatible registry's base URL?");
      }
    } catch (IOException e) {
      throw new CliException("cannot reach the schema registry at " + url + " (" + why(e, REGISTRY_TIMEOUT) + ")" + hint);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CliException("interrupted while connecting to the schema registry at " + url);
    } finally {
      http.close();
    }
  }
}
