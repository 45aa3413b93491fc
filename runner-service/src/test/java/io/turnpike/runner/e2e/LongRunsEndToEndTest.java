package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CompactionPolicy;
import io.turnpike.avro.ConversationCompacted;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallCompleted;
import io.turnpike.avro.ToolSpec;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.FetchPages;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue #14, runs that stay cheap at turn 500, on the real broker and the scripted HTTP model: a
 * 500-turn run whose tool returns 20 KB each turn completes with every model request and every
 * RunState written under a fixed size (compaction keeps the input within the window; outputs are kept
 * out of line, once each); the summary replaces what it compacted on both model APIs while the turn
 * events keep the originals; a turn's parallel tool calls run at the same time and come back in order.
 */
class LongRunsEndToEndTest {
  static final int TURNS = 500;
  static final int OUTPUT_BYTES = 20 * 1024;
  private static final String LONG = "long-runner";
  private static final String CHAT = "long-runner-chat";
  private static final String PARALLEL = "parallel";
  private static final String APP = "long-runs-runner";

  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ToolWorker tools;
  private static TopicTail results;
  private static TopicTail events;
  private static TopicTail states;
  private static TopicTail storeChangelog;
  private static TopicTail blobChangelog;

  /** Bytes of every model request (the JSON the server received), per run input. */
  private static final Map<String, List<Integer>> REQUEST_BYTES = new ConcurrentHashMap<>();
  private static final Map<String, ModelRequestView> LAST_REQUEST = new ConcurrentHashMap<>();
  private static final Map<String, ModelRequestView> FIRST_AFTER_SUMMARY = new ConcurrentHashMap<>();
  private static final AtomicInteger SUMMARIES = new AtomicInteger();
  /** start and end (ms) of each parallel tool's execution. */
  private static final List<long[]> RUNS_OF_SLOW_TOOLS = new CopyOnWriteArrayList<>();

  /** The model: fetch turn after turn until TURNS (or the number in the input), then answer; summaries when asked. */
  static ScriptedReply script(ModelRequestView req) {
    String input = req.instructions() == null ? "" : req.instructions();
    if (input.startsWith("You compact")) {
      return ScriptedReply.text("summary " + SUMMARIES.incrementAndGet() + ": fetched through turn " + FetchPages.lastTurn(req)
          + "; every page was filler.");
    }
    REQUEST_BYTES.computeIfAbsent(input, k -> new CopyOnWriteArrayList<>())
        .add(req.raw().toString().getBytes(StandardCharsets.UTF_8).length);
    LAST_REQUEST.put(input, req);
    if (req.input().getFirst() instanceof InputItem.Message m && m.text().startsWith("[Summary")) {
      FIRST_AFTER_SUMMARY.putIfAbsent(input, req);
    }
    if (input.startsWith("Parallel")) {
      return req.turn() == 0
          ? ScriptedReply.toolCalls(List.of(new ScriptedReply.ToolCallSpec("slow", "{\"ms\":300}"),
              new ScriptedReply.ToolCallSpec("slow", "{\"ms\":100}"), new ScriptedReply.ToolCallSpec("slow", "{\"ms\":200}")))
          : ScriptedReply.text("outputs: " + String.join(",", outputs(req)));
    }
    int turns = Integer.parseInt(input.replaceAll("\\D", ""));
    int last = FetchPages.lastTurn(req);
    return last >= turns ? ScriptedReply.text("done after " + last + " turns")
        : ScriptedReply.toolCall("fetch", "{\"turn\":" + (last + 1) + "}");
  }

  /** The tool outputs of a request, in order. */
  private static List<String> outputs(ModelRequestView req) {
    return req.input().stream().filter(i -> i instanceof InputItem.FunctionCallOutput)
        .map(i -> ((InputItem.FunctionCallOutput) i).output()).toList();
  }

  static String page(int turn) {
    return FetchPages.page(turn, OUTPUT_BYTES);
  }

