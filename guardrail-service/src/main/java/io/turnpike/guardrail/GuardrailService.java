package io.turnpike.guardrail;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeSpans;
import io.turnpike.worker.Admission;
import io.turnpike.worker.CallWorker;
import io.turnpike.worker.Job;
import io.turnpike.worker.ServiceProcess;
import io.turnpike.worker.WorkerLoop;
import io.turnpike.worker.WorkerOptions;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The guardrail service: consumes {@link GuardrailCheck}s from {@code turnpike.guardrail.requests},
 * judges each with the {@link GuardrailEngine} on its own virtual thread (at most {@code concurrency}
 * at once), and answers one {@link GuardrailVerdict} on {@code turnpike.guardrail.results}. Consuming,
 * backpressure, commits after the answer, dead letters, rebalances and shutdown are the shared
 * {@link WorkerLoop}'s.
 *
 * <ul>
 *   <li>A check whose deadline has passed is skipped (the orchestrator has timed it out and resends it).
 *   <li>An engine that throws still answers: TRIP, "the guardrail service failed" (fail closed).
 *   <li>A verdict too large to publish (it repeats the checked content) is replaced by a TRIP without
 *       the content.
 * </ul>
 * Verdicts and logs never carry the content of a blocked check; logs carry ids, outcome and reason.
 */
