package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.avro.ChildRunFinished;
import io.turnpike.avro.ChildRunStarted;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.runner.model.ModelInvoker;
import io.turnpike.runner.model.ModelInvokerConfig;
import io.turnpike.runner.model.OpenAiModelClient;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Agents as tools end to end: agent YAML, a real broker, the runner, and the model invoker checking
 * every response's shape against the scripted server. A planner calls a weather specialist as a
 * tool; the specialist runs as a child run of its own (its own model calls, events and result) and
 * its final output is the tool's output. Assertions are on the exact requests the model server got.
 */
class AgentsAsToolsEndToEndTest {
  static final String BOSS = """
      name: trip-boss
      version: 1
      model: gpt-boss
      instructions: Plan the trip. Ask the weather specialist about the weather first.
      tools:
        - {kind: agent, agent: weather-specialist, name: ask_weather, description: Ask the weather specialist}
      """;
  static final String SPECIALIST = """
      name: weather-specialist
      version: 1
      model: gpt-weather
      instructions: Answer weather questions in one line.
      """;

  static final String TRIP_BOOKER = """
      name: trip-booker
      version: 1
      model: gpt-trip-booker
      tools:
        - {kind: agent, agent: booker, name: ask_booker}
      """;
  static final String BOOKER = """
      name: booker
      version: 1
      model: gpt-booker
      tools:
        - name: book
          parameters: {type: object, properties: {city: {type: string}}, required: [city]}
          needsApproval: true
      """;

  private static Cluster cluster;
  private static ToolWorker tools;
  private static ScriptedModelServer model;
  private static Map<String, String> runnerSettings;
  private static RunnerService runner;
  private static ModelInvoker invoker;
  private static TopicTail results;
  private static TopicTail events;
  private static TopicTail states;
  private static TopicTail runRequests;
  /** Holds the specialist's answer about Bergen until the test lets it go (the runner is restarted meanwhile). */
  private static final CountDownLatch bergenReleased = new CountDownLatch(1);
  private static final AtomicInteger bergenCalls = new AtomicInteger();

  static ScriptedReply boss(ModelRequestView req) {
    String city = req.firstUserText().replace("Trip to ", "");
    return req.turn() == 0
        ? ScriptedReply.toolCall("ask_weather", "{\"input\":\"Weather in " + city + " tomorrow?\"}")
        : ScriptedReply.text("Plan: " + req.lastToolOutput());
  }

  static ScriptedReply specialist(ModelRequestView req) throws InterruptedException {
    String question = req.firstUserText();
    if (question.contains("Atlantis")) {
      return ScriptedReply.httpError(400, "no forecast for Atlantis");
    }
    if (question.contains("Bergen")) {
      bergenCalls.incrementAndGet();
      if (!bergenReleased.await(120, TimeUnit.SECONDS)) {
        throw new IllegalStateException("never released");
      }
      return ScriptedReply.text("Rain in Bergen");
    }
    return ScriptedReply.text("Sunny in " + question.replace("Weather in ", "").replace(" tomorrow?", ""));
  }

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(AgentYaml.parse(BOSS, "trip-boss.yaml"));
    cluster.publishAgent(AgentYaml.parse(SPECIALIST, "weather-specialist.yaml"));
    cluster.publishAgent(AgentYaml.parse(TRIP_BOOKER, "trip-booker.yaml"));
    cluster.publishAgent(AgentYaml.parse(BOOKER, "booker.yaml"));
    model = ScriptedModelServer.start(req -> {
      try {
        return switch (req.model()) {
          case "gpt-weather" -> specialist(req);
          case "gpt-trip-booker" -> req.turn() == 0 ? ScriptedReply.toolCall("ask_booker", "{\"input\":\"Book a hotel in Rome\"}")
              : ScriptedReply.text("Booked: " + req.lastToolOutput());
          case "gpt-booker" -> req.turn() == 0 ? ScriptedReply.toolCall("book", "{\"city\":\"Rome\"}")
              : ScriptedReply.text("Hotel in Rome, " + req.lastToolOutput());
          default -> boss(req);
        };
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    });
    runnerSettings = Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.runner.model-invoker.enabled", "false",
        "turnpike.runner.application-id", "agent-tools-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("agent-tools-runner").toString());
    runner = RunnerService.start(Settings.of(runnerSettings));
    // the invoker on its own, so the runner can be restarted while a model call is in flight
    ModelInvokerConfig config = ModelInvokerConfig.of(cluster.bootstrap(), cluster.registryUrl(), model.baseUrl(), "test-key")
        .withGroupId("agent-tools-e2e-model-invoker");
    invoker = new ModelInvoker(config, new OpenAiModelClient(config, true)).start();
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("book", inv -> "booking ref R-1 in " + inv.args().get("city").asText())
        .build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
    runRequests = new TopicTail(cluster.bootstrap(), Topics.RUN_REQUESTS.name());
  }

