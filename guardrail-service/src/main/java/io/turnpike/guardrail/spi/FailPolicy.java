package io.turnpike.guardrail.spi;

import java.util.Locale;

/**
 * What a guardrail that cannot decide (it failed, timed out, gave a malformed answer, or its type is
 * unknown) means for the check: {@link #CLOSED} treats it as a hit, {@link #OPEN} lets the content
 * through (and records why in an ALLOW finding, so the audit trail shows it).
 */
public enum FailPolicy {
  OPEN,
  CLOSED;

  /** Parses {@code open|closed}, also {@code allow|trip|block|fail-open|fail-closed}. */
  public static FailPolicy parse(String value, String what) {
    String v = value.trim().toLowerCase(Locale.ROOT).replace('_', '-');
    return switch (v) {
      case "open", "fail-open", "allow", "pass" -> OPEN;
      case "closed", "close", "fail-closed", "trip", "block", "deny" -> CLOSED;
      default -> throw new IllegalArgumentException(what + " must be open or closed, got '" + value + "'");
    };
  }

  public String word() {
    return this == OPEN ? "fail-open" : "fail-closed";
  }
}
