package io.turnpike.memory;

import io.turnpike.avro.MemoryConsolidation;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Topics;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.worker.Admission;
import io.turnpike.worker.Job;
import io.turnpike.worker.Worker;
import io.turnpike.worker.WorkerLoop;
import io.turnpike.worker.WorkerOptions;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phase 2's model call, off the stream thread: consumes consolidation requests, asks the phase-two model
 * and answers on {@code turnpike.memory.consolidation.results} (a failure is answered too, so the scope
 * asks again). At least once: a duplicate answer carries the same sequence, which the scope applies once.
 */
public final class ConsolidationWorker implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ConsolidationWorker.class);

  private final WorkerLoop<MemoryConsolidation, MemoryConsolidation> loop;
  private final MemoryModel model;
  private final MemoryConfigs configs;
  private final Clock clock;
  private final AtomicLong answered = new AtomicLong();

  public ConsolidationWorker(String bootstrap, MemorySerdes serdes, MemoryModel model, MemoryConfigs configs,
      Map<String, ?> consumer, Map<String, ?> producer, Telemetry telemetry, Consumer<Throwable> onFatal, Clock clock) {
    this.model = model;
    this.configs = configs;
    this.clock = clock;
    WorkerOptions options = WorkerOptions.of("memory-consolidation", bootstrap, configs.applicationId() + "-consolidation",
            Topics.MEMORY_CONSOLIDATION_REQUESTS.name(), Topics.MEMORY_CONSOLIDATION_RESULTS.name(), "MemoryConsolidation")
        .withCloseTimeout(configs.closeTimeout())
        .withConsumer(consumer).withProducer(producer).withOnFatal(onFatal);
    this.loop = new WorkerLoop<>(options, new Requests(serdes), Admission.concurrent("memory-consolidation",
        configs.concurrency(), this::consolidate), telemetry);
  }

  public ConsolidationWorker start() {
    loop.start();
    return this;
  }

  public boolean isJoined() {
    return loop.isJoined();
  }

  public Throwable failure() {
    return loop.failure();
  }

  public long answered() {
    return answered.get();
  }

  private void consolidate(Job<MemoryConsolidation, MemoryConsolidation> job) {
    MemoryConsolidation req = job.request();
    String modelName = configs.modelFor(req.getModel(), req.getModel());
    MemoryConsolidation answer;
    try {
      String text = model.complete(modelName, Consolidation.INSTRUCTIONS, Consolidation.input(req), Consolidation.SCHEMA_NAME,
          Consolidation.SCHEMA, req.getRequestId());
      answer = Consolidation.answer(req, text, configs.scripted(), clock.instant());
    } catch (RuntimeException e) {
      log.warn("memory: consolidation {} failed (asked again later): {}", req.getRequestId(), e.getMessage());
      answer = Consolidation.failed(req, String.valueOf(e.getMessage()), clock.instant());
    }
    answered.incrementAndGet();
    job.answer(answer);
  }

  private static final class Requests implements Worker<MemoryConsolidation, MemoryConsolidation> {
    private final MemorySerdes serdes;

    Requests(MemorySerdes serdes) {
      this.serdes = serdes;
    }

    @Override
    public MemoryConsolidation decode(ConsumerRecord<String, byte[]> r) {
      return serdes.consolidation().deserialize(r.topic(), r.value());
    }

    @Override
    public String skip(MemoryConsolidation req) {
      return req.getAnswer() ? "an answer on the request topic" : null;
    }

    @Override
    public String key(MemoryConsolidation req) {
      return req.getScope();
    }

    @Override
    public String callId(MemoryConsolidation req) {
      return req.getRequestId();
    }

    @Override
    public byte[] encode(MemoryConsolidation req, MemoryConsolidation answer) {
      return serdes.consolidation().serialize(Topics.MEMORY_CONSOLIDATION_RESULTS.name(), answer);
    }

    @Override
    public MemoryConsolidation replacement(MemoryConsolidation req, MemoryConsolidation answer, String problem) {
      return Consolidation.failed(req, problem, answer.getAt());
    }
  }

  @Override
  public void close() {
    loop.close();
  }
}
