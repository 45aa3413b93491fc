package io.turnpike.client.run;

import io.turnpike.client.TurnpikeException;

/** Thrown when a run did not reach the awaited point before the caller's timeout. The run itself goes on. */
public class RunTimeoutException extends TurnpikeException {
  private final String runId;

  public RunTimeoutException(String runId, String message) {
    super(message);
    this.runId = runId;
  }

  public String runId() {
    return runId;
  }
}
