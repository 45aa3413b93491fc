package io.turnpike.runner.model;

import static io.turnpike.runner.model.TestCalls.call;
import static io.turnpike.runner.model.TestCalls.functionCall;
import static io.turnpike.runner.model.TestCalls.tool;
import static io.turnpike.runner.model.TestCalls.user;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelApi;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.ReasoningItem;
import io.turnpike.avro.ReasoningSettings;
import io.turnpike.avro.Role;
import io.turnpike.avro.ToolKind;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The requests structured output, reasoning and images make, on both APIs, and what comes back:
 * the request bodies as mapped, and the real openai-java client (responseValidation on) against the
 * scripted server.
 */
class SdkRequestsTest {
  static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],"
      + "\"additionalProperties\":false}";
  static final OutputType TRIP = OutputType.newBuilder().setName("trip").setSchemaJson(SCHEMA).setSha256("f00d").build();
  static final byte[] PNG = {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10};
  static final String PNG_URL = "data:image/png;base64," + Base64.getEncoder().encodeToString(PNG);

  static ImageContent image() {
    return ImageContent.newBuilder().setMimeType("image/png").setData(ByteBuffer.wrap(PNG)).setSha256("aa").setSize(PNG.length).build();
  }

  static ReasoningItem reasoning(String id, String encrypted) {
    return ReasoningItem.newBuilder().setItemId(id).setEncryptedContent(encrypted).setSummary(List.of("think")).build();
  }

  /** A reasoning agent with an output type that has viewed an image: every new part of a request at once. */
  static ModelCall richCall(ModelApi api) {
    return call("run-1", "run-1:m3", List.of(
        user("What is on the map?"),
        reasoning("rs_1", "enc:one"),
        functionCall("call_a", "view_image", "{\"path\":\"map.png\"}"),
        FunctionCallOutputItem.newBuilder().setToolCallId("call_a").setName("view_image").setOutput("image map.png")
            .setImages(List.of(image())).build(),
        reasoning("rs_2", null),
        MessageItem.newBuilder().setRole(Role.ASSISTANT).setText("A map of Oslo.").build(),
        user("Plan the trip.")))
        .setTools(List.of(tool("view_image", ToolKind.SANDBOX)))
        .setSettings(TestCalls.settings().setApi(api)
            .setReasoning(new ReasoningSettings("high", api == ModelApi.RESPONSES ? "auto" : null))
            .setTruncation(api == ModelApi.RESPONSES ? "auto" : null)
            .setVerbosity("low")
            .setFrequencyPenalty(api == ModelApi.RESPONSES ? null : 0.5)
            .setMetadata(Map.of("team", "travel"))
            .build())
        .setOutputType(TRIP)
        .build();
  }

  @Nested
  class Responses {
    @Test
    void theRequestAsksForTheSchemaTheReasoningAndCarriesTheImage() throws Exception {
      JsonNode body = ResponsesMappingTest.json(ResponsesMapping.toParams(richCall(ModelApi.RESPONSES), null)._body());

      JsonNode format = body.path("text").path("format");
      assertThat(format.path("type").asText()).isEqualTo("json_schema");
      assertThat(format.path("name").asText()).isEqualTo("trip");
      assertThat(format.path("strict").asBoolean()).isTrue();
      assertThat(format.path("schema")).isEqualTo(ResponsesMappingTest.json(com.openai.core.ObjectMappers.jsonMapper().readTree(SCHEMA)));
      assertThat(body.path("text").path("verbosity").asText()).isEqualTo("low");
      assertThat(body.path("reasoning").path("effort").asText()).isEqualTo("high");
      assertThat(body.path("reasoning").path("summary").asText()).isEqualTo("auto");
      assertThat(body.path("include")).extracting(JsonNode::asText).containsExactly("reasoning.encrypted_content");
      assertThat(body.path("truncation").asText()).isEqualTo("auto");
      assertThat(body.path("metadata").path("team").asText()).isEqualTo("travel");
      assertThat(body.has("frequency_penalty")).isFalse();
      assertThat(body.path("store").asBoolean(true)).isFalse();

      JsonNode input = body.path("input");
      assertThat(input).hasSize(6).as("the reasoning item without encrypted content cannot be replayed with store=false");
      assertThat(input.get(1).path("type").asText()).isEqualTo("reasoning");
      assertThat(input.get(1).path("id").asText()).isEqualTo("rs_1");
      assertThat(input.get(1).path("encrypted_content").asText()).isEqualTo("enc:one");
      assertThat(input.get(1).path("summary").get(0).path("type").asText()).isEqualTo("summary_text");
      assertThat(input.get(1).path("summary").get(0).path("text").asText()).isEqualTo("think");
      JsonNode output = input.get(3).path("output");
      assertThat(input.get(3).path("type").asText()).isEqualTo("function_call_output");
      assertThat(output).hasSize(2);
      assertThat(output.get(0).path("type").asText()).isEqualTo("input_text");
      assertThat(output.get(0).path("text").asText()).isEqualTo("image map.png");
      assertThat(output.get(1).path("type").asText()).isEqualTo("input_image");
      assertThat(output.get(1).path("image_url").asText()).isEqualTo(PNG_URL);
      assertThat(output.get(1).path("detail").asText()).isEqualTo("auto");
      assertThat(input.get(4).path("role").asText()).isEqualTo("assistant");
    }

    @Test
    void withoutReasoningOrOutputTypeNothingNewIsSent() throws Exception {
      JsonNode body = ResponsesMappingTest.json(ResponsesMapping.toParams(TestCalls.simple("r", "c", "hi"), null)._body());
      assertThat(body.has("text")).isFalse();
      assertThat(body.has("include")).isFalse();
      assertThat(body.has("reasoning")).isFalse();
      assertThat(body.has("metadata")).isFalse();
    }

    @Test
    void anImageTheRunDidNotKeepIsNotSent() throws Exception {
      ModelCall c = call("r", "c", List.of(user("hi"), functionCall("call_a", "view_image", "{}"),
          FunctionCallOutputItem.newBuilder().setToolCallId("call_a").setName("view_image").setOutput("image\n[not kept]")
              .setImages(List.of(ImageContent.newBuilder().setMimeType("image/png").setSha256("bb").setSize(9).build())).build()))
          .build();
      JsonNode body = ResponsesMappingTest.json(ResponsesMapping.toParams(c, null)._body());
      assertThat(body.path("input").get(2).path("output").asText()).isEqualTo("image\n[not kept]");
    }
  }

  @Nested
  class Chat {
    @Test
    void theRequestHasTheResponseFormatTheEffortAndTheImageAfterTheToolMessages() throws Exception {
      JsonNode body = ResponsesMappingTest.json(ChatMapping.toParams(richCall(ModelApi.CHAT_COMPLETIONS), null)._body());

      JsonNode format = body.path("response_format");
      assertThat(format.path("type").asText()).isEqualTo("json_schema");
      assertThat(format.path("json_schema").path("name").asText()).isEqualTo("trip");
      assertThat(format.path("json_schema").path("strict").asBoolean()).isTrue();
      assertThat(format.path("json_schema").path("schema").path("required").get(0).asText()).isEqualTo("city");
      assertThat(body.path("reasoning_effort").asText()).isEqualTo("high");
      assertThat(body.path("verbosity").asText()).isEqualTo("low");
      assertThat(body.path("frequency_penalty").asDouble()).isEqualTo(0.5);
      assertThat(body.path("metadata").path("team").asText()).isEqualTo("travel");

      JsonNode msgs = body.path("messages");
      assertThat(msgs).extracting(m -> m.path("role").asText())
          .containsExactly("system", "user", "assistant", "tool", "user", "assistant", "user");
      assertThat(msgs.get(3).path("content").asText()).isEqualTo("image map.png");
      JsonNode parts = msgs.get(4).path("content");
      assertThat(parts.get(0).path("type").asText()).isEqualTo("text");
      assertThat(parts.get(0).path("text").asText()).contains("view_image").contains("call_a");
      assertThat(parts.get(1).path("type").asText()).isEqualTo("image_url");
      assertThat(parts.get(1).path("image_url").path("url").asText()).isEqualTo(PNG_URL);
    }
  }

  @Nested
  class AgainstTheScriptedServer {
    ScriptedModelServer server;
    OpenAiModelClient client;

    OpenAiModelClient client() {
      client = new OpenAiModelClient(ModelInvokerConfig.of("unused:9092", "mock://model-tests", server.baseUrl(), "k")
          .withTimeout(Duration.ofSeconds(10)), true);
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

    @Test
    void aReasoningStructuredAnswerComesBackWithItsItemsAndUsage() {
      server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("{\"city\":\"Oslo\"}").withReasoning("look at the map")
          .withUsage(300, 40).withUsageDetails(256, 25)));
      ModelResult r = client().invoke(richCall(ModelApi.RESPONSES));

      assertThat(r.getError()).isNull();
      assertThat(r.getOutput()).hasSize(2);
      assertThat(r.getOutput().get(0)).isInstanceOfSatisfying(ReasoningItem.class, i -> {
        assertThat(i.getItemId()).startsWith("rs_");
        assertThat(i.getSummary()).containsExactly("look at the map");
        assertThat(i.getEncryptedContent()).isEqualTo("enc:" + Base64.getEncoder().encodeToString("look at the map".getBytes()));
      });
      assertThat(((MessageItem) r.getOutput().get(1)).getText()).isEqualTo("{\"city\":\"Oslo\"}");
      assertThat(r.getUsage().getCachedInputTokens()).isEqualTo(256);
      assertThat(r.getUsage().getReasoningTokens()).isEqualTo(25);

      ModelRequestView seen = server.modelRequests().getFirst();
      assertThat(seen.raw().path("text").path("format").path("name").asText()).isEqualTo("trip");
      assertThat(seen.reasoning()).singleElement().satisfies(i -> assertThat(i.encryptedContent()).isEqualTo("enc:one"));
      assertThat(seen.imageUrls()).containsExactly(PNG_URL);
    }

    @Test
    void theChatPathReportsCachedAndReasoningTokensAndSendsTheImage() {
      server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("{\"city\":\"Oslo\"}").withUsageDetails(10, 5)));
      ModelResult r = client().invoke(richCall(ModelApi.CHAT_COMPLETIONS));
      assertThat(r.getError()).isNull();
      assertThat(r.getUsage().getCachedInputTokens()).isEqualTo(10);
      assertThat(r.getUsage().getReasoningTokens()).isEqualTo(5);
      assertThat(server.modelRequests().getFirst().imageUrls()).containsExactly(PNG_URL);
    }
  }

  @Nested
  class OutputTypeCheck {
    static ModelResult answer(Object... output) {
      return ModelResult.newBuilder().setRunId("r").setCallId("c").setOutput(List.of(output))
          .setUsage(MappingSupport.usage(10, 5, 15)).build();
    }

    static MessageItem text(String t) {
      return MessageItem.newBuilder().setRole(Role.ASSISTANT).setText(t).build();
    }

    ModelCall call = richCall(ModelApi.RESPONSES);

    @Test
    void aValidAnswerPasses() {
      ModelResult ok = answer(text("{\"city\":\"Oslo\"}"));
      assertThat(OutputTypes.checked(call, ok)).isSameAs(ok);
    }

    @Test
    void anAnswerThatBreaksTheSchemaIsARetryableErrorNamingTheSchemaAndTheViolation() {
      ModelResult r = OutputTypes.checked(call, answer(text("{\"town\":\"Oslo\"}")));
      ErrorInfo e = r.getError();
      assertThat(e.getCode()).isEqualTo(OutputTypes.INVALID);
      assertThat(e.getRetryable()).isTrue();
      assertThat(e.getMessage()).startsWith("the final answer does not follow output type 'trip' (schema sha256 f00d): 2 violations:")
          .contains("city").contains("town");
      assertThat(r.getOutput()).isEmpty();
      assertThat(r.getUsage().getOutputTokens()).as("what the refused answer cost is kept").isEqualTo(5);
    }

    @Test
    void textThatIsNotJsonIsInvalid() {
      assertThat(OutputTypes.checked(call, answer(text("Oslo, 3 days"))).getError().getMessage())
          .contains("it is not JSON (line 1, column");
    }

    @Test
    void toolCallsAndCallsWithoutOutputTypeAreNotChecked() {
      ModelResult calls = answer(functionCall("x", "view_image", "{}"));
      assertThat(OutputTypes.checked(call, calls)).isSameAs(calls);
      ModelResult plain = answer(text("Oslo"));
      assertThat(OutputTypes.checked(TestCalls.simple("r", "c", "hi"), plain)).isSameAs(plain);
    }
  }
}
