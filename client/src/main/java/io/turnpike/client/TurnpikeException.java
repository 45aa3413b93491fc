package io.turnpike.client;

/** A failure the caller can act on (Kafka unreachable, topic missing, timeout); the message says what and why. */
public class TurnpikeException extends RuntimeException {
  public TurnpikeException(String message) {
    super(message);
  }

  public TurnpikeException(String message, Throwable cause) {
    super(message, cause);
  }
}
