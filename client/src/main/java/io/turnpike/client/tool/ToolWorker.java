package io.turnpike.client.tool;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeSpans;
import io.turnpike.worker.Admission;
import io.turnpike.worker.Job;
import io.turnpike.worker.CallWorker;
import io.turnpike.worker.WorkerLoop;
import io.turnpike.worker.WorkerOptions;
import java.time.Duration;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves function tools: consumes {@code turnpike.tool.requests}, runs the handler of each call for a
 * tool it serves on a virtual thread (at most {@code concurrency} at once), and answers a
 * {@link ToolResult} on {@code turnpike.tool.results}.
 *
 * <pre>{@code
 * try (ToolWorker w = ToolWorker.builder("localhost:9092", "http://localhost:8081")
 *         .tool("get_weather", inv -> "{\"temp_c\": 21}")
 *         .concurrency(8)
 *         .build().start()) { ... }
 * }</pre>
 *
 * <p>Each worker group reads the whole request topic and ignores calls for tools it does not serve,
 * so several groups (one per set of tools) can share it. Delivery is at-least-once: offsets are
 * committed only up to records whose answer the broker acknowledged; a crash re-delivers the rest.
 * Within one process, a call id answered recently is answered again with the same output instead of
 * running the handler twice. Calls whose deadline has passed are skipped. Undecodable records are
 * written to {@code turnpike.dead-letters}. All of that is Turnpike's shared worker loop
 * ({@link WorkerLoop}); the worker honours the Kafka settings of the environment
 * ({@code TURNPIKE_KAFKA_SESSION_TIMEOUT} and the rest of {@link Settings#consumerTuning()}) unless
 * {@link Builder#settings} says otherwise.
 */
public final class ToolWorker implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ToolWorker.class);

  /** Tool names the model APIs accept. */
  public static final Pattern TOOL_NAME = Pattern.compile("^[a-zA-Z0-9_-]{1,64}$");

  /** Counters since start, for logs, tests and health checks. */
  public record Stats(long answered, long failed, long duplicates, long expired, long ignored, long deadLettered) {}

  private final TurnpikeSerdes serdes;
  private final Map<String, ToolHandler> handlers;
  private final String groupId;
  private final String workerId;
  private final Map<String, CompletableFuture<ToolResult>> answeredByCallId;
  private final Telemetry telemetry;
  private final Calls calls;
  private final WorkerLoop<ToolCall, ToolResult> loop;

  private final AtomicLong answered = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicLong duplicates = new AtomicLong();
  private final AtomicLong ignored = new AtomicLong();

  private final Object lifecycle = new Object();
  private boolean started;

  private ToolWorker(Builder b) {
    this.serdes = TurnpikeSerdes.forUrl(b.schemaRegistryUrl);
    this.handlers = Collections.unmodifiableMap(new TreeMap<>(b.handlers));
    this.groupId = b.groupId != null ? b.groupId : defaultGroupId(handlers.keySet());
    this.workerId = b.workerId != null ? b.workerId
        : System.getenv().getOrDefault("HOSTNAME", "local") + "/" + ProcessHandle.current().pid();
    this.telemetry = b.telemetry;
    int cacheSize = b.dedupeCacheSize;
    this.answeredByCallId = Collections.synchronizedMap(new LinkedHashMap<>(256, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<ToolResult>> eldest) {
        return size() > cacheSize;
      }
    });
    WorkerOptions options = WorkerOptions.of("tool-worker[" + groupId + "]", b.bootstrap, groupId,
            Topics.TOOL_REQUESTS.name(), Topics.TOOL_RESULTS.name(), "ToolResult")
        .withMaxPollRecords(Math.max(10, b.concurrency * 2))
        .withCloseTimeout(b.shutdownGrace)
        .withConsumer(b.settings.consumerTuning())
        .withProducer(b.settings.producerTuning())
        .withConsumer(b.consumerOverrides)
        .withOnFatal(b.onFatal);
    this.calls = new Calls();
    this.loop = new WorkerLoop<>(options, calls, Admission.concurrent("tool-handler", b.concurrency, this::handle),
        telemetry);
  }

  public static Builder builder(String bootstrapServers, String schemaRegistryUrl) {
    return new Builder(bootstrapServers, schemaRegistryUrl);
  }

  /** Builds and starts a worker for one tool, with the default group and concurrency. */
  public static ToolWorker serve(String bootstrapServers, String schemaRegistryUrl, String name, ToolHandler handler) {
    return builder(bootstrapServers, schemaRegistryUrl).tool(name, handler).build().start();
  }

  /** {@code "turnpike-tools-" + the sorted tool names joined by "+"}. */
  public static String defaultGroupId(Collection<String> toolNames) {
    return "turnpike-tools-" + String.join("+", new TreeSet<>(toolNames));
  }

  public String groupId() {
    return groupId;
  }

  public Set<String> tools() {
    return handlers.keySet();
  }

  public boolean isRunning() {
    return loop.isRunning();
  }

  /** What stopped the worker, if it stopped on its own. */
  public Throwable failure() {
    return loop.failure();
  }

  public Stats stats() {
    return new Stats(answered.get(), failed.get(), duplicates.get(), calls.expiredCount(), ignored.get(),
        loop.stats().deadLettered());
  }

  /** Connects and starts consuming in a background thread; returns at once. */
  public ToolWorker start() {
    synchronized (lifecycle) {
      if (started) {
        return this;
      }
      // Learn the ids of today's schemas now (the registry must be reachable), so that decoding the
      // usual records never waits for it.
      serdes.toolCall().schemaId(Topics.TOOL_REQUESTS.name());
      serdes.toolResult().schemaId(Topics.TOOL_RESULTS.name());
      loop.start();
      started = true;
      LOG.info("tool worker {} serving {}", groupId, handlers.keySet());
      return this;
    }
  }

  /** ToolCall in, ToolResult out; calls for tools this worker does not serve are not its business. */
  private final class Calls extends CallWorker<ToolCall, ToolResult> {
    Calls() {
      super(serdes.toolCall(), serdes.toolResult(), Topics.TOOL_RESULTS.name());
    }

    @Override
    public String skip(ToolCall call) {
      if (!handlers.containsKey(call.getName())) {
        ignored.incrementAndGet();
        return "tool " + call.getName() + " is served by another group";
      }
      return super.skip(call);
    }

    @Override
    public ToolResult replacement(ToolCall call, ToolResult result, String problem) {
      return ToolResult.newBuilder(result)
          .setOutput("the tool " + call.getName() + " answered, but " + problem + "; ask it for less")
          .setIsError(true)
          .build();
    }
  }

  private void handle(Job<ToolCall, ToolResult> job) throws InterruptedException {
    ToolCall call = job.request();
    CompletableFuture<ToolResult> mine = new CompletableFuture<>();
    CompletableFuture<ToolResult> earlier = answeredByCallId.putIfAbsent(call.getCallId(), mine);
    if (earlier != null) {
      duplicates.incrementAndGet();
      LOG.debug("call {} seen before; answering again with the same output", call.getCallId());
      try {
        job.answer(earlier.get());
      } catch (ExecutionException e) {
        job.skip("the earlier run of this call did not finish: " + e.getCause());
      }
      return;
    }
    if (calls.expired(call)) {
      answeredByCallId.remove(call.getCallId(), mine);
      mine.completeExceptionally(new IllegalStateException("expired before it ran"));
      job.skip(calls.expiredReason(call));
      return;
    }
    Span span = telemetry.tracing().childSpan(TurnpikeSpans.TOOL_CALL, job.parent())
        .setAttribute(TurnpikeSpans.TOOL, call.getName())
        .setAttribute(TurnpikeSpans.RUN_ID, call.getRunId())
        .setAttribute(TurnpikeSpans.CALL_ID, call.getCallId())
        .startSpan();
    try {
      ToolResult res = invoke(handlers.get(call.getName()), call, job.traceId());
      String outcome = res.getIsError() ? "error" : "ok";
      (res.getIsError() ? failed : answered).incrementAndGet();
      telemetry.metrics().toolCall(res.getName(), outcome);
      span.setAttribute(TurnpikeSpans.OUTCOME, outcome);
      if (res.getIsError()) {
        span.setStatus(StatusCode.ERROR);
      }
      mine.complete(res);
      job.answer(res, Context.root().with(span));
    } catch (RuntimeException e) {
      answeredByCallId.remove(call.getCallId(), mine);
      mine.completeExceptionally(e);
      throw e;
    } finally {
      span.end();
    }
  }

  private ToolResult invoke(ToolHandler handler, ToolCall c, String traceId) {
    ToolInvocation inv = new ToolInvocation(c.getRunId(), c.getCallId(), c.getToolCallId(), c.getName(),
        c.getArguments(), c.getAgent(), c.getAttempt(), c.getDeadline(), traceId);
    long t0 = System.nanoTime();
    String output;
    boolean isError = false;
    try {
      output = handler.handle(inv);
      if (output == null) {
        output = "";
      }
    } catch (Exception | LinkageError | AssertionError e) {
      isError = true;
      output = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
      LOG.debug("tool {} failed for call {}: {}", c.getName(), c.getCallId(), e.toString());
    }
    return ToolResult.newBuilder()
        .setRunId(c.getRunId())
        .setCallId(c.getCallId())
        .setName(c.getName())
        .setOutput(output)
        .setIsError(isError)
        .setWorker(workerId)
        .setDurationMs(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0))
        .build();
  }

  /** Stops consuming; running handlers get the shutdown grace to finish and answer; finished work is committed. */
  @Override
  public void close() {
    loop.close();
    LOG.debug("tool worker {} closed: {}", groupId, stats());
  }

  /** Configures a {@link ToolWorker}. */
  public static final class Builder {
    private final String bootstrap;
    private final String schemaRegistryUrl;
    private final Map<String, ToolHandler> handlers = new LinkedHashMap<>();
    private int concurrency = 16;
    private String groupId;
    private String workerId;
    private int dedupeCacheSize = 10_000;
    private Duration shutdownGrace = Duration.ofSeconds(10);
    private final Map<String, Object> consumerOverrides = new HashMap<>();
    private Telemetry telemetry = Telemetry.noop("tool-worker");
    private Settings settings = Settings.fromEnvironment();
    private Consumer<Throwable> onFatal = e -> {};

    private Builder(String bootstrap, String schemaRegistryUrl) {
      this.bootstrap = Objects.requireNonNull(bootstrap, "bootstrapServers");
      this.schemaRegistryUrl = Objects.requireNonNull(schemaRegistryUrl, "schemaRegistryUrl");
    }

    /** Serves tool {@code name} with {@code handler}. */
    public Builder tool(String name, ToolHandler handler) {
      Objects.requireNonNull(handler, "handler");
      if (name == null || !TOOL_NAME.matcher(name).matches()) {
        throw new IllegalArgumentException("invalid tool name '" + name + "' (must match " + TOOL_NAME.pattern() + ")");
      }
      if (handlers.putIfAbsent(name, handler) != null) {
        throw new IllegalArgumentException("tool '" + name + "' is already served by this worker");
      }
      return this;
    }

    /** Handlers running at once (default 16). */
    public Builder concurrency(int concurrency) {
      if (concurrency < 1) {
        throw new IllegalArgumentException("concurrency must be at least 1, got " + concurrency);
      }
      this.concurrency = concurrency;
      return this;
    }

    /** Consumer group (default {@code "turnpike-tools-" + sorted tool names joined by "+"}). */
    public Builder groupId(String groupId) {
      this.groupId = groupId;
      return this;
    }

    /** Written into each result's {@code worker} field (default {@code $HOSTNAME/pid}). */
    public Builder workerId(String workerId) {
      this.workerId = workerId;
      return this;
    }

    /** How many recently answered call ids are remembered for answering duplicates (default 10,000). */
    public Builder dedupeCacheSize(int size) {
      if (size < 1) {
        throw new IllegalArgumentException("dedupeCacheSize must be at least 1");
      }
      this.dedupeCacheSize = size;
      return this;
    }

    /** How long {@code close()} lets running handlers finish and answer (default 10s). */
    public Builder shutdownGrace(Duration grace) {
      this.shutdownGrace = Objects.requireNonNull(grace);
      return this;
    }

    /** Where tool-call counts, spans, consumer metrics and readiness go (default: nowhere). The caller closes it. */
    public Builder telemetry(Telemetry telemetry) {
      this.telemetry = Objects.requireNonNull(telemetry, "telemetry");
      return this;
    }

    /**
     * Where the Kafka settings every Turnpike client honours come from ({@code turnpike.kafka.*}: session
     * timeout, static membership, linger). Default: the environment and system properties.
     */
    public Builder settings(Settings settings) {
      this.settings = Objects.requireNonNull(settings, "settings");
      return this;
    }

    /** Called once when the worker's loop stopped on its own; a supervised process exits so it is restarted. */
    public Builder onFatal(Consumer<Throwable> handler) {
      this.onFatal = Objects.requireNonNull(handler, "handler");
      return this;
    }

    /** Any further consumer setting (security, timeouts); wins over {@link #settings}. */
    public Builder consumerProperty(String key, Object value) {
      consumerOverrides.put(key, value);
      return this;
    }

    public ToolWorker build() {
      if (handlers.isEmpty()) {
        throw new IllegalStateException("a tool worker needs at least one tool");
      }
      return new ToolWorker(this);
    }
  }

}
