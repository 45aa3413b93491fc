package io.turnpike.devkit;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.models.ReasoningEffort;
import com.openai.models.Reasoning;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseFormatTextJsonSchemaConfig;
import com.openai.models.responses.ResponseIncludable;
import com.openai.models.responses.ResponseReasoningItem;
import com.openai.models.responses.ResponseTextConfig;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The scripted server as a reasoning model with structured output: reasoning items (encrypted only
 * when asked for, as the API does), usage details, the text format and reasoning settings echoed,
 * every reply accepted by openai-java with responseValidation on.
 */
class ScriptedReasoningAndFormatsTest {
    private ScriptedModelServer server;
    private OpenAIClient client;

    private OpenAIClient client(ModelScript script) {
        server = ScriptedModelServer.start(script);
        client = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl()).apiKey("test").responseValidation(true)
                .maxRetries(0).timeout(Duration.ofSeconds(10)).build();
        return client;
    }

    @AfterEach
    void close() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private static ResponseCreateParams.Builder params() {
        return ResponseCreateParams.builder().model("o-scripted").input("Plan a trip").store(false);
    }

    @Test
    void aReasoningItemCarriesEncryptedContentOnlyWhenAskedFor() {
        OpenAIClient c = client(Scripts.always(ScriptedReply.text("{\"city\":\"Oslo\"}").withReasoning("Think first.")
                .withUsage(50, 20).withUsageDetails(32, 12)));

        Response plain = c.responses().create(params().build());
        ResponseReasoningItem r = plain.output().get(0).asReasoning();
        assertThat(r.summary()).extracting(ResponseReasoningItem.Summary::text).containsExactly("Think first.");
        assertThat(r.encryptedContent()).isEmpty();
        assertThat(plain.output().get(1).isMessage()).isTrue();
        assertThat(plain.usage().orElseThrow().inputTokensDetails().cachedTokens()).isEqualTo(32);
        assertThat(plain.usage().orElseThrow().outputTokensDetails().reasoningTokens()).isEqualTo(12);

        Response encrypted = c.responses().create(params()
                .reasoning(Reasoning.builder().effort(ReasoningEffort.HIGH).summary(Reasoning.Summary.AUTO).build())
                .addInclude(ResponseIncludable.REASONING_ENCRYPTED_CONTENT).build());
        assertThat(encrypted.output().get(0).asReasoning().encryptedContent())
                .contains("enc:" + Base64.getEncoder().encodeToString("Think first.".getBytes()));
        assertThat(encrypted.reasoning().orElseThrow().effort()).contains(ReasoningEffort.HIGH);
    }

    @Test
    void theTextFormatIsEchoedAndReplayedReasoningIsSeen() {
        OpenAIClient c = client(Scripts.always(ScriptedReply.text("{\"city\":\"Oslo\"}")));
        ResponseTextConfig text = ResponseTextConfig.builder()
                .format(ResponseFormatTextJsonSchemaConfig.builder().name("trip").strict(true)
                        .schema(ResponseFormatTextJsonSchemaConfig.Schema.builder()
                                .putAdditionalProperty("type", JsonValue.from("object"))
                                .putAdditionalProperty("properties", JsonValue.from(Map.of("city", Map.of("type", "string"))))
                                .putAdditionalProperty("required", JsonValue.from(List.of("city")))
                                .putAdditionalProperty("additionalProperties", JsonValue.from(false))
                                .build())
                        .build())
                .verbosity(ResponseTextConfig.Verbosity.LOW)
                .build();
        Response r = c.responses().create(params().text(text)
                .input(ResponseCreateParams.Input.ofResponse(List.of(
                        com.openai.models.responses.ResponseInputItem.ofReasoning(ResponseReasoningItem.builder().id("rs_1")
                                .summary(List.of()).encryptedContent("enc:x").build()),
                        com.openai.models.responses.ResponseInputItem.ofEasyInputMessage(
                                com.openai.models.responses.EasyInputMessage.builder()
                                        .role(com.openai.models.responses.EasyInputMessage.Role.USER).content("Plan").build()))))
                .build());
        assertThat(r.text().orElseThrow().format().orElseThrow().asJsonSchema().name()).isEqualTo("trip");
        ModelRequestView seen = server.modelRequests().getFirst();
        assertThat(seen.reasoning()).singleElement().satisfies(i -> {
            assertThat(i.id()).isEqualTo("rs_1");
            assertThat(i.encryptedContent()).isEqualTo("enc:x");
        });
        assertThat(seen.turn()).as("a replayed reasoning item is not a turn").isZero();
    }

    @Test
    void chatReportsUsageDetailsAndImagePartsAreSeen() {
        OpenAIClient c = client(Scripts.always(ScriptedReply.text("ok").withUsageDetails(7, 3)));
        ChatCompletion completion = c.chat().completions().create(ChatCompletionCreateParams.builder().model("m")
                .addUserMessageOfArrayOfContentParts(List.of(
                        com.openai.models.chat.completions.ChatCompletionContentPart.ofImageUrl(
                                com.openai.models.chat.completions.ChatCompletionContentPartImage.builder()
                                        .imageUrl(com.openai.models.chat.completions.ChatCompletionContentPartImage.ImageUrl
                                                .builder().url("data:image/png;base64,AAAA").build())
                                        .build())))
                .build());
        assertThat(completion.usage().orElseThrow().promptTokensDetails().orElseThrow().cachedTokens()).contains(7L);
        assertThat(completion.usage().orElseThrow().completionTokensDetails().orElseThrow().reasoningTokens()).contains(3L);
        assertThat(server.modelRequests().getFirst().imageUrls()).containsExactly("data:image/png;base64,AAAA");
    }
}
