package io.turnpike.runner.run;

import io.turnpike.schema.Settings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

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
 * @param groupTuning       the group settings every Turnpike consumer applies ({@link Settings#consumerTuning()}:
 *                          session timeout, rebalance timeout, static membership), for the stream threads' consumers
 * @param standbyReplicas   warm copies of each task's state on other instances ({@code num.standby.replicas}), so a
 *                          killed instance's runs continue elsewhere without restoring from the changelog
 * @param pollInterval      longest a stream thread blocks waiting for records; a due commit waits for it
 * @param schemaRegistryUrl Confluent-compatible schema registry ({@code turnpike.schema.registry.url})
 * @param maxAnswerBytes    larger answers (tool, sandbox, model, guardrail results) are dead-lettered and
 *                          replaced by an error the run sees ({@value #MAX_ANSWER_BYTES})
 * @param maxImageBytes     the most image bytes a run keeps, all its images together ({@value #MAX_IMAGE_BYTES}):
 *                          kept once in its RunState and sent with every model call; an image over it is not
 *                          kept and the model is told
 * @param inlineOutputBytes larger tool outputs are kept out of the RunState, once each, in the run-blobs store
 *                          (default 2048; see {@link LargeOutputs})
 * @param localGuardrails   rule guardrails judged in the orchestrator's process ({@value LocalGuardrails#ENABLED})
 */
public record OrchestratorConfig(
    String bootstrapServers,
    String applicationId,
    Path stateDir,
    int threads,
    Duration commitInterval,
    Duration timerInterval,
    int replicationFactor,
    Map<String, Object> groupTuning,
    int standbyReplicas,
    Duration pollInterval,
    String schemaRegistryUrl,
    int maxAnswerBytes,
    long maxImageBytes,
    int inlineOutputBytes,
    LocalGuardrails localGuardrails) {

  /** The key of {@link #maxAnswerBytes}, also how the orchestrator's processor finds it in the Streams configuration. */
  public static final String MAX_ANSWER_BYTES = "turnpike.runner.max-answer-bytes";
  /**
   * What a results topic takes by default: larger answers are refused even where an operator raised a
   * topic's limit, since the answer becomes part of the RunState and of the next model call.
   */
  public static final int DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;
  /** The key of {@link #maxImageBytes}, passed to the processor through the Streams configuration like max-answer-bytes. */
  public static final String MAX_IMAGE_BYTES = "turnpike.runner.max-image-bytes";
  /** The key of {@link #inlineOutputBytes}, passed to the processor through the Streams configuration too. */
  public static final String INLINE_OUTPUT_BYTES = "turnpike.runner.inline-output-bytes";

  public OrchestratorConfig {
    groupTuning = Map.copyOf(groupTuning);
    if (standbyReplicas < 0) {
      throw new IllegalArgumentException("turnpike.runner.standby-replicas must be 0 or more, got " + standbyReplicas);
    }
  }

  public static OrchestratorConfig from(Settings s) {
    return new OrchestratorConfig(
        s.bootstrapServers(),
        s.get("turnpike.runner.application-id", "turnpike-runner"),
        Path.of(s.get("turnpike.runner.state-dir", Path.of(System.getProperty("java.io.tmpdir"), "turnpike", "runner-state").toString())),
        s.getInt("turnpike.runner.threads", 4),
        s.getDuration("turnpike.runner.commit-interval", Duration.ZERO),
        s.getDuration("turnpike.runner.timer-interval", Duration.ofSeconds(1)),
        s.getInt("turnpike.runner.replication-factor", -1),
        s.consumerTuning(),
        s.getInt("turnpike.runner.standby-replicas", 0),
        s.getDuration("turnpike.runner.poll-interval", Duration.ofMillis(5)),
        s.schemaRegistryUrl(),
        s.getInt(MAX_ANSWER_BYTES, DEFAULT_MAX_ANSWER_BYTES),
        s.getLong(MAX_IMAGE_BYTES, Images.DEFAULT_MAX_BYTES),
        s.getInt(INLINE_OUTPUT_BYTES, LargeOutputs.DEFAULT_INLINE_BYTES),
        LocalGuardrails.from(s));
  }

  /** {@link #maxAnswerBytes} as the Streams configuration carries it, or the default where it does not. */
  static int maxAnswerBytes(Map<String, Object> streamsConfig) {
    Object configured = streamsConfig.get(MAX_ANSWER_BYTES);
    return configured == null ? DEFAULT_MAX_ANSWER_BYTES : Integer.parseInt(configured.toString());
  }

  /** {@link #inlineOutputBytes} as the Streams configuration carries it, or the default where it does not. */
  static int inlineOutputBytes(Map<String, Object> streamsConfig) {
    Object configured = streamsConfig.get(INLINE_OUTPUT_BYTES);
    return configured == null ? LargeOutputs.DEFAULT_INLINE_BYTES : Integer.parseInt(configured.toString());
  }

  /** {@link #maxImageBytes} as the Streams configuration carries it, or the default where it does not. */
  static long maxImageBytes(Map<String, Object> streamsConfig) {
    Object configured = streamsConfig.get(MAX_IMAGE_BYTES);
    return configured == null ? Images.DEFAULT_MAX_BYTES : Long.parseLong(configured.toString());
  }
}
