package io.turnpike.memory;

import io.turnpike.schema.Settings;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.worker.ServiceProcess;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memory service. Not built yet: it starts, says so, and consumes nothing. Runs never depend on it
 * until the runner emits memory commands (see the open issues).
 */
public final class MemoryService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(MemoryService.class);

  private final AutoCloseable readiness;

  private MemoryService(AutoCloseable readiness) {
    this.readiness = readiness;
  }

  public static MemoryService start(Settings settings) {
    return start(settings, Telemetry.noop("memory-service"));
  }

  /** As above, reporting readiness on {@code telemetry}, which the caller keeps and closes. */
  public static MemoryService start(Settings settings, Telemetry telemetry) {
    LOG.info("memory-service: no capabilities implemented yet; idle");
    // Idle means there is nothing to wait for: ready at once.
    return new MemoryService(telemetry.readiness("memory-service", () -> true));
  }

  /** Stays up (serving /metrics and /health/* when turnpike.http.port is set) until the process is stopped. */
  public static void main(String[] args) {
    ServiceProcess.run("memory-service", List.of(), settings -> settings, ctx -> start(ctx.settings(), ctx.telemetry()));
  }

  @Override
  public void close() {
    try {
      readiness.close();
    } catch (Exception e) {
      LOG.debug("cannot remove the readiness check: {}", e.toString());
    }
  }
}
