package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.Annotation;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.HostedCall;
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
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Hosted tools end to end: agent YAML with every hosted kind, a real broker, the runner, the model
 * invoker with openai-java checking every response's shape (responseValidation) against the scripted
 * server, which checks the hosted tool entries and replayed hosted items as the real API would. The
 * assertions are on the exact requests the server got (the tools with their settings, the MCP header
 * resolved from the invoker's environment, the hosted calls replayed on the next turns with the
 * generated image) and on what the run recorded (items, citations, the image kept once, turn events),
 * and that the MCP secret is nowhere in them.
 */
class HostedToolsEndToEndTest {
  static final ObjectMapper JSON = new ObjectMapper();
  /** A 1x1 PNG: what image_generation "draws". */
  static final byte[] PNG = HexFormat.of().parseHex(
      "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082");
  static final String SECRET = "e2e-mcp-secret-7f3a";
  static final String ANSWER = "Oslo is mild today (yr.no). The guide suggests the fjord walk.";

  static final String RESEARCHER = """
      name: researcher
      version: 1
      model: gpt-research
      instructions: Research, then answer with sources.
      tools:
        - {name: web_search, kind: hosted, searchContextSize: low, allowedDomains: [yr.no],
           userLocation: {country: "NO", city: Oslo}}
        - {name: guides, kind: hosted, type: file_search, vectorStoreIds: [vs_nordic], maxNumResults: 3}
        - {name: code_interpreter, kind: hosted}
        - {name: image_generation, kind: hosted, size: 1024x1024, quality: low, outputFormat: png}
        - {name: deepwiki, kind: hosted, type: mcp, serverUrl: "https://mcp.example/mcp", allowedTools: [ask_question],
           requireApproval: never, headers: {Authorization: "Bearer ${TURNPIKE_MCP_E2E_TOKEN}"}}
        - name: get_weather
          parameters: {type: object, properties: {city: {type: string}}, required: [city]}
      """;
  static final String UNSET = """
      name: unset-mcp
      version: 1
      model: gpt-unset
      tools:
        - {name: wiki, kind: hosted, type: mcp, serverUrl: "https://mcp.example/mcp", requireApproval: never,
           headers: {Authorization: "Bearer ${TURNPIKE_MCP_E2E_NEVER_SET}"}}
      """;

  static final String GATED = """
      name: gated
      version: 1
      model: gpt-gated
      modelSettings: {stream: true}     # hosted items also come through a streamed answer
      tools:
        - {name: wiki, kind: hosted, type: mcp, serverUrl: "https://mcp.example/mcp", requireApproval: always}
      """;

  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ModelInvoker invoker;
  private static ToolWorker tools;
  private static TopicTail results;
  private static TopicTail events;
  private static TopicTail states;

  static ScriptedReply researcher(ModelRequestView req) {
    return switch (req.turn()) {
      // searches the web and the guides, runs code, draws, then asks a function tool
      case 0 -> ScriptedReply.toolCall("get_weather", "{\"city\":\"Oslo\"}").withHostedCalls(
          HostedCall.webSearch("oslo weather today", "https://www.yr.no/en/forecast/oslo"),
          HostedCall.fileSearch("oslo walks", List.of(new HostedCall.FileHit("file-guide", "oslo-guide.md", 0.92,
              "The fjord walk starts at Aker Brygge."))),
          HostedCall.codeInterpreter("print(round(7.4))", "7\n"),
          HostedCall.imageGeneration(PNG));
      // the same image again (kept once), a remote MCP tool, and the answer with its citations
      case 1 -> ScriptedReply.text(ANSWER).withHostedCalls(
              HostedCall.imageGeneration(PNG),
              HostedCall.mcpListTools("deepwiki", "ask_question"),
              HostedCall.mcpCall("deepwiki", "ask_question", "{\"q\":\"oslo\"}", "Oslo is the capital of Norway."))
          .withCitations(HostedCall.Citation.url("https://www.yr.no/en/forecast/oslo", "Oslo forecast", 0, 34),
              HostedCall.Citation.file("file-guide", "oslo-guide.md", 35));
      default -> ScriptedReply.text("Tomorrow too.");
    };
  }

