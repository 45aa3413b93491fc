package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ModelStreamDelta;
import io.turnpike.avro.ModelStreamKind;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.client.tool.ToolWorker;
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
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Streamed model calls end to end: a real broker, the runner, the invoker (openai-java checking every
 * SSE event's shape) against the scripted server streaming with a pause between deltas, a real tool
 * worker. A streamed run publishes its deltas, in order, on turnpike.model.stream before each answer
 * is recorded, and records exactly what the same run records unstreamed.
 */
class StreamingEndToEndTest {
  static final String FINAL = "Answer: it is sunny in Oslo and 14:05 there, a fine afternoon for a walk by the fjord.";

  static final String TRAVEL = """
      name: travel
      version: 1
      model: gpt-travel
      instructions: Use the tools.
      tools:
        - name: get_weather
          parameters: {type: object, properties: {city: {type: string}}, required: [city]}
        - name: get_time
          parameters: {type: object, properties: {city: {type: string}}, required: [city]}
      """;
  /** Streams every call by itself (modelSettings.stream), on Chat Completions. */
  static final String CHATTY = """
      name: chatty
      version: 1
      model: gpt-chatty
      modelSettings: {api: chat, stream: true}
      """;

  /** Structured output: a streamed final answer is checked against the schema as an unstreamed one is. */
  static final String PLANNER = """
      name: planner
      version: 1
      model: gpt-planner
      outputType: {type: object, properties: {city: {type: string}}}
      retry:
        model: {attempts: 3, backoff: 100ms, maxBackoff: 100ms}
      """;
  private static final java.util.concurrent.atomic.AtomicInteger plannerAnswers = new java.util.concurrent.atomic.AtomicInteger();

  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ModelInvoker invoker;
  private static ToolWorker tools;
  private static TopicTail events;
  private static TopicTail results;
  private static TopicTail states;
  private static TopicTail deltas;

  /** Usage is scripted, not estimated from the request's size (a streamed request is a few bytes longer). */
  static ScriptedReply travel(ModelRequestView req) {
    return switch (req.turn()) {
      case 0 -> ScriptedReply.toolCall("get_weather", "{\"city\":\"Oslo\"}").withUsage(50, 10);
      case 1 -> ScriptedReply.toolCall("get_time", "{\"city\":\"Oslo\"}").withUsage(60, 11);
      default -> ScriptedReply.text(FINAL).withUsage(70, 20);
    };
  }

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(AgentYaml.parse(TRAVEL, "travel.yaml"));
    cluster.publishAgent(AgentYaml.parse(CHATTY, "chatty.yaml"));
    cluster.publishAgent(AgentYaml.parse(PLANNER, "planner.yaml"));
    model = ScriptedModelServer.start(req -> switch (String.valueOf(req.model())) {
      case "gpt-chatty" -> ScriptedReply.text("Chat streams too, chunk by chunk.").withUsage(9, 8);
      // the first answer breaks the schema, the second follows it
      case "gpt-planner" -> plannerAnswers.getAndIncrement() == 0 ? ScriptedReply.text("{\"town\":\"Oslo\"}")
          : ScriptedReply.text("{\"city\":\"Oslo\"}");
      default -> travel(req);
    });
    model.streamDelay(Duration.ofMillis(25));
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.runner.model-invoker.enabled", "false",
        "turnpike.runner.application-id", "stream-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("stream-runner").toString())));
    ModelInvokerConfig config = ModelInvokerConfig.of(cluster.bootstrap(), cluster.registryUrl(), model.baseUrl(), "test-key")
        .withGroupId("stream-e2e-model-invoker")
        .withStreamInterval(Duration.ofMillis(10));
    invoker = new ModelInvoker(config, new OpenAiModelClient(config, true)).start();
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("get_weather", inv -> "sunny in " + inv.args().get("city").asText())
        .tool("get_time", inv -> "14:05 in " + inv.args().get("city").asText())
        .build().start();
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
    deltas = new TopicTail(cluster.bootstrap(), Topics.MODEL_STREAM.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {deltas, states, results, events, tools, invoker, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  static void submit(String runId, String agent, String input, boolean stream) {
    RunRequest req = RunRequest.newBuilder().setRunId(runId).setAgent(agent).setInput(input).setMetadata(Map.of())
        .setRequestedAt(Instant.now()).setStream(stream).build();
    cluster.send(Topics.RUN_REQUESTS.name(), runId, cluster.serdes().runRequest().encode(req), "RunRequest");
  }

  static RunResult awaitFinal(String runId) {
    await().atMost(Duration.ofSeconds(90)).until(() -> results.forKey(runId).stream()
        .map(r -> cluster.serdes().runResult().decode(r.value())).anyMatch(r -> r.getStatus() != RunStatus.RUNNING));
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value()))
        .filter(r -> r.getStatus() != RunStatus.RUNNING).findFirst().orElseThrow();
  }

  static List<ConsumerRecord<String, byte[]>> eventRecords(String runId) {
    return events.forKey(runId);
  }

  static List<ModelStreamDelta> deltasOf(String runId) {
    return deltas.forKey(runId).stream().map(r -> cluster.serdes().modelStreamDelta().decode(r.value())).toList();
  }

  static RunState lastState(String runId) {
    var recs = states.forKey(runId);
    return recs.isEmpty() ? null : cluster.serdes().runState().decode(recs.get(recs.size() - 1).value());
  }

  /** A step with what differs between two runs of the same script taken out: the run id, the server's fresh ids, times. */
  static String normalized(Object step, String runId) {
    return String.valueOf(step).replace(runId, "RUN")
        .replaceAll("\\b(call|fc|msg|resp|rs)_[a-z0-9]+", "$1_ID")
        .replaceAll("\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z", "TIME");
  }

  @Test
  void aStreamedRunShowsItsDeltasFirstAndRecordsWhatAnUnstreamedRunRecords() {
    submit("st-plain", "travel", "Weather and time in Oslo?", false);
    submit("st-live", "travel", "Weather and time in Oslo?", true);
    RunResult plain = awaitFinal("st-plain");
    RunResult live = awaitFinal("st-live");
    assertThat(plain.getStatus()).as(plain.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(live.getStatus()).as(live.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(live.getFinalOutput()).isEqualTo(FINAL).isEqualTo(plain.getFinalOutput());

    // the model was asked to stream exactly the streamed run's three calls
    assertThat(model.modelRequests().stream().filter(r -> "gpt-travel".equals(r.model())).filter(ModelRequestView::stream)
        .map(r -> r.header(OpenAiModelClient.RUN_ID_HEADER)).toList()).containsExactly("st-live", "st-live", "st-live");

    // the same steps, in the same order, with the same per-call usage
    List<TurnEvent> plainEvents = eventRecords("st-plain").stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
    List<TurnEvent> liveEvents = eventRecords("st-live").stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
    assertThat(liveEvents.stream().map(e -> normalized(e.getStep(), "st-live")).toList())
        .isEqualTo(plainEvents.stream().map(e -> normalized(e.getStep(), "st-plain")).toList());
    assertThat(liveEvents.stream().map(TurnEvent::getStep).filter(ModelResponded.class::isInstance)
        .map(s -> ((ModelResponded) s).getUsage()).map(u -> u.getInputTokens() + "/" + u.getOutputTokens() + "/" + u.getModelCalls()))
        .containsExactly("50/10/1", "60/11/1", "70/20/1");
    await().atMost(Duration.ofSeconds(10)).until(() -> lastState("st-live") != null && lastState("st-plain") != null
        && lastState("st-live").getStatus() == RunStatus.COMPLETED && lastState("st-plain").getStatus() == RunStatus.COMPLETED);
    RunState liveState = lastState("st-live");
    RunState plainState = lastState("st-plain");
    assertThat(normalized(liveState.getItems(), "st-live")).isEqualTo(normalized(plainState.getItems(), "st-plain"));
    assertThat(liveState.getUsage()).isEqualTo(plainState.getUsage());
    assertThat(liveState.getStream()).isTrue();
    assertThat(plainState.getStream()).isFalse();

    // deltas: none for the unstreamed run; for the streamed one, each call's pieces in order
    assertThat(deltas.forKey("st-plain")).isEmpty();
    List<ModelStreamDelta> all = deltasOf("st-live");
    Map<String, List<ModelStreamDelta>> byCall = all.stream().collect(Collectors.groupingBy(ModelStreamDelta::getCallId));
    assertThat(byCall).containsOnlyKeys("st-live:m1", "st-live:m2", "st-live:m3");
    for (List<ModelStreamDelta> call : byCall.values()) {
      assertThat(call.stream().map(ModelStreamDelta::getStreamId).distinct()).hasSize(1);
      assertThat(call).extracting(ModelStreamDelta::getSeq).isSorted().doesNotHaveDuplicates().startsWith(0);
    }
    assertThat(byCall.get("st-live:m1")).allSatisfy(d -> {
      assertThat(d.getKind()).isEqualTo(ModelStreamKind.ARGUMENTS);
      assertThat(d.getName()).isEqualTo("get_weather");
      assertThat(d.getAgent()).isEqualTo("travel");
    });
    assertThat(text(byCall.get("st-live:m1"))).isEqualTo("{\"city\":\"Oslo\"}");
    assertThat(text(byCall.get("st-live:m2"))).isEqualTo("{\"city\":\"Oslo\"}");
    List<ModelStreamDelta> answer = byCall.get("st-live:m3");
    assertThat(answer).allSatisfy(d -> assertThat(d.getKind()).isEqualTo(ModelStreamKind.TEXT));
    assertThat(text(answer)).isEqualTo(FINAL);
    assertThat(answer.size()).as("a long answer arrives in several batched deltas").isGreaterThan(1)
        .isLessThan(FINAL.length() / 4);

    // every call's deltas were on the topic before its answer was recorded
    for (String callId : byCall.keySet()) {
      long lastDelta = deltas.forKey("st-live").stream()
          .filter(r -> cluster.serdes().modelStreamDelta().decode(r.value()).getCallId().equals(callId))
          .mapToLong(ConsumerRecord::timestamp).max().orElseThrow();
      long responded = eventRecords("st-live").stream()
          .filter(r -> cluster.serdes().turnEvent().decode(r.value()).getStep() instanceof ModelResponded m
              && m.getCallId().equals(callId))
          .mapToLong(ConsumerRecord::timestamp).findFirst().orElseThrow();
      assertThat(lastDelta).as(callId).isLessThanOrEqualTo(responded);
    }
  }

  @Test
  void anAgentCanAskForStreamingItselfOnChatCompletions() {
    submit("st-chat", "chatty", "Say something", false);
    RunResult r = awaitFinal("st-chat");
    assertThat(r.getStatus()).as(r.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(r.getFinalOutput()).isEqualTo("Chat streams too, chunk by chunk.");
    ModelRequestView request = model.modelRequests().stream().filter(v -> "gpt-chatty".equals(v.model())).findFirst().orElseThrow();
    assertThat(request.api()).isEqualTo(ModelRequestView.CHAT);
    assertThat(request.stream()).isTrue();
    assertThat(text(deltasOf("st-chat"))).isEqualTo("Chat streams too, chunk by chunk.");
    assertThat(r.getUsage().getInputTokens()).isEqualTo(9);
    assertThat(r.getUsage().getOutputTokens()).isEqualTo(8);
  }

  @Test
  void aStreamedFinalAnswerIsStillCheckedAgainstTheOutputType() {
    submit("st-plan", "planner", "Where to?", true);
    RunResult r = awaitFinal("st-plan");
    assertThat(r.getStatus()).as(r.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(r.getStructuredOutput().getJson()).isEqualTo("{\"city\":\"Oslo\"}");
    List<TurnEvent> steps = eventRecords("st-plan").stream().map(e -> cluster.serdes().turnEvent().decode(e.value())).toList();
    assertThat(steps).extracting(TurnEvent::getStep).filteredOn(io.turnpike.avro.ModelFailed.class::isInstance)
        .singleElement().satisfies(s -> assertThat(((io.turnpike.avro.ModelFailed) s).getError().getCode())
            .isEqualTo("model_output_invalid"));
    // both attempts streamed (the same call, two streams); only the one that follows the schema counts
    Map<String, String> byStream = deltasOf("st-plan").stream().collect(Collectors.groupingBy(ModelStreamDelta::getStreamId,
        java.util.LinkedHashMap::new, Collectors.mapping(ModelStreamDelta::getText, Collectors.joining())));
    assertThat(byStream.values()).containsExactly("{\"town\":\"Oslo\"}", "{\"city\":\"Oslo\"}");
    assertThat(deltasOf("st-plan")).extracting(ModelStreamDelta::getAttempt).startsWith(1).endsWith(2);
  }

  static String text(List<ModelStreamDelta> deltas) {
    return deltas.stream().map(ModelStreamDelta::getText).collect(Collectors.joining());
  }
}
