package io.turnpike.cli;

import io.turnpike.client.internal.KafkaSupport;
import java.time.Duration;
import java.util.Collection;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code --bootstrap-server} and {@code --schema-registry}, shared by every command that talks to Kafka. */
public final class KafkaOptions {
  /** How long a command waits for an unreachable broker before it gives up. */
  public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

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

  public String registry() {
    if (schemaRegistry != null && !schemaRegistry.isBlank()) {
      return schemaRegistry;
    }
    String fromEnv = TurnpikeCli.env(mixee).get("TURNPIKE_SCHEMA_REGISTRY_URL");
    return fromEnv == null || fromEnv.isBlank() ? "http://localhost:8081" : fromEnv;
  }

  /** Fails within {@link #CONNECT_TIMEOUT} with a clear message if the broker or the topics are missing. */
  public String requireKafka(Collection<String> topics) {
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
}
