package io.turnpike.sandbox.workspace;

/**
 * A snapshot manifest that is not restored: its tag does not verify, or its entries are not a
 * workspace this service would have written. Thrown before anything is written.
 */
public final class SnapshotRefusedException extends Exception {
  public SnapshotRefusedException(String message) {
    super(message);
  }
}
