package io.turnpike.worker;

import io.turnpike.schema.AvroSerde;
import java.time.Clock;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.avro.specific.SpecificRecord;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link Worker} of a Turnpike command: the orchestrator's commands to workers (ModelCall, ToolCall,
 * SandboxCommand, GuardrailCheck) all carry {@code runId}, {@code callId} and {@code deadline}, and
 * their answers are Avro in the wire format. This is where that contract lives once: decoding and
 * encoding with the serdes, the answer keyed by the run, and a command whose deadline has passed
 * skipped (the orchestrator has timed it out and will resend it). A worker adds its replacement answer
 * and, if it must, more reasons to skip.
 */
public abstract class CallWorker<T extends SpecificRecordBase, R extends SpecificRecord> implements Worker<T, R> {
  private static final Logger log = LoggerFactory.getLogger(CallWorker.class);

  private final AvroSerde<T> requests;
  private final AvroSerde<R> answers;
  private final String resultTopic;
  private final Clock clock;
  private final AtomicLong expired = new AtomicLong();

  protected CallWorker(AvroSerde<T> requests, AvroSerde<R> answers, String resultTopic) {
    this(requests, answers, resultTopic, Clock.systemUTC());
  }

  protected CallWorker(AvroSerde<T> requests, AvroSerde<R> answers, String resultTopic, Clock clock) {
    this.requests = requests;
    this.answers = answers;
    this.resultTopic = resultTopic;
    this.clock = clock;
  }

  @Override
  public T decode(ConsumerRecord<String, byte[]> record) {
    return requests.deserialize(record.topic(), record.value());
  }

  @Override
  public String skip(T call) {
    return expired(call) ? expiredReason(call) : null;
  }

  @Override
  public String key(T call) {
    return String.valueOf(call.get("runId"));
  }

  @Override
  public String callId(T call) {
    return String.valueOf(call.get("callId"));
  }

  @Override
  public byte[] encode(T call, R answer) {
    return answers.serialize(resultTopic, answer);
  }

  /** Whether the command's deadline has passed (a command without one never expires). */
  public boolean expired(T call) {
    return call.get("deadline") instanceof Instant deadline && deadline.isBefore(Instant.now(clock));
  }

  /** Counts and logs the skip and says why: call it where a handler finds a command expired too. */
  public String expiredReason(T call) {
    expired.incrementAndGet();
    String why = call.getSchema().getName() + " " + callId(call) + " of run " + key(call) + " (attempt "
        + call.get("attempt") + "): its deadline " + call.get("deadline") + " has passed";
    log.warn("skipping {}", why);
    return why;
  }

  /** Commands skipped because their deadline had passed. */
  public long expiredCount() {
    return expired.get();
  }
}