  /** Asks for approval to call the wiki; once answered, calls it (approved) or says it could not. */
  static ScriptedReply gated(ModelRequestView req) {
    return req.hostedCalls().stream().filter(h -> h.type().equals("mcp_approval_response")).findFirst()
        .map(answer -> answer.item().path("approve").asBoolean()
            ? ScriptedReply.text("The wiki says 42.").withHostedCalls(HostedCall.mcpCall("wiki", "ask", "{\"q\":\"life\"}", "42"))
            : ScriptedReply.text("I was not allowed to ask the wiki (" + answer.item().path("reason").asText() + ")."))
        .orElseGet(() -> ScriptedReply.hostedOnly(HostedCall.mcpListTools("wiki", "ask"),
            HostedCall.mcpApprovalRequest("wiki", "ask", "{\"q\":\"life\"}")));
  }

  @BeforeAll
  static void start() throws Exception {
    // The invoker resolves header references from its environment, or a system property of the same name.
    System.setProperty("TURNPIKE_MCP_E2E_TOKEN", SECRET);
    cluster = new Cluster();
    cluster.publishAgent(AgentYaml.parse(RESEARCHER, "researcher.yaml"));
    cluster.publishAgent(AgentYaml.parse(UNSET, "unset-mcp.yaml"));
    cluster.publishAgent(AgentYaml.parse(GATED, "gated.yaml"));
    model = ScriptedModelServer.start(req -> "gpt-research".equals(req.model()) ? researcher(req)
        : "gpt-gated".equals(req.model()) ? gated(req) : ScriptedReply.text("should not be asked"));
    Settings settings = Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.runner.model-invoker.enabled", "false",
        "turnpike.runner.application-id", "hosted-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("hosted-runner").toString()));
    runner = RunnerService.start(settings);
    ModelInvokerConfig config = ModelInvokerConfig.of(cluster.bootstrap(), cluster.registryUrl(), model.baseUrl(), "test-key")
        .withGroupId("hosted-e2e-model-invoker");
    invoker = new ModelInvoker(config, new OpenAiModelClient(config, true)).start();
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl())
        .tool("get_weather", inv -> "7 C and cloudy in " + inv.args().get("city").asText())
        .build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
  }

  @AfterAll
  static void stop() {
    System.clearProperty("TURNPIKE_MCP_E2E_TOKEN");
    for (AutoCloseable c : new AutoCloseable[] {results, events, states, tools, invoker, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  @Test
  void hostedCallsAndCitationsAreOfferedRecordedAndReplayed() throws Exception {
    cluster.submit("hosted-1", "researcher", "What should I do in Oslo today?");
    RunResult first = awaitResult("hosted-1", 1);
    assertThat(first.getStatus()).as(first.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(first.getFinalOutput()).isEqualTo(ANSWER);

    List<ModelRequestView> requests = research();
    assertThat(requests).hasSize(2);
    // every call offers the hosted tools with their settings, the MCP header resolved by the invoker
    for (ModelRequestView r : requests) {
      assertThat(r.hostedTools()).containsExactly(
          json("{\"type\":\"web_search\",\"search_context_size\":\"low\",\"user_location\":{\"type\":\"approximate\","
              + "\"country\":\"NO\",\"city\":\"Oslo\"},\"filters\":{\"allowed_domains\":[\"yr.no\"]}}"),
          json("{\"type\":\"file_search\",\"vector_store_ids\":[\"vs_nordic\"],\"max_num_results\":3}"),
          json("{\"type\":\"code_interpreter\",\"container\":{\"type\":\"auto\"}}"),
          json("{\"type\":\"image_generation\",\"size\":\"1024x1024\",\"quality\":\"low\",\"output_format\":\"png\"}"),
          json("{\"type\":\"mcp\",\"server_label\":\"deepwiki\",\"server_url\":\"https://mcp.example/mcp\","
              + "\"allowed_tools\":[\"ask_question\"],\"require_approval\":\"never\","
              + "\"headers\":{\"Authorization\":\"Bearer " + SECRET + "\"}}"));
      assertThat(r.toolNames()).contains("get_weather");
      assertThat(r.raw().path("store").asBoolean(true)).isFalse();
    }
    // the second call replays the first turn's hosted calls, in place, with the generated image
    ModelRequestView second = requests.get(1);
    assertThat(second.input()).extracting(i -> i instanceof InputItem.Hosted h ? h.type() : i.getClass().getSimpleName())
        .containsExactly("Message", "web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call",
            "FunctionCall", "FunctionCallOutput");
    JsonNode search = second.hostedCalls().get(0).item();
    assertThat(search.path("id").asText()).startsWith("ws_");
    assertThat(search.path("status").asText()).isEqualTo("completed");
    assertThat(search.path("action").path("query").asText()).isEqualTo("oslo weather today");
    assertThat(second.hostedCalls().get(1).item().path("results").get(0).path("text").asText())
        .isEqualTo("The fjord walk starts at Aker Brygge.");
    assertThat(second.hostedCalls().get(2).item().path("outputs").get(0).path("logs").asText()).isEqualTo("7\n");
    assertThat(second.hostedCalls().get(3).item().path("result").asText()).isEqualTo(Base64.getEncoder().encodeToString(PNG));

    // RunState: the hosted calls in the conversation, the answer's citations, the image kept once by hash
    await().atMost(Duration.ofSeconds(10)).until(() -> lastState("hosted-1") != null
        && lastState("hosted-1").getStatus() == RunStatus.COMPLETED);
    RunState state = lastState("hosted-1");
    List<HostedToolCallItem> hosted = state.getItems().stream().filter(HostedToolCallItem.class::isInstance)
        .map(HostedToolCallItem.class::cast).toList();
    assertThat(hosted).extracting(HostedToolCallItem::getType).containsExactly("web_search_call", "file_search_call",
        "code_interpreter_call", "image_generation_call", "image_generation_call", "mcp_list_tools", "mcp_call");
    assertThat(hosted).allSatisfy(h -> assertThat(h.getAgent()).isEqualTo("researcher"));
    assertThat(hosted.get(0).getSummary()).isEqualTo("searched \"oslo weather today\", 1 source");
    assertThat(hosted.get(1).getSummary()).isEqualTo("searched files for \"oslo walks\": 1 result");
    assertThat(hosted.get(2).getSummary()).isEqualTo("ran 1 line of code: 7");
    assertThat(hosted.get(6).getSummary()).isEqualTo("deepwiki.ask_question({\"q\":\"oslo\"}): Oslo is the capital of Norway.");
    String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(PNG));
    for (HostedToolCallItem image : List.of(hosted.get(3), hosted.get(4))) {
      assertThat(image.getImage().getData()).as("items refer to the image").isNull();
      assertThat(image.getImage().getSha256()).isEqualTo(sha);
      assertThat(image.getImage().getSize()).isEqualTo(PNG.length);
      assertThat(image.getImage().getMimeType()).isEqualTo("image/png");
      assertThat(JSON.readTree(image.getJson()).path("result").isNull()).as("the base64 is not kept in the JSON").isTrue();
    }
    assertThat(state.getImages()).as("the same image twice is kept once").singleElement()
        .satisfies(i -> assertThat(i.getSha256()).isEqualTo(sha));
    MessageItem answer = (MessageItem) state.getItems().get(state.getItems().size() - 1);
    assertThat(answer.getText()).isEqualTo(ANSWER);
    assertThat(answer.getAnnotations()).containsExactly(
        Annotation.newBuilder().setType("url_citation").setUrl("https://www.yr.no/en/forecast/oslo").setTitle("Oslo forecast")
            .setStartIndex(0).setEndIndex(34).build(),
        Annotation.newBuilder().setType("file_citation").setFileId("file-guide").setFilename("oslo-guide.md").setIndex(35).build());
    assertThat(state.getToolCalls()).isEmpty();
    assertThat(state.getApprovals()).isEmpty();

    // the turn events carry the same, images by reference
    List<ModelResponded> responded = steps("hosted-1").stream().map(TurnEvent::getStep).filter(ModelResponded.class::isInstance)
        .map(ModelResponded.class::cast).toList();
    assertThat(responded).hasSize(2);
    assertThat(responded.get(0).getOutput()).extracting(o -> o.getClass().getSimpleName()).containsExactly(
        "HostedToolCallItem", "HostedToolCallItem", "HostedToolCallItem", "HostedToolCallItem", "FunctionCallItem");
    HostedToolCallItem drawn = (HostedToolCallItem) responded.get(0).getOutput().get(3);
    assertThat(drawn.getImage().getData()).isNull();
    assertThat(drawn.getImage().getSha256()).isEqualTo(sha);
    MessageItem said = (MessageItem) responded.get(1).getOutput().get(3);
    assertThat(said.getAnnotations()).isEqualTo(answer.getAnnotations());

    // a follow-up: the next call replays every hosted call of both turns, each image with its bytes
    RunCommand more = RunCommand.newBuilder().setRunId("hosted-1").setCommandId("more-1").setType(RunCommandType.USER_MESSAGE)
        .setMessage("And tomorrow?").setIssuedAt(Instant.now()).build();
    cluster.send(Topics.RUN_COMMANDS.name(), "hosted-1", cluster.serdes().runCommand().encode(more), "RunCommand");
    RunResult second2 = awaitResult("hosted-1", 2);
    assertThat(second2.getFinalOutput()).isEqualTo("Tomorrow too.");
    ModelRequestView third = research().get(2);
    assertThat(third.hostedCalls()).extracting(InputItem.Hosted::type).containsExactly("web_search_call", "file_search_call",
        "code_interpreter_call", "image_generation_call", "image_generation_call", "mcp_list_tools", "mcp_call");
    assertThat(third.hostedCalls().get(4).item().path("result").asText()).isEqualTo(Base64.getEncoder().encodeToString(PNG));
    assertThat(third.hostedCalls().get(6).item().path("output").asText()).isEqualTo("Oslo is the capital of Norway.");

    // the MCP server's credential reached the request only: not a record of the run has it
    for (TopicTail tail : List.of(events, states, results)) {
      assertThat(tail.forKey("hosted-1")).isNotEmpty().allSatisfy(r ->
          assertThat(new String(r.value(), java.nio.charset.StandardCharsets.ISO_8859_1)).doesNotContain(SECRET));
    }
  }

  @Test
  void anMcpHeaderWhoseVariableIsNotSetFailsTheRunSayingWhich() {
    cluster.submit("hosted-unset", "unset-mcp", "hi");
    RunResult result = awaitResult("hosted-unset", 1);
    assertThat(result.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(result.getError()).contains("hosted tool wiki: header Authorization refers to TURNPIKE_MCP_E2E_NEVER_SET,"
        + " which is not set in the model invoker's environment");
    assertThat(model.modelRequests()).noneMatch(r -> "gpt-unset".equals(r.model()));
  }

  @Test
  void aHostedMcpApprovalRequestWaitsForAHumanAndTheDecisionGoesBackToTheModel() {
    cluster.submit("gated-yes", "gated", "Ask the wiki about life");
    String callId = awaitApproval("gated-yes");
    assertThat(callId).isEqualTo("gated-yes:t1.1");
    RunState waiting = lastState("gated-yes");
    assertThat(waiting.getApprovals()).singleElement().satisfies(a -> {
      assertThat(a.getTool()).isEqualTo("wiki");
      assertThat(a.getArguments()).isEqualTo("{\"server\":\"wiki\",\"tool\":\"ask\",\"arguments\":{\"q\":\"life\"}}");
      assertThat(a.getReason()).isEqualTo("hosted MCP server wiki asks before calling ask (requireApproval)");
    });
    decide("gated-yes", callId, RunCommandType.APPROVE, null);
    RunResult done = awaitResult("gated-yes", 1);
    assertThat(done.getStatus()).as(done.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(done.getFinalOutput()).isEqualTo("The wiki says 42.");

    List<ModelRequestView> asked = model.modelRequests().stream().filter(r -> "gpt-gated".equals(r.model()))
        .filter(r -> "Ask the wiki about life".equals(r.firstUserText())).toList();
    assertThat(asked).hasSize(2);
    assertThat(asked).allSatisfy(r -> assertThat(r.stream()).as("streamed").isTrue());
    assertThat(asked.get(0).hostedTools()).singleElement().satisfies(t -> assertThat(t.path("require_approval").asText())
        .isEqualTo("always"));
    // the request, then the human's decision, as the API takes them
    List<InputItem.Hosted> replayed = asked.get(1).hostedCalls();
    assertThat(replayed).extracting(InputItem.Hosted::type)
        .containsExactly("mcp_list_tools", "mcp_approval_request", "mcp_approval_response");
    assertThat(replayed.get(2).item().path("approval_request_id").asText()).isEqualTo(replayed.get(1).id()).startsWith("mcpr_");
    assertThat(replayed.get(2).item().path("approve").asBoolean()).isTrue();

    RunState state = lastState("gated-yes");
    assertThat(state.getItems()).extracting(i -> i instanceof HostedToolCallItem h ? h.getType() : i.getClass().getSimpleName())
        .containsExactly("MessageItem", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "mcp_call", "MessageItem");
    assertThat(steps("gated-yes")).extracting(e -> e.getStep().getClass().getSimpleName())
        .contains("ApprovalRequested", "ApprovalResolved", "ToolCallCompleted");
  }

  @Test
  void aRejectedHostedMcpCallIsToldToTheModel() {
    cluster.submit("gated-no", "gated", "Ask the wiki, please");
    String callId = awaitApproval("gated-no");
    decide("gated-no", callId, RunCommandType.REJECT, "not today");
    RunResult done = awaitResult("gated-no", 1);
    assertThat(done.getFinalOutput()).isEqualTo("I was not allowed to ask the wiki (a human rejected this call: not today).");
    HostedToolCallItem answer = lastState("gated-no").getItems().stream().filter(HostedToolCallItem.class::isInstance)
        .map(HostedToolCallItem.class::cast).filter(h -> h.getType().equals("mcp_approval_response")).findFirst().orElseThrow();
    assertThat(answer.getSummary()).startsWith("rejected wiki ").endsWith(": a human rejected this call: not today");
  }

  /** The call id of the run's approval, once the run waits for it. */
  private static String awaitApproval(String runId) {
    await().atMost(Duration.ofSeconds(60)).until(() -> lastState(runId) != null
        && lastState(runId).getStatus() == RunStatus.INTERRUPTED && !lastState(runId).getApprovals().isEmpty());
    return lastState(runId).getApprovals().get(0).getCallId();
  }

  private static void decide(String runId, String callId, RunCommandType type, String message) {
    RunCommand cmd = RunCommand.newBuilder().setRunId(runId).setCommandId(runId + "-" + type).setType(type)
        .setCallId(callId).setMessage(message).setIssuedAt(Instant.now()).build();
    cluster.send(Topics.RUN_COMMANDS.name(), runId, cluster.serdes().runCommand().encode(cmd), "RunCommand");
  }

  private static List<ModelRequestView> research() {
    return model.modelRequests().stream().filter(r -> "gpt-research".equals(r.model())).toList();
  }

  private static JsonNode json(String s) throws Exception {
    return JSON.readTree(s);
  }

  /** The {@code n}th final result of a run (a follow-up message gives a run a second one). */
  private static RunResult awaitResult(String runId, int n) {
    await().atMost(Duration.ofSeconds(90)).until(() -> finals(runId).size() >= n);
    return finals(runId).get(n - 1);
  }

  private static List<RunResult> finals(String runId) {
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value()))
        .filter(r -> r.getStatus() != RunStatus.INTERRUPTED && r.getStatus() != RunStatus.RUNNING).toList();
  }

  private static List<TurnEvent> steps(String runId) {
    return events.forKey(runId).stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
  }

  private static RunState lastState(String runId) {
    var recs = states.forKey(runId);
    return recs.isEmpty() ? null : cluster.serdes().runState().decode(recs.get(recs.size() - 1).value());
  }
}
