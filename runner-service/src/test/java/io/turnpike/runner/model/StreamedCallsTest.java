package io.turnpike.runner.model;

import static io.turnpike.runner.model.TestCalls.call;
import static io.turnpike.runner.model.TestCalls.user;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ModelStreamKind;
import io.turnpike.avro.ReasoningSettings;
import io.turnpike.avro.ToolKind;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Streamed calls against the scripted server speaking real SSE, with openai-java checking every event's
 * shape: the deltas arrive piece by piece, and the result is the one the same call gets unstreamed.
 */
class StreamedCallsTest {
  static final String LONG = "A streamed answer, long enough to arrive in many small pieces over the wire, one by one.";

  ScriptedModelServer server;
  OpenAiModelClient client;

  record Delta(ModelStreamKind kind, String name, String text) {}

  @AfterEach
  void tearDown() {
    if (client != null) {
      client.close();
    }
    if (server != null) {
      server.close();
    }
  }

  OpenAiModelClient client() {
    client = new OpenAiModelClient(ModelInvokerConfig.of("unused:9092", "mock://model-tests", server.baseUrl(), "sk-stream")
        .withTimeout(Duration.ofSeconds(10)), true);
    return client;
  }

  static ModelCall callFor(ModelApi api) {
    return call("run-s", "run-s:m1", List.of(user("Weather in Oslo?")))
        .setTools(List.of(TestCalls.tool("get_weather", ToolKind.FUNCTION)))
        .setSettings(TestCalls.settings().setApi(api)
            .setReasoning(api == ModelApi.RESPONSES ? new ReasoningSettings("low", "auto") : null).build())
        .build();
  }

  /** What both modes must agree on: the output with the server's fresh ids taken out, and the usage. */
  static String comparable(ModelResult r) {
    List<Object> out = new ArrayList<>();
    for (Object o : r.getOutput()) {
      if (o instanceof FunctionCallItem f) {
        out.add(FunctionCallItem.newBuilder(f).setToolCallId("?").setItemId("?").build());
      } else if (o instanceof io.turnpike.avro.ReasoningItem ri) {
        out.add(io.turnpike.avro.ReasoningItem.newBuilder(ri).setItemId("?").build());
      } else {
        out.add(o);
      }
    }
    return out + " usage=" + r.getUsage() + " error=" + r.getError();
  }

  @ParameterizedTest
  @EnumSource(value = ModelApi.class)
  void aStreamedTextAnswerArrivesInPiecesAndMapsAsAWholeOne(ModelApi api) {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text(LONG).withReasoning("Think about Oslo first.")
        .withUsage(40, 22).withUsageDetails(5, 7)));
    List<Delta> deltas = new ArrayList<>();
    ModelResult streamed = client().invoke(callFor(api), (k, n, t) -> deltas.add(new Delta(k, n, t)));
    ModelResult whole = client.invoke(callFor(api));

    assertThat(streamed.getError()).isNull();
    assertThat(comparable(streamed)).isEqualTo(comparable(whole));
    assertThat(deltas.stream().filter(d -> d.kind() == ModelStreamKind.TEXT).map(Delta::text).collect(Collectors.joining()))
        .isEqualTo(LONG);
    assertThat(deltas.stream().filter(d -> d.kind() == ModelStreamKind.TEXT).count()).isGreaterThan(3);
    if (api == ModelApi.RESPONSES) {
      // the reasoning summary streams before the answer
      assertThat(deltas.getFirst().kind()).isEqualTo(ModelStreamKind.REASONING);
      assertThat(deltas.stream().filter(d -> d.kind() == ModelStreamKind.REASONING).map(Delta::text)
          .collect(Collectors.joining())).isEqualTo("Think about Oslo first.");
    }
    assertThat(server.modelRequests()).extracting(v -> v.stream()).containsExactly(true, false);
    assertThat(server.streamedRequests()).hasSize(1);
    if (api == ModelApi.CHAT_COMPLETIONS) {
      // usage is only in a streamed completion when asked for
      assertThat(server.streamedRequests().getFirst().raw().path("stream_options").path("include_usage").asBoolean())
          .isTrue();
    }
  }

  @ParameterizedTest
  @EnumSource(value = ModelApi.class)
  void streamedToolCallsCarryTheirArgumentsInPieces(ModelApi api) {
    String args = "{\"city\":\"Oslo, the capital of Norway, on the fjord\"}";
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.toolCalls(List.of(
        new ScriptedReply.ToolCallSpec("get_weather", args),
        new ScriptedReply.ToolCallSpec("get_weather", "{\"city\":\"Bergen\"}"))).withUsage(30, 12)));
    List<Delta> deltas = new ArrayList<>();
    ModelResult streamed = client().invoke(callFor(api), (k, n, t) -> deltas.add(new Delta(k, n, t)));
    ModelResult whole = client.invoke(callFor(api));

    assertThat(comparable(streamed)).isEqualTo(comparable(whole));
    assertThat(streamed.getOutput()).hasSize(2).allSatisfy(o -> assertThat(o).isInstanceOf(FunctionCallItem.class));
    assertThat(deltas).allSatisfy(d -> {
      assertThat(d.kind()).isEqualTo(ModelStreamKind.ARGUMENTS);
      assertThat(d.name()).isEqualTo("get_weather");
    });
    assertThat(deltas.stream().map(Delta::text).collect(Collectors.joining())).isEqualTo(args + "{\"city\":\"Bergen\"}");
  }

  @ParameterizedTest
  @EnumSource(value = ModelApi.class)
  void aStreamThatBreaksOffIsARetryableFailureWithNothingKept(ModelApi api) throws Exception {
    server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text(LONG)));
    server.streamDelay(Duration.ofMillis(200));
    List<Delta> deltas = new java.util.concurrent.CopyOnWriteArrayList<>();
    var result = new java.util.concurrent.CompletableFuture<ModelResult>();
    Thread.ofVirtual().start(() -> result.complete(client().invoke(callFor(api), (k, n, t) -> deltas.add(new Delta(k, n, t)))));
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> deltas.size() >= 2);
    server.close(); // the model server goes away mid-stream

    ModelResult r = result.get(20, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(r.getOutput()).isEmpty();
    assertThat(r.getError()).isNotNull();
    assertThat(r.getError().getRetryable()).as(r.getError().toString()).isTrue();
    assertThat(deltas.stream().map(Delta::text).collect(Collectors.joining())).isNotEqualTo(LONG);
  }
}
