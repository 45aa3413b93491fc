package io.turnpike.sandbox;

/** A tool call that cannot be carried out; its message is what the model sees, so it says what to do instead. */
public class ToolException extends RuntimeException {
  public ToolException(String message) {
    super(message);
  }

  public ToolException(String message, Throwable cause) {
    super(message, cause);
  }
}
