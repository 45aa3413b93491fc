package io.turnpike.memory;

import io.turnpike.client.tool.ToolWorker;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.SchemaRegistration;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.worker.ServiceProcess;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memory service (issue 13): phase 1 ({@link ExtractionWorker}: finished runs to candidates), phase 2
 * ({@link MemoryTopology}: candidates to consolidated documents, edits and forgetting, exactly once;
 * {@link ConsolidationWorker}: the phase-two model call) and the {@code memory_update} tool
 * ({@link MemoryUpdateTool}). Model calls happen on worker threads only, never on the stream thread.
 */
public final class MemoryService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(MemoryService.class);

  private final List<AutoCloseable> parts;
  private final KafkaStreams streams;
  private final ExtractionWorker extraction;
  private final ConsolidationWorker consolidation;

  private MemoryService(List<AutoCloseable> parts, KafkaStreams streams, ExtractionWorker extraction,
      ConsolidationWorker consolidation) {
    this.parts = parts;
    this.streams = streams;
    this.extraction = extraction;
    this.consolidation = consolidation;
  }

  public static MemoryService start(Settings settings) {
    return start(settings, Telemetry.noop("memory-service"));
  }

  public static MemoryService start(Settings settings, Telemetry telemetry) {
    return start(settings, telemetry, e -> {});
  }

  public static MemoryService start(Settings settings, Telemetry telemetry, Consumer<Throwable> onFatal) {
    MemoryConfigs configs = MemoryConfigs.from(settings);
    return start(settings, configs, new OpenAiMemoryModel(configs.model()), telemetry, onFatal, Clock.systemUTC());
  }

  /** With a given model (tests, benchmarks); the service closes it. */
  public static MemoryService start(Settings settings, MemoryConfigs configs, MemoryModel model, Telemetry telemetry,
      Consumer<Throwable> onFatal, Clock clock) {
    List<AutoCloseable> parts = new ArrayList<>();
    parts.add(model);
    try {
      TurnpikeSerdes serdes = TurnpikeSerdes.forUrl(settings.schemaRegistryUrl());
      MemorySerdes memory = MemorySerdes.using(serdes.registry());
      // Every subject is registered here, not on the stream thread.
      SchemaRegistration.registerAll(serdes.registry());
      memory.candidates().schemaId(null);
      memory.document().schemaId(null);
      memory.command().schemaId(null);
      memory.consolidation().schemaId(Topics.MEMORY_CONSOLIDATION_REQUESTS.name());
      memory.consolidation().schemaId(Topics.MEMORY_CONSOLIDATION_RESULTS.name());
      memory.scopeState().schemaId(configs.applicationId() + "-" + MemoryTopology.SCOPES + "-changelog");
      serdes.runState().schemaId(null);

      Map<String, Object> consumer = settings.consumerTuning();
      Map<String, Object> producer = settings.producerTuning();
      KafkaStreams streams = new KafkaStreams(MemoryTopology.build(serdes.runState(), memory, configs.tickInterval(),
          configs.resendAfter(), clock), streamsProperties(settings, configs));
      streams.setUncaughtExceptionHandler(e -> {
        LOG.error("memory stream thread failed; replacing it", e);
        return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
      });
      streams.setStateListener((now, before) -> {
        if (now == KafkaStreams.State.ERROR) {
          onFatal.accept(new IllegalStateException("the memory service's Kafka Streams client is in state ERROR"));
        }
      });
      parts.add(() -> streams.close(java.time.Duration.ofSeconds(30)));
      parts.add(telemetry.bindKafkaStreams(streams));
      streams.start();

      ExtractionWorker extraction = new ExtractionWorker(settings.bootstrapServers(), serdes.runState(), memory, model, configs,
          consumer, producer, telemetry, onFatal, clock).start();
      parts.add(extraction);
      ConsolidationWorker consolidation = new ConsolidationWorker(settings.bootstrapServers(), memory, model, configs,
          consumer, producer, telemetry, onFatal, clock).start();
      parts.add(consolidation);

      Properties pp = new Properties();
      pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
      pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
      pp.put(ProducerConfig.ACKS_CONFIG, "all");
      KafkaProducer<String, byte[]> commands = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
      parts.add(commands);
      MemoryUpdateTool tool = new MemoryUpdateTool(commands, memory, clock);
      ToolWorker tools = ToolWorker.builder(settings.bootstrapServers(), settings.schemaRegistryUrl())
          .tool(MemoryUpdateTool.NAME, tool::handle)
          .settings(settings).telemetry(telemetry).onFatal(onFatal).build().start();
      parts.add(tools);
      parts.add(telemetry.readiness("memory-service", () -> streams.state() == KafkaStreams.State.RUNNING
          && extraction.isJoined() && consolidation.isJoined()));
      LOG.info("memory-service started (application.id={}, model {}{})", configs.applicationId(), configs.model().baseUrl(),
          configs.scripted() ? ", scripted" : "");
      return new MemoryService(parts, streams, extraction, consolidation);
    } catch (RuntimeException e) {
      closeAll(parts);
      throw e;
    }
  }

  static Properties streamsProperties(Settings settings, MemoryConfigs configs) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, configs.applicationId());
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, configs.stateDir());
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, configs.commitInterval().toMillis());
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, settings.getInt("turnpike.memory.replication-factor", -1));
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 100);
    p.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, 0L);
    p.put(StreamsConfig.POLL_MS_CONFIG, 20L);
    settings.consumerTuning().forEach((k, v) -> p.put(StreamsConfig.mainConsumerPrefix(k), v));
    return p;
  }

  /** Whether the topology is RUNNING and both workers joined their groups. */
  public boolean isReady() {
    return streams.state() == KafkaStreams.State.RUNNING && extraction.isJoined() && consolidation.isJoined();
  }

  public ExtractionWorker extraction() {
    return extraction;
  }

  public ConsolidationWorker consolidation() {
    return consolidation;
  }

  /** Stays up (serving /metrics and /health/* when turnpike.http.port is set) until the process is stopped. */
  public static void main(String[] args) {
    ServiceProcess.run("memory-service", List.of(Topics.RUN_STATE.name(), Topics.MEMORY_CANDIDATES.name(),
            Topics.MEMORY_COMMANDS.name(), Topics.MEMORY_CONSOLIDATION_REQUESTS.name(),
            Topics.MEMORY_CONSOLIDATION_RESULTS.name(), Topics.MEMORY.name()),
        settings -> {
          MemoryConfigs.from(settings);
          return settings;
        }, ctx -> start(ctx.settings(), ctx.telemetry(), ctx.onFatal()));
  }

  @Override
  public void close() {
    List<AutoCloseable> reversed = new ArrayList<>(parts);
    java.util.Collections.reverse(reversed);
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
