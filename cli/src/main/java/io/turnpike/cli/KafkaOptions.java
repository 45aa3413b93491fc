package io.turnpike.cli;

import io.turnpike.client.internal.KafkaSupport;
import java.time.Duration;
import java.util.Collection;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code --bootstrap-server}, shared by every command that talks to Kafka. */
public final class KafkaOptions {
  /** How long a command waits for an unreachable broker before it gives up. */
  public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

  @Option(names = {"-b", "--bootstrap-server"}, paramLabel = "HOST:PORT",
      description = "Kafka bootstrap servers (default: $TURNPIKE_BOOTSTRAP_SERVERS, else localhost:9092).")
  String bootstrapServer;

  @Spec(Spec.Target.MIXEE)
  picocli.CommandLine.Model.CommandSpec mixee;

  public String bootstrap() {
    if (bootstrapServer != null && !bootstrapServer.isBlank()) {
      return bootstrapServer;
    }
    String fromEnv = TurnpikeCli.env(mixee).get("TURNPIKE_BOOTSTRAP_SERVERS");
    return fromEnv == null || fromEnv.isBlank() ? "localhost:9092" : fromEnv;
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
