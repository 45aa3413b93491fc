package io.turnpike.schema;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/** Record header names. Every record carries {@link #TYPE} and {@link #TRACE_ID}; results carry {@link #CALL_ID}. */
public final class TurnpikeHeaders {
  private TurnpikeHeaders() {}

  public static final String TYPE = "turnpike.type";
  public static final String TRACE_ID = "turnpike.trace-id";
  public static final String CALL_ID = "turnpike.call-id";

  /** Dead-letter headers: where the record came from and why it was set aside. */
  public static final String DLQ_TOPIC = "turnpike.dlq.topic";
  public static final String DLQ_PARTITION = "turnpike.dlq.partition";
  public static final String DLQ_OFFSET = "turnpike.dlq.offset";
  public static final String DLQ_ERROR = "turnpike.dlq.error";
  public static final String DLQ_REASON = "turnpike.dlq.reason";
  /** Size in bytes of the original value (the body may be cut, see {@link #DLQ_TRUNCATED}). */
  public static final String DLQ_ORIGINAL_SIZE = "turnpike.dlq.original-size";
  /** Hex sha-256 of the original value, so a cut body can still be matched to its original. */
  public static final String DLQ_SHA256 = "turnpike.dlq.sha256";
  /** {@code true} when the body is only the first bytes of the original value. */
  public static final String DLQ_TRUNCATED = "turnpike.dlq.truncated";

  public static String get(Headers headers, String name) {
    if (headers == null) {
      return null;
    }
    Header h = headers.lastHeader(name);
    return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  public static Headers put(Headers headers, String name, String value) {
    headers.remove(name);
    if (value != null) {
      headers.add(name, value.getBytes(StandardCharsets.UTF_8));
    }
    return headers;
  }
}
