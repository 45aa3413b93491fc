package io.turnpike.sandbox.backend;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Keeps the first and the last {@code limit/2} bytes of a stream and counts the rest, which
 * {@link #text()} replaces by a marker such as {@code [... 12345 bytes truncated ...]}. Thread-safe.
 */
public final class OutputBuffer {
  private final int headLimit;
  private final int tailLimit;
  private final ByteArrayOutputStream head = new ByteArrayOutputStream();
  private final byte[] tail;
  private int tailStart;
  private int tailLength;
  private long total;

  public OutputBuffer(int limit) {
    this.headLimit = Math.max(1, limit / 2);
    this.tailLimit = Math.max(1, limit - headLimit);
    this.tail = new byte[tailLimit];
  }

  public synchronized void write(byte[] b, int off, int len) {
    total += len;
    int toHead = Math.min(len, headLimit - head.size());
    if (toHead > 0) {
      head.write(b, off, toHead);
      off += toHead;
      len -= toHead;
    }
    for (int i = 0; i < len; i++) {
      int pos = (tailStart + tailLength) % tailLimit;
      tail[pos] = b[off + i];
      if (tailLength < tailLimit) {
        tailLength++;
      } else {
        tailStart = (tailStart + 1) % tailLimit;
      }
    }
  }

  public synchronized long total() {
    return total;
  }

  public synchronized boolean truncated() {
    return total > head.size() + tailLength;
  }

  public synchronized String text() {
    StringBuilder sb = new StringBuilder(new String(head.toByteArray(), StandardCharsets.UTF_8));
    long dropped = total - head.size() - tailLength;
    if (dropped > 0) {
      sb.append("\n[... ").append(dropped).append(" bytes truncated ...]\n");
    }
    byte[] t = new byte[tailLength];
    for (int i = 0; i < tailLength; i++) {
      t[i] = tail[(tailStart + i) % tailLimit];
    }
    sb.append(new String(t, StandardCharsets.UTF_8));
    return sb.toString();
  }

  /** Truncates a string the same way (for file contents returned to the model). */
  public static String truncate(String s, int limit) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    if (b.length <= limit) {
      return s;
    }
    OutputBuffer o = new OutputBuffer(limit);
    o.write(b, 0, b.length);
    return o.text();
  }
}
