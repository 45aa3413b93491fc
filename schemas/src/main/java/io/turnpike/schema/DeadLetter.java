package io.turnpike.schema;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The one way Turnpike sets a record aside on {@code turnpike.dead-letters}: the original key, the
 * original headers, the original bytes (cut to {@link #MAX_BODY_BYTES} so that any record the broker
 * accepted can be dead-lettered through a producer and a topic with Kafka's default 1 MiB limits), and
 * the {@code turnpike.dlq.*} headers saying where it came from, why, how big it was and its sha-256.
 *
 * @param key     the original key (may be null)
 * @param value   the body to write: the original bytes, or their first {@link #MAX_BODY_BYTES}
 * @param headers the original headers plus the {@code turnpike.dlq.*} ones
 */
public record DeadLetter(String key, byte[] value, Headers headers) {

  /**
   * Bodies longer than this are cut: 1 MiB (the broker's and the producer's default limit) less room
   * for the key, the headers and the batch overhead.
   */
  public static final int MAX_BODY_BYTES = 1024 * 1024 - 64 * 1024;
  /** Header values (a reason, an error message) longer than this are cut. */
  static final int MAX_HEADER_CHARS = 2048;

  /**
   * @param error the exception's class name, or a short word such as {@code rejected} when there was none
   */
  public static DeadLetter of(String topic, int partition, long offset, String key, byte[] value, Headers original,
      String reason, String error) {
    Headers h = new RecordHeaders();
    if (original != null) {
      for (Header header : original) {
        if (!header.key().startsWith("turnpike.dlq.")) {
          h.add(header);
        }
      }
    }
    TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_TOPIC, topic);
    TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_PARTITION, String.valueOf(partition));
    TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_OFFSET, String.valueOf(offset));
    TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_REASON, cut(reason));
    TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_ERROR, cut(error == null ? "rejected" : error));
    byte[] body = value;
    if (value != null) {
      TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_ORIGINAL_SIZE, String.valueOf(value.length));
      TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_SHA256, sha256(value));
      if (value.length > MAX_BODY_BYTES) {
        body = Arrays.copyOf(value, MAX_BODY_BYTES);
        TurnpikeHeaders.put(h, TurnpikeHeaders.DLQ_TRUNCATED, "true");
      }
    }
    return new DeadLetter(key, body, h);
  }

  /** Whether the body is the original's first bytes only. */
  public boolean truncated() {
    return "true".equals(TurnpikeHeaders.get(headers, TurnpikeHeaders.DLQ_TRUNCATED));
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }

  private static String cut(String s) {
    if (s == null) {
      return null;
    }
    return s.length() <= MAX_HEADER_CHARS ? s : s.substring(0, MAX_HEADER_CHARS) + "... (" + s.length() + " chars)";
  }
}
