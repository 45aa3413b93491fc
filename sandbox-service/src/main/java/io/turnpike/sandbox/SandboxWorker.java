package io.turnpike.sandbox;

import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.sandbox.workspace.SnapshotKey;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.worker.CallWorker;
import io.turnpike.worker.WorkerLoop;
import io.turnpike.worker.WorkerOptions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka side of the sandbox service: consumes {@link SandboxCommand}s from
 * {@code turnpike.sandbox.requests} and answers each with a {@link SandboxResult} on
 * {@code turnpike.sandbox.results} (key runId). Consuming, backpressure, commits after the answer, dead
 * letters, rebalances and shutdown are the shared {@link WorkerLoop}'s; this class decodes and encodes,
 * and the {@link SessionManager} is the loop's admission: commands of one session run in order, sessions
 * run concurrently, up to {@code maxSessions}.
 *
 * <ul>
 *   <li>A command past its deadline is skipped (the runner has timed it out and will resend it).
 *   <li>A redelivered command is answered from the session's record (kept with each snapshot) rather
 *       than run again.
 *   <li>A result too large for the results topic is replaced by an error result that asks for less.
 * </ul>
 */
public final class SandboxWorker implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SandboxWorker.class);
  static final String RESULT_TYPE = "SandboxResult";

  private final SandboxConfig config;
  private final TurnpikeSerdes serdes;
  private final WorkspaceStore store;
  private final SessionManager sessions;
  private final WorkerLoop<SandboxCommand, SandboxResult> loop;
  private final Commands commands;
  private final List<AutoCloseable> gauges = new ArrayList<>();

  public SandboxWorker(SandboxConfig config, Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides) {
    this(config, consumerOverrides, producerOverrides, Telemetry.noop("sandbox-service"));
  }

  /** As above, with live sessions, a span per command, Kafka client metrics and health on {@code telemetry} (the caller closes it). */
  public SandboxWorker(SandboxConfig config, Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides,
      Telemetry telemetry) {
    this(config, consumerOverrides, producerOverrides, telemetry, e -> {});
  }

  /** As above; {@code onFatal} is told when the loop stopped on its own (a supervised process exits). */
  public SandboxWorker(SandboxConfig config, Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides,
      Telemetry telemetry, Consumer<Throwable> onFatal) {
    this(config, consumerOverrides, producerOverrides, telemetry, onFatal, SnapshotKey.from(Settings.fromEnvironment()));
  }

  /**
   * As above; {@code snapshotKey} tags the workspace snapshots this instance writes and must verify
   * those it restores (every sandbox service of a deployment needs the same one).
   */
  public SandboxWorker(SandboxConfig config, Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides,
      Telemetry telemetry, Consumer<Throwable> onFatal, SnapshotKey snapshotKey) {
    this.config = config;
    this.serdes = TurnpikeSerdes.forUrl(config.schemaRegistryUrl());
    this.commands = new Commands();
    // A linger tuned for answers is not one for snapshot chunks, which the store batches itself.
    Map<String, Object> storeProps = new HashMap<>(producerOverrides);
    storeProps.remove(ProducerConfig.LINGER_MS_CONFIG);
    this.store = new WorkspaceStore(config.bootstrapServers(), config.schemaRegistryUrl(), storeProps, config.chunkBytes(),
        snapshotKey);
    try {
      this.sessions = new SessionManager(config, store, telemetry);
      WorkerOptions options = WorkerOptions.of("sandbox-worker", config.bootstrapServers(), config.groupId(),
              Topics.SANDBOX_REQUESTS.name(), Topics.SANDBOX_RESULTS.name(), RESULT_TYPE)
          .withCloseTimeout(config.closeTimeout())
          // view_image answers carry an image: the producer must not refuse what the topic may accept.
          .withProducer(Map.of(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, config.maxImageBytes() + 1024 * 1024))
          .withConsumer(consumerOverrides)
          .withProducer(producerOverrides)
          .withOnFatal(onFatal);
      this.loop = new WorkerLoop<>(options, commands, sessions, telemetry);
    } catch (RuntimeException e) {
      store.close();
      throw e;
    }
    for (String backend : List.of("local", "docker")) {
      gauges.add(telemetry.metrics().sandboxSessions(backend, () -> sessions.liveSessions(backend)));
    }
    gauges.add(telemetry.metrics().sandboxSnapshotsRefused(store::refusedSnapshots));
  }

  public SandboxWorker start() {
    // Fail here, clearly, if the registry is unreachable, and learn the ids of today's schemas so that
    // decoding the usual records never waits for the registry.
    serdes.sandboxCommand().schemaId(Topics.SANDBOX_REQUESTS.name());
    serdes.sandboxResult().schemaId(Topics.SANDBOX_RESULTS.name());
    loop.start();
    return this;
  }

  public boolean isRunning() {
    return loop.isRunning();
  }

  /** What stopped the loop, if it stopped on its own. */
  public Throwable failure() {
    return loop.failure();
  }

  /** Results sent and acknowledged. */
  public long answered() {
    return loop.stats().answered();
  }

  /** Commands skipped because their deadline had passed. */
  public long expired() {
    return commands.expiredCount();
  }

  public long deadLettered() {
    return loop.stats().deadLettered();
  }

  /**
   * How many times the sessions began turning commands away (no slot free, or a session's previous
   * owner still finishing), so that the loop held them back and paused their partitions.
   */
  public long pauses() {
    return sessions.pauses();
  }

  /** Workspace snapshots refused on restore (a tag that does not verify, or entries no service would write). */
  public long refusedSnapshots() {
    return store.refusedSnapshots();
  }

  public int liveSessions() {
    return sessions.liveSessions();
  }

  public List<String> liveSessionIds() {
    return sessions.liveSessionIds();
  }

  SessionManager sessions() {
    return sessions;
  }

  /** SandboxCommand in, SandboxResult out. */
  private final class Commands extends CallWorker<SandboxCommand, SandboxResult> {
    Commands() {
      super(serdes.sandboxCommand(), serdes.sandboxResult(), Topics.SANDBOX_RESULTS.name());
    }

    @Override
    public SandboxResult replacement(SandboxCommand cmd, SandboxResult result, String problem) {
      return SessionManager.error(cmd, SessionManager.sessionId(cmd), "the result cannot be returned: " + problem
          + "; ask for less (a smaller image, a line range, less output)");
    }
  }

  /** Stops fetching, lets commands in flight finish and answer (up to closeTimeout), commits and closes. */
  @Override
  public void close() {
    try {
      loop.close();
    } finally {
      gauges.forEach(SandboxWorker::closeQuietly);
      closeQuietly(store);
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      log.warn("cannot close {}: {}", c, e.toString());
    }
  }
}
