package io.turnpike.mcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.McpToolList;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.ToolResult;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.devkit.registry.DevSchemaRegistry;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.McpSerdes;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * MCP tools end to end (issue #14): a real broker and registry, the real runner, a scripted model, the MCP
 * gateway, and the real reference MCP servers from npm (tools/mcp-servers): server-filesystem and
 * server-everything over stdio, server-everything over Streamable HTTP. Agents come from YAML.
 */
class McpGatewayEndToEndTest {
  private static EmbeddedKafka kafka;
  private static DevSchemaRegistry registry;
  private static TurnpikeSerdes serdes;
  private static KafkaProducer<String, byte[]> producer;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ToolGateway gateway;
  private static Process httpServer;
  private static TopicTail results;
  private static TopicTail toolResults;
  private static Path files;
  /** Whether bubblewrap runs here: then the files server runs isolated ({@code isolate:}). */
  private static boolean isolated;

  static final String AGENT = """
      name: mcp-user
      version: 1
      model: scripted
      instructions: You use MCP tools.
      tools:
        - kind: mcp
          server: files
          deny: [write_file, edit_file, move_file, create_directory]
        - kind: mcp
          server: every
          allow: [echo, get-sum, trigger-long-running-operation]
          requireApproval: [get-sum]
        - kind: mcp
          server: web
          allow: [echo, get-structured-content, get-tiny-image]
      """;

  static ScriptedReply script(ModelRequestView req) {
    String input = req.firstUserText() == null ? "" : req.firstUserText();
    List<String> outputs = new ArrayList<>();
    req.input().stream().filter(i -> i instanceof InputItem.FunctionCallOutput)
        .forEach(i -> outputs.add(((InputItem.FunctionCallOutput) i).output()));
    int turn = req.turn();
    if (input.startsWith("list") && turn == 0) {
      return ScriptedReply.toolCall("files__read_text_file", "{\"path\":\"" + files.resolve("notes.txt") + "\"}");
    }
    if (input.startsWith("sum") && turn == 0) {
      return ScriptedReply.toolCall("every__get-sum", "{\"a\":2,\"b\":3}");
    }
    if (input.startsWith("crash") && turn == 0) {
      return ScriptedReply.toolCall("every__trigger-long-running-operation", "{\"duration\":60,\"steps\":60}");
    }
    if (input.startsWith("crash") && turn == 1) {
      return ScriptedReply.toolCall("every__echo", "{\"message\":\"again\"}");
    }
    if (input.startsWith("image") && turn == 0) {
      return ScriptedReply.toolCall("web__get-tiny-image", "{}");
    }
    if (input.startsWith("web") && turn == 0) {
      return ScriptedReply.toolCalls(List.of(new ScriptedReply.ToolCallSpec("web__echo", "{\"message\":\"over http\"}"),
          new ScriptedReply.ToolCallSpec("web__get-structured-content", "{\"location\":\"New York\"}")));
    }
    return ScriptedReply.text("Done: " + String.join(" | ", outputs));
  }

  @BeforeAll
  static void start() throws Exception {
    Assumptions.assumeTrue(McpTestServers.available(), "node and npm are needed to run the reference MCP servers");
    Path everything = McpTestServers.serverJs("server-everything");
    Path filesystem = McpTestServers.serverJs("server-filesystem");
    files = Files.createTempDirectory("mcp-files").toRealPath();
    Files.writeString(files.resolve("notes.txt"), "the meeting is at noon");

    kafka = EmbeddedKafka.start();
    registry = DevSchemaRegistry.start(kafka.bootstrapServers());
    serdes = TurnpikeSerdes.forUrl(registry.url());
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
      TopicAdmin.ensureTopics(admin, 3, (short) 1);
    }
    producer = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
        new StringSerializer(), new ByteArraySerializer());

    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    ProcessBuilder http = new ProcessBuilder("node", everything.toString(), "streamableHttp")
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    http.environment().put("PORT", String.valueOf(port));
    httpServer = http.start();
    int httpPort = port;
    await().atMost(Duration.ofSeconds(30)).until(() -> accepts(httpPort));

    isolated = bubblewrapRuns();
    Path config = Files.createTempFile("mcp-servers", ".yaml");
    Files.writeString(config, """
        servers:
          files:
            command: node
            args: ["%s", "%s", "/"]
            %s
          every:
            command: node
            args: ["%s", "stdio"]
            env: {MCP_TEST_VAR: visible}
          web:
            url: http://127.0.0.1:%d/mcp
            headers: {X-Client: "${TURNPIKE_MCP_TEST_TOKEN}"}
        """.formatted(filesystem, files,
        isolated ? "isolate: {read: [\"" + McpTestServers.dir() + "\"], write: [\"" + files + "\"]}" : "",
        everything, port));
    Settings settings = Settings.of(Map.of(
        "turnpike.schema.registry.url", registry.url(),
        "turnpike.bootstrap.servers", kafka.bootstrapServers(),
        McpGatewayConfig.SERVERS, config.toString(),
        McpGatewayConfig.CALL_TIMEOUT, "20s"));
    gateway = new ToolGateway(McpGatewayConfig.from(settings), Map.of(), Map.of(),
        io.turnpike.telemetry.Telemetry.noop("mcp-gateway"), e -> {},
        name -> name.equals("TURNPIKE_MCP_TEST_TOKEN") ? "test-token" : null).start();
    await().atMost(Duration.ofSeconds(60)).until(() -> !gateway.serversUp().containsValue(false));

    model = ScriptedModelServer.start(McpGatewayEndToEndTest::script);
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", registry.url(),
        "turnpike.bootstrap.servers", kafka.bootstrapServers(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "k",
        "turnpike.runner.application-id", "mcp-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("mcp-runner").toString())));
    results = new TopicTail(kafka.bootstrapServers(), Topics.RUN_RESULTS.name());
    toolResults = new TopicTail(kafka.bootstrapServers(), Topics.TOOL_RESULTS.name());
    AgentDefinition agent = AgentYaml.parse(AGENT, "mcp-user.yaml");
    send(Topics.AGENTS.name(), agent.getName(), serdes.agentDefinition().encode(agent), "AgentDefinition");
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, toolResults, runner, gateway, model, producer, registry, kafka}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing
      }
    }
    if (httpServer != null) {
      httpServer.destroy();
    }
  }

  @Test
  void anAgentSeesTheServersToolsFilteredAndCallsOne() {
    submit("mcp-list", "list my notes");
    RunResult done = awaitStatus("mcp-list", RunStatus.COMPLETED);
    // the server answers text and the same as structured content; the model gets both
    assertThat(done.getFinalOutput())
        .isEqualTo("Done: the meeting is at noon\nstructured content: {\"content\":\"the meeting is at noon\"}");

    ModelRequestView first = requestsOf("list my notes").getFirst();
    assertThat(first.toolNames()).contains("files__read_text_file", "files__list_directory", "every__echo", "every__get-sum",
        "every__trigger-long-running-operation", "web__echo", "web__get-structured-content");
    // deny and allow: filtered tools are not offered at all, nor is the server entry itself
    assertThat(first.toolNames()).doesNotContain("files__write_file", "files__edit_file", "every__get-tiny-image",
        "web__get-sum", "mcp:files");
    JsonNode readFile = tool(first, "files__read_text_file");
    assertThat(readFile.path("parameters").path("properties").has("path")).isTrue();
    assertThat(readFile.path("description").asText()).isNotBlank();
  }

  @Test
  void anApprovalRequiredToolWaitsForAHuman() {
    submit("mcp-sum", "sum two numbers");
    RunResult waiting = awaitStatus("mcp-sum", RunStatus.INTERRUPTED);
    assertThat(waiting.getInterruptions()).singleElement().satisfies(a -> assertThat(a.getTool()).isEqualTo("every__get-sum"));
    assertThat(toolResults.forKey("mcp-sum")).isEmpty();

    RunCommand approve = RunCommand.newBuilder().setRunId("mcp-sum").setCommandId(UUID.randomUUID().toString())
        .setType(RunCommandType.APPROVE).setCallId(waiting.getInterruptions().getFirst().getCallId())
        .setIssuedAt(Instant.now()).build();
    send(Topics.RUN_COMMANDS.name(), "mcp-sum", serdes.runCommand().encode(approve), "RunCommand");
    assertThat(awaitStatus("mcp-sum", RunStatus.COMPLETED).getFinalOutput()).startsWith("Done: ").contains("5");
  }

  @Test
  void aServerThatCrashesDuringACallIsReportedAndRestarted() {
    long restartsBefore = gateway.restarts("every");
    ProcessHandle server = gateway.process("every").orElseThrow();
    submit("mcp-crash", "crash the server");
    await().atMost(Duration.ofSeconds(30)).until(() -> gateway.callsInFlight() > 0);
    server.destroyForcibly();

    RunResult done = awaitStatus("mcp-crash", RunStatus.COMPLETED);
    assertThat(done.getFinalOutput()).contains("crashed during the call of trigger-long-running-operation")
        .contains("Echo: again");
    assertThat(gateway.restarts("every")).isGreaterThan(restartsBefore);
    assertThat(gateway.process("every")).hasValueSatisfying(p -> assertThat(p.pid()).isNotEqualTo(server.pid()));
  }

  @Test
  void aStreamableHttpServerAnswersTextAndStructuredContent() {
    submit("mcp-web", "web tools");
    RunResult done = awaitStatus("mcp-web", RunStatus.COMPLETED);
    assertThat(done.getFinalOutput()).contains("Echo: over http").contains("temperature");
  }

  @Test
  void anImageAToolReturnsIsShownToTheModel() {
    submit("mcp-image", "image please");
    RunResult done = awaitStatus("mcp-image", RunStatus.COMPLETED);
    assertThat(done.getFinalOutput()).contains("[image 1: image/png");
    ModelRequestView second = requestsOf("image please").getLast();
    assertThat(second.imageUrls()).singleElement().satisfies(url -> assertThat(url).startsWith("data:image/png;base64,"));
  }

  @Test
  void aCallOfAnUnknownToolOfAKnownServerIsAToolError() {
    ToolCall call = ToolCall.newBuilder().setRunId("mcp-unknown").setCallId("mcp-unknown:t1.1").setAgent("mcp-user")
        .setToolCallId("c1").setName("files__no_such_tool").setArguments("{}")
        .setDeadline(Instant.now().plusSeconds(60)).build();
    send(Topics.TOOL_REQUESTS.name(), "mcp-unknown", serdes.toolCall().encode(call), "ToolCall");
    await().atMost(Duration.ofSeconds(30)).until(() -> !toolResults.forKey("mcp-unknown").isEmpty());
    ToolResult r = serdes.toolResult().decode(toolResults.forKey("mcp-unknown").getFirst().value());
    assertThat(r.getIsError()).isTrue();
    assertThat(r.getOutput()).contains("has no tool files__no_such_tool").contains("files__read_text_file");
  }

  @Test
  void aCallSentAgainIsAnsweredAgainWithoutASecondMcpCall() throws IOException {
    Path written = files.resolve("once.txt");
    ToolCall call = ToolCall.newBuilder().setRunId("mcp-again").setCallId("mcp-again:t1.1").setAgent("mcp-user")
        .setToolCallId("c1").setName("files__write_file")
        .setArguments("{\"path\":\"" + written + "\",\"content\":\"once\"}")
        .setDeadline(Instant.now().plusSeconds(60)).build();
    send(Topics.TOOL_REQUESTS.name(), "mcp-again", serdes.toolCall().encode(call), "ToolCall");
    await().atMost(Duration.ofSeconds(30)).until(() -> toolResults.forKey("mcp-again").size() == 1);
    assertThat(Files.readString(written)).isEqualTo("once");
    Files.delete(written);

    // the runner re-sends a call whose answer was late: same call id, attempt 2
    send(Topics.TOOL_REQUESTS.name(), "mcp-again", serdes.toolCall().encode(ToolCall.newBuilder(call).setAttempt(2).build()),
        "ToolCall");
    await().atMost(Duration.ofSeconds(30)).until(() -> toolResults.forKey("mcp-again").size() == 2);
    List<String> outputs = toolResults.forKey("mcp-again").stream()
        .map(r -> serdes.toolResult().decode(r.value()).getOutput()).toList();
    assertThat(outputs.get(1)).isEqualTo(outputs.get(0));
    assertThat(written).doesNotExist();
  }

  @Test
  void aStdioServerGetsItsConfiguredEnvironmentOnly() {
    ToolResult r = direct("mcp-env", "every__get-env", "{}");
    assertThat(r.getOutput()).contains("\"MCP_TEST_VAR\": \"visible\"");
    for (String name : System.getenv().keySet()) {
      // the MCP SDK passes on a few harmless variables of its own (as the TypeScript SDK does)
      if (!List.of("PATH", "HOME", "LANG", "LOGNAME", "SHELL", "TERM", "USER").contains(name)) {
        assertThat(r.getOutput()).as("the gateway's own variable %s", name).doesNotContain("\"" + name + "\":");
      }
    }
  }

  @Test
  void anIsolatedServerSeesOnlyWhatItWasGiven() {
    Assumptions.assumeTrue(isolated, "bubblewrap (bwrap) is needed to isolate a server");
    ToolResult r = direct("mcp-isolated", "files__list_directory", "{\"path\":\"/\"}");
    assertThat(r.getIsError()).as(r.getOutput()).isFalse();
    assertThat(r.getOutput()).contains("[DIR] usr");
    for (String hostOnly : List.of("home", "root", "var", "opt", "srv")) {
      if (Files.isDirectory(Path.of("/", hostOnly))) {
        assertThat(r.getOutput()).doesNotContainPattern("(?m)^\\[DIR\\] " + hostOnly + "$");
      }
    }
    assertThat(gateway.process("files").orElseThrow().info().command()).hasValueSatisfying(c -> assertThat(c).endsWith("bwrap"));
  }

  @Test
  void everyServersToolListIsOnTheCompactedTopic() {
    try (TopicTail lists = new TopicTail(kafka.bootstrapServers(), Topics.MCP_TOOLS.name())) {
      await().atMost(Duration.ofSeconds(30)).until(() -> !lists.forKey("web").isEmpty() && !lists.forKey("files").isEmpty());
      var recs = lists.forKey("files");
      McpToolList files = McpSerdes.forUrl(registry.url()).toolList().decode(recs.getLast().value());
      assertThat(files.getTools()).anySatisfy(t -> {
        assertThat(t.getName()).isEqualTo("read_text_file");
        assertThat(t.getModelName()).isEqualTo("files__read_text_file");
      });
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  static JsonNode tool(ModelRequestView req, String name) {
    for (JsonNode t : req.raw().path("tools")) {
      if (name.equals(t.path("name").asText()) || name.equals(t.path("function").path("name").asText())) {
        return t.has("function") ? t.get("function") : t;
      }
    }
    throw new AssertionError("no tool " + name + " in " + req.raw().path("tools"));
  }

  static List<ModelRequestView> requestsOf(String firstUserText) {
    return model.modelRequests().stream().filter(r -> firstUserText.equals(r.firstUserText())).toList();
  }

  static void submit(String runId, String input) {
    RunRequest req = RunRequest.newBuilder().setRunId(runId).setAgent("mcp-user").setInput(input)
        .setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
    send(Topics.RUN_REQUESTS.name(), runId, serdes.runRequest().encode(req), "RunRequest");
  }

  static RunResult awaitStatus(String runId, RunStatus status) {
    await().atMost(Duration.ofSeconds(90)).until(() -> resultsOf(runId).stream().anyMatch(r -> r.getStatus() == status));
    return resultsOf(runId).stream().filter(r -> r.getStatus() == status).reduce((a, b) -> b).orElseThrow();
  }

  static List<RunResult> resultsOf(String runId) {
    return results.forKey(runId).stream().map(r -> serdes.runResult().decode(r.value())).toList();
  }

  static void send(String topic, String key, byte[] value, String type) {
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, key, value);
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.TYPE, type);
    try {
      producer.send(rec).get();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Calls a tool directly (as the runner would), and waits for its answer. */
  static ToolResult direct(String runId, String tool, String arguments) {
    ToolCall call = ToolCall.newBuilder().setRunId(runId).setCallId(runId + ":t1.1").setAgent("mcp-user")
        .setToolCallId("c1").setName(tool).setArguments(arguments).setDeadline(Instant.now().plusSeconds(60)).build();
    send(Topics.TOOL_REQUESTS.name(), runId, serdes.toolCall().encode(call), "ToolCall");
    await().atMost(Duration.ofSeconds(30)).until(() -> !toolResults.forKey(runId).isEmpty());
    return serdes.toolResult().decode(toolResults.forKey(runId).getFirst().value());
  }

  static boolean bubblewrapRuns() {
    try {
      Process p = new ProcessBuilder("bwrap", "--ro-bind", "/", "/", "--unshare-all", "--", "/bin/true")
          .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      return p.waitFor(20, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  static boolean accepts(int port) {
    try (Socket s = new Socket("127.0.0.1", port)) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
