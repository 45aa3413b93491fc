package io.turnpike.mcp;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.McpToolInfo;
import io.turnpike.avro.McpToolList;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.schema.McpSerdes;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.worker.Admission;
import io.turnpike.worker.CallWorker;
import io.turnpike.worker.Job;
import io.turnpike.worker.ServiceProcess;
import io.turnpike.worker.WorkerLoop;
import io.turnpike.worker.WorkerOptions;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MCP gateway (issue #14): keeps the operator's MCP servers ({@link McpServer}) alive, publishes each
 * one's tool list to {@code turnpike.mcp.tools} (the runner expands agents' {@code kind: mcp} entries from
 * it), and serves the calls of those tools from {@code turnpike.tool.requests} with Turnpike's shared
 * {@link WorkerLoop}: a call named {@code <server>__...} of a configured server is this gateway's; any other
 * is another tool worker's and is left alone. An unknown tool of a known server, arguments that are not a
 * JSON object, a protocol error, a timeout and a server that crashed are all tool errors the model sees.
 */
public final class ToolGateway implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ToolGateway.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final McpGatewayConfig config;
  private final TurnpikeSerdes serdes;
  private final McpSerdes mcpSerdes;
  private final Map<String, McpServer> servers = new LinkedHashMap<>();
  private final KafkaProducer<String, byte[]> catalog;
  private final WorkerLoop<ToolCall, ToolResult> loop;
  private final String workerId;
  /**
   * Recently answered calls by call id: a call the runner sends again (its answer was late or lost) gets
   * the same answer instead of a second MCP call with the same side effects, as {@code ToolWorker} does.
   */
  private final Map<String, CompletableFuture<ToolResult>> answered = Collections.synchronizedMap(
      new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<ToolResult>> eldest) {
          return size() > 10_000;
        }
      });

  public ToolGateway(McpGatewayConfig config, Map<String, ?> consumerOverrides, Map<String, ?> producerOverrides,
      Telemetry telemetry, Consumer<Throwable> onFatal, Function<String, String> env) {
    this.config = config;
    this.serdes = TurnpikeSerdes.forUrl(config.schemaRegistryUrl());
    this.mcpSerdes = McpSerdes.forUrl(config.schemaRegistryUrl());
    this.workerId = "mcp-gateway/" + ProcessHandle.current().pid();
    Map<String, Object> p = new LinkedHashMap<>();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.CLIENT_ID_CONFIG, config.groupId() + "-catalog");
    p.putAll(producerOverrides);
    this.catalog = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    for (McpServerSpec spec : config.servers()) {
      servers.put(spec.name(), new McpServer(spec, config, env, this::publish));
    }
    WorkerOptions options = WorkerOptions.of("mcp-gateway", config.bootstrapServers(), config.groupId(),
            Topics.TOOL_REQUESTS.name(), Topics.TOOL_RESULTS.name(), "ToolResult")
        .withMaxPollRecords(Math.max(10, config.concurrency() * 2))
        .withConsumer(consumerOverrides)
        .withProducer(producerOverrides)
        .withOnFatal(onFatal);
    this.loop = new WorkerLoop<>(options, new Calls(), Admission.concurrent("mcp-call", config.concurrency(), this::handle),
        telemetry);
  }

  /** Starts the gateway configured from {@code settings} ({@code turnpike.mcp.*}, see {@link McpGatewayConfig}). */
  public static ToolGateway start(Settings settings, Telemetry telemetry, Consumer<Throwable> onFatal) {
    return new ToolGateway(McpGatewayConfig.from(settings), settings.consumerTuning(), settings.producerTuning(), telemetry,
        onFatal, System::getenv).start();
  }

  public static ToolGateway start(Settings settings) {
    return start(settings, Telemetry.noop("mcp-gateway"), e -> {});
  }

  /** Runs the gateway as a supervised process (see {@code ServiceProcess}), configured from the environment. */
  public static void main(String[] args) {
    ServiceProcess.run("mcp-gateway", List.of(Topics.TOOL_REQUESTS.name(), Topics.TOOL_RESULTS.name(), Topics.MCP_TOOLS.name()),
        McpGatewayConfig::from, ctx -> start(ctx.settings(), ctx.telemetry(), ctx.onFatal()));
  }

  /** Starts every server's supervisor and the call loop; returns at once (servers come up in the background). */
  public ToolGateway start() {
    serdes.toolCall().schemaId(Topics.TOOL_REQUESTS.name());
    serdes.toolResult().schemaId(Topics.TOOL_RESULTS.name());
    mcpSerdes.toolList().schemaId(Topics.MCP_TOOLS.name());
    servers.values().forEach(McpServer::start);
    loop.start();
    LOG.info("MCP gateway serving servers {}", servers.keySet());
    return this;
  }

  /** The servers by name (for health checks and tests). */
  public Map<String, Boolean> serversUp() {
    return servers.values().stream().collect(Collectors.toMap(McpServer::name, McpServer::isUp, (a, b) -> a, LinkedHashMap::new));
  }

  /** A stdio server's running process (tests kill it to see a crash handled), if it runs. */
  public Optional<ProcessHandle> process(String server) {
    McpServer s = servers.get(server);
    return s == null ? Optional.empty() : Optional.ofNullable(s.process());
  }

  /** How often {@code server} was restarted since the gateway started. */
  public long restarts(String server) {
    McpServer s = servers.get(server);
    return s == null ? 0 : s.restarts();
  }

  /** Calls being served now. */
  public int callsInFlight() {
    return loop.stats().inFlight();
  }

  public boolean isRunning() {
    return loop.isRunning();
  }

  private void publish(McpToolList list) {
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(Topics.MCP_TOOLS.name(), list.getServer(),
        mcpSerdes.toolList().encode(list));
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.TYPE, "McpToolList");
    catalog.send(rec, (md, e) -> {
      if (e != null) {
        LOG.error("cannot publish the tool list of MCP server {}: {}", list.getServer(), e.toString());
      }
    });
  }

  /** ToolCall in, ToolResult out; calls of tools that are not a configured server's are another worker's. */
  private final class Calls extends CallWorker<ToolCall, ToolResult> {
    Calls() {
      super(serdes.toolCall(), serdes.toolResult(), Topics.TOOL_RESULTS.name());
    }

    @Override
    public String skip(ToolCall call) {
      if (server(call.getName()) == null) {
        return "tool " + call.getName() + " is not an MCP gateway tool";
      }
      return super.skip(call);
    }

    @Override
    public ToolResult replacement(ToolCall call, ToolResult result, String problem) {
      return ToolResult.newBuilder(result)
          .setOutput("the MCP tool " + call.getName() + " answered, but " + problem + "; ask it for less")
          .setIsError(true)
          .setImages(List.of())
          .build();
    }
  }

  private McpServer server(String modelName) {
    for (McpServer s : servers.values()) {
      if (McpToolNames.belongsTo(modelName, s.name())) {
        return s;
      }
    }
    return null;
  }

  private void handle(Job<ToolCall, ToolResult> job) throws InterruptedException {
    ToolCall call = job.request();
    CompletableFuture<ToolResult> mine = new CompletableFuture<>();
    CompletableFuture<ToolResult> earlier = answered.putIfAbsent(call.getCallId(), mine);
    if (earlier != null) {
      try {
        job.answer(earlier.get());
      } catch (ExecutionException e) {
        job.skip("the earlier run of this call did not finish: " + e.getCause());
      }
      return;
    }
    try {
      ToolResult result = answer(call);
      mine.complete(result);
      job.answer(result);
    } catch (RuntimeException e) {
      answered.remove(call.getCallId(), mine);
      mine.completeExceptionally(e);
      throw e;
    }
  }

  private ToolResult answer(ToolCall call) {
    long t0 = System.nanoTime();
    McpServer.Outcome outcome = call(call);
    return ToolResult.newBuilder()
        .setRunId(call.getRunId())
        .setCallId(call.getCallId())
        .setName(call.getName())
        .setOutput(outcome.output())
        .setIsError(outcome.isError())
        .setImages(outcome.images())
        .setWorker(workerId)
        .setDurationMs(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0))
        .build();
  }

  private McpServer.Outcome call(ToolCall call) {
    McpServer server = server(call.getName());
    McpToolInfo tool = server.tools().getTools().stream().filter(t -> t.getModelName().equals(call.getName())).findFirst()
        .orElse(null);
    if (tool == null) {
      String known = server.tools().getTools().stream().map(McpToolInfo::getModelName).collect(Collectors.joining(", "));
      return new McpServer.Outcome("MCP server '" + server.name() + "' has no tool " + call.getName() + " (its tools: "
          + (known.isEmpty() ? "none listed" : known) + ")", true);
    }
    Map<String, Object> args;
    try {
      args = call.getArguments() == null || call.getArguments().isBlank() ? Map.of()
          : JSON.readValue(call.getArguments(), new TypeReference<Map<String, Object>>() {});
    } catch (Exception e) {
      return new McpServer.Outcome("the arguments of " + call.getName() + " are not a JSON object: " + e.getMessage(), true);
    }
    Duration timeout = config.callTimeout();
    if (call.getDeadline() != null) {
      Duration left = Duration.between(Instant.now(), call.getDeadline());
      timeout = left.compareTo(timeout) < 0 ? (left.isNegative() ? Duration.ofMillis(1) : left) : timeout;
    }
    return server.call(tool.getName(), args, timeout);
  }

  @Override
  public void close() {
    loop.close();
    servers.values().forEach(McpServer::close);
    catalog.close(Duration.ofSeconds(5));
  }
}
