package io.turnpike.runner.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.schema.Topics;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProductionExceptionHandler.Result;
import org.apache.kafka.streams.processor.TaskId;
import org.junit.jupiter.api.Test;

class DeadLetterProductionHandlerTest {
  private final SendFailures failures = new SendFailures();
  private final DeadLetterProductionHandler handler = new DeadLetterProductionHandler();

  DeadLetterProductionHandlerTest() {
    handler.configure(Map.of(SendFailures.CONFIG, failures));
  }

  /** The context Streams gives for a record being processed: its source topic, partition and offset. */
  private record Processing(String topic, int partition, long offset) implements ErrorHandlerContext {
    @Override
    public Headers headers() {
      return new RecordHeaders();
    }

    @Override
    public String processorNodeId() {
      return "orchestrator";
    }

    @Override
    public TaskId taskId() {
      return new TaskId(0, partition);
    }

    @Override
    public long timestamp() {
      return 0;
    }

    @Override
    public byte[] sourceRawKey() {
      return null;
    }

    @Override
    public byte[] sourceRawValue() {
      return null;
    }
  }

  private static ProducerRecord<byte[], byte[]> record(String topic, int valueBytes) {
    return new ProducerRecord<>(topic, "run-1".getBytes(), new byte[valueBytes]);
  }

  @Test
  void aRecordTooLargeForItsTopicLowersThatTopicsLimitAndFails() {
    ProducerRecord<byte[], byte[]> big = record(Topics.RUN_STATE.name(), 2_000_000);
    var response = handler.handleError(new Processing(Topics.TOOL_RESULTS.name(), 1, 7), big, new RecordTooLargeException("too big"));

    assertThat(response.result()).isEqualTo(Result.FAIL);
    int size = RecordLimits.estimate(big.key(), big.value(), null);
    assertThat(failures.limit(Topics.RUN_STATE.name(), 8_000_000)).isEqualTo(size - 1);
    assertThat(failures.limit(Topics.TURN_EVENTS.name(), 8_000_000)).isEqualTo(8_000_000);
    SendFailures.Refusals r = failures.of(new SendFailures.Source(Topics.TOOL_RESULTS.name(), 1, 7));
    assertThat(r.sizeOnly()).isTrue();
    assertThat(r.deadLetterRefused()).isFalse();
  }

  @Test
  void aRefusedDeadLetterIsRememberedForItsInput() {
    handler.handleError(new Processing(Topics.MODEL_RESULTS.name(), 0, 3), record(Topics.DEAD_LETTERS.name(), 10),
        new InvalidRecordException("no"));
    SendFailures.Refusals r = failures.of(new SendFailures.Source(Topics.MODEL_RESULTS.name(), 0, 3));
    assertThat(r.count()).isEqualTo(1);
    assertThat(r.sizeOnly()).isFalse();
    assertThat(r.deadLetterRefused()).isTrue();
    assertThat(r.lastError()).contains("InvalidRecordException");
  }

  @Test
  void aTransientErrorIsRetriedAndNotHeldAgainstTheRecord() {
    var response = handler.handleError(new Processing(Topics.TOOL_RESULTS.name(), 0, 1), record(Topics.TURN_EVENTS.name(), 10),
        new NotEnoughReplicasException("wait"));
    assertThat(response.result()).isEqualTo(Result.RETRY);
    assertThat(failures.of(new SendFailures.Source(Topics.TOOL_RESULTS.name(), 0, 1))).isNull();
  }

  @Test
  void aPunctuationsRefusalTeachesTheLimitOnly() {
    ProducerRecord<byte[], byte[]> call = record(Topics.MODEL_REQUESTS.name(), 5000);
    handler.handleError(new Processing(null, -1, -1), call, new RecordTooLargeException("x"));
    assertThat(failures.limit(Topics.MODEL_REQUESTS.name(), 1_000_000)).isEqualTo(RecordLimits.estimate(call.key(), call.value(), null) - 1);
  }

  @Test
  void aLearnedLimitIsForgottenAfterAWhileSinceAnOperatorMayRaiseTheTopicsLimit() {
    long[] now = {0};
    SendFailures learning = new SendFailures(() -> now[0]);
    learning.tooLarge(Topics.DEAD_LETTERS.name(), 1000);
    assertThat(learning.limit(Topics.DEAD_LETTERS.name(), 1_000_000)).isEqualTo(999);
    now[0] += SendFailures.LEARNED_LIMIT_TTL.toNanos() + 1;
    assertThat(learning.limit(Topics.DEAD_LETTERS.name(), 1_000_000)).isEqualTo(1_000_000);
    learning.tooLarge(Topics.DEAD_LETTERS.name(), 5000);
    assertThat(learning.limit(Topics.DEAD_LETTERS.name(), 1_000_000)).isEqualTo(4999);
  }
}