  @AfterAll
  static void stop() {
    bergenReleased.countDown();
    for (AutoCloseable c : new AutoCloseable[] {results, events, states, runRequests, tools, invoker, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  static List<RunResult> finals(String runId) {
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value()))
        .filter(r -> r.getStatus() != RunStatus.INTERRUPTED).toList();
  }

  static RunResult awaitFinal(String runId, Duration within) {
    await().atMost(within).until(() -> !finals(runId).isEmpty());
    return finals(runId).get(0);
  }

  static List<Object> steps(String runId) {
    return events.forKey(runId).stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).map(TurnEvent::getStep)
        .toList();
  }

  static RunState lastState(String runId) {
    List<ConsumerRecord<String, byte[]>> recs = states.forKey(runId);
    return recs.isEmpty() ? null : cluster.serdes().runState().decode(recs.get(recs.size() - 1).value());
  }

  static List<ModelRequestView> requestsAbout(String model, String text) {
    return AgentsAsToolsEndToEndTest.model.modelRequests().stream()
        .filter(r -> model.equals(r.model()) && r.firstUserText() != null && r.firstUserText().contains(text)).toList();
  }

  @Test
  void theSpecialistRunsAsAChildRunAndItsAnswerIsTheToolsOutput() {
    cluster.submit("trip-oslo", "trip-boss", "Trip to Oslo");
    RunResult result = awaitFinal("trip-oslo", Duration.ofSeconds(90));
    assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Plan: Sunny in Oslo");

    String child = "trip-oslo:t1.1/weather-specialist";
    RunResult childResult = awaitFinal(child, Duration.ofSeconds(10));
    assertThat(childResult.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(childResult.getAgent()).isEqualTo("weather-specialist");
    assertThat(childResult.getFinalOutput()).isEqualTo("Sunny in Oslo");

    // the planner was offered the specialist as a function tool taking {input}
    List<ModelRequestView> boss = requestsAbout("gpt-boss", "Oslo");
    assertThat(boss).hasSize(2);
    JsonNode tool = boss.get(0).raw().path("tools").get(0);
    assertThat(tool.path("type").asText()).isEqualTo("function");
    assertThat(tool.path("name").asText()).isEqualTo("ask_weather");
    assertThat(tool.path("description").asText()).isEqualTo("Ask the weather specialist");
    assertThat(tool.path("parameters").path("properties").path("input").path("type").asText()).isEqualTo("string");
    assertThat(tool.path("parameters").path("required")).extracting(JsonNode::asText).containsExactly("input");
    assertThat(tool.path("strict").asBoolean()).isTrue();
    // the specialist got only what it was asked, with its own instructions and no tools
    List<ModelRequestView> specialist = requestsAbout("gpt-weather", "Oslo");
    assertThat(specialist).singleElement().satisfies(r -> {
      assertThat(r.instructions()).isEqualTo("Answer weather questions in one line.");
      assertThat(r.input()).containsExactly(new InputItem.Message("user", "Weather in Oslo tomorrow?"));
      assertThat(r.toolNames()).isEmpty();
    });
    // ... and its answer came back to the planner as the output of its call
    assertThat(boss.get(1).input()).hasSize(3);
    assertThat(boss.get(1).input().get(1)).isInstanceOfSatisfying(InputItem.FunctionCall.class,
        c -> assertThat(c.name()).isEqualTo("ask_weather"));
    assertThat(boss.get(1).input().get(2)).isInstanceOfSatisfying(InputItem.FunctionCallOutput.class,
        o -> assertThat(o.output()).isEqualTo("Sunny in Oslo"));

    // linked both ways: in the events and in the states
    assertThat(steps("trip-oslo")).filteredOn(ChildRunStarted.class::isInstance).singleElement()
        .isInstanceOfSatisfying(ChildRunStarted.class, s -> assertThat(s.getChildRunId()).isEqualTo(child));
    assertThat(steps("trip-oslo")).filteredOn(ChildRunFinished.class::isInstance).singleElement()
        .isInstanceOfSatisfying(ChildRunFinished.class, f -> assertThat(f.getStatus()).isEqualTo(RunStatus.COMPLETED));
    assertThat(steps(child)).extracting(s -> s.getClass().getSimpleName())
        .containsExactly("RunStarted", "ModelCallRequested", "ModelResponded", "RunFinished");
    await().atMost(Duration.ofSeconds(10)).until(() -> lastState("trip-oslo") != null
        && lastState("trip-oslo").getStatus() == RunStatus.COMPLETED);
    assertThat(lastState("trip-oslo").getChildren()).singleElement().satisfies(c -> {
      assertThat(c.getRunId()).isEqualTo(child);
      assertThat(c.getStatus()).isEqualTo(RunStatus.COMPLETED);
    });
    assertThat(lastState(child).getParent().getRunId()).isEqualTo("trip-oslo");
    assertThat(lastState(child).getParent().getCallId()).isEqualTo("trip-oslo:t1.1");
  }

  @Test
  void aChildThatFailsIsAnErrorOutputThePlannerSees() {
    cluster.submit("trip-atlantis", "trip-boss", "Trip to Atlantis");
    RunResult result = awaitFinal("trip-atlantis", Duration.ofSeconds(90));
    String child = "trip-atlantis:t1.1/weather-specialist";
    assertThat(finals(child)).singleElement().satisfies(c -> {
      assertThat(c.getStatus()).isEqualTo(RunStatus.FAILED);
      assertThat(c.getError()).contains("model_http_400");
    });
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    List<ModelRequestView> boss = requestsAbout("gpt-boss", "Atlantis");
    assertThat(boss).hasSize(2);
    String seen = boss.get(1).lastToolOutput();
    assertThat(seen).startsWith("error: agent 'weather-specialist' (run " + child + ") ended FAILED: model call " + child
        + ":m1 failed: model_http_400");
    assertThat(result.getFinalOutput()).isEqualTo("Plan: " + seen);
    assertThat(steps("trip-atlantis")).filteredOn(ChildRunFinished.class::isInstance).singleElement()
        .isInstanceOfSatisfying(ChildRunFinished.class, f -> assertThat(f.getStatus()).isEqualTo(RunStatus.FAILED));
  }

  @Test
  void aChildWaitingForAHumanHoldsItsParentUntilItIsApproved() {
    String child = "trip-rome:t1.1/booker";
    cluster.submit("trip-rome", "trip-booker", "Book me a hotel in Rome");
    await().atMost(Duration.ofSeconds(60)).until(() -> lastState(child) != null
        && lastState(child).getStatus() == RunStatus.INTERRUPTED);
    RunState waiting = lastState(child);
    assertThat(waiting.getApprovals()).singleElement().satisfies(a -> assertThat(a.getTool()).isEqualTo("book"));
    assertThat(lastState("trip-rome").getStatus()).as("the parent waits, with no deadline").isEqualTo(RunStatus.RUNNING);
    assertThat(lastState("trip-rome").getPending()).isEmpty();
    assertThat(finals("trip-rome")).isEmpty();

    // a human approves the child's call, on the child's runId
    RunCommand approve = RunCommand.newBuilder().setRunId(child).setCommandId("approve-1").setType(RunCommandType.APPROVE)
        .setCallId(waiting.getApprovals().get(0).getCallId()).setIssuedAt(java.time.Instant.now()).build();
    cluster.send(Topics.RUN_COMMANDS.name(), child, cluster.serdes().runCommand().encode(approve), "RunCommand");
    RunResult result = awaitFinal("trip-rome", Duration.ofSeconds(60));
    assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Booked: Hotel in Rome, booking ref R-1 in Rome");
    assertThat(finals(child)).singleElement().satisfies(r -> assertThat(r.getStatus()).isEqualTo(RunStatus.COMPLETED));
  }

  @Test
  void aRunnerRestartWhileTheChildIsInFlightFinishesTheParentOnceWithOneChild() throws Exception {
    String child = "trip-bergen:t1.1/weather-specialist";
    cluster.submit("trip-bergen", "trip-boss", "Trip to Bergen");
    // the child run is started and its model call is being answered (held by the model server)
    await().atMost(Duration.ofSeconds(60)).until(() -> bergenCalls.get() >= 1);

    runner.close();
    bergenReleased.countDown();
    Map<String, String> elsewhere = new java.util.HashMap<>(runnerSettings);
    elsewhere.put("turnpike.runner.state-dir", Files.createTempDirectory("agent-tools-runner-b").toString());
    runner = RunnerService.start(Settings.of(elsewhere));

    RunResult result = awaitFinal("trip-bergen", Duration.ofSeconds(120));
    assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Plan: Rain in Bergen");
    // give any duplicate the time to show up before counting
    await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(10)).until(() ->
        finals("trip-bergen").size() == 1 && finals(child).size() == 1);
    List<RunRequest> childRequests = runRequests.forKey(child).stream()
        .map(r -> cluster.serdes().runRequest().decode(r.value())).toList();
    assertThat(childRequests).as("one child, started once").singleElement()
        .satisfies(r -> assertThat(r.getParent().getRunId()).isEqualTo("trip-bergen"));
    assertThat(bergenCalls.get()).isEqualTo(1);
    assertThat(requestsAbout("gpt-weather", "Bergen")).hasSize(1);
    assertThat(requestsAbout("gpt-boss", "Bergen")).extracting(ModelRequestView::turn).containsExactly(0, 1);
    assertThat(steps("trip-bergen")).filteredOn(ChildRunStarted.class::isInstance).hasSize(1);
  }
}
