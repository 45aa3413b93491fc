package io.turnpike.runner;

import io.turnpike.schema.Settings;

/**
 * The runner service: the run orchestrator (Kafka Streams) and the model invoker, started together.
 * Contract used by the CLI's dev launcher; implementation in progress.
 */
public final class RunnerService implements AutoCloseable {

  private RunnerService() {}

  /** Starts the orchestrator and the model invoker against {@code settings.bootstrapServers()}. */
  public static RunnerService start(Settings settings) {
    throw new UnsupportedOperationException("not yet wired");
  }

  @Override
  public void close() {}
}
