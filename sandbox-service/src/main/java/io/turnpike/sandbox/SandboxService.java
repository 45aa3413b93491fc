package io.turnpike.sandbox;

import io.turnpike.schema.Settings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sandbox service. Not built yet: it starts, says so, and consumes nothing. Runs never depend on it
 * until the runner emits sandbox commands (see the open issues).
 */
public final class SandboxService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SandboxService.class);

  private SandboxService() {}

  public static SandboxService start(Settings settings) {
    LOG.info("sandbox-service: no capabilities implemented yet; idle");
    return new SandboxService();
  }

  public static void main(String[] args) {
    start(Settings.fromEnvironment());
  }

  @Override
  public void close() {}
}
