package io.turnpike.bench;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CompactionPolicy;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.FetchPages;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
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
 * Long runs (issue #14). Three figures, each through Turnpike on the embedded broker (orchestrator with
 * exactly_once_v2, model invoker against the scripted HTTP model, a tool worker):
 *
 * <ol>
 *   <li>A {@code turns}-turn run whose tool returns 20 KB every turn, with compaction (64k-token
 *       window, 80%) and outputs kept out of line: turn latency (the model and the tool answer at once,
 *       so it is the platform's time) and the bytes written per turn, around turns 1, 100 and 500.
 *   <li>The same run as it was before issue #14 (no compaction, every output inline in the RunState),
 *       until it stops: what each turn writes, and how it ends.
 *   <li>Three parallel tool calls of one turn, sleeping 100, 200 and 300 ms: the turn's latency.
 * </ol>
 *
 * Bytes written per turn: every record for the run on the topics Turnpike writes (the RunState on
 * turnpike.run-state and the store's changelog, the blob store's changelog, turn events, model and tool
 * requests and results), key and value, attributed to the turn the record belongs to (the RunState's
 * and turn event's {@code turn}, the call id of requests and results, the page number of an output).
 *
 * <p>Usage: {@code LongRunBench [turns=500] [parallelRuns=20]}
 */
public final class LongRunBench {
  /** The registry TurnOverheadBench's result watcher decodes with. */
  static final io.turnpike.schema.TurnpikeSerdes SERDES = TurnOverheadBench.SERDES;
  private static final String REGISTRY = "mock://bench";
  /** The run as before issue #14 stops being written at about turn 50 (1 MiB); it is not asked for more. */
  private static final int BEFORE_PAGES = 60;
  private static final int OUTPUT_BYTES = 20 * 1024;
  private static final String APP = "long-bench-runner";

  /** Arrival (nanoTime) of each turn's model request, and whether a compaction call came before it, per agent. */
  private static final Map<String, Map<Integer, Long>> ARRIVALS = new ConcurrentHashMap<>();
  private static final Map<String, List<Integer>> COMPACTED_BEFORE = new ConcurrentHashMap<>();
  private static final Map<String, Map<Integer, Integer>> REQUEST_BYTES = new ConcurrentHashMap<>();
  private static final List<Long> PARALLEL_TURNS_NS = new CopyOnWriteArrayList<>();
  private static final Map<String, Long> PARALLEL_FIRST = new ConcurrentHashMap<>();
  private static volatile int turns;

  private LongRunBench() {}

  public static void main(String[] args) throws Exception {
    turns = args.length > 0 ? Integer.parseInt(args[0]) : 500;
    int parallelRuns = args.length > 1 ? Integer.parseInt(args[1]) : 20;
    System.out.printf("LongRunBench: %d turns x %d KB tool outputs; %d runs of 3 parallel tool calls; %s; %d cores%n",
        turns, OUTPUT_BYTES / 1024, parallelRuns, Runtime.version(), Runtime.getRuntime().availableProcessors());
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
         ScriptedModelServer model = ScriptedModelServer.start(LongRunBench::reply).recordLimit(0)) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        TopicAdmin.ensureTopics(admin, 6, (short) 1);
      }
      String bootstrap = kafka.bootstrapServers();
      publish(bootstrap, longAgent("long", true), longAgent("before-14", false), parallelAgent());
      String stateDir = Files.createTempDirectory("long-bench").toString();
      try (ToolWorker worker = ToolWorker.builder(bootstrap, REGISTRY)
               .tool("fetch", inv -> page(inv.args().get("turn").asInt()))
               .tool("sleep_a", LongRunBench::sleep).tool("sleep_b", LongRunBench::sleep).tool("sleep_c", LongRunBench::sleep)
               .build().start();
           TurnOverheadBench.ResultWatcher results = new TurnOverheadBench.ResultWatcher(bootstrap);
           KafkaProducer<String, byte[]> producer = producer(bootstrap)) {
        // 2 first: the runner as it was before issue #14 (every output inline in the RunState), no compaction
        try (RunnerService before = runner(bootstrap, model, stateDir, Integer.MAX_VALUE)) {
          RunStatus status = run(producer, results, "before-14-1", "before-14", BEFORE_PAGES, Duration.ofMinutes(5));
          System.out.printf("%n2. A %d-turn run as before issue #14 (no compaction, outputs inline in the RunState): %s%n",
              BEFORE_PAGES, status);
          reportBefore("before-14-1", "before-14", bytesPerTurn(bootstrap, "before-14-1"));
        }
        RunnerService runner = runner(bootstrap, model, stateDir, 2048);
        // warm-up: a short run of each kind
        run(producer, results, "warm-long", "long", 20, Duration.ofSeconds(60));
        run(producer, results, "warm-parallel", "parallel", 1, Duration.ofSeconds(30));
        ARRIVALS.clear();
        COMPACTED_BEFORE.clear();
        REQUEST_BYTES.clear();
        PARALLEL_TURNS_NS.clear();

        long began = System.nanoTime();
        RunStatus status = run(producer, results, "long-1", "long", turns, Duration.ofMinutes(10));
        double seconds = (System.nanoTime() - began) / 1e9;
        System.out.printf("%n1. %d-turn run with compaction and outputs out of line: %s in %.1f s (%.1f ms a turn)%n",
            turns, status, seconds, seconds * 1000 / turns);
        Map<Integer, Long> written = bytesPerTurn(bootstrap, "long-1");
        report("long-1", "long", written);

        for (int r = 0; r < parallelRuns; r++) {
          run(producer, results, "parallel-" + r, "parallel", 1, Duration.ofSeconds(30));
        }
        double[] ms = PARALLEL_TURNS_NS.stream().mapToDouble(n -> n / 1e6).sorted().toArray();
        System.out.printf("%n3. Three parallel tool calls (100, 200, 300 ms) in one turn, %d runs: turn p50 %.1f ms, min %.1f ms,"
            + " max %.1f ms (the slowest alone: 300 ms; one after another: 600 ms)%n",
            ms.length, ms[ms.length / 2], ms[0], ms[ms.length - 1]);
        runner.close();
      }
    }
    System.exit(0);
  }

  /** A runner keeping outputs over {@code inlineBytes} out of line; the same application id and state each time. */
  private static RunnerService runner(String bootstrap, ScriptedModelServer model, String stateDir, int inlineBytes) {
    return RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", REGISTRY, "turnpike.bootstrap.servers", bootstrap,
        "turnpike.model.base-url", model.baseUrl(), "turnpike.model.api-key", "bench",
        "turnpike.runner.application-id", APP, "turnpike.runner.state-dir", stateDir,
        "turnpike.runner.inline-output-bytes", String.valueOf(inlineBytes))));
  }

  // --- the scripted model ---

  private static ScriptedReply reply(ModelRequestView req) {
    String agent = req.instructions() == null ? "" : req.instructions();
    if (agent.startsWith("You compact")) {
      return ScriptedReply.text("summary: fetched through page " + FetchPages.lastTurn(req) + "; every page was filler.");
    }
    if (agent.startsWith("parallel")) {
      String runKey = req.input().getFirst() instanceof InputItem.Message m ? m.text() : "?";
      if (req.turn() == 0) {
        PARALLEL_FIRST.put(runKey, System.nanoTime());
        return ScriptedReply.toolCalls(List.of(new ScriptedReply.ToolCallSpec("sleep_c", "{\"ms\":300}"),
            new ScriptedReply.ToolCallSpec("sleep_a", "{\"ms\":100}"), new ScriptedReply.ToolCallSpec("sleep_b", "{\"ms\":200}")));
      }
      Long first = PARALLEL_FIRST.remove(runKey);
      if (first != null) {
        PARALLEL_TURNS_NS.add(System.nanoTime() - first);
      }
      return ScriptedReply.text("done");
    }
    // the instructions name the agent; run() says how many pages its current run fetches
    int last = FetchPages.lastTurn(req);
    String key = agent;
    for (InputItem item : req.input()) {
      if (item instanceof InputItem.FunctionCallOutput o && o.output().startsWith("error:")) {
        FIRST_REFUSED.putIfAbsent(agent, last);
        REFUSAL.putIfAbsent(agent, o.output());
      }
    }
    ARRIVALS.computeIfAbsent(key, k -> new ConcurrentHashMap<>()).put(last + 1, System.nanoTime());
    REQUEST_BYTES.computeIfAbsent(key, k -> new ConcurrentHashMap<>())
        .put(last + 1, req.raw().toString().getBytes(StandardCharsets.UTF_8).length);
    if (req.input().getFirst() instanceof InputItem.Message m && m.text().startsWith("[Summary")
        && req.input().size() <= 6) {
      COMPACTED_BEFORE.computeIfAbsent(key, k -> new CopyOnWriteArrayList<>()).add(last + 1);
    }
    int pages = TARGETS.getOrDefault(agent, turns);
    return last >= pages ? ScriptedReply.text("done after " + last + " pages")
        : ScriptedReply.toolCall("fetch", "{\"turn\":" + (last + 1) + "}");
  }

  /** The first turn whose tool output the run could not take (the model got an error instead), and why. */
  private static final Map<String, Integer> FIRST_REFUSED = new ConcurrentHashMap<>();
  private static final Map<String, String> REFUSAL = new ConcurrentHashMap<>();

  /** The number of pages each agent's current run fetches, by its instructions (runs go one at a time). */
  private static final Map<String, Integer> TARGETS = new ConcurrentHashMap<>();

  static String page(int turn) {
    return FetchPages.page(turn, OUTPUT_BYTES);
  }

  private static String sleep(io.turnpike.client.tool.ToolInvocation inv) throws InterruptedException {
    int ms = inv.args().get("ms").asInt();
    Thread.sleep(ms); // the tool's work
    return "slept " + ms;
  }

  // --- agents and runs ---

  private static AgentDefinition longAgent(String name, boolean compaction) {
    AgentDefinition.Builder b = AgentDefinition.newBuilder().setName(name).setVersion(1).setModel("scripted")
        .setInstructions(name + ": fetch every page.").setMaxTurns(100_000)
        .setTools(List.of(ToolSpec.newBuilder().setName("fetch").setDescription("one page")
            .setParametersJson("{\"type\":\"object\",\"properties\":{\"turn\":{\"type\":\"integer\"}}}").build()));
    if (compaction) {
      b.setCompaction(CompactionPolicy.newBuilder().setContextWindow(64_000L).setThreshold(0.8).setKeepRecentItems(4).build());
    }
    return b.build();
  }

  private static AgentDefinition parallelAgent() {
    List<ToolSpec> tools = new ArrayList<>();
    for (String t : List.of("sleep_a", "sleep_b", "sleep_c")) {
      tools.add(ToolSpec.newBuilder().setName(t).setParametersJson(
          "{\"type\":\"object\",\"properties\":{\"ms\":{\"type\":\"integer\"}}}").build());
    }
    return AgentDefinition.newBuilder().setName("parallel").setVersion(1).setModel("scripted")
        .setInstructions("parallel tools").setTools(tools).build();
  }

  private static RunStatus run(KafkaProducer<String, byte[]> producer, TurnOverheadBench.ResultWatcher results, String runId,
      String agent, int pages, Duration within) throws Exception {
    TARGETS.put(agent + ": fetch every page.", pages);
    CountDownLatch done = results.expect(runId);
    RunRequest req = RunRequest.newBuilder().setRunId(runId).setAgent(agent).setInput("Fetch " + pages + " pages")
        .setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
    producer.send(new ProducerRecord<>(Topics.RUN_REQUESTS.name(), runId, SERDES.runRequest().encode(req))).get();
    if (!done.await(within.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new IllegalStateException("run " + runId + " did not finish within " + within);
    }
    return results.status(runId);
  }

  // --- figures ---

  private static void report(String runId, String agent, Map<Integer, Long> written) {
    Map<Integer, Long> at = ARRIVALS.get(agent + ": fetch every page.");
    List<Integer> compacted = COMPACTED_BEFORE.getOrDefault(agent + ": fetch every page.", List.of());
    Map<Integer, Integer> requestBytes = REQUEST_BYTES.get(agent + ": fetch every page.");
    System.out.printf("   compactions: %d (every %.1f turns)%n", compacted.size(), turns / (double) Math.max(1, compacted.size()));
    System.out.println("   turns      latency p50 (all / without a compaction)   written per turn (all topics / RunState: topic+store / blobs)   model request");
    for (int[] w : windows()) {
      List<Double> all = new ArrayList<>();
      List<Double> plain = new ArrayList<>();
      long bytes = 0;
      long state = 0;
      long blobs = 0;
      long request = 0;
      int n = 0;
      for (int t = w[0]; t <= w[1]; t++) {
        Long a = at.get(t);
        Long b = at.get(t + 1);
        if (a != null && b != null) {
          double ms = (b - a) / 1e6;
          all.add(ms);
          if (!compacted.contains(t + 1)) {
            plain.add(ms);
          }
        }
        bytes += written.getOrDefault(t, 0L);
        state += STATE_BYTES.getOrDefault(runId + "#" + t, 0L);
        blobs += BLOB_BYTES.getOrDefault(runId + "#" + t, 0L);
        request += requestBytes.getOrDefault(t, 0);
        n++;
      }
      System.out.printf("   %3d-%-3d    %6.1f ms / %6.1f ms                        %,9d B / %,7d B / %,7d B                       %,9d B%n",
          w[0], w[1], median(all), median(plain), bytes / n, state / n, blobs / n, request / n);
    }
  }

  private static void reportBefore(String runId, String agent, Map<Integer, Long> written) {
    int reached = written.keySet().stream().mapToInt(Integer::intValue).max().orElse(0);
    for (int t : new int[] {1, 10, 20, 30, 40, reached - 1}) {
      if (t >= 1 && written.containsKey(t)) {
        System.out.printf("   turn %3d: written %,9d B (RunState topic+store %,9d B), model request %,9d B%n", t, written.get(t),
            STATE_BYTES.getOrDefault(runId + "#" + t, 0L), REQUEST_BYTES.get(agent + ": fetch every page.").getOrDefault(t, 0));
      }
    }
    String key = agent + ": fetch every page.";
    if (ERRORS.get(runId) != null && !ERRORS.get(runId).equals("null")) {
      System.out.println("   it failed: " + ERRORS.get(runId));
    }
    if (FIRST_REFUSED.containsKey(key)) {
      String why = REFUSAL.get(key);
      System.out.printf("   from turn %d on, the model got an error instead of each page: %s%n", FIRST_REFUSED.get(key),
          why.length() > 300 ? why.substring(0, 300) + "..." : why);
    }
  }

  private static int[][] windows() {
    List<int[]> out = new ArrayList<>();
    out.add(new int[] {1, Math.min(10, turns - 1)});
    if (turns >= 110) {
      out.add(new int[] {91, 110});
    }
    if (turns >= 120) {
      out.add(new int[] {turns - 20, turns - 1});
    }
    return out.toArray(int[][]::new);
  }

  private static double median(List<Double> values) {
    if (values.isEmpty()) {
      return Double.NaN;
    }
    double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return v[v.length / 2];
  }

  private static final Map<String, Long> STATE_BYTES = new HashMap<>();
  private static final Map<String, Long> BLOB_BYTES = new HashMap<>();
  private static final Map<String, String> ERRORS = new HashMap<>();

  /** Every record of the run on the topics Turnpike writes, attributed to its turn. */
  private static Map<Integer, Long> bytesPerTurn(String bootstrap, String runId) {
    Map<Integer, Long> perTurn = new TreeMap<>();
    List<String> topics = List.of(Topics.RUN_STATE.name(), APP + "-run-state-changelog", APP + "-run-blobs-changelog",
        Topics.TURN_EVENTS.name(), Topics.MODEL_REQUESTS.name(), Topics.MODEL_RESULTS.name(), Topics.TOOL_REQUESTS.name(),
        Topics.TOOL_RESULTS.name(), Topics.RUN_RESULTS.name());
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 16 * 1024 * 1024);
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> parts = new ArrayList<>();
      for (String topic : topics) {
        c.partitionsFor(topic).forEach(i -> parts.add(new TopicPartition(i.topic(), i.partition())));
      }
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts);
      while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          String key = r.key() == null ? "" : r.key();
          if (!key.equals(runId) && !key.startsWith(runId + "|")) {
            continue;
          }
          int turn = turnOf(r);
          long size = key.length() + (r.value() == null ? 0 : r.value().length);
          perTurn.merge(turn, size, Long::sum);
          if (r.topic().equals(Topics.RUN_STATE.name()) || r.topic().endsWith("-run-state-changelog")) {
            STATE_BYTES.merge(runId + "#" + turn, size, Long::sum);
          } else if (r.topic().endsWith("-run-blobs-changelog")) {
            BLOB_BYTES.merge(runId + "#" + turn, size, Long::sum);
          } else if (r.topic().equals(Topics.RUN_RESULTS.name())) {
            ERRORS.put(runId, String.valueOf(SERDES.runResult().decode(r.value()).getError()));
          }
        }
      }
    }
    return perTurn;
  }

  private static int turnOf(ConsumerRecord<String, byte[]> r) {
    String topic = r.topic();
    if (r.value() == null) {
      return -1; // a tombstone of the blob store: an output compacted away
    }
    if (topic.equals(Topics.RUN_STATE.name()) || topic.endsWith("-run-state-changelog")) {
      return SERDES.runState().decode(r.value()).getTurn();
    }
    if (topic.endsWith("-run-blobs-changelog")) {
      String text = new String(r.value(), 0, Math.min(40, r.value().length), StandardCharsets.UTF_8);
      return Integer.parseInt(text.replaceAll("^page (\\d+):.*", "$1"));
    }
    if (topic.equals(Topics.TURN_EVENTS.name())) {
      return SERDES.turnEvent().decode(r.value()).getTurn();
    }
    if (topic.equals(Topics.MODEL_REQUESTS.name())) {
      return callTurn(SERDES.modelCall().decode(r.value()).getCallId(), ":m");
    }
    if (topic.equals(Topics.MODEL_RESULTS.name())) {
      return callTurn(SERDES.modelResult().decode(r.value()).getCallId(), ":m");
    }
    if (topic.equals(Topics.TOOL_REQUESTS.name())) {
      return callTurn(SERDES.toolCall().decode(r.value()).getCallId(), ":t");
    }
    if (topic.equals(Topics.TOOL_RESULTS.name())) {
      return callTurn(SERDES.toolResult().decode(r.value()).getCallId(), ":t");
    }
    return 0;
  }

  private static int callTurn(String callId, String marker) {
    String rest = callId.substring(callId.lastIndexOf(marker) + marker.length());
    return Integer.parseInt(rest.replaceAll("^(\\d+).*", "$1"));
  }

  private static void publish(String bootstrap, AgentDefinition... agents) throws Exception {
    try (KafkaProducer<String, byte[]> p = producer(bootstrap)) {
      for (AgentDefinition a : agents) {
        p.send(new ProducerRecord<>(Topics.AGENTS.name(), a.getName(), SERDES.agentDefinition().encode(a))).get();
      }
    }
  }

  private static KafkaProducer<String, byte[]> producer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }
}
