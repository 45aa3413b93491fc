package io.turnpike.guardrail.text;

/** Thrown when matching ran past its work budget or the check's deadline (e.g. a backtracking regex). */
public final class WorkLimitExceeded extends RuntimeException {
  public WorkLimitExceeded(String message) {
    super(message, null, false, false);
  }
}
