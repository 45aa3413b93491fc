package io.turnpike.runner.model;

import static io.turnpike.runner.model.TestCalls.call;
import static io.turnpike.runner.model.TestCalls.functionCall;
import static io.turnpike.runner.model.TestCalls.message;
import static io.turnpike.runner.model.TestCalls.output;
import static io.turnpike.runner.model.TestCalls.tool;
import static io.turnpike.runner.model.TestCalls.user;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.Role;
import io.turnpike.avro.ToolKind;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The real openai-java client against the devkit's scripted OpenAI-compatible HTTP server. */
class OpenAiModelClientTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://topology-test");
  static final String API_KEY = "sk-test-secret-4711-do-not-leak";

  ScriptedModelServer server;
  OpenAiModelClient client;

  OpenAiModelClient client(UnaryOperator<ModelInvokerConfig> tweak) {
    ModelInvokerConfig config = tweak.apply(ModelInvokerConfig.of("unused:9092", "mock://model-tests", server.baseUrl(), API_KEY)
        .withTimeout(Duration.ofSeconds(10)));
    client = new OpenAiModelClient(config, true);
    return client;
  }

  @AfterEach
  void tearDown() {
    if (client != null) {
      client.close();
    }
    if (server != null) {
      server.close();
    }
  }

  static ModelCall conversationWithToolRound(ModelApi api) {
    return call("run-r", "call-r", List.of(
        user("Weather in Paris and Rome?"),
        message(Role.ASSISTANT, "Let me check."),
        functionCall("call_a", "get_weather", "{\"city\":\"Paris\"}"),
        functionCall("call_b", "get_weather", "{\"city\":\"Rome\"}"),
        output("call_a", "get_weather", "sunny"),
        output("call_b", "get_weather", "rain")))
        .setTools(List.of(tool("get_weather", ToolKind.FUNCTION), tool("shell", ToolKind.SANDBOX)))
        .setSettings(TestCalls.settings().setApi(api).build())
        .build();
  }

  @Test
  void textReply() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("Hello there.").withUsage(12, 3)));
    ModelResult r = client(c -> c).invoke(TestCalls.simple("run-1", "call-1", "Hi"));

    assertThat(r.getError()).isNull();
    assertThat(r.getRunId()).isEqualTo("run-1");
    assertThat(r.getCallId()).isEqualTo("call-1");
    assertThat(r.getOutput()).singleElement().isInstanceOfSatisfying(MessageItem.class, m -> {
      assertThat(m.getRole()).isEqualTo(Role.ASSISTANT);
      assertThat(m.getText()).isEqualTo("Hello there.");
      assertThat(m.getAgent()).isEqualTo("assistant");
    });
    assertThat(r.getUsage().getInputTokens()).isEqualTo(12);
    assertThat(r.getUsage().getOutputTokens()).isEqualTo(3);
    assertThat(r.getUsage().getModelCalls()).isEqualTo(1);
    assertThat(r.getResponseId()).isNotBlank();
    assertThat(r.getLatencyMs()).isGreaterThanOrEqualTo(0);

    ModelRequestView req = server.modelRequests().getFirst();
    assertThat(req.api()).isEqualTo(ModelRequestView.RESPONSES);
    assertThat(req.model()).isEqualTo("gpt-test");
    assertThat(req.instructions()).isEqualTo("Be brief.");
    assertThat(req.raw().path("store").asBoolean(true)).isFalse();
    assertThat(req.header(OpenAiModelClient.CALL_ID_HEADER)).isEqualTo("call-1");
    assertThat(req.header(OpenAiModelClient.RUN_ID_HEADER)).isEqualTo("run-1");
  }

  @Test
  void twoParallelToolCalls() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.toolCalls(List.of(
        new ScriptedReply.ToolCallSpec("get_weather", "{\"city\":\"Paris\"}"),
        new ScriptedReply.ToolCallSpec("get_time", "{\"tz\":\"Europe/Rome\"}")))));
    ModelCall c = call("run-2", "call-2", List.of(user("Weather in Paris, time in Rome?")))
        .setTools(List.of(tool("get_weather", ToolKind.FUNCTION), tool("get_time", ToolKind.FUNCTION)))
        .build();
    ModelResult r = client(x -> x).invoke(c);

    assertThat(r.getError()).isNull();
    assertThat(r.getOutput()).hasSize(2).allSatisfy(o -> assertThat(o).isInstanceOf(FunctionCallItem.class));
    FunctionCallItem a = (FunctionCallItem) r.getOutput().get(0);
    FunctionCallItem b = (FunctionCallItem) r.getOutput().get(1);
    assertThat(a.getName()).isEqualTo("get_weather");
    assertThat(a.getArguments()).isEqualTo("{\"city\":\"Paris\"}");
    assertThat(b.getName()).isEqualTo("get_time");
    assertThat(b.getArguments()).isEqualTo("{\"tz\":\"Europe/Rome\"}");
    assertThat(a.getToolCallId()).isNotBlank().isNotEqualTo(b.getToolCallId());
    assertThat(a.getItemId()).isNotBlank();
    assertThat(server.modelRequests().getFirst().toolNames()).containsExactly("get_weather", "get_time");
  }

  static final List<InputItem> EXPECTED_REPLAY = List.of(
      new InputItem.Message("user", "Weather in Paris and Rome?"),
      new InputItem.Message("assistant", "Let me check."),
      new InputItem.FunctionCall("call_a", "get_weather", "{\"city\":\"Paris\"}"),
      new InputItem.FunctionCall("call_b", "get_weather", "{\"city\":\"Rome\"}"),
      new InputItem.FunctionCallOutput("call_a", "sunny"),
      new InputItem.FunctionCallOutput("call_b", "rain"));

  @Test
  void replayedConversationArrivesIntact() {
    server = ScriptedModelServer.start(Scripts.byTurn(
        ScriptedReply.text("turn 0"), ScriptedReply.text("turn 1"), ScriptedReply.text("It is sunny and rainy.")));
    ModelResult r = client(c -> c).invoke(conversationWithToolRound(ModelApi.RESPONSES));

    assertThat(r.getError()).isNull();
    assertThat(((MessageItem) r.getOutput().getFirst()).getText()).isEqualTo("It is sunny and rainy.");
    ModelRequestView req = server.modelRequests().getFirst();
    assertThat(req.input()).containsExactlyElementsOf(EXPECTED_REPLAY);
    assertThat(req.toolNames()).containsExactly("get_weather", "shell");
    assertThat(req.turn()).isEqualTo(2);
  }

  @Test
  void chatCompletionsWhenTheCallAsksForIt() {
    server = ScriptedModelServer.start(Scripts.byTurn(
        ScriptedReply.text("turn 0"), ScriptedReply.text("turn 1"),
        ScriptedReply.toolCalls(List.of(
            new ScriptedReply.ToolCallSpec("get_weather", "{\"city\":\"Oslo\"}"),
            new ScriptedReply.ToolCallSpec("get_weather", "{\"city\":\"Bergen\"}"))).withUsage(40, 9)));
    ModelResult r = client(c -> c).invoke(conversationWithToolRound(ModelApi.CHAT_COMPLETIONS));

    assertThat(r.getError()).isNull();
    ModelRequestView req = server.modelRequests().getFirst();
    assertThat(req.api()).isEqualTo(ModelRequestView.CHAT);
    assertThat(req.instructions()).isEqualTo("Be brief.");
    assertThat(req.input()).containsExactlyElementsOf(EXPECTED_REPLAY);
    assertThat(r.getOutput()).hasSize(2);
    assertThat(((FunctionCallItem) r.getOutput().get(1)).getArguments()).isEqualTo("{\"city\":\"Bergen\"}");
    assertThat(r.getUsage().getInputTokens()).isEqualTo(40);
    assertThat(r.getUsage().getOutputTokens()).isEqualTo(9);
  }

  @Test
  void chatCompletionsWhenConfiguredAndTheModelOverridden() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("hej")));
    ModelResult r = client(c -> c.withApi(ModelInvokerConfig.Api.CHAT).withModelOverride("llama3.2"))
        .invoke(TestCalls.simple("run-3", "call-3", "hello"));
    assertThat(r.getError()).isNull();
    assertThat(((MessageItem) r.getOutput().getFirst()).getText()).isEqualTo("hej");
    ModelRequestView req = server.modelRequests().getFirst();
    assertThat(req.api()).isEqualTo(ModelRequestView.CHAT);
    assertThat(req.model()).isEqualTo("llama3.2");
  }

  @Test
  void serverErrorsAreRetriedByOpenAiJava() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("finally")));
    server.failNext(2, 500);
    ModelResult r = client(c -> c.withMaxRetries(3)).invoke(TestCalls.simple("run-4", "call-4", "hi"));
    assertThat(r.getError()).isNull();
    assertThat(((MessageItem) r.getOutput().getFirst()).getText()).isEqualTo("finally");
    assertThat(server.requestCount()).isEqualTo(3);
  }

  @Test
  void serverErrorsThatOutlastTheRetriesAreRetryable() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.httpError(503, "overloaded")));
    ModelResult r = client(c -> c.withMaxRetries(1)).invoke(TestCalls.simple("run-5", "call-5", "hi"));
    assertThat(r.getOutput()).isEmpty();
    assertThat(r.getError().getCode()).isEqualTo("model_http_503");
    assertThat(r.getError().getRetryable()).isTrue();
    assertThat(r.getError().getMessage()).contains("overloaded");
    assertThat(server.requestCount()).isEqualTo(2);
  }

  @Test
  void badRequestIsNotRetryable() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.httpError(400, "unknown parameter: foo")));
    ModelResult r = client(c -> c.withMaxRetries(3)).invoke(TestCalls.simple("run-6", "call-6", "hi"));
    assertThat(r.getRunId()).isEqualTo("run-6");
    assertThat(r.getCallId()).isEqualTo("call-6");
    assertThat(r.getError().getCode()).isEqualTo("model_http_400");
    assertThat(r.getError().getRetryable()).isFalse();
    assertThat(r.getError().getMessage()).contains("unknown parameter");
    assertThat(server.requestCount()).as("openai-java does not retry a 400").isEqualTo(1);
  }

  @Test
  void rateLimitIsRetryable() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.httpError(429, "slow down")));
    ModelResult r = client(c -> c.withMaxRetries(0)).invoke(TestCalls.simple("r", "c", "hi"));
    assertThat(r.getError().getCode()).isEqualTo("model_http_429");
    assertThat(r.getError().getRetryable()).isTrue();
  }

  @Test
  void slowModelTimesOut() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("too late").withDelay(Duration.ofSeconds(20))));
    long start = System.nanoTime();
    ModelResult r = client(c -> c.withTimeout(Duration.ofMillis(500)).withMaxRetries(0))
        .invoke(TestCalls.simple("run-7", "call-7", "hi"));
    assertThat(r.getError().getCode()).isEqualTo("model_timeout");
    assertThat(r.getError().getRetryable()).isTrue();
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
  }

  @Test
  void unreachableServerIsAnIoError() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("x")));
    OpenAiModelClient c = client(x -> x.withMaxRetries(0));
    server.close();
    ModelResult r = c.invoke(TestCalls.simple("r", "c", "hi"));
    assertThat(r.getError().getCode()).isEqualTo("model_io");
    assertThat(r.getError().getRetryable()).isTrue();
  }

  @Test
  void anInvalidCallNeverReachesTheServer() {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("x")));
    ModelCall c = call("r", "c", List.of(user("hi"))).setTools(List.of(tool("broken", ToolKind.FUNCTION))).build();
    c.getTools().getFirst().setParametersJson("[1,2]");
    ModelResult r = client(x -> x).invoke(c);
    assertThat(r.getError().getCode()).isEqualTo("model_invalid_call");
    assertThat(r.getError().getRetryable()).isFalse();
    assertThat(server.requestCount()).isZero();
  }

  @Test
  void theApiKeyNeverAppearsInTheResult() {
    // A hostile server echoes the Authorization header into its error message.
    server = ScriptedModelServer.start(
        req -> ScriptedReply.httpError(401, "invalid key: " + req.header("Authorization")));
    ModelResult r = client(c -> c.withMaxRetries(0)).invoke(TestCalls.simple("run-8", "call-8", "hi"));

    assertThat(server.modelRequests().getFirst().header("Authorization")).isEqualTo("Bearer " + API_KEY);
    assertThat(r.getError().getCode()).isEqualTo("model_http_401");
    assertThat(r.getError().getMessage()).contains("invalid key").contains("***").doesNotContain(API_KEY);
    String encoded = new String(SERDES.modelResult().encode(r), StandardCharsets.ISO_8859_1);
    assertThat(encoded).doesNotContain(API_KEY);
    assertThat(r.toString()).doesNotContain(API_KEY);
  }
}
