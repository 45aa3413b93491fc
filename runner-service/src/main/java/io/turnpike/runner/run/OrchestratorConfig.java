package io.turnpike.runner.run;

import io.turnpike.schema.Settings;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Configuration of the run orchestrator (keys, with their defaults, are documented in the README).
 *
 * @param bootstrapServers  Kafka bootstrap servers ({@code turnpike.bootstrap.servers})
 * @param applicationId     Kafka Streams application id; instances with the same id share the runs
 * @param stateDir          where RocksDB keeps the RunState store
 * @param threads           stream threads in this instance
 * @param commitInterval    EOS transaction commit interval: the floor of per-hop latency
 * @param timerInterval     how often pending-call deadlines are checked
 * @param replicationFactor replication of internal topics (-1: the broker's default)
 * @param sessionTimeout    how long a silent (crashed) instance keeps its runs before they move
 * @param pollInterval      longest a stream thread blocks waiting for records; a due commit waits for it
 * @param schemaRegistryUrl Confluent-compatible schema registry ({@code turnpike.schema.registry.url})
 */
public record OrchestratorConfig(
    String bootstrapServers,
    String applicationId,
    Path stateDir,
    int threads,
    Duration commitInterval,
    Duration timerInterval,
    int replicationFactor,
    Duration sessionTimeout,
    Duration pollInterval,
    String schemaRegistryUrl) {

  public static OrchestratorConfig from(Settings s) {
    return new OrchestratorConfig(
        s.bootstrapServers(),
        s.get("turnpike.runner.application-id", "turnpike-runner"),
        Path.of(s.get("turnpike.runner.state-dir", Path.of(System.getProperty("java.io.tmpdir"), "turnpike", "runner-state").toString())),
        s.getInt("turnpike.runner.threads", 1),
        s.getDuration("turnpike.runner.commit-interval", Duration.ofMillis(1)),
        s.getDuration("turnpike.runner.timer-interval", Duration.ofSeconds(1)),
        s.getInt("turnpike.runner.replication-factor", -1),
        s.getDuration("turnpike.kafka.session-timeout", Duration.ofSeconds(45)),
        s.getDuration("turnpike.runner.poll-interval", Duration.ofMillis(5)),
        s.schemaRegistryUrl());
  }
}
