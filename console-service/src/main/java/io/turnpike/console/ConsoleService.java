package io.turnpike.console;

import io.helidon.webserver.WebServer;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.SchemaRegistration;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.worker.ServiceProcess;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator console (issue 16): run state, steps and results materialized by {@link ConsoleTopology},
 * served as a REST API with a live SSE timeline and a web UI ({@link ConsoleApi}); approvals and cancels go
 * out through {@link ApprovalDesk}. See docs/console.md.
 */
public final class ConsoleService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ConsoleService.class);
  /**
   * Helidon logs through java.util.logging, in another format than ours: only its warnings, and this strong
   * reference keeps the level (JUL holds loggers weakly). The console logs its own start line.
   */
  private static final java.util.logging.Logger HELIDON = java.util.logging.Logger.getLogger("io.helidon");

  static {
    HELIDON.setLevel(java.util.logging.Level.WARNING);
  }

  private final List<AutoCloseable> parts;
  private final KafkaStreams streams;
  private final WebServer server;
  private final String host;

  private ConsoleService(List<AutoCloseable> parts, KafkaStreams streams, WebServer server, String host) {
    this.parts = parts;
    this.streams = streams;
    this.server = server;
    this.host = host;
  }

  public static ConsoleService start(Settings settings) {
    return start(settings, Telemetry.noop("console-service"), e -> {});
  }

  public static ConsoleService start(Settings settings, Telemetry telemetry, Consumer<Throwable> onFatal) {
    ConsoleConfig config = ConsoleConfig.from(settings);
    List<AutoCloseable> parts = new ArrayList<>();
    try {
      TurnpikeSerdes serdes = TurnpikeSerdes.forUrl(settings.schemaRegistryUrl());
      // Registered (and so cached) here, so that the stream thread meets the registry only for unknown writer ids.
      SchemaRegistration.registerAll(serdes.registry());
      LiveSteps live = new LiveSteps();
      KafkaStreams streams = new KafkaStreams(
          ConsoleTopology.build(serdes.runState(), serdes.turnEvent(), serdes.runResult(), serdes.runCommand(),
              serdes.workspaceRecord(), live),
          streamsProperties(settings, config));
      streams.setUncaughtExceptionHandler(e -> {
        LOG.error("console stream thread failed; replacing it", e);
        return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
      });
      streams.setStateListener((now, before) -> {
        if (now == KafkaStreams.State.ERROR) {
          onFatal.accept(new IllegalStateException("the console's Kafka Streams client is in state ERROR"));
        }
      });
      parts.add(() -> streams.close(Duration.ofSeconds(30)));
      parts.add(telemetry.bindKafkaStreams(streams));
      streams.start();

      TurnpikeClient client = new TurnpikeClient(settings.bootstrapServers(), settings.schemaRegistryUrl(),
          Duration.ofSeconds(10));
      parts.add(client);
      RunQuery query = new RunQuery(streams, serdes.runState());
      ConsoleApi api = new ConsoleApi(query, new ApprovalDesk(query, client), live, config.token());
      WebServer server = WebServer.builder()
          .host(config.host())
          .port(config.port())
          // A page of the run list is written in several pieces; with Nagle's algorithm the second waited for
          // the client's delayed ACK (~40 ms a page, measured by bench/ConsoleListBench).
          .connectionOptions(o -> o.tcpNoDelay(true))
          .routing(api::routing)
          .build()
          .start();
      parts.add(server::stop);
      parts.add(telemetry.readiness("console", () -> streams.state() == KafkaStreams.State.RUNNING && server.isRunning()));
      if (config.token() == null && !isLoopback(config.host())) {
        LOG.warn("console-service: no turnpike.console.token and bound to {}: anyone who reaches port {} can approve,"
            + " reject and cancel runs (set a token, bind to 127.0.0.1, or put an authenticating proxy in front)",
            config.host(), server.port());
      }
      String shownHost = "0.0.0.0".equals(config.host()) ? "localhost" : config.host();
      LOG.info("console-service started at http://{}:{}/ (application.id={}, token {})", shownHost, server.port(),
          config.applicationId(), config.token() == null ? "not required" : "required");
      return new ConsoleService(parts, streams, server, shownHost);
    } catch (RuntimeException e) {
      Collections.reverse(parts);
      closeAll(parts);
      throw e;
    }
  }

  private static boolean isLoopback(String host) {
    return host.equals("localhost") || host.startsWith("127.") || host.equals("::1");
  }

  static Properties streamsProperties(Settings settings, ConsoleConfig config) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
    // A read-only view: at-least-once is enough (a replayed record puts the same value again).
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    p.put(StreamsConfig.STATE_DIR_CONFIG, config.stateDir());
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, config.commitInterval().toMillis());
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, config.replicationFactor());
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 100);
    p.put(StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG), Integer.parseInt(ConsoleTopology.MAX_RECORD_BYTES));
    p.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, 0L);
    p.put(StreamsConfig.POLL_MS_CONFIG, 20L);
    settings.consumerTuning().forEach((k, v) -> p.put(StreamsConfig.mainConsumerPrefix(k), v));
    return p;
  }

  /** The port the API and UI listen on (the configured one, or the one picked for port 0). */
  public int port() {
    return server.port();
  }

  /** Where a browser finds the UI. */
  public String url() {
    return "http://" + host + ":" + port() + "/";
  }

  /** Whether the views are up to date enough to query (the Streams client is RUNNING). */
  public boolean isReady() {
    return streams.state() == KafkaStreams.State.RUNNING;
  }

  /** Stays up (with /metrics and /health/* on turnpike.http.port when set) until the process is stopped. */
  public static void main(String[] args) {
    ServiceProcess.run("console-service", List.of(Topics.RUN_STATE.name(), Topics.TURN_EVENTS.name(),
            Topics.RUN_RESULTS.name(), Topics.RUN_COMMANDS.name()),
        settings -> {
          ConsoleConfig.from(settings);
          return settings;
        }, ctx -> start(ctx.settings(), ctx.telemetry(), ctx.onFatal()));
  }

  @Override
  public void close() {
    List<AutoCloseable> reversed = new ArrayList<>(parts);
    Collections.reverse(reversed);
    closeAll(reversed);
  }

  private static void closeAll(List<AutoCloseable> parts) {
    for (AutoCloseable c : parts) {
      try {
        c.close();
      } catch (Exception e) {
        LOG.debug("cannot close {}: {}", c, e.toString());
      }
    }
  }
}
