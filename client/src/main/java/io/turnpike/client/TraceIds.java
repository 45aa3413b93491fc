package io.turnpike.client;

import java.util.UUID;

/** Trace ids are 32 lowercase hex digits (the W3C trace-context size), carried in {@code turnpike.trace-id}. */
public final class TraceIds {
  private TraceIds() {}

  public static String newTraceId() {
    return UUID.randomUUID().toString().replace("-", "");
  }
}
