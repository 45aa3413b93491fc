package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallCompleted;
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
import io.turnpike.sandbox.SandboxService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Agents as the OpenAI Agents SDK writes them, end to end: agent YAML, a real broker, the runner
 * with openai-java checking every response's shape (responseValidation) against the scripted server,
 * the real sandbox drawing and showing an image, a real tool worker. The assertions are on the exact
 * requests the model server received: the strict json_schema format, the encrypted reasoning
 * replayed, the image as an input_image; and on what the run recorded.
 */
class SdkFeaturesEndToEndTest {
  /** A 1x1 PNG. */
  static final byte[] PNG = HexFormat.of().parseHex(
      "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082");
  static final String PNG_URL = "data:image/png;base64," + Base64.getEncoder().encodeToString(PNG);

  static final String MAPPER = """
      name: mapper
      version: 1
      model: gpt-mapper
      instructions: Draw the map, look at it, then plan the trip.
      capabilities: [filesystem, shell]
      modelSettings: {reasoning: {effort: high, summary: auto}, toolChoice: required}
      outputType:
        name: trip_plan
        schema: {type: object, properties: {city: {type: string}, days: {type: integer}}}
      retry:
        model: {attempts: 3, backoff: 100ms, maxBackoff: 100ms}
      maxTurns: 6
      """;
  static final String LOOKUP = """
      name: lookup
      version: 1
      model: gpt-lookup
      tools:
        - name: get_weather
          parameters: {type: object, properties: {city: {type: string}}, required: [city]}
      toolUseBehavior: stop_on_first_tool
      """;

  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ModelInvoker invoker;
  private static SandboxService sandbox;
  private static ToolWorker tools;
  private static TopicTail results;
  private static TopicTail events;
  private static TopicTail states;
  private static final AtomicInteger finalAnswers = new AtomicInteger();

  static ScriptedReply mapper(ModelRequestView req) {
    return switch (req.turn()) {
      case 0 -> ScriptedReply.toolCall("shell", "{\"command\":\"echo " + Base64.getEncoder().encodeToString(PNG)
          + " | base64 -d > map.png && echo drawn\"}").withReasoning("Draw the map first.").withUsageDetails(0, 30);
      case 1 -> ScriptedReply.toolCall("view_image", "{\"path\":\"map.png\"}").withReasoning("Now look at it.")
          .withUsageDetails(512, 40);
      // the first final answer does not follow the schema; the retry does
      default -> finalAnswers.getAndIncrement() == 0
          ? ScriptedReply.text("{\"town\":\"Oslo\"}").withUsage(900, 12).withUsageDetails(512, 50)
          : ScriptedReply.text("{\"city\":\"Oslo\",\"days\":2}").withReasoning("Plan it.").withUsage(900, 14)
              .withUsageDetails(768, 60);
    };
  }

  static ScriptedReply lookup(ModelRequestView req) {
    return req.turn() == 0 ? ScriptedReply.toolCall("get_weather", "{\"city\":\"Oslo\"}")
        : ScriptedReply.text("the model should not have been asked again");
  }

