package io.turnpike.console;

/** A request the API refuses with 400 and this message (never a stack trace). */
final class BadRequest extends RuntimeException {
  BadRequest(String message) {
    super(message, null, false, false);
  }
}
