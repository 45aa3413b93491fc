package io.turnpike.sandbox;

import io.turnpike.sandbox.workspace.SnapshotKey;
import io.turnpike.schema.Settings;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.schema.Topics;
import io.turnpike.worker.ServiceProcess;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sandbox service: executes the built-in sandbox tools (filesystem, shell, skills) of runs in
 * per-run sessions on the {@code local} (bubblewrap) or {@code docker} backend, with workspaces
 * snapshotted to {@code turnpike.workspaces}. See {@code docs/sandbox.md}.
 *
 * <p>It always starts: a backend that cannot work on this host (no bubblewrap, no Docker engine)
 * answers its commands with an error result that says why.
 */
public final class SandboxService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SandboxService.class);

  private final SandboxConfig config;
  private final SandboxWorker worker;

  private SandboxService(SandboxConfig config, SandboxWorker worker) {
    this.config = config;
    this.worker = worker;
  }

  public static SandboxService start(Settings settings) {
    return start(settings, Telemetry.noop("sandbox-service"));
  }

  /** As above, recording to {@code telemetry}, which the caller keeps and closes. */
  public static SandboxService start(Settings settings, Telemetry telemetry) {
    return start(settings, telemetry, e -> {});
  }

  /** As above; {@code onFatal} is told when the worker loop stopped on its own (a supervised process exits). */
  public static SandboxService start(Settings settings, Telemetry telemetry, Consumer<Throwable> onFatal) {
    SandboxConfig config = SandboxConfig.from(settings);
    SandboxWorker worker = new SandboxWorker(config, settings.consumerTuning(), settings.producerTuning(), telemetry,
        onFatal, SnapshotKey.from(settings));
    try {
      worker.start();
    } catch (RuntimeException e) {
      worker.close();
      throw e;
    }
    LOG.info("turnpike sandbox-service ready: default backend {}, up to {} sessions, workspaces in {}",
        config.defaultBackend(), config.maxSessions(), config.root());
    return new SandboxService(config, worker);
  }

  public SandboxConfig config() {
    return config;
  }

  public SandboxWorker worker() {
    return worker;
  }

  /** Runs the service as a supervised process (see {@code ServiceProcess}), configured from the environment. */
  public static void main(String[] args) {
    ServiceProcess.run("sandbox-service", List.of(Topics.SANDBOX_REQUESTS.name(), Topics.SANDBOX_RESULTS.name(),
        Topics.WORKSPACES.name()), SandboxConfig::from, ctx -> start(ctx.settings(), ctx.telemetry(), ctx.onFatal()));
  }

  @Override
  public void close() {
    worker.close();
  }
}