  @BeforeAll
  static void start() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/bwrap")),
        "bubblewrap (/usr/bin/bwrap) is not installed: the local sandbox backend cannot run view_image here");
    cluster = new Cluster();
    cluster.publishAgent(AgentYaml.parse(MAPPER, "mapper.yaml"));
    cluster.publishAgent(AgentYaml.parse(LOOKUP, "lookup.yaml"));
    model = ScriptedModelServer.start(req -> "gpt-lookup".equals(req.model()) ? lookup(req) : mapper(req));
    Settings settings = Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.runner.model-invoker.enabled", "false",
        "turnpike.runner.application-id", "sdk-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("sdk-runner").toString(),
        "turnpike.sandbox.root", Files.createTempDirectory("sdk-sandbox").toString()));
    runner = RunnerService.start(settings);
    // the invoker on its own, so openai-java checks every scripted response against the API's shapes
    ModelInvokerConfig config = ModelInvokerConfig.of(cluster.bootstrap(), cluster.registryUrl(), model.baseUrl(), "test-key")
        .withGroupId("sdk-e2e-model-invoker");
    invoker = new ModelInvoker(config, new OpenAiModelClient(config, true)).start();
    sandbox = SandboxService.start(settings);
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("get_weather", inv -> "sunny in " + inv.args().get("city").asText())
        .build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, events, states, tools, sandbox, invoker, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  static RunResult awaitFinal(String runId) {
    await().atMost(Duration.ofSeconds(90)).until(() -> results.forKey(runId).stream()
        .map(r -> cluster.serdes().runResult().decode(r.value())).anyMatch(r -> RunStatusCheck.terminal(r.getStatus())));
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value()))
        .filter(r -> RunStatusCheck.terminal(r.getStatus())).findFirst().orElseThrow();
  }

  static List<TurnEvent> steps(String runId) {
    return events.forKey(runId).stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
  }

  @Test
  void aReasoningAgentDrawsLooksAtAndPlansWithAStructuredAnswer() throws Exception {
    cluster.submit("sdk-map", "mapper", "Plan two days in Oslo from a map");
    RunResult result = awaitFinal("sdk-map");
    assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("{\"city\":\"Oslo\",\"days\":2}");
    assertThat(result.getStructuredOutput().getJson()).isEqualTo("{\"city\":\"Oslo\",\"days\":2}");
    assertThat(result.getStructuredOutput().getSchemaName()).isEqualTo("trip_plan");
    assertThat(result.getStructuredOutput().getSchemaSha256()).hasSize(64);

    List<ModelRequestView> requests = model.modelRequests().stream().filter(r -> "gpt-mapper".equals(r.model())).toList();
    assertThat(requests).hasSize(4); // draw, look, an answer that breaks the schema, its retry
    for (ModelRequestView r : requests) {
      JsonNode format = r.raw().path("text").path("format");
      assertThat(format.path("type").asText()).isEqualTo("json_schema");
      assertThat(format.path("name").asText()).isEqualTo("trip_plan");
      assertThat(format.path("strict").asBoolean()).isTrue();
      assertThat(format.path("schema").path("additionalProperties").asBoolean(true)).isFalse();
      assertThat(format.path("schema").path("required")).extracting(JsonNode::asText).containsExactly("city", "days");
      assertThat(r.raw().path("include")).extracting(JsonNode::asText).containsExactly("reasoning.encrypted_content");
      assertThat(r.raw().path("reasoning").path("effort").asText()).isEqualTo("high");
      assertThat(r.raw().path("store").asBoolean(true)).isFalse();
    }
    // toolChoice: required until the agent has called a tool (resetToolChoice)
    assertThat(requests.get(0).raw().path("tool_choice").asText()).isEqualTo("required");
    assertThat(requests.get(1).raw().has("tool_choice")).isFalse();

    // the reasoning of every earlier turn comes back with its encrypted content, in place
    ModelRequestView third = requests.get(2);
    assertThat(third.reasoning()).extracting(InputItem.Reasoning::encryptedContent).containsExactly(
        "enc:" + b64("Draw the map first."), "enc:" + b64("Now look at it."));
    assertThat(third.input()).extracting(i -> i.getClass().getSimpleName()).containsExactly(
        "Message", "Reasoning", "FunctionCall", "FunctionCallOutput", "Reasoning", "FunctionCall", "FunctionCallOutput");
    // the image the sandbox returned reaches the model, as an input_image of view_image's output
    JsonNode viewed = third.raw().path("input").get(6);
    assertThat(viewed.path("type").asText()).isEqualTo("function_call_output");
    assertThat(viewed.path("output").get(0).path("type").asText()).isEqualTo("input_text");
    assertThat(viewed.path("output").get(0).path("text").asText()).startsWith("image map.png (image/png");
    assertThat(viewed.path("output").get(1).path("type").asText()).isEqualTo("input_image");
    assertThat(viewed.path("output").get(1).path("image_url").asText()).isEqualTo(PNG_URL);
    assertThat(third.imageUrls()).containsExactly(PNG_URL);
    // the retry asks the same again
    assertThat(requests.get(3).raw().path("input")).isEqualTo(third.raw().path("input"));

    List<TurnEvent> steps = steps("sdk-map");
    ModelFailed invalid = steps.stream().map(TurnEvent::getStep).filter(ModelFailed.class::isInstance).map(ModelFailed.class::cast)
        .findFirst().orElseThrow();
    assertThat(invalid.getError().getCode()).isEqualTo("model_output_invalid");
    assertThat(invalid.getError().getMessage()).contains("output type 'trip_plan'").contains("city");
    assertThat(invalid.getResendAt()).isNotNull();
    assertThat(invalid.getUsage().getReasoningTokens()).isEqualTo(50);
    assertThat(steps.stream().map(TurnEvent::getStep).filter(ModelResponded.class::isInstance).map(ModelResponded.class::cast)
        .map(m -> m.getUsage().getReasoningTokens())).containsExactly(30L, 40L, 60L);
    ToolCallCompleted shown = steps.stream().map(TurnEvent::getStep).filter(ToolCallCompleted.class::isInstance)
        .map(ToolCallCompleted.class::cast).filter(c -> c.getName().equals("view_image")).findFirst().orElseThrow();
    assertThat(shown.getImages()).singleElement().satisfies(i -> {
      assertThat(i.getData()).isNull();
      assertThat(i.getSha256()).isEqualTo(sha256(PNG));
      assertThat(i.getSize()).isEqualTo(PNG.length);
    });

    await().atMost(Duration.ofSeconds(10)).until(() -> lastState("sdk-map") != null
        && lastState("sdk-map").getStatus() == RunStatus.COMPLETED);
    RunState last = lastState("sdk-map");
    assertThat(last.getStructuredOutput()).isEqualTo(result.getStructuredOutput());
    assertThat(last.getImages()).singleElement().satisfies(i -> {
      assertThat(i.getData()).as("turnpike.run-state carries references, not bytes").isNull();
      assertThat(i.getSha256()).isEqualTo(sha256(PNG));
    });
    assertThat(last.getUsage().getModelCalls()).isEqualTo(4);
    assertThat(last.getUsage().getReasoningTokens()).isEqualTo(30 + 40 + 50 + 60);
    assertThat(last.getUsage().getCachedInputTokens()).isEqualTo(512 + 512 + 768);
    assertThat(result.getUsage()).isEqualTo(last.getUsage());
  }

  @Test
  void stopOnFirstToolEndsTheRunWithTheToolsOutput() {
    cluster.submit("sdk-lookup", "lookup", "Weather in Oslo?");
    RunResult result = awaitFinal("sdk-lookup");
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("sunny in Oslo");
    assertThat(result.getStructuredOutput()).isNull();
    assertThat(model.modelRequests().stream().filter(r -> "gpt-lookup".equals(r.model()))).hasSize(1);
  }

  private static RunState lastState(String runId) {
    var recs = states.forKey(runId);
    return recs.isEmpty() ? null : cluster.serdes().runState().decode(recs.get(recs.size() - 1).value());
  }

  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  private static String sha256(byte[] bytes) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
  }

  /** Statuses a run ends in (INTERRUPTED is an interim result). */
  private static final class RunStatusCheck {
    static boolean terminal(RunStatus s) {
      return s == RunStatus.COMPLETED || s == RunStatus.FAILED || s == RunStatus.CANCELLED || s == RunStatus.GUARDRAIL_TRIPPED;
    }
  }
}