  /** The agent's instructions key the script: they say how many pages, and are the same in every request of a run. */
  static AgentDefinition agent(String name, ModelApi api, int pages) {
    return AgentDefinition.newBuilder().setName(name).setVersion(1).setModel("scripted")
        .setInstructions("Fetch " + pages + " pages (" + name + ").").setMaxTurns(TURNS + 10)
        .setModelSettings(ModelSettings.newBuilder().setApi(api).build())
        .setTools(List.of(ToolSpec.newBuilder().setName("fetch").setDescription("one page")
            .setParametersJson("{\"type\":\"object\",\"properties\":{\"turn\":{\"type\":\"integer\"}}}").build()))
        // 64k tokens, compacted at 80%: about ten 20 KB turns
        .setCompaction(CompactionPolicy.newBuilder().setContextWindow(64_000L).setThreshold(0.8).setKeepRecentItems(4).build())
        .build();
  }

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(agent(LONG, ModelApi.RESPONSES, TURNS));
    cluster.publishAgent(agent(CHAT, ModelApi.CHAT_COMPLETIONS, 30));
    cluster.publishAgent(AgentDefinition.newBuilder().setName(PARALLEL).setVersion(1).setModel("scripted")
        .setInstructions("Parallel calls.")
        .setTools(List.of(ToolSpec.newBuilder().setName("slow").setParametersJson(
            "{\"type\":\"object\",\"properties\":{\"ms\":{\"type\":\"integer\"}}}").build())).build());
    model = ScriptedModelServer.start(LongRunsEndToEndTest::script).recordLimit(0);
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "test-key",
        "turnpike.runner.application-id", APP,
        "turnpike.runner.state-dir", Files.createTempDirectory("runner-state").toString())));
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("fetch", inv -> page(inv.args().get("turn").asInt()))
        .tool("slow", inv -> {
          long begin = System.currentTimeMillis();
          int ms = inv.args().get("ms").asInt();
          Thread.sleep(ms); // the tool's own work, not a wait of the test
          RUNS_OF_SLOW_TOOLS.add(new long[] {begin, System.currentTimeMillis()});
          return "slept " + ms;
        })
        .build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
    storeChangelog = new TopicTail(cluster.bootstrap(), APP + "-run-state-changelog");
    blobChangelog = new TopicTail(cluster.bootstrap(), APP + "-run-blobs-changelog");
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, events, states, storeChangelog, blobChangelog, tools, runner, model,
        cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  private static RunResult awaitResult(String runId, Duration within) {
    await().atMost(within).until(() -> !results.forKey(runId).isEmpty());
    return cluster.serdes().runResult().decode(results.forKey(runId).get(0).value());
  }

  private static List<TurnEvent> events(String runId) {
    return events.forKey(runId).stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
  }

  private static int maxValueBytes(TopicTail tail, String key) {
    return tail.forKey(key).stream().filter(r -> r.value() != null).mapToInt(r -> r.value().length).max().orElse(0);
  }

  @Test
  void aFiveHundredTurnRunWithTwentyKilobyteOutputsStaysUnderAFixedInputAndStateSize() {
    String input = "Fetch " + TURNS + " pages (" + LONG + ").";
    long began = System.nanoTime();
    cluster.submit("long-1", LONG, "Fetch them all");
    RunResult result = awaitResult("long-1", Duration.ofSeconds(150));
    double seconds = (System.nanoTime() - began) / 1e9;

    assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("done after " + TURNS + " turns");
    assertThat(result.getTurns()).isEqualTo(TURNS + 1);

    // the input each request carried: bounded by the window (64k tokens at 80% is ~205 KB of text), not by the run
    List<Integer> sizes = REQUEST_BYTES.get(input);
    assertThat(sizes).hasSize(TURNS + 1);
    assertThat(sizes).allSatisfy(bytes -> assertThat(bytes).isLessThan(256 * 1024));
    // ... while the run's tool outputs alone weigh 500 x 20 KB = 10 MB
    await().atMost(Duration.ofSeconds(20)).until(() -> events("long-1").stream()
        .anyMatch(e -> e.getStep() instanceof io.turnpike.avro.RunFinished));
    List<TurnEvent> steps = events("long-1");
    List<ConversationCompacted> compactions = steps.stream().filter(e -> e.getStep() instanceof ConversationCompacted)
        .map(e -> (ConversationCompacted) e.getStep()).toList();
    assertThat(compactions).hasSizeGreaterThan(40);
    // the originals stay in the turn-event log, every one of them
    List<ToolCallCompleted> outputs = steps.stream().filter(e -> e.getStep() instanceof ToolCallCompleted)
        .map(e -> (ToolCallCompleted) e.getStep()).toList();
    assertThat(outputs).hasSize(TURNS);
    assertThat(outputs.get(0).getOutput()).isEqualTo(page(1));

    // what is written for the run's state, on turnpike.run-state and the store's changelog, stays small throughout
    await().atMost(Duration.ofSeconds(20)).until(() -> states.forKey("long-1").stream()
        .anyMatch(r -> cluster.serdes().runState().decode(r.value()).getStatus() == RunStatus.COMPLETED));
    int maxState = maxValueBytes(states, "long-1");
    int maxStored = maxValueBytes(storeChangelog, "long-1");
    assertThat(maxState).isLessThan(16 * 1024);
    assertThat(maxStored).isLessThan(16 * 1024);
    RunState last = cluster.serdes().runState().decode(states.forKey("long-1").getLast().value());
    assertThat(last.getContext().getCompactions()).isEqualTo(compactions.size());
    assertThat(last.getItems()).hasSizeLessThan(30);
    assertThat(last.getItems()).filteredOn(i -> i instanceof FunctionCallOutputItem)
        .allSatisfy(i -> assertThat(((FunctionCallOutputItem) i).getOutputRef()).isNotNull());
    // each output was written once to the blob store, and the compacted ones deleted
    List<ConsumerRecord<String, byte[]>> blobs = blobChangelog.matching(r -> r.key().startsWith("long-1|"));
    assertThat(blobs.stream().filter(r -> r.value() != null).count()).isEqualTo(TURNS);
    assertThat(blobs.stream().filter(r -> r.value() == null).count()).isGreaterThan(TURNS - 30);

    // after compaction the model sees the summary and not what it replaced
    ModelRequestView end = LAST_REQUEST.get(input);
    assertThat(end.input().getFirst()).isInstanceOfSatisfying(InputItem.Message.class,
        m -> assertThat(m.text()).startsWith("[Summary of the earlier conversation").contains("fetched through turn"));
    assertThat(outputs(end)).noneMatch(o -> o.startsWith("page 1: ")).anyMatch(o -> o.startsWith("page 500: "));
    System.out.printf("500-turn run: %.1f s, %d compactions, largest request %d bytes, largest RunState %d bytes (store %d)%n",
        seconds, compactions.size(), sizes.stream().mapToInt(Integer::intValue).max().orElse(0), maxState, maxStored);
  }

  @Test
  void theSummaryIsReplayedOnChatCompletionsToo() {
    String input = "Fetch 30 pages (" + CHAT + ").";
    cluster.submit("chat-1", CHAT, "Fetch them all");
    RunResult result = awaitResult("chat-1", Duration.ofSeconds(60));
    assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("done after 30 turns");
    ModelRequestView after = FIRST_AFTER_SUMMARY.get(input);
    assertThat(after).isNotNull();
    assertThat(after.api()).isEqualTo(ModelRequestView.CHAT);
    // a user message, then the kept calls and their tool messages, none of the pages summarized
    assertThat(after.input().getFirst()).isInstanceOfSatisfying(InputItem.Message.class, m -> {
      assertThat(m.role()).isEqualTo("user");
      assertThat(m.text()).contains("fetched through turn");
    });
    assertThat(after.input().get(1)).isInstanceOf(InputItem.FunctionCall.class);
    assertThat(outputs(after)).isNotEmpty().noneMatch(o -> o.startsWith("page 1: "));
  }

  @Test
  void aTurnsParallelToolCallsRunAtTheSameTimeAndComeBackInTheOrderTheyWereMade() {
    cluster.submit("parallel-1", PARALLEL, "Parallel please");
    RunResult result = awaitResult("parallel-1", Duration.ofSeconds(30));
    assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
    // in the order of the calls (300, 100, 200 ms), though they finished 100, 200, 300
    assertThat(result.getFinalOutput()).isEqualTo("outputs: slept 300,slept 100,slept 200");
    assertThat(RUNS_OF_SLOW_TOOLS).hasSize(3);
    long lastStart = RUNS_OF_SLOW_TOOLS.stream().mapToLong(r -> r[0]).max().orElseThrow();
    long firstEnd = RUNS_OF_SLOW_TOOLS.stream().mapToLong(r -> r[1]).min().orElseThrow();
    assertThat(lastStart).as("every call started before the first ended").isLessThan(firstEnd);
  }
}
