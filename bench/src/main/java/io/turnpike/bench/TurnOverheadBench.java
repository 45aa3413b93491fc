package io.turnpike.bench;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.runner.RunnerService;
import io.turnpike.runner.model.ModelInvokerConfig;
import io.turnpike.runner.model.OpenAiModelClient;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Platform overhead per turn. One turn = one model call that asks for a tool, the tool call, and
 * the way back. The scripted model answers instantly; the tool echoes. The same loop runs twice in
 * one JVM against the same scripted HTTP server:
 *
 * <ul>
 *   <li>through Turnpike on the embedded broker (orchestrator with exactly_once_v2, model invoker,
 *       tool worker: four Kafka hops and two transactions per turn);
 *   <li>in-process, without Kafka: the same openai-java client and mapping, the tool called directly.
 * </ul>
 *
 * A turn's latency is the time between two consecutive model requests of one run, taken by the
 * scripted server when each request arrives, so both loops are timed by the same clock at the
 * same point. Overhead = Kafka turn - in-process turn.
 *
 * <p>Both loops are warmed up until their median per round settles ({@link #settle}). In the same run,
 * the floor Kafka itself puts under a turn is measured with the plain clients ({@link KafkaFloorBench}).
 *
 * <p>Usage: {@code TurnOverheadBench [seqRuns=100] [turnsPerRun=11] [concurrentRuns=200,1000] [commitIntervalsMs=0] [pollMs=5] [guardrails]};
 * {@code -Dbench.early-start=true} lets the invoker start model calls before the orchestrator's commit;
 * {@code -Dbench.threads=N} sets the orchestrator's stream threads (default 4, the product's default);
 * {@code -Dbench.local-guardrails=false} sends every guardrail check to the guardrail service.
 */
public final class TurnOverheadBench {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://bench");
  private static final String AGENT = "bench";
  private static final String GUARDED = "bench-guarded";
  private static volatile String submitAs = AGENT;

  /** Arrival times (nanoTime) of model requests, per run input, indexed by turn. */
  private static final Map<String, long[]> ARRIVALS = new ConcurrentHashMap<>();
  private static volatile int turnsPerRun;

  private TurnOverheadBench() {}

  public static void main(String[] args) throws Exception {
    int seqRuns = args.length > 0 ? Integer.parseInt(args[0]) : 100;
    turnsPerRun = args.length > 1 ? Integer.parseInt(args[1]) : 11;
    int[] concurrent = args.length > 2
        ? Arrays.stream(args[2].split(",")).mapToInt(Integer::parseInt).toArray() : new int[] {200, 1000};
    int[] commitIntervals = args.length > 3
        ? Arrays.stream(args[3].split(",")).mapToInt(Integer::parseInt).toArray() : new int[] {0};
    long pollMs = args.length > 4 ? Long.parseLong(args[4]) : 5;
    boolean guarded = args.length > 5 && args[5].equals("guardrails");
    System.out.printf("TurnOverheadBench: %d sequential runs x %d model calls (%d timed turns), concurrent runs %s; %s; %d cores%n",
        seqRuns, turnsPerRun, seqRuns * (turnsPerRun - 1), Arrays.toString(concurrent), Runtime.version(),
        Runtime.getRuntime().availableProcessors());

    try (EmbeddedKafka kafka = EmbeddedKafka.start();
         ScriptedModelServer model = ScriptedModelServer.start(TurnOverheadBench::reply).recordLimit(0)) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        TopicAdmin.ensureTopics(admin, 6, (short) 1);
        // The orchestrator stamps what it writes with the time it started the step; the broker's append time
        // says when a call was actually written, so the hops split into the orchestrator's part and the rest.
        List<org.apache.kafka.common.config.ConfigResource> requests = List.of(
            new org.apache.kafka.common.config.ConfigResource(org.apache.kafka.common.config.ConfigResource.Type.TOPIC, Topics.MODEL_REQUESTS.name()),
            new org.apache.kafka.common.config.ConfigResource(org.apache.kafka.common.config.ConfigResource.Type.TOPIC, Topics.TOOL_REQUESTS.name()));
        Map<org.apache.kafka.common.config.ConfigResource, java.util.Collection<org.apache.kafka.clients.admin.AlterConfigOp>> ops = new HashMap<>();
        requests.forEach(r -> ops.put(r, List.of(new org.apache.kafka.clients.admin.AlterConfigOp(
            new org.apache.kafka.clients.admin.ConfigEntry("message.timestamp.type", "LogAppendTime"),
            org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET))));
        admin.incrementalAlterConfigs(ops).all().get();
      }
      publishAgent(kafka.bootstrapServers());

      // The loop without Kafka: warmed up until its median settles, then measured.
      int warm = settle("in-process", prefix -> inProcess(model, 10, prefix));
      Stats local = inProcess(model, seqRuns, "local");
      System.out.println(local.line("in-process (no Kafka)") + "  [" + warm + " warm-up rounds]");

      // What Kafka itself costs: a Turnpike turn is two request/answer cycles, one of them through a transaction.
      kafka.createTopic("floor.req", 1);
      kafka.createTopic("floor.res", 1);
      KafkaFloorBench.pingPong(kafka.bootstrapServers(), "floor.req", "floor.res", true, 500);
      double[] txn = KafkaFloorBench.pingPong(kafka.bootstrapServers(), "floor.req", "floor.res", true, 2000);
      double[] plain = KafkaFloorBench.pingPong(kafka.bootstrapServers(), "floor.req", "floor.res", false, 2000);
      System.out.println("Kafka floor, plain clients: " + KafkaFloorBench.line("transactional cycle", txn).trim());
      System.out.println("                            " + KafkaFloorBench.line("idempotent cycle", plain).trim());
      System.out.printf("  a turn's floor: one transactional + one plain cycle p50 %.2f ms; two transactional cycles p50 %.2f ms%n",
          KafkaFloorBench.pct(txn, 0.5) + KafkaFloorBench.pct(plain, 0.5), 2 * KafkaFloorBench.pct(txn, 0.5));

      try (ToolWorker worker = ToolWorker.builder(kafka.bootstrapServers(), "mock://bench").tool("echo", inv -> inv.argumentsJson()).build().start();
           ResultWatcher results = new ResultWatcher(kafka.bootstrapServers());
           KafkaProducer<String, byte[]> producer = producer(kafka.bootstrapServers())) {
        for (int ci : commitIntervals) {
          Map<String, String> runnerSettings = new HashMap<>(Map.of(
              "turnpike.schema.registry.url", "mock://bench", "turnpike.bootstrap.servers", kafka.bootstrapServers(),
              "turnpike.model.base-url", model.baseUrl(),
              "turnpike.model.api-key", "bench",
              "turnpike.model.early-start", System.getProperty("bench.early-start", "false"),
              "turnpike.runner.application-id", "bench-runner-" + ci,
              "turnpike.runner.commit-interval", ci + "ms",
              "turnpike.runner.threads", System.getProperty("bench.threads", "4"),
              "turnpike.runner.local-guardrails", System.getProperty("bench.local-guardrails", "true"),
              "turnpike.runner.poll-interval", pollMs + "ms"));
          runnerSettings.put("turnpike.runner.state-dir", Files.createTempDirectory("bench-state").toString());
          try (RunnerService runner = RunnerService.start(Settings.of(runnerSettings))) {
            int rounds = settle("Turnpike", prefix -> sequential(producer, results, 10, prefix + "-" + ci));
            Stats viaKafka = sequential(producer, results, seqRuns, "kafka-" + ci);
            System.out.println(viaKafka.line("Turnpike, commit " + ci + " ms, poll " + pollMs + " ms") + "  [" + rounds + " warm-up rounds]");
            System.out.printf("  overhead per turn: p50 %.2f ms, p99 %.2f ms; ratio p50 %.1fx%n",
                viaKafka.p50() - local.p50(), viaKafka.p99() - local.p99(), viaKafka.p50() / local.p50());
            HopBreakdown.print(kafka.bootstrapServers(), "kafka-" + ci + "-");
            if (guarded) {
              try (io.turnpike.guardrail.GuardrailService g = io.turnpike.guardrail.GuardrailService.start(Settings.of(Map.of(
                  "turnpike.schema.registry.url", "mock://bench", "turnpike.bootstrap.servers", kafka.bootstrapServers())))) {
                submitAs = GUARDED;
                sequential(producer, results, 10, "gwarm-" + ci);
                Stats withGuards = sequential(producer, results, seqRuns, "guarded-" + ci);
                submitAs = AGENT;
                Stats plainRuns = sequential(producer, results, seqRuns, "plain-" + ci);
                System.out.println(plainRuns.line("  no guardrails (same run)"));
                System.out.println(withGuards.line("  3 rule guardrails"));
                System.out.printf("  guardrails add p50 %.2f ms per turn (ratio %.2fx), p99 %.2f ms%n",
                    withGuards.p50() - plainRuns.p50(), withGuards.p50() / plainRuns.p50(), withGuards.p99() - plainRuns.p99());
              }
            }
            throughput(producer, results, 100, 5, "cwarm-" + ci, false);
            for (int c : concurrent) {
              throughput(producer, results, c, 5, "conc-" + c + "-" + ci, true);
            }
          }
        }
      }
    }
    System.exit(0);
  }

  /** A round of measurement, named by its prefix. */
  interface Round {
    Stats run(String prefix) throws Exception;
  }

  /**
   * Warm-up: rounds until the JIT has settled, i.e. the last three rounds' medians are within 10% of
   * each other (at least 3 rounds, at most 30). Returns the rounds taken.
   */
  static int settle(String what, Round round) throws Exception {
    List<Double> medians = new ArrayList<>();
    for (int i = 1; i <= 30; i++) {
      medians.add(round.run("warm-" + what.replace(' ', '_') + "-" + i).p50());
      if (medians.size() >= 3) {
        List<Double> last = medians.subList(medians.size() - 3, medians.size());
        double lo = last.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
        double hi = last.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        if (hi <= lo * 1.10) {
          return i;
        }
      }
    }
    System.out.println("  (" + what + " did not settle within 30 warm-up rounds; medians " + medians + ")");
    return 30;
  }

  // --- the scripted model: tool calls until the last turn, then a text answer ---

  private static ScriptedReply reply(ModelRequestView req) {
    int turn = req.turn();
    String key = req.firstUserText();
    if (key != null) {
      ARRIVALS.computeIfAbsent(key, k -> new long[turnsPerRun + 1])[Math.min(turn, turnsPerRun)] = System.nanoTime();
    }
    String callId = req.header(io.turnpike.runner.model.OpenAiModelClient.CALL_ID_HEADER);
    if (callId != null) {
      HopBreakdown.AT_MODEL.put(callId, System.currentTimeMillis());
    }
    return turn + 1 >= turnsPerRun
        ? ScriptedReply.text("done after " + turn + " tool turns")
        : ScriptedReply.toolCall("echo", "{\"turn\":" + turn + "}");
  }

  private static AgentDefinition agent() {
    return AgentDefinition.newBuilder().setName(AGENT).setVersion(1).setModel("scripted").setInstructions("bench")
        .setTools(List.of(ToolSpec.newBuilder().setName("echo").setParametersJson(
            "{\"type\":\"object\",\"properties\":{\"turn\":{\"type\":\"integer\"}}}").build()))
        .setMaxTurns(turnsPerRun + 1).build();
  }

  /** The same agent with three rule guardrails: input keywords, tool-input regex, tool-output PII. */
  private static AgentDefinition guardedAgent() {
    return AgentDefinition.newBuilder(agent()).setName(GUARDED).setGuardrails(List.of(
        io.turnpike.avro.GuardrailSpec.newBuilder().setName("deny-words").setStage(io.turnpike.avro.GuardrailStage.INPUT)
            .setType("keywords").setConfigJson("{\"words\":[\"drop table\",\"password\"]}").build(),
        io.turnpike.avro.GuardrailSpec.newBuilder().setName("no-rm").setStage(io.turnpike.avro.GuardrailStage.TOOL_INPUT)
            .setType("regex").setAction(io.turnpike.avro.GuardrailAction.REJECT).setConfigJson("{\"patterns\":[\"rm\\\\s+-rf\"]}").build(),
        io.turnpike.avro.GuardrailSpec.newBuilder().setName("pii-out").setStage(io.turnpike.avro.GuardrailStage.TOOL_OUTPUT)
            .setType("pii").setAction(io.turnpike.avro.GuardrailAction.REDACT).build())).build();
  }

  // --- baseline: the same loop in-process ---

  private static Stats inProcess(ScriptedModelServer model, int runs, String prefix) throws Exception {
    ModelInvokerConfig cfg = ModelInvokerConfig.from(Settings.of(Map.of(
        "turnpike.schema.registry.url", "mock://bench", "turnpike.bootstrap.servers", "unused:9092", "turnpike.model.base-url", model.baseUrl(), "turnpike.model.api-key", "bench")));
    AgentDefinition agent = agent();
    try (OpenAiModelClient client = new OpenAiModelClient(cfg)) {
      for (int r = 0; r < runs; r++) {
        String input = prefix + "-" + r;
        List<Object> items = new ArrayList<>(List.of(new MessageItem(Role.USER, input, null, java.util.List.of())));
        for (int turn = 1; turn <= turnsPerRun + 1; turn++) {
          ModelCall call = ModelCall.newBuilder().setRunId(input).setCallId(input + ":m" + turn).setAgent(AGENT)
              .setModel(agent.getModel()).setInstructions(agent.getInstructions()).setInput(new ArrayList<>(items))
              .setTools(agent.getTools()).setDeadline(Instant.now().plusSeconds(30)).build();
          ModelResult res = client.invoke(call);
          if (res.getError() != null) {
            throw new IllegalStateException(res.getError().toString());
          }
          boolean called = false;
          for (Object o : res.getOutput()) {
            items.add(o);
            if (o instanceof FunctionCallItem f) {
              called = true;
              items.add(new FunctionCallOutputItem(f.getToolCallId(), f.getName(), f.getArguments(), false, List.of(), null));
            }
          }
          if (!called) {
            break;
          }
        }
      }
    }
    return Stats.of(prefix);
  }

  // --- through Turnpike ---

  private static Stats sequential(KafkaProducer<String, byte[]> producer, ResultWatcher results, int runs, String prefix) throws Exception {
    for (int r = 0; r < runs; r++) {
      String runId = prefix + "-" + r;
      CountDownLatch done = results.expect(runId);
      submit(producer, runId);
      if (!done.await(60, TimeUnit.SECONDS)) {
        throw new IllegalStateException("run " + runId + " did not finish");
      }
      if (results.status(runId) != RunStatus.COMPLETED) {
        throw new IllegalStateException("run " + runId + " ended " + results.status(runId));
      }
    }
    return Stats.of(prefix);
  }

  private static void throughput(KafkaProducer<String, byte[]> producer, ResultWatcher results, int runs, int turns, String prefix,
      boolean report) throws Exception {
    int saved = turnsPerRun;
    turnsPerRun = turns;
    List<CountDownLatch> latches = new ArrayList<>();
    long start = System.nanoTime();
    for (int r = 0; r < runs; r++) {
      String runId = prefix + "-" + r;
      latches.add(results.expect(runId));
      submit(producer, runId);
    }
    producer.flush();
    for (CountDownLatch l : latches) {
      if (!l.await(300, TimeUnit.SECONDS)) {
        throw new IllegalStateException("concurrent runs did not finish");
      }
    }
    double secs = (System.nanoTime() - start) / 1e9;
    long completed = latches.size();
    if (report) {
      System.out.printf("  %d concurrent runs x %d model calls: %.2f s, %.0f model turns/s, %.0f runs/s%n",
          runs, turns, secs, runs * turns / secs, completed / secs);
    }
    turnsPerRun = saved;
  }

  private static void submit(KafkaProducer<String, byte[]> producer, String runId) {
    RunRequest req = RunRequest.newBuilder().setRunId(runId).setAgent(submitAs).setInput(runId)
        .setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
    producer.send(new ProducerRecord<>(Topics.RUN_REQUESTS.name(), runId, SERDES.runRequest().encode(req)));
  }

  private static void publishAgent(String bootstrap) throws Exception {
    try (KafkaProducer<String, byte[]> p = producer(bootstrap)) {
      p.send(new ProducerRecord<>(Topics.AGENTS.name(), AGENT, SERDES.agentDefinition().encode(agent()))).get();
      p.send(new ProducerRecord<>(Topics.AGENTS.name(), GUARDED, SERDES.agentDefinition().encode(guardedAgent()))).get();
    }
  }

  private static KafkaProducer<String, byte[]> producer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  /** Turn latencies (ms) of the runs whose input starts with a prefix. */
  record Stats(double[] sortedMs) {
    static Stats of(String prefix) {
      List<Double> gaps = new ArrayList<>();
      ARRIVALS.forEach((key, t) -> {
        if (key.startsWith(prefix + "-")) {
          for (int i = 1; i < t.length; i++) {
            if (t[i] != 0 && t[i - 1] != 0) {
              gaps.add((t[i] - t[i - 1]) / 1e6);
            }
          }
        }
      });
      return new Stats(gaps.stream().mapToDouble(Double::doubleValue).sorted().toArray());
    }

    double pct(double p) {
      return sortedMs[Math.min(sortedMs.length - 1, (int) Math.floor(p * sortedMs.length))];
    }

    double p50() {
      return pct(0.50);
    }

    double p99() {
      return pct(0.99);
    }

    String line(String what) {
      return String.format("%-36s turns=%d  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms",
          what, sortedMs.length, p50(), pct(0.90), p99(), sortedMs[sortedMs.length - 1]);
    }
  }

  /** Watches turnpike.run-results and releases a latch per run. */
  static final class ResultWatcher implements AutoCloseable {
    private final Map<String, CountDownLatch> waiting = new ConcurrentHashMap<>();
    private final Map<String, RunStatus> statuses = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean running = true;

    ResultWatcher(String bootstrap) {
      Properties p = new Properties();
      p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
      KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
      List<TopicPartition> parts = c.partitionsFor(Topics.RUN_RESULTS.name()).stream()
          .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
      c.assign(parts);
      c.seekToEnd(parts);
      parts.forEach(c::position);
      thread = Thread.ofPlatform().daemon().start(() -> {
        try (c) {
          while (running) {
            c.poll(Duration.ofMillis(50)).forEach(r -> {
              statuses.put(r.key(), SERDES.runResult().decode(r.value()).getStatus());
              waiting.computeIfAbsent(r.key(), k -> new CountDownLatch(1)).countDown();
            });
          }
        }
      });
    }

    CountDownLatch expect(String runId) {
      return waiting.computeIfAbsent(runId, k -> new CountDownLatch(1));
    }

    RunStatus status(String runId) {
      return statuses.get(runId);
    }

    @Override
    public void close() throws InterruptedException {
      running = false;
      thread.join(2000);
    }
  }

}
