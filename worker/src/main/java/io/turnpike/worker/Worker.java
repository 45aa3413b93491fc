package io.turnpike.worker;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * What a worker supplies to the {@link WorkerLoop} besides its {@link Admission}: how a request
 * record becomes a request, and how an answer becomes a record. Everything else (consuming,
 * backpressure, committing, dead letters, sending with backoff, rebalances, shutdown) is the loop's.
 *
 * @param <T> the request type (a ModelCall, a ToolCall, ...)
 * @param <R> the answer type
 */
public interface Worker<T, R> {

  /**
   * Decodes a request. Whatever it throws sends the record to {@code turnpike.dead-letters} with the
   * exception's message as the reason. Records with no value never reach it (they are dead letters).
   */
  T decode(ConsumerRecord<String, byte[]> record) throws Exception;

  /**
   * Why this request needs neither work nor an answer (its deadline has passed, it is for a tool this
   * worker does not serve), or null to do it. Called once per record, on the poll thread: keep it cheap.
   */
  default String skip(T request) {
    return null;
  }

  /** The answer's record key: the run id, so the answer lands on the run's partition. */
  String key(T request);

  /** The {@code turnpike.call-id} of the request and its answer. */
  String callId(T request);

  /** The answer's record value in the wire format. */
  byte[] encode(T request, R answer);

  /**
   * The single policy for an answer that cannot be sent as it is (larger than the results topic
   * accepts, or not encodable): a small answer that tells the run why, e.g. an error result. The loop
   * sends it instead; if that fails too, the answer is dropped (logged, counted) and the run's own
   * deadline and retry take over.
   */
  R replacement(T request, R answer, String problem);
}
