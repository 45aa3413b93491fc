package io.turnpike.memory;

import io.turnpike.avro.EventOffset;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.RunState;
import io.turnpike.schema.AvroSerde;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Topics;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.worker.Admission;
import io.turnpike.worker.Job;
import io.turnpike.worker.Worker;
import io.turnpike.worker.WorkerLoop;
import io.turnpike.worker.WorkerOptions;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phase 1: reads every RunState on {@code turnpike.run-state}, takes the final ones (COMPLETED, FAILED,
 * CANCELLED, GUARDRAIL_TRIPPED; not INTERRUPTED) of agents with {@code memory.write}, asks the phase-one
 * model for candidates on a worker thread, and answers them as one {@link MemoryCandidates} record on
 * {@code turnpike.memory.candidates} keyed by scope. A run with nothing worth keeping answers nothing.
 *
 * <p>The {@link WorkerLoop} is at least once: a restart may extract a run again. Its candidates have the
 * same ids and its extraction the same id ({@code <runId>@<version>}), which phase 2 takes once.
 */
public final class ExtractionWorker implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ExtractionWorker.class);

  /** A final RunState and where it was read (the candidates' provenance). */
  record Finished(RunState state, String scope, EventOffset source) {}

  private final WorkerLoop<Finished, MemoryCandidates> loop;
  private final MemoryModel model;
  private final MemoryConfigs configs;
  private final Clock clock;
  private final AtomicLong extracted = new AtomicLong();
  private final AtomicLong empty = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();

  public ExtractionWorker(String bootstrap, AvroSerde<RunState> runStates, MemorySerdes serdes, MemoryModel model,
      MemoryConfigs configs, Map<String, ?> consumer, Map<String, ?> producer, Telemetry telemetry, Consumer<Throwable> onFatal,
      Clock clock) {
    this.model = model;
    this.configs = configs;
    this.clock = clock;
    WorkerOptions options = WorkerOptions.of("memory-extraction", bootstrap, configs.applicationId() + "-extraction",
            Topics.RUN_STATE.name(), Topics.MEMORY_CANDIDATES.name(), "MemoryCandidates")
        .withMaxPollRecords(Math.max(50, configs.concurrency()))
        .withCloseTimeout(configs.closeTimeout())
        .withConsumer(consumer).withProducer(producer).withOnFatal(onFatal);
    this.loop = new WorkerLoop<>(options, new Extractions(runStates, serdes), Admission.concurrent("memory-extraction",
        configs.concurrency(), this::extract), telemetry);
  }

  public ExtractionWorker start() {
    loop.start();
    return this;
  }

  public boolean isJoined() {
    return loop.isJoined();
  }

  public Throwable failure() {
    return loop.failure();
  }

  /** Runs that gave candidates, runs that gave none, runs whose extraction failed. */
  public long[] counts() {
    return new long[] {extracted.get(), empty.get(), failed.get()};
  }

  private void extract(Job<Finished, MemoryCandidates> job) {
    Finished f = job.request();
    RunState s = f.state();
    Transcript transcript = Transcript.of(s);
    var mem = s.getAgent().getMemory();
    String modelName = configs.modelFor(mem.getGenerate().getPhaseOneModel(), s.getAgent().getModel());
    String answer;
    MemoryCandidates batch;
    try {
      answer = model.complete(modelName, Extraction.INSTRUCTIONS, Extraction.input(s, transcript), Extraction.SCHEMA_NAME,
          Extraction.SCHEMA, Extraction.extractionId(s));
      batch = Extraction.candidates(s, f.scope(), transcript, answer, f.source(), modelName, configs.scripted(), clock.instant());
    } catch (RuntimeException e) {
      // The model's own client has retried; leaving the job unfinished would hold back the partition's
      // commits for good, so this run gives no memory (logged and counted).
      failed.incrementAndGet();
      log.warn("memory: phase 1 of run {} failed, no memories from it: {}", s.getRunId(), e.getMessage());
      job.skip("phase-one model failed: " + e.getMessage());
      return;
    }
    if (batch.getCandidates().isEmpty()) {
      empty.incrementAndGet();
      job.skip("nothing worth keeping in run " + s.getRunId());
      return;
    }
    extracted.incrementAndGet();
    log.info("memory: run {} gave {} candidate(s) for {}", s.getRunId(), batch.getCandidates().size(), f.scope());
    job.answer(batch);
  }

  private static final class Extractions implements Worker<Finished, MemoryCandidates> {
    private final AvroSerde<RunState> runStates;
    private final MemorySerdes serdes;

    Extractions(AvroSerde<RunState> runStates, MemorySerdes serdes) {
      this.runStates = runStates;
      this.serdes = serdes;
    }

    @Override
    public Finished decode(ConsumerRecord<String, byte[]> r) {
      RunState s = runStates.deserialize(r.topic(), r.value());
      String scope = Scopes.isFinal(s.getStatus()) && Scopes.writes(s.getAgent()) ? Scopes.of(s.getAgent(), s.getUser()) : null;
      return new Finished(s, scope, new EventOffset(r.topic(), r.partition(), r.offset()));
    }

    @Override
    public String skip(Finished f) {
      if (!Scopes.isFinal(f.state().getStatus())) {
        return "run " + f.state().getRunId() + " is " + f.state().getStatus();
      }
      if (!Scopes.writes(f.state().getAgent())) {
        return "agent " + f.state().getAgent().getName() + " does not write memory";
      }
      if (f.scope() == null) {
        return "run " + f.state().getRunId() + " has no user, and agent " + f.state().getAgent().getName()
            + " keeps memory per user";
      }
      return null;
    }

    @Override
    public String key(Finished f) {
      return f.scope();
    }

    @Override
    public String callId(Finished f) {
      return Extraction.extractionId(f.state());
    }

    @Override
    public byte[] encode(Finished f, MemoryCandidates answer) {
      return serdes.candidates().serialize(Topics.MEMORY_CANDIDATES.name(), answer);
    }

    @Override
    public MemoryCandidates replacement(Finished f, MemoryCandidates answer, String problem) {
      // Too large as a whole: keep the most confident half; the loop drops it if even that fails.
      List<io.turnpike.avro.MemoryCandidate> kept = answer.getCandidates().stream()
          .sorted((a, b) -> Double.compare(b.getConfidence(), a.getConfidence()))
          .limit(Math.max(1, answer.getCandidates().size() / 2)).toList();
      log.warn("memory: candidates of run {}: {}; keeping {} of {}", f.state().getRunId(), problem, kept.size(),
          answer.getCandidates().size());
      return MemoryCandidates.newBuilder(answer).setCandidates(kept).build();
    }
  }

  @Override
  public void close() {
    loop.close();
  }
}
