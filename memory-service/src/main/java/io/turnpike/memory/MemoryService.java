package io.turnpike.memory;

import io.turnpike.schema.Settings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memory service. Not built yet: it starts, says so, and consumes nothing. Runs never depend on it
 * until the runner emits memory commands (see the open issues).
 */
public final class MemoryService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(MemoryService.class);

  private MemoryService() {}

  public static MemoryService start(Settings settings) {
    LOG.info("memory-service: no capabilities implemented yet; idle");
    return new MemoryService();
  }

  public static void main(String[] args) {
    start(Settings.fromEnvironment());
  }

  @Override
  public void close() {}
}
