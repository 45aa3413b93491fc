package io.turnpike.runner;

import io.turnpike.runner.model.ModelInvoker;
import io.turnpike.runner.run.Orchestrator;
import io.turnpike.runner.run.OrchestratorConfig;
import io.turnpike.schema.Settings;
import io.turnpike.telemetry.Telemetry;
import java.time.Duration;
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

  /** As above, with metrics, spans and readiness on {@code telemetry}, which the caller keeps and closes. */
  public static RunnerService start(Settings settings, Telemetry telemetry) {
    boolean invoker = Boolean.parseBoolean(settings.get("turnpike.runner.model-invoker.enabled", "true"));
    ModelInvoker modelInvoker = invoker ? ModelInvoker.create(settings, telemetry).start() : null;
    Orchestrator orchestrator;
    try {
      orchestrator = Orchestrator.start(OrchestratorConfig.from(settings),
          settings.getDuration("turnpike.runner.start-timeout", Duration.ofSeconds(60)), telemetry);
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
