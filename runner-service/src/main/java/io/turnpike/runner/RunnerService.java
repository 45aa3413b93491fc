package io.turnpike.runner;

import io.turnpike.runner.model.ModelInvoker;
import io.turnpike.runner.run.Orchestrator;
import io.turnpike.runner.run.OrchestratorConfig;
import io.turnpike.schema.Settings;
import io.turnpike.telemetry.Telemetry;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The runner service: the run orchestrator (Kafka Streams, exactly-once) and the model invoker.
 * Both scale by adding instances; {@code turnpike.runner.model-invoker.enabled=false} runs the
 * orchestrator alone so the two can be scaled apart.
 */
public final class RunnerService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RunnerService.class);

  private final Orchestrator orchestrator;
  private final ModelInvoker modelInvoker;

  private RunnerService(Orchestrator orchestrator, ModelInvoker modelInvoker) {
    this.orchestrator = orchestrator;
    this.modelInvoker = modelInvoker;
  }

  /** Starts the orchestrator and the model invoker against {@code settings.bootstrapServers()}. */
  public static RunnerService start(Settings settings) {
    return start(settings, Telemetry.noop("runner-service"));
  }

  /**
   * As above, with metrics, spans and readiness on {@code telemetry}, which the caller keeps and closes;
   * waits up to {@code turnpike.runner.start-timeout} for the orchestrator to be RUNNING (embedded use).
   */
  public static RunnerService start(Settings settings, Telemetry telemetry) {
    Duration timeout = settings.getDuration("turnpike.runner.start-timeout", Duration.ofSeconds(60));
    return start(settings, telemetry, e -> {}, config -> Orchestrator.start(config, timeout, telemetry));
  }

  /**
   * Starts both parts and returns at once (readiness says when the orchestrator is RUNNING); a part that
   * cannot go on tells {@code onFatal}. The way {@link RunnerMain} runs it as a supervised process.
   */
  public static RunnerService launch(Settings settings, Telemetry telemetry, Consumer<Throwable> onFatal) {
    return start(settings, telemetry, onFatal, config -> Orchestrator.launch(config, telemetry, onFatal));
  }

  private static RunnerService start(Settings settings, Telemetry telemetry, Consumer<Throwable> onFatal,
      Function<OrchestratorConfig, Orchestrator> orchestratorStart) {
    boolean invoker = Boolean.parseBoolean(settings.get("turnpike.runner.model-invoker.enabled", "true"));
    OrchestratorConfig config = OrchestratorConfig.from(settings);
    ModelInvoker modelInvoker = invoker ? ModelInvoker.create(settings, telemetry, onFatal).start() : null;
    Orchestrator orchestrator;
    try {
      orchestrator = orchestratorStart.apply(config);
    } catch (RuntimeException e) {
      if (modelInvoker != null) {
        modelInvoker.close();
      }
      throw e;
    }
    LOG.info("runner-service started (model invoker {})", invoker ? "on" : "off");
    return new RunnerService(orchestrator, modelInvoker);
  }

  public Orchestrator orchestrator() {
    return orchestrator;
  }

  @Override
  public void close() {
    try {
      orchestrator.close();
    } finally {
      if (modelInvoker != null) {
        modelInvoker.close();
      }
    }
  }
}
