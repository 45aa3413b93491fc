package io.turnpike.runner.run;

import io.turnpike.avro.RunState;
import io.turnpike.schema.SchemaRegistration;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs the {@link OrchestratorTopology} as a Kafka Streams application with exactly-once processing. */
public final class Orchestrator implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Orchestrator.class);

  private final KafkaStreams streams;
  private final AutoCloseable streamsMetrics;
  private final AutoCloseable readiness;
  private final AutoCloseable liveness;

  private final AutoCloseable localGuardrails;

  private Orchestrator(KafkaStreams streams, AutoCloseable streamsMetrics, AutoCloseable readiness,
      AutoCloseable liveness, AutoCloseable localGuardrails) {
    this.localGuardrails = localGuardrails;
    this.streams = streams;
    this.streamsMetrics = streamsMetrics;
    this.readiness = readiness;
    this.liveness = liveness;
  }

  public static Properties streamsProperties(OrchestratorConfig config) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, config.stateDir().toString());
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, config.threads());
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, config.commitInterval().toMillis());
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, config.replicationFactor());
    // Latency over batching: a run waits on every hop, so send as soon as the transaction commits.
    p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 100);
    // Runs are independent: never hold a partition back to wait for another one's records.
    p.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, 0L);
    // A commit that is not yet due when a batch is done waits for the next loop, i.e. for poll():
    // with Kafka's 100 ms poll that wait becomes every hop's latency. Keep poll short.
    p.put(StreamsConfig.POLL_MS_CONFIG, config.pollInterval().toMillis());
    // Failover like every other Turnpike group member: only the main consumer is in the group (the restore
    // and global consumers have none, and reject group settings such as group.instance.id).
    config.groupTuning().forEach((k, v) -> p.put(StreamsConfig.mainConsumerPrefix(k), v));
    p.put(StreamsConfig.NUM_STANDBY_REPLICAS_CONFIG, config.standbyReplicas());
    // Nothing stops a partition. The producer can move a record of an input topic raised to 8 MiB to its
    // run's partition; every other record is held to its own topic's limit by the processor
    // (RecordLimits), since a refused write fails the whole transaction. What Kafka refuses anyway is
    // recorded by the handler in the SendFailures that the processor finds in appConfigs().
    p.put(StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG), RecordLimits.MAX_REQUEST_BYTES);
    p.put(StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG, DeadLetterProductionHandler.class);
    p.put(SendFailures.CONFIG, new SendFailures());
    p.put(OrchestratorConfig.MAX_ANSWER_BYTES, config.maxAnswerBytes());
    p.put(OrchestratorConfig.MAX_IMAGE_BYTES, config.maxImageBytes());
    p.put(OrchestratorConfig.INLINE_OUTPUT_BYTES, config.inlineOutputBytes());
    p.put(LocalGuardrails.CONFIG, config.localGuardrails());
    return p;
  }

  /** Starts the orchestrator and waits until it is RUNNING (or fails clearly after {@code timeout}). */
  public static Orchestrator start(OrchestratorConfig config, Duration timeout) {
    return start(config, timeout, Telemetry.noop("orchestrator"));
  }

  /** As above, with run metrics, spans, Streams metrics (consumer lag) and readiness (state RUNNING) on {@code telemetry}. */
  public static Orchestrator start(OrchestratorConfig config, Duration timeout, Telemetry telemetry) {
    CountDownLatch settled = new CountDownLatch(1);
    java.util.concurrent.atomic.AtomicBoolean reachedRunning = new java.util.concurrent.atomic.AtomicBoolean();
    Orchestrator o = launch(config, telemetry, e -> settled.countDown(), () -> {
      reachedRunning.set(true);
      settled.countDown();
    });
    try {
      if (!settled.await(timeout.toMillis(), TimeUnit.MILLISECONDS) || !reachedRunning.get()) {
        o.close(Duration.ofSeconds(5));
        throw new IllegalStateException("orchestrator did not reach RUNNING within " + timeout
            + " (is Kafka reachable at " + config.bootstrapServers() + "?)");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      o.close(Duration.ofSeconds(5));
      throw new IllegalStateException("interrupted while starting the orchestrator", e);
    }
    LOG.info("orchestrator running (application.id={}, state={})", config.applicationId(), config.stateDir());
    return o;
  }

  /**
   * Starts the orchestrator and returns at once: readiness says when it is RUNNING (a first rebalance
   * and state restoration may take a while). {@code onFatal} is told when the Streams client reaches
   * ERROR, which it does not leave by itself: a supervised process exits and is restarted.
   */
  public static Orchestrator launch(OrchestratorConfig config, Telemetry telemetry, Consumer<Throwable> onFatal) {
    return launch(config, telemetry, onFatal, () -> {});
  }

  private static Orchestrator launch(OrchestratorConfig config, Telemetry telemetry, Consumer<Throwable> onFatal,
      Runnable onRunning) {
    TurnpikeSerdes serdes = TurnpikeSerdes.forUrl(config.schemaRegistryUrl());
    // Registry calls happen here, not on the stream thread: every subject the processor writes to is
    // registered (BACKWARD) before the first record, and the ids are cached from then on.
    SchemaRegistration.registerAll(serdes.registry());
    serdes.all().forEach(s -> s.schemaId(null));
    serdes.runState().schemaId(config.applicationId() + "-" + OrchestratorTopology.RUN_STORE + "-changelog");
    KafkaStreams streams = new KafkaStreams(OrchestratorTopology.build(config.timerInterval(), serdes, telemetry,
        inputPartitions(config)), streamsProperties(config));
    AutoCloseable streamsMetrics = telemetry.bindKafkaStreams(streams);
    AutoCloseable readiness = telemetry.readiness("orchestrator", () -> streams.state() == KafkaStreams.State.RUNNING);
    AutoCloseable liveness = telemetry.liveness("orchestrator", () -> streams.state() != KafkaStreams.State.ERROR
        && streams.state() != KafkaStreams.State.PENDING_ERROR);
    streams.setStateListener((now, before) -> {
      LOG.debug("orchestrator {} -> {}", before, now);
      if (now == KafkaStreams.State.RUNNING) {
        onRunning.run();
      } else if (now == KafkaStreams.State.ERROR) {
        onFatal.accept(new IllegalStateException("the orchestrator's Kafka Streams client is in state ERROR"));
      }
    });
    streams.setUncaughtExceptionHandler(new ThreadReplacement());
    streams.start();
    return new Orchestrator(streams, streamsMetrics, readiness, liveness, config.localGuardrails());
  }

  /**
   * A bug in one record or an outage (the registry, the broker) must not stop everyone's runs: the
   * stream thread is replaced and reads on from its last commit. Failures in a row back off (up to 30 s)
   * so an outage does not become a busy loop of thread replacements.
   */
  private static final class ThreadReplacement implements StreamsUncaughtExceptionHandler {
    private long lastFailureMs;
    private long waitMs;

    @Override
    public synchronized StreamThreadExceptionResponse handle(Throwable e) {
      long now = System.currentTimeMillis();
      waitMs = now - lastFailureMs > 60_000 ? 0 : Math.min(30_000, Math.max(500, waitMs * 2));
      lastFailureMs = now;
      LOG.error("orchestrator stream thread failed; replacing it{}", waitMs == 0 ? "" : " in " + waitMs + " ms", e);
      if (waitMs > 0) {
        try {
          Thread.sleep(waitMs); // on the dying thread: backoff before its replacement starts
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
        }
      }
      return StreamThreadExceptionResponse.REPLACE_THREAD;
    }
  }

  /** Partition counts of the input topics, read once at start (I/O stays off the stream thread). */
  static Map<String, Integer> inputPartitions(OrchestratorConfig config) {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers()))) {
      Map<String, Integer> counts = new HashMap<>();
      admin.describeTopics(OrchestratorTopology.INPUTS).allTopicNames().get(30, TimeUnit.SECONDS)
          .forEach((name, d) -> counts.put(name, d.partitions().size()));
      return counts;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading the input topics' partitions", e);
    } catch (Exception e) {
      throw new IllegalStateException("cannot describe the orchestrator's input topics " + OrchestratorTopology.INPUTS
          + " on " + config.bootstrapServers() + " (create them with `turnpike topics create`): " + e.getMessage(), e);
    }
  }

  /** The RunState held by this instance, when this instance owns the run's partition. */
  public Optional<RunState> localRunState(String runId) {
    ReadOnlyKeyValueStore<String, RunState> store = streams.store(
        StoreQueryParameters.fromNameAndType(OrchestratorTopology.RUN_STORE, QueryableStoreTypes.<String, RunState>keyValueStore()));
    return Optional.ofNullable(store.get(runId));
  }

  public KafkaStreams.State state() {
    return streams.state();
  }

  /** Stops processing: the current transaction commits, the stream threads stop, the group is left. */
  @Override
  public void close() {
    close(Duration.ofSeconds(30));
  }

  private void close(Duration timeout) {
    closeQuietly(readiness);
    closeQuietly(streamsMetrics);
    streams.close(timeout);
    closeQuietly(liveness);
    closeQuietly(localGuardrails);
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      LOG.debug("closing {} failed", c, e);
    }
  }
}
