package io.turnpike.devkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.InternalServerException;
import com.openai.errors.OpenAIException;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessage;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionMessageToolCall;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import com.openai.models.responses.EasyInputMessage;
import com.openai.models.responses.FunctionTool;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseFunctionToolCall;
import com.openai.models.responses.ResponseInputItem;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseOutputMessage;
import com.openai.models.responses.ResponseStreamEvent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ScriptedModelServerTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
    }

    private ScriptedModelServer server(ModelScript script) {
        ScriptedModelServer server = ScriptedModelServer.start(script);
        toClose.add(server);
        return server;
    }

    private OpenAIClient client(ScriptedModelServer server, int maxRetries, Duration timeout) {
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl(server.baseUrl())
                .apiKey("test")
                .responseValidation(true)
                .maxRetries(maxRetries)
                .timeout(timeout)
                .build();
        toClose.add(client::close);
        return client;
    }

    private OpenAIClient client(ScriptedModelServer server) {
        return client(server, 0, Duration.ofSeconds(10));
    }

    private static FunctionTool weatherTool() {
        return FunctionTool.builder()
                .name("get_weather")
                .description("Current weather for a city")
                .parameters(FunctionTool.Parameters.builder()
                        .putAdditionalProperty("type", JsonValue.from("object"))
                        .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string"))))
                        .putAdditionalProperty("required", JsonValue.from(List.of("city")))
                        .build())
                .strict(false)
                .build();
    }

    // ------------------------------------------------------------------------------ Responses API

    @Test
    void responsesThreeTurnConversationWithFunctionCall() {
        ScriptedModelServer server = server(Scripts.byTurn(
                req -> ScriptedReply.toolCall("get_weather", "{\"city\":\"Paris\"}"),
                req -> ScriptedReply.text("Weather: " + req.lastToolOutput()),
                req -> ScriptedReply.text("You first asked: " + req.firstUserText()).withUsage(100, 7)));
        OpenAIClient client = client(server);

        List<ResponseInputItem> history = new ArrayList<>();
        history.add(userMessage("What is the weather in Paris?"));

        // Turn 0: the model calls the tool.
        Response first = client.responses().create(responsesParams(history));
        assertThat(first.output()).hasSize(1);
        ResponseFunctionToolCall call = first.output().get(0).asFunctionCall();
        assertThat(call.name()).isEqualTo("get_weather");
        assertThat(call.arguments()).isEqualTo("{\"city\":\"Paris\"}");
        assertThat(call.callId()).startsWith("call_");
        assertThat(first.id()).startsWith("resp_");
        assertThat(first.usage()).isPresent();
        history.add(ResponseInputItem.ofFunctionCall(call));
        history.add(ResponseInputItem.ofFunctionCallOutput(ResponseInputItem.FunctionCallOutput.builder()
                .callId(call.callId()).output("sunny, 21C").build()));

        // Turn 1: the model answers with the tool's output.
        Response second = client.responses().create(responsesParams(history));
        ResponseOutputMessage answer = second.output().get(0).asMessage();
        assertThat(answer.content().get(0).asOutputText().text()).isEqualTo("Weather: sunny, 21C");
        assertThat(answer.id()).startsWith("msg_");
        history.add(ResponseInputItem.ofResponseOutputMessage(answer));
        history.add(userMessage("Thanks!"));

        // Turn 2.
        Response third = client.responses().create(responsesParams(history));
        assertThat(third.output().get(0).asMessage().content().get(0).asOutputText().text())
                .isEqualTo("You first asked: What is the weather in Paris?");
        assertThat(third.usage().orElseThrow().inputTokens()).isEqualTo(100);
        assertThat(third.usage().orElseThrow().outputTokens()).isEqualTo(7);
        assertThat(third.usage().orElseThrow().totalTokens()).isEqualTo(107);

        List<ModelRequestView> views = server.modelRequests();
        assertThat(views).extracting(ModelRequestView::turn).containsExactly(0, 1, 2);
        assertThat(views).allSatisfy(v -> {
            assertThat(v.api()).isEqualTo("responses");
            assertThat(v.model()).isEqualTo("gpt-test");
            assertThat(v.instructions()).isEqualTo("Be brief.");
            assertThat(v.toolNames()).containsExactly("get_weather");
            assertThat(v.header("authorization")).isEqualTo("Bearer test");
            assertThat(v.raw().path("store").asBoolean(true)).isFalse();
        });
        assertThat(views.get(2).input()).containsExactly(
                new InputItem.Message("user", "What is the weather in Paris?"),
                new InputItem.FunctionCall(call.callId(), "get_weather", "{\"city\":\"Paris\"}"),
                new InputItem.FunctionCallOutput(call.callId(), "sunny, 21C"),
                new InputItem.Message("assistant", "Weather: sunny, 21C"),
                new InputItem.Message("user", "Thanks!"));
        assertThat(server.requests()).extracting(RecordedRequest::path).containsOnly("/v1/responses");
        assertThat(server.requestCount()).isEqualTo(3);
    }

    @Test
    void parallelToolCallsCountAsOneTurnAndIdsAreUnique() {
        ScriptedModelServer server = server(Scripts.byTurn(
                ScriptedReply.toolCalls(List.of(
                        new ScriptedReply.ToolCallSpec("get_weather", "{\"city\":\"Paris\"}"),
                        new ScriptedReply.ToolCallSpec("get_weather", "{\"city\":\"Oslo\"}"))),
                ScriptedReply.text("done"),
                ScriptedReply.toolCall("get_weather", "{\"city\":\"Rome\"}"),
                ScriptedReply.text("last")));
        OpenAIClient client = client(server);
        List<ResponseInputItem> history = new ArrayList<>();
        history.add(userMessage("Paris and Oslo?"));

        Response first = client.responses().create(responsesParams(history));
        List<ResponseFunctionToolCall> calls = first.output().stream()
                .filter(ResponseOutputItem::isFunctionCall).map(ResponseOutputItem::asFunctionCall).toList();
        assertThat(calls).hasSize(2);
        assertThat(calls).extracting(ResponseFunctionToolCall::callId).doesNotHaveDuplicates();
        calls.forEach(c -> history.add(ResponseInputItem.ofFunctionCall(c)));
        calls.forEach(c -> history.add(ResponseInputItem.ofFunctionCallOutput(ResponseInputItem.FunctionCallOutput
                .builder().callId(c.callId()).output("ok " + c.arguments()).build())));

        Response second = client.responses().create(responsesParams(history));
        assertThat(second.output().get(0).asMessage().content().get(0).asOutputText().text()).isEqualTo("done");
        history.add(ResponseInputItem.ofResponseOutputMessage(second.output().get(0).asMessage()));
        history.add(userMessage("And Rome?"));

        Response third = client.responses().create(responsesParams(history));
        ResponseFunctionToolCall rome = third.output().get(0).asFunctionCall();
        history.add(ResponseInputItem.ofFunctionCall(rome));
        history.add(ResponseInputItem.ofFunctionCallOutput(ResponseInputItem.FunctionCallOutput.builder()
                .callId(rome.callId()).output("rainy").build()));
        Response fourth = client.responses().create(responsesParams(history));
        assertThat(fourth.output().get(0).asMessage().content().get(0).asOutputText().text()).isEqualTo("last");

        List<ModelRequestView> views = server.modelRequests();
        assertThat(views).extracting(ModelRequestView::turn).containsExactly(0, 1, 2, 3);
        assertThat(views.get(3).lastToolOutput()).isEqualTo("rainy");

        Set<String> ids = new HashSet<>();
        for (Response r : List.of(first, second, third, fourth)) {
            assertThat(ids.add(r.id())).isTrue();
            for (ResponseOutputItem item : r.output()) {
                if (item.isFunctionCall()) {
                    assertThat(ids.add(item.asFunctionCall().callId())).isTrue();
                    assertThat(ids.add(item.asFunctionCall().id().orElseThrow())).isTrue();
                } else {
                    assertThat(ids.add(item.asMessage().id())).isTrue();
                }
            }
        }
    }

    @Test
    void turnCountingRules() {
        List<InputItem> items = List.of(
                new InputItem.Message("user", "hi"),
                new InputItem.FunctionCall("a", "t", "{}"),
                new InputItem.FunctionCall("b", "t", "{}"),
                new InputItem.FunctionCallOutput("a", "1"),
                new InputItem.FunctionCallOutput("b", "2"),
                new InputItem.FunctionCall("c", "t", "{}"),
                new InputItem.FunctionCallOutput("c", "3"),
                new InputItem.Message("assistant", "done"),
                new InputItem.Message("user", "more"));
        ModelRequestView view = new ModelRequestView("responses", "m", null, items, List.of(), null);
        assertThat(view.turn()).isEqualTo(3);
        assertThat(view.lastToolOutput()).isEqualTo("3");
        assertThat(view.firstUserText()).isEqualTo("hi");
        assertThat(view.header("Authorization")).isNull();
        assertThat(new ModelRequestView("chat", "m", null, List.of(), List.of(), null).turn()).isZero();
    }

    @Test
    void byTurnRepeatsTheLastReplyPastTheEnd() {
        ModelScript script = Scripts.byTurn(ScriptedReply.text("a"), ScriptedReply.text("b"));
        List<InputItem> items = new ArrayList<>();
        List<String> answers = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            answers.add(script.reply(new ModelRequestView("chat", "m", null, items, List.of(), null)).text());
            items.add(new InputItem.Message("assistant", "x"));
        }
        assertThat(answers).containsExactly("a", "b", "b", "b");
    }

    @Test
    void responsesStreamingMatchesTheNonStreamedShape() {
        ScriptedModelServer server = server(Scripts.byTurn(
                ScriptedReply.toolCalls(List.of(
                        new ScriptedReply.ToolCallSpec("get_weather", "{\"city\":\"Paris, the capital of France\"}"),
                        new ScriptedReply.ToolCallSpec("get_weather", "{\"city\":\"Oslo\"}"))),
                ScriptedReply.text("A fairly long answer that is split into several streamed deltas.")));
        OpenAIClient client = client(server);
        List<ResponseInputItem> history = new ArrayList<>(List.of(userMessage("stream please")));

        ResponseAccumulator acc = ResponseAccumulator.create();
        List<String> types = new ArrayList<>();
        try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(responsesParams(history))) {
            stream.stream().forEach(e -> {
                acc.accumulate(e);
                types.add(e._json().map(Object::toString).orElse("?"));
            });
        }
        Response calls = acc.response();
        assertThat(calls.output()).hasSize(2);
        assertThat(calls.output().get(0).asFunctionCall().arguments()).isEqualTo("{\"city\":\"Paris, the capital of France\"}");
        calls.output().forEach(i -> history.add(ResponseInputItem.ofFunctionCall(i.asFunctionCall())));

        ResponseAccumulator acc2 = ResponseAccumulator.create();
        try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(responsesParams(history))) {
            stream.stream().forEach(acc2::accumulate);
        }
        assertThat(acc2.response().output().get(0).asMessage().content().get(0).asOutputText().text())
                .isEqualTo("A fairly long answer that is split into several streamed deltas.");
        assertThat(acc2.response().usage()).isPresent();
        assertThat(server.modelRequests()).extracting(ModelRequestView::turn).containsExactly(0, 1);
    }

    // --------------------------------------------------------------------------- Chat Completions

    @Test
    void chatThreeTurnConversationWithToolCall() {
        ScriptedModelServer server = server(Scripts.byTurn(
                req -> ScriptedReply.toolCall("get_weather", "{\"city\":\"Paris\"}"),
                req -> ScriptedReply.text("Weather: " + req.lastToolOutput()),
                req -> ScriptedReply.text("bye " + req.firstUserText())));
        OpenAIClient client = client(server);
        FunctionDefinition fn = FunctionDefinition.builder().name("get_weather")
                .parameters(FunctionParameters.builder()
                        .putAdditionalProperty("type", JsonValue.from("object"))
                        .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string"))))
                        .build())
                .build();
        ChatCompletionCreateParams.Builder params = ChatCompletionCreateParams.builder()
                .model("gpt-test").addSystemMessage("Be brief.").addUserMessage("Weather in Paris?")
                .addFunctionTool(fn);

        ChatCompletion first = client.chat().completions().create(params.build());
        ChatCompletion.Choice choice = first.choices().get(0);
        assertThat(choice.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.TOOL_CALLS);
        ChatCompletionMessage msg = choice.message();
        assertThat(msg.content()).isEmpty();
        ChatCompletionMessageFunctionToolCall call = msg.toolCalls().orElseThrow().get(0).asFunction();
        assertThat(call.function().name()).isEqualTo("get_weather");
        assertThat(call.id()).startsWith("call_");
        assertThat(first.id()).startsWith("chatcmpl-");
        params.addMessage(msg);
        params.addMessage(ChatCompletionToolMessageParam.builder().toolCallId(call.id()).content("sunny").build());

        ChatCompletion second = client.chat().completions().create(params.build());
        assertThat(second.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
        assertThat(second.choices().get(0).message().content()).contains("Weather: sunny");
        assertThat(second.usage().orElseThrow().totalTokens()).isPositive();
        params.addMessage(second.choices().get(0).message());
        params.addUserMessage("thanks");

        ChatCompletion third = client.chat().completions().create(params.build());
        assertThat(third.choices().get(0).message().content()).contains("bye Weather in Paris?");

        List<ModelRequestView> views = server.modelRequests();
        assertThat(views).extracting(ModelRequestView::turn).containsExactly(0, 1, 2);
        assertThat(views).allSatisfy(v -> {
            assertThat(v.api()).isEqualTo("chat");
            assertThat(v.instructions()).isEqualTo("Be brief.");
            assertThat(v.toolNames()).containsExactly("get_weather");
        });
        assertThat(views.get(2).input()).containsExactly(
                new InputItem.Message("user", "Weather in Paris?"),
                new InputItem.FunctionCall(call.id(), "get_weather", "{\"city\":\"Paris\"}"),
                new InputItem.FunctionCallOutput(call.id(), "sunny"),
                new InputItem.Message("assistant", "Weather: sunny"),
                new InputItem.Message("user", "thanks"));
        assertThat(server.requests()).extracting(RecordedRequest::path).containsOnly("/v1/chat/completions");
    }

    @Test
    void chatStreamingWithToolCallsAndUsage() {
        ScriptedModelServer server = server(Scripts.byTurn(
                ScriptedReply.toolCalls(List.of(
                        new ScriptedReply.ToolCallSpec("a", "{\"x\":\"a long argument string to split\"}"),
                        new ScriptedReply.ToolCallSpec("b", "{}"))),
                ScriptedReply.text("streamed chat answer, long enough for several chunks")));
        OpenAIClient client = client(server);
        ChatCompletionCreateParams.Builder params = ChatCompletionCreateParams.builder().model("gpt-test")
                .addUserMessage("go")
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build());

        ChatCompletionAccumulator acc = ChatCompletionAccumulator.create();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params.build())) {
            stream.stream().forEach(acc::accumulate);
        }
        ChatCompletion calls = acc.chatCompletion();
        List<ChatCompletionMessageToolCall> toolCalls = calls.choices().get(0).message().toolCalls().orElseThrow();
        assertThat(toolCalls).hasSize(2);
        assertThat(toolCalls.get(0).asFunction().function().arguments()).isEqualTo("{\"x\":\"a long argument string to split\"}");
        assertThat(toolCalls.get(1).asFunction().function().name()).isEqualTo("b");
        assertThat(calls.usage()).isPresent();
        params.addMessage(calls.choices().get(0).message());

        ChatCompletionAccumulator acc2 = ChatCompletionAccumulator.create();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params.build())) {
            stream.stream().forEach(acc2::accumulate);
        }
        assertThat(acc2.chatCompletion().choices().get(0).message().content())
                .contains("streamed chat answer, long enough for several chunks");
        assertThat(server.modelRequests()).extracting(ModelRequestView::turn).containsExactly(0, 1);
    }

    // -------------------------------------------------------------------- failures and timeouts

    @Test
    void failNextGivesRetriable500sThatTheClientRetriesPast() {
        ScriptedModelServer server = server(Scripts.always(ScriptedReply.text("ok")));
        server.failNext(2, 500);
        Response r = client(server, 2, Duration.ofSeconds(10)).responses()
                .create(responsesParams(List.of(userMessage("hi"))));
        assertThat(r.output().get(0).asMessage().content().get(0).asOutputText().text()).isEqualTo("ok");
        assertThat(server.requestCount()).isEqualTo(3);

        server.failNext(1, 500);
        assertThatThrownBy(() -> client(server).responses().create(responsesParams(List.of(userMessage("hi")))))
                .isInstanceOf(InternalServerException.class)
                .hasMessageContaining("failNext");
        assertThat(server.requestCount()).isEqualTo(4);
    }

    @Test
    void scriptedHttpErrorReachesTheClient() {
        ScriptedModelServer server = server(Scripts.always(ScriptedReply.httpError(400, "context too long")));
        assertThatThrownBy(() -> client(server).responses().create(responsesParams(List.of(userMessage("hi")))))
                .isInstanceOf(com.openai.errors.BadRequestException.class)
                .hasMessageContaining("context too long");
    }

    @Test
    void delayedReplyHitsTheClientTimeout() {
        ScriptedModelServer server = server(Scripts.always(ScriptedReply.text("late").withDelay(Duration.ofSeconds(5))));
        OpenAIClient client = client(server, 0, Duration.ofMillis(300));
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> client.responses().create(responsesParams(List.of(userMessage("hi")))))
                .isInstanceOf(OpenAIException.class);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(4));
        assertThat(server.requestCount()).isEqualTo(1);
    }

    @Test
    void malformedJsonUnknownPathsAndModels() throws Exception {
        ScriptedModelServer server = server(Scripts.always(ScriptedReply.text("unused")));
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> bad = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/responses"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"x\", \"input\": ")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(bad.statusCode()).isEqualTo(400);
            JsonNode error = JSON.readTree(bad.body()).path("error");
            assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
            assertThat(error.path("message").asText()).contains("could not parse the JSON body");

            HttpResponse<String> missing = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/embeddings"))
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(missing.statusCode()).isEqualTo(404);
            assertThat(JSON.readTree(missing.body()).path("error").path("message").asText()).contains("/v1/embeddings");

            HttpResponse<String> models = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/models"))
                    .GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(models.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(models.body()).path("data").path(0).path("object").asText()).isEqualTo("model");

            HttpResponse<String> chatBad = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("[1,2]")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(chatBad.statusCode()).isEqualTo(400);
        }
        assertThat(server.requests()).extracting(RecordedRequest::path)
                .containsExactly("/v1/responses", "/v1/embeddings", "/v1/models", "/v1/chat/completions");
        assertThat(server.requests()).extracting(RecordedRequest::view).containsOnlyNulls();
        assertThat(server.requests().get(0).body()).startsWith("{\"model\"");
    }

    @Test
    void modelsEndpointWorksThroughTheClientAndSetScriptSwitches() {
        ScriptedModelServer server = server(Scripts.always(ScriptedReply.text("one")));
        OpenAIClient client = client(server);
        assertThat(client.models().list().data()).isNotEmpty();
        server.setScript(Scripts.echo());
        Response r = client.responses().create(responsesParams(List.of(userMessage("echo me"))));
        assertThat(r.output().get(0).asMessage().content().get(0).asOutputText().text()).isEqualTo("echo me");
    }

    @Test
    void stringInputAndUntypedMessagesAreParsed() throws Exception {
        ScriptedModelServer server = server(Scripts.echo());
        try (HttpClient http = HttpClient.newHttpClient()) {
            for (String body : List.of(
                    "{\"model\":\"m\",\"input\":\"plain string\"}",
                    "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"parts\"}]}]}")) {
                HttpResponse<String> resp = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/responses"))
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(resp.statusCode()).isEqualTo(200);
            }
        }
        assertThat(server.modelRequests()).extracting(ModelRequestView::firstUserText)
                .containsExactly("plain string", "parts");
    }

    @Test
    void manyConcurrentRequestsAreAnsweredWithoutBlockingEachOther() throws Exception {
        // Every request waits 300 ms; on virtual threads 200 of them overlap instead of queueing.
        ScriptedModelServer server = server(Scripts.always(ScriptedReply.text("ok").withDelay(Duration.ofMillis(300))));
        String body = "{\"model\":\"m\",\"input\":\"hi\"}";
        long t0 = System.nanoTime();
        try (HttpClient http = HttpClient.newBuilder().executor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()).build()) {
            List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> futures = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                futures.add(http.sendAsync(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/responses"))
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            for (var f : futures) {
                assertThat(f.get(30, java.util.concurrent.TimeUnit.SECONDS).statusCode()).isEqualTo(200);
            }
        }
        assertThat(server.requestCount()).isEqualTo(200);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
    }

    // ---------------------------------------------------------------------------------- helpers

    private static ResponseInputItem userMessage(String text) {
        return ResponseInputItem.ofEasyInputMessage(EasyInputMessage.builder()
                .role(EasyInputMessage.Role.USER).content(text).build());
    }

    private static ResponseCreateParams responsesParams(List<ResponseInputItem> history) {
        return ResponseCreateParams.builder()
                .model("gpt-test")
                .instructions("Be brief.")
                .inputOfResponse(List.copyOf(history))
                .addTool(weatherTool())
                .store(false)
                .build();
    }
}
