package io.turnpike.sandbox.backend;

import io.turnpike.sandbox.Limits;
import io.turnpike.sandbox.workspace.Workspace;
import java.util.Map;

/**
 * Where commands run. A backend is shared by every session of an instance; each session opens a
 * {@link BackendSession} on it.
 */
public interface Backend extends AutoCloseable {
  /** {@code local} or {@code docker}. */
  String name();

  /** Null when commands can run; else why not, in words the model and the operator can act on. */
  String unavailableReason();

  /**
   * The owner (uid, gid) that the workspace files of the session in {@code slot} must have so that
   * commands can change them, or null to leave files as the service creates them.
   */
  int[] owner(int slot);

  /** Opens the command side of a session. Heavy resources (a container) may be created on first use. */
  BackendSession open(String sessionId, int slot, Workspace workspace, Limits limits, Map<String, String> env,
      String image, boolean network);

  @Override
  default void close() {}

  /** The commands of one session. Commands of one session never run concurrently. */
  interface BackendSession extends AutoCloseable {
    /**
     * Runs one command. When it returns, no process the command started is left (whether it ended,
     * timed out, flooded its output, was stopped by the request's watch, or killed its own wrapper).
     */
    ExecResult exec(ExecRequest request) throws InterruptedException;

    /**
     * Makes sure no process of the session runs, killing any that does: called before every file tool,
     * which relies on nothing but the service changing the workspace while it works. Null when
     * nothing runs; else why that cannot be ensured (the file tool must not run).
     */
    default String quiesce() throws InterruptedException {
      return null;
    }

    @Override
    void close();
  }
}
