package io.turnpike.runner.run;

import io.turnpike.schema.Topics;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The orchestrator's {@link ProductionExceptionHandler}: a write that Kafka refused for good (too large
 * for its topic, or otherwise invalid) is recorded in {@link SendFailures} so that the input that
 * caused it is not retried forever.
 *
 * <p>It answers FAIL because under exactly_once_v2 nothing else is true: in Kafka 4.3.1 the refused
 * send has already put the transactional producer in an abortable error state, so even RESUME ends in
 * a failed commit ("Error encountered trying to add offsets to a transaction"), the stream thread is
 * replaced and the transaction's inputs are processed again. The handler is consulted for changelog
 * writes too. On that second attempt {@link RunOrchestrator} writes less (the topic's learned limit),
 * dead-letters the input, or, when its dead letter was what got refused, logs and skips it with the
 * {@code turnpike.dead_letters.dropped} metric.
 *
 * <p>Retriable errors (a broker that is slow or short of replicas) are not the record's fault: RETRY
 * makes Streams re-initialise the task and process it again, without counting it against the record.
 */
public final class DeadLetterProductionHandler implements ProductionExceptionHandler {
  private static final Logger LOG = LoggerFactory.getLogger(DeadLetterProductionHandler.class);

  private SendFailures failures = new SendFailures();

  @Override
  public void configure(Map<String, ?> configs) {
    failures = SendFailures.from(configs);
  }

  @Override
  public Response handleError(ErrorHandlerContext context, ProducerRecord<byte[], byte[]> record, Exception exception) {
    if (exception instanceof RetriableException) {
      LOG.warn("writing to {} failed for now ({}); Kafka Streams retries the task", record.topic(), exception.toString());
      return Response.retry();
    }
    // Without its headers, so that the processor, which counts the changelog's records without the
    // headers Streams may add, sees the same record as too large again.
    refused(context, record.topic(), RecordLimits.estimate(record.key(), record.value(), null), exception);
    return Response.fail();
  }

  @Override
  public Response handleSerializationError(ErrorHandlerContext context, @SuppressWarnings("rawtypes") ProducerRecord record,
      Exception exception, SerializationExceptionOrigin origin) {
    refused(context, record.topic(), -1, exception);
    return Response.fail();
  }

  private void refused(ErrorHandlerContext context, String topic, int size, Exception exception) {
    boolean tooLarge = size >= 0
        && (exception instanceof RecordTooLargeException || exception instanceof RecordBatchTooLargeException);
    if (tooLarge) {
      failures.tooLarge(topic, size);
    }
    // Where the processing of an input wrote it. Exact for a refusal found while sending (the
    // producer's own size check); one the broker sends back later names whatever input is current.
    boolean fromInput = context != null && context.topic() != null && context.offset() >= 0;
    if (fromInput) {
      failures.refused(new SendFailures.Source(context.topic(), context.partition(), context.offset()), tooLarge,
          Topics.DEAD_LETTERS.name().equals(topic), exception.toString());
    }
    LOG.error("{} refused a record of about {} bytes written {}: {}; the transaction is lost and its inputs will be"
            + " processed again, this time {}", topic, size,
        fromInput ? "for " + context.topic() + "-" + context.partition() + "@" + context.offset() : "by a punctuation",
        exception.toString(), tooLarge ? "within " + (size - 1) + " bytes for " + topic : "setting the input aside");
  }
}
