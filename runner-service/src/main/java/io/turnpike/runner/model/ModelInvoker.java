package io.turnpike.runner.model;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeSpans;
import io.turnpike.worker.Admission;
import io.turnpike.worker.CallWorker;
import io.turnpike.worker.Job;
import io.turnpike.worker.WorkerLoop;
import io.turnpike.worker.WorkerOptions;
import java.time.Duration;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model worker of the runner: consumes {@link ModelCall}s from {@code turnpike.model.requests},
 * calls the model through a {@link ModelClient} on one virtual thread per call (at most
 * {@code concurrency} at once), and answers a {@link ModelResult} on {@code turnpike.model.results}.
 * Consuming, backpressure, commits after the answer, dead letters, rebalances and shutdown are the
 * {@link WorkerLoop}'s; this class only decodes, calls the model and encodes.
 *
 * <ul>
 *   <li>A call whose deadline has passed is skipped (the orchestrator has timed it out and resends it).
 *   <li>A client that throws still answers: with a failed result the run's retry policy then handles.
 *   <li>An answer too large for the results topic is replaced by a failed result that says so.
 * </ul>
 */
public final class ModelInvoker implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ModelInvoker.class);

  static final String RESULT_TYPE = "ModelResult";

  private final ModelInvokerConfig config;
  private final TurnpikeSerdes serdes;
  private final ModelClient client;
  private final Telemetry telemetry;
  private final WorkerLoop<ModelCall, ModelResult> loop;
  private final Calls calls;
  private final StreamPublisher streams;

  public ModelInvoker(ModelInvokerConfig config, ModelClient client) {
    this(config, client, Map.of(), Map.of());
  }

  /**
   * @param consumerOverrides extra or replacing Kafka consumer properties (security settings, say)
   * @param producerOverrides extra or replacing Kafka producer properties
   */
  public ModelInvoker(ModelInvokerConfig config, ModelClient client, Map<String, ?> consumerOverrides,
      Map<String, ?> producerOverrides) {
    this(config, client, consumerOverrides, producerOverrides, Telemetry.noop("model-invoker"));
  }

  /** As above, with model latency, tokens, a span per call, Kafka client metrics and health on {@code telemetry}. */
  public ModelInvoker(ModelInvokerConfig config, ModelClient client, Map<String, ?> consumerOverrides,
      Map<String, ?> producerOverrides, Telemetry telemetry) {
    this(config, client, consumerOverrides, producerOverrides, telemetry, e -> {});
  }

  /** As above; {@code onFatal} is told when the loop stopped on its own (a supervised process exits). */
  public ModelInvoker(ModelInvokerConfig config, ModelClient client, Map<String, ?> consumerOverrides,
      Map<String, ?> producerOverrides, Telemetry telemetry, Consumer<Throwable> onFatal) {
    this.config = config;
    this.client = client;
    this.telemetry = telemetry;
    this.serdes = TurnpikeSerdes.forUrl(config.schemaRegistryUrl());
    WorkerOptions options = WorkerOptions.of("model-invoker", config.bootstrapServers(), config.groupId(),
            Topics.MODEL_REQUESTS.name(), Topics.MODEL_RESULTS.name(), RESULT_TYPE)
        .withMaxPollRecords(Math.max(config.concurrency(), 50))
        .withCloseTimeout(config.closeTimeout())
        // With early start (opt-in), a call starts before the orchestrator's transaction commits: a model call
        // changes nothing outside the run, and the run takes only the answer to the send it committed (sentSeq).
        .withConsumer(Map.of("isolation.level", config.earlyStart() ? "read_uncommitted" : "read_committed"))
        .withConsumer(consumerOverrides)
        .withProducer(producerOverrides)
        .withOnFatal(onFatal);
    this.calls = new Calls();
    this.streams = new StreamPublisher(config.bootstrapServers(), serdes, producerOverrides, config.streamInterval());
    this.loop = new WorkerLoop<>(options, calls, Admission.concurrent("model-call", config.concurrency(), this::process),
        telemetry);
  }

  /** An invoker with an {@link OpenAiModelClient} built from the same configuration. */
  public static ModelInvoker create(ModelInvokerConfig config) {
    return new ModelInvoker(config, new OpenAiModelClient(config));
  }

  public static ModelInvoker create(Settings settings) {
    return create(settings, Telemetry.noop("model-invoker"));
  }

  public static ModelInvoker create(Settings settings, Telemetry telemetry) {
    return create(settings, telemetry, e -> {});
  }

  public static ModelInvoker create(Settings settings, Telemetry telemetry, Consumer<Throwable> onFatal) {
    ModelInvokerConfig config = ModelInvokerConfig.from(settings);
    return new ModelInvoker(config, new OpenAiModelClient(config), settings.consumerTuning(), settings.producerTuning(),
        telemetry, onFatal);
  }

  /** Subscribes and starts the poll loop on its own thread. */
  public ModelInvoker start() {
    // Learn the ids of today's schemas now (the registry must be reachable), so that decoding the usual
    // records never waits for it.
    try {
      serdes.modelCall().schemaId(Topics.MODEL_REQUESTS.name());
      serdes.modelResult().schemaId(Topics.MODEL_RESULTS.name());
    } catch (RuntimeException e) {
      close(); // a caller that retries (a service process waiting out a registry outage) makes a new one
      throw e;
    }
    loop.start();
    log.info("model invoker started: {}", config);
    return this;
  }

  public boolean isRunning() {
    return loop.isRunning();
  }

  /** What stopped the loop, if it stopped on its own. */
  public Throwable failure() {
    return loop.failure();
  }

  /** Results produced so far. */
  public long answered() {
    return loop.stats().answered();
  }

  public long deadLettered() {
    return loop.stats().deadLettered();
  }

  /** Calls skipped because their deadline had passed. */
  public long expired() {
    return calls.expiredCount();
  }

  /** How many times partitions were assigned to this invoker (1 when it never lost its group). */
  public long assignments() {
    return loop.stats().assignments();
  }

  /** Calls in flight (model call or result send under way). */
  public int inFlight() {
    return loop.stats().inFlight();
  }

  /** ModelCall in, ModelResult out. */
  private final class Calls extends CallWorker<ModelCall, ModelResult> {
    Calls() {
      super(serdes.modelCall(), serdes.modelResult(), Topics.MODEL_RESULTS.name());
    }

    @Override
    public ModelResult replacement(ModelCall call, ModelResult result, String problem) {
      return OpenAiModelClient.failed(call, ErrorInfo.newBuilder().setCode(ModelErrors.ERROR)
          .setMessage("the model answered, but " + problem).setRetryable(false).build());
    }
  }

  private void process(Job<ModelCall, ModelResult> job) {
    ModelCall call = job.request();
    Span span = telemetry.tracing().consumerSpan(TurnpikeSpans.MODEL_CALL, job.headers())
        .setAttribute(TurnpikeSpans.RUN_ID, call.getRunId())
        .setAttribute(TurnpikeSpans.CALL_ID, call.getCallId())
        .setAttribute(TurnpikeSpans.AGENT, call.getAgent())
        .setAttribute(TurnpikeSpans.GEN_AI_REQUEST_MODEL, call.getModel())
        .startSpan();
    try {
      if (calls.expired(call)) {
        span.setAttribute(TurnpikeSpans.OUTCOME, "expired");
        job.skip(calls.expiredReason(call));
        return;
      }
      ModelResult result;
      long started = System.nanoTime();
      try {
        result = streamed(call) ? invokeStreaming(job) : client.invoke(call);
      } catch (RuntimeException e) {
        // A ModelClient should not throw; answer anyway so the run is not left waiting.
        result = OpenAiModelClient.failed(call, ModelErrors.fromException(e, ModelErrors.Redactor.NONE));
      }
      result = checkOutputType(call, result);
      record(span, call, result, Duration.ofNanos(System.nanoTime() - started));
      result.setRunId(call.getRunId());
      result.setCallId(call.getCallId());
      result.setSentSeq(call.getSentSeq());
      job.answer(result, Context.root().with(span));
    } catch (RuntimeException e) {
      KafkaTracing.fail(span, e);
      throw e;
    } finally {
      span.end();
    }
  }

  /** The run or the agent asked for the answer to be streamed (an older orchestrator sets only the agent's setting). */
  static boolean streamed(ModelCall call) {
    return call.getStream() || (call.getSettings() != null && call.getSettings().getStream());
  }

  /**
   * Streams the call's deltas to turnpike.model.stream while the model answers, on this job's virtual
   * thread. The result is answered only after the stream is closed (its last deltas written), so a
   * follower sees the text before the step that records it. A crash mid-stream leaves deltas but no
   * result: the call is taken again, as any unanswered call is, and streams anew under another streamId.
   */
  private ModelResult invokeStreaming(Job<ModelCall, ModelResult> job) {
    try (StreamPublisher.Stream stream = streams.open(job.request(), job.traceId())) {
      return client.invoke(job.request(), stream);
    }
  }

  /** Deltas written to turnpike.model.stream, and deltas dropped (the topic could not be written). */
  public long streamDeltasPublished() {
    return streams.published();
  }

  public long streamDeltasDropped() {
    return streams.dropped();
  }

  /** Whatever the client, a final answer the run takes follows the agent's outputType. */
  private static ModelResult checkOutputType(ModelCall call, ModelResult result) {
    try {
      ModelResult checked = OutputTypes.checked(call, result);
      if (checked != result) {
        log.warn("model call {} of run {} (agent {}, attempt {}): {}", call.getCallId(), call.getRunId(), call.getAgent(),
            call.getAttempt(), checked.getError().getMessage());
      }
      return checked;
    } catch (MappingSupport.InvalidCallException e) {
      return ModelResult.newBuilder(result).setOutput(java.util.List.of()).setError(ModelErrors.error(ModelErrors.INVALID_CALL,
          e.getMessage(), false, ModelErrors.Redactor.NONE)).build();
    }
  }

  private void record(Span span, ModelCall call, ModelResult result, Duration latency) {
    long in = result.getUsage() == null ? 0 : result.getUsage().getInputTokens();
    long out = result.getUsage() == null ? 0 : result.getUsage().getOutputTokens();
    boolean ok = result.getError() == null;
    telemetry.metrics().modelCall(call.getModel(), latency, ok, in, out);
    span.setAttribute(TurnpikeSpans.GEN_AI_INPUT_TOKENS, in);
    span.setAttribute(TurnpikeSpans.GEN_AI_OUTPUT_TOKENS, out);
    if (!ok) {
      span.setAttribute(TurnpikeSpans.ERROR_TYPE, String.valueOf(result.getError().getCode()));
      span.setStatus(StatusCode.ERROR, String.valueOf(result.getError().getMessage()));
    }
  }

  /** Stops polling, waits for calls in flight (up to closeTimeout), commits and closes. */
  @Override
  public void close() {
    try {
      loop.close();
    } finally {
      streams.close();
      try {
        client.close();
      } catch (Exception e) {
        log.warn("cannot close the model client: {}", e.toString());
      }
    }
  }
}
