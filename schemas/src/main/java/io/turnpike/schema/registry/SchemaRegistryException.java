package io.turnpike.schema.registry;

/** A registry call failed; {@link #errorCode()} is the registry's {@code error_code} (e.g. 409, 40401) or -1. */
public final class SchemaRegistryException extends RuntimeException {
  private final int errorCode;

  public SchemaRegistryException(String message, Throwable cause) {
    super(message, cause);
    this.errorCode = -1;
  }

  public SchemaRegistryException(String message, int errorCode) {
    super(message);
    this.errorCode = errorCode;
  }

  public int errorCode() {
    return errorCode;
  }

  /** True when the registry refused a schema because it breaks the subject's compatibility rule. */
  public boolean isIncompatible() {
    return errorCode == 409;
  }
}
