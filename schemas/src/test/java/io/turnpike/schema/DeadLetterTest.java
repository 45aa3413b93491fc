package io.turnpike.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class DeadLetterTest {

  @Test
  void smallRecordsKeepTheirBytesAndHeaders() {
    RecordHeaders original = new RecordHeaders();
    original.add(TurnpikeHeaders.TRACE_ID, "t1".getBytes(StandardCharsets.UTF_8));
    byte[] value = {1, 2, 3};
    DeadLetter d = DeadLetter.of("turnpike.tool.requests", 2, 41, "run-1", value, original, "cannot decode", "java.io.EOFException");
    assertThat(d.key()).isEqualTo("run-1");
    assertThat(d.value()).containsExactly(1, 2, 3);
    assertThat(d.truncated()).isFalse();
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.TRACE_ID)).isEqualTo("t1");
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo("turnpike.tool.requests");
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_PARTITION)).isEqualTo("2");
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_OFFSET)).isEqualTo("41");
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_REASON)).isEqualTo("cannot decode");
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_ERROR)).isEqualTo("java.io.EOFException");
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_ORIGINAL_SIZE)).isEqualTo("3");
  }

  @Test
  void aFiveMegabyteRecordIsCutToWhatADefaultTopicAcceptsWithItsSizeAndDigest() throws Exception {
    byte[] big = new byte[5 * 1024 * 1024];
    new Random(7).nextBytes(big);
    DeadLetter d = DeadLetter.of("turnpike.model.results", 0, 9, "run-2", big, null, "undecodable", null);
    assertThat(d.truncated()).isTrue();
    assertThat(d.value()).hasSize(DeadLetter.MAX_BODY_BYTES);
    assertThat(d.value()[100]).isEqualTo(big[100]);
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_ORIGINAL_SIZE)).isEqualTo(String.valueOf(big.length));
    String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(big));
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_SHA256)).isEqualTo(expected);
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_ERROR)).isEqualTo("rejected");
  }

  @Test
  void nullValuesAndHugeReasonsAreKeptReadable() {
    RecordHeaders original = new RecordHeaders();
    original.add(TurnpikeHeaders.DLQ_REASON, "an earlier reason".getBytes(StandardCharsets.UTF_8));
    DeadLetter d = DeadLetter.of("t", 0, 0, null, null, original, "x".repeat(100_000), "e");
    assertThat(d.value()).isNull();
    assertThat(d.truncated()).isFalse();
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_REASON)).hasSizeLessThan(2200).startsWith("xxx");
    assertThat(d.headers().headers(TurnpikeHeaders.DLQ_REASON)).hasSize(1);
    assertThat(TurnpikeHeaders.get(d.headers(), TurnpikeHeaders.DLQ_ORIGINAL_SIZE)).isNull();
  }
}
