package io.turnpike.guardrail;

import io.turnpike.schema.Settings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The guardrail service. Not built yet: it starts, says so, and consumes nothing. Runs never depend on it
 * until the runner emits guardrail commands (see the open issues).
 */
public final class GuardrailService implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(GuardrailService.class);

  private GuardrailService() {}

  public static GuardrailService start(Settings settings) {
    LOG.info("guardrail-service: no capabilities implemented yet; idle");
    return new GuardrailService();
  }

  public static void main(String[] args) {
    start(Settings.fromEnvironment());
  }

  @Override
  public void close() {}
}
