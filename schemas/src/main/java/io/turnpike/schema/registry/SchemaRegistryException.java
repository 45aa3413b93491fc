package io.turnpike.schema.registry;

/**
 * A registry call failed; {@link #errorCode()} is the registry's {@code error_code} (e.g. 409, 40401) or
 * -1. {@link #isTransient()} tells an outage (unreachable, HTTP 5xx) from an answer: callers retry the
 * first and treat the second as final.
 */
public final class SchemaRegistryException extends RuntimeException {
  private final int errorCode;
  private final boolean transientFailure;

  /** The registry could not be reached (or the call was interrupted): transient. */
  public SchemaRegistryException(String message, Throwable cause) {
    super(message, cause);
    this.errorCode = -1;
    this.transientFailure = true;
  }

  /** The registry answered with an error; 5xx answers (codes 500-599 and 50001-50099) are transient. */
  public SchemaRegistryException(String message, int errorCode) {
    super(message);
    this.errorCode = errorCode;
    this.transientFailure = (errorCode >= 500 && errorCode < 600) || (errorCode >= 50000 && errorCode < 60000);
  }

  public int errorCode() {
    return errorCode;
  }

  /** True when the registry refused a schema because it breaks the subject's compatibility rule. */
  public boolean isIncompatible() {
    return errorCode == 409;
  }

  /** True when the registry was unreachable or failed internally: the same call may succeed later. */
  public boolean isTransient() {
    return transientFailure;
  }
}
