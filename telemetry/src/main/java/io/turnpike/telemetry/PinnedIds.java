package io.turnpike.telemetry;

import io.opentelemetry.sdk.trace.IdGenerator;
import java.util.function.Supplier;

/**
 * Random ids, except for a span started inside {@link #pinned}: that one gets the given ids. The SDK
 * asks for ids synchronously in {@code startSpan()} on the calling thread, so a thread-local suffices.
 */
final class PinnedIds implements IdGenerator {
  private final IdGenerator random = IdGenerator.random();
  private final ThreadLocal<String[]> next = new ThreadLocal<>();

  <T> T pinned(String traceId, String spanId, Supplier<T> start) {
    next.set(new String[] {traceId, spanId});
    try {
      return start.get();
    } finally {
      next.remove();
    }
  }

  @Override
  public String generateSpanId() {
    String[] ids = next.get();
    if (ids != null && ids[1] != null) {
      String id = ids[1];
      ids[1] = null;
      return id;
    }
    return random.generateSpanId();
  }

  @Override
  public String generateTraceId() {
    String[] ids = next.get();
    if (ids != null && ids[0] != null) {
      String id = ids[0];
      ids[0] = null;
      return id;
    }
    return random.generateTraceId();
  }
}
