package io.turnpike.sandbox.backend;

import io.turnpike.sandbox.Limits;
import java.util.Map;

/**
 * One shell command to run in a session.
 *
 * @param command   given to {@code sh -c}
 * @param timeoutMs wall clock before it is killed
 * @param env       the environment of the command: the manifest's variables only
 * @param limits    the session's limits
 * @param watch     asked about every {@link Watch#INTERVAL_MS} ms while the command runs; a reason it gives stops the command
 */
public record ExecRequest(String command, long timeoutMs, Map<String, String> env, Limits limits, Watch watch) {

  public ExecRequest(String command, long timeoutMs, Map<String, String> env, Limits limits) {
    this(command, timeoutMs, env, limits, Watch.NONE);
  }

  /** What a backend asks while a command runs (the workspace quota, for one). */
  @FunctionalInterface
  public interface Watch {
    long INTERVAL_MS = 200;
    Watch NONE = () -> null;

    /** Null to let the command go on; else why it must stop now, in words for the model. Called from one thread at a time. */
    String stopReason();

    /** The reason, or null when the watch itself fails (a failing watch never stops a command). */
    default String ask() {
      try {
        return stopReason();
      } catch (RuntimeException e) {
        return null;
      }
    }
  }
}