public final class GuardrailService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GuardrailService.class);

  static final String RESULT_TYPE = "GuardrailVerdict";

  private final GuardrailConfig config;
  private final TurnpikeSerdes serdes;
  private final GuardrailEngine engine;
  private final boolean ownsEngine;
  private final Telemetry telemetry;
  private final WorkerLoop<GuardrailCheck, GuardrailVerdict> loop;
  private final Checks checks;

  /**
   * @param engine the engine to judge with; closed with the service when {@code ownsEngine}
   */
  public GuardrailService(GuardrailConfig config, GuardrailEngine engine, boolean ownsEngine,
      Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides) {
    this(config, engine, ownsEngine, consumerOverrides, producerOverrides, Telemetry.noop("guardrail-service"));
  }

  /** As above, with verdict counts, a span per check, consumer metrics and health on {@code telemetry} (the caller closes it). */
  public GuardrailService(GuardrailConfig config, GuardrailEngine engine, boolean ownsEngine,
      Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides, Telemetry telemetry) {
    this(config, engine, ownsEngine, consumerOverrides, producerOverrides, telemetry, e -> {});
  }

  /** As above; {@code onFatal} is told when the loop stopped on its own (a supervised process exits). */
  public GuardrailService(GuardrailConfig config, GuardrailEngine engine, boolean ownsEngine,
      Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides, Telemetry telemetry,
      Consumer<Throwable> onFatal) {
    this.config = config;
    this.telemetry = telemetry;
    this.serdes = TurnpikeSerdes.forUrl(config.schemaRegistryUrl());
    this.engine = engine;
    this.ownsEngine = ownsEngine;
    WorkerOptions options = WorkerOptions.of("guardrail-service", config.bootstrapServers(), config.groupId(),
            Topics.GUARDRAIL_REQUESTS.name(), Topics.GUARDRAIL_RESULTS.name(), RESULT_TYPE)
        .withMaxPollRecords(Math.max(config.concurrency(), 50))
        .withCloseTimeout(config.closeTimeout())
        // A verdict repeats the checked content (ALLOW/REDACT): allow as much as a results topic may take.
        .withProducer(Map.of(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 8 * 1024 * 1024))
        .withConsumer(consumerOverrides)
        .withProducer(producerOverrides)
        .withOnFatal(onFatal);
    this.checks = new Checks();
    this.loop = new WorkerLoop<>(options, checks,
        Admission.concurrent("guardrail-check", config.concurrency(), this::process), telemetry);
  }

  /** A service with its own engine (custom guardrails found with ServiceLoader), not yet started. */
  public static GuardrailService create(GuardrailConfig config) {
    return new GuardrailService(config, GuardrailEngine.create(config), true, Map.of(), Map.of());
  }

  /**
   * Starts the service configured from {@code settings} ({@code turnpike.guardrail.*}, see
   * {@link GuardrailConfig}). Needs no model: model guardrails connect on first use.
   */
  public static GuardrailService start(Settings settings) {
    return start(settings, Telemetry.noop("guardrail-service"));
  }

  public static GuardrailService start(Settings settings, Telemetry telemetry) {
    return start(settings, telemetry, e -> {});
  }

  public static GuardrailService start(Settings settings, Telemetry telemetry, Consumer<Throwable> onFatal) {
    GuardrailConfig config = GuardrailConfig.from(settings);
    GuardrailEngine engine = GuardrailEngine.create(config);
    try {
      return new GuardrailService(config, engine, true, settings.consumerTuning(), settings.producerTuning(), telemetry,
          onFatal).start();
    } catch (RuntimeException e) {
      engine.close();
      throw e;
    }
  }

  /** Runs the service as a supervised process (see {@code ServiceProcess}), configured from the environment. */
  public static void main(String[] args) {
    ServiceProcess.run("guardrail-service", List.of(Topics.GUARDRAIL_REQUESTS.name(), Topics.GUARDRAIL_RESULTS.name()),
        GuardrailConfig::from, ctx -> start(ctx.settings(), ctx.telemetry(), ctx.onFatal()));
  }

  /** Subscribes and starts the poll loop on its own thread. */
  public GuardrailService start() {
    // Learn the ids of today's schemas now (the registry must be reachable), so that decoding the usual
    // records never waits for it.
    try {
      serdes.guardrailCheck().schemaId(Topics.GUARDRAIL_REQUESTS.name());
      serdes.guardrailVerdict().schemaId(Topics.GUARDRAIL_RESULTS.name());
    } catch (RuntimeException e) {
      close(); // a caller that retries (a service process waiting out a registry outage) makes a new one
      throw e;
    }
    loop.start();
    log.info("guardrail service started: group {}, concurrency {}, guardrail types {}, model {}", config.groupId(),
        config.concurrency(), engine.types(), config.model());
    return this;
  }

  public GuardrailEngine engine() {
    return engine;
  }

  public boolean isRunning() {
    return loop.isRunning();
  }

  public Throwable failure() {
    return loop.failure();
  }

  public long answered() {
    return loop.stats().answered();
  }

  public long deadLettered() {
    return loop.stats().deadLettered();
  }

  public long expired() {
    return checks.expiredCount();
  }

  public long assignments() {
    return loop.stats().assignments();
  }

  public int inFlight() {
    return loop.stats().inFlight();
  }

  /** GuardrailCheck in, GuardrailVerdict out. */
  private final class Checks extends CallWorker<GuardrailCheck, GuardrailVerdict> {
    Checks() {
      super(serdes.guardrailCheck(), serdes.guardrailVerdict(), Topics.GUARDRAIL_RESULTS.name());
    }

    /** The verdict repeats (or grows) the content; one that cannot be published trips without it. */
    @Override
    public GuardrailVerdict replacement(GuardrailCheck check, GuardrailVerdict verdict, String problem) {
      log.warn("verdict of check {} of run {} cannot be published ({}); answering TRIP", check.getCallId(),
          check.getRunId(), problem);
      return GuardrailVerdict.newBuilder(verdict).setOutcome(GuardrailOutcome.TRIP)
          .setGuardrail(GuardrailEngine.SERVICE)
          .setReason("the verdict cannot be published with the content: " + problem)
          .setContent(null)
          .setFindings(verdict.getFindings().subList(0, Math.min(50, verdict.getFindings().size())))
          .build();
    }
  }

  private void process(Job<GuardrailCheck, GuardrailVerdict> job) throws InterruptedException {
    GuardrailCheck check = job.request();
    Span span = telemetry.tracing().consumerSpan(TurnpikeSpans.GUARDRAIL_CHECK, job.headers())
        .setAttribute(TurnpikeSpans.RUN_ID, check.getRunId())
        .setAttribute(TurnpikeSpans.CALL_ID, check.getCallId())
        .setAttribute(TurnpikeSpans.GUARDRAIL_STAGE, String.valueOf(check.getStage()))
        .startSpan();
    try {
      if (checks.expired(check)) {
        job.skip(checks.expiredReason(check));
        return;
      }
      GuardrailVerdict verdict;
      try {
        verdict = engine.evaluate(check); // interrupted while closing: judged again after a restart
      } catch (RuntimeException e) {
        // The engine should not throw; answer anyway (fail closed) so the run is not left waiting.
        log.error("guardrail check {} of run {} failed unexpectedly", check.getCallId(), check.getRunId(), e);
        verdict = GuardrailVerdict.newBuilder().setRunId(check.getRunId()).setCallId(check.getCallId())
            .setStage(check.getStage()).setOutcome(GuardrailOutcome.TRIP).setGuardrail(GuardrailEngine.SERVICE)
            .setReason("the guardrail service failed: " + e.getClass().getSimpleName()).setContent(null)
            .setFindings(List.of()).build();
      }
      recordVerdict(span, check, verdict);
      if (verdict.getOutcome() != GuardrailOutcome.ALLOW) {
        log.info("check {} of run {} ({}): {} by '{}': {}", check.getCallId(), check.getRunId(), check.getStage(),
            verdict.getOutcome(), verdict.getGuardrail(), verdict.getReason());
      }
      job.answer(verdict, Context.root().with(span));
    } catch (RuntimeException e) {
      KafkaTracing.fail(span, e);
      throw e;
    } finally {
      span.end();
    }
  }

  /**
   * One count per guardrail of the check, with that guardrail's own outcome (its most severe
   * finding, ALLOW without one), so a guardrail that never fires still shows how often it judged.
   */
  private void recordVerdict(Span span, GuardrailCheck check, GuardrailVerdict verdict) {
    Map<String, GuardrailOutcome> outcomes = new java.util.LinkedHashMap<>();
    for (var spec : check.getGuardrails()) {
      outcomes.put(spec.getName(), GuardrailOutcome.ALLOW);
    }
    for (var finding : verdict.getFindings()) {
      outcomes.merge(finding.getGuardrail(), finding.getOutcome(), (a, b) -> a.ordinal() >= b.ordinal() ? a : b);
    }
    if (verdict.getGuardrail() != null && verdict.getOutcome() != GuardrailOutcome.ALLOW) {
      outcomes.merge(verdict.getGuardrail(), verdict.getOutcome(), (a, b) -> a.ordinal() >= b.ordinal() ? a : b);
    }
    outcomes.forEach((name, outcome) -> telemetry.metrics().guardrailVerdict(name, outcome.name()));
    span.setAttribute(TurnpikeSpans.VERDICT, verdict.getOutcome().name());
    if (verdict.getGuardrail() != null) {
      span.setAttribute(TurnpikeSpans.GUARDRAIL, verdict.getGuardrail());
    }
    if (GuardrailEngine.SERVICE.equals(verdict.getGuardrail())) {
      span.setStatus(StatusCode.ERROR, String.valueOf(verdict.getReason()));
    }
  }

  /** Stops polling, waits for checks in flight (up to closeTimeout), commits and closes. */
  @Override
  public void close() {
    try {
      loop.close();
    } finally {
      if (ownsEngine) {
        try {
          engine.close();
        } catch (RuntimeException e) {
          log.warn("cannot close the engine: {}", e.toString());
        }
      }
    }
  }
}
