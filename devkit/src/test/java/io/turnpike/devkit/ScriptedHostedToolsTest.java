package io.turnpike.devkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseOutputText;
import com.openai.models.responses.ResponseStreamEvent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The scripted server as a model with hosted tools: hosted call items and citations in the API's
 * shapes (accepted by openai-java with responseValidation, also streamed), and hosted tool entries and
 * replayed hosted items refused as the real API refuses them.
 */
class ScriptedHostedToolsTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String TEXT = "Mild in Oslo. Walk the fjord.";
    private ScriptedModelServer server;
    private OpenAIClient client;

    @AfterEach
    void close() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private OpenAIClient client(ModelScript script) {
        server = ScriptedModelServer.start(script);
        client = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl()).apiKey("test").responseValidation(true)
                .maxRetries(0).timeout(Duration.ofSeconds(10)).build();
        return client;
    }

    static ScriptedReply reply() {
        return ScriptedReply.text(TEXT).withHostedCalls(
                        HostedCall.webSearch("oslo weather", "https://yr.no/oslo"),
                        HostedCall.fileSearch("fjord", List.of(new HostedCall.FileHit("file-1", "guide.md", 0.9, "Walk it."))),
                        HostedCall.codeInterpreter("print(1)", "1\n"),
                        HostedCall.imageGeneration(new byte[] {1, 2, 3}),
                        HostedCall.mcpListTools("wiki", "ask"),
                        HostedCall.mcpCall("wiki", "ask", "{}", "42"))
                .withCitations(HostedCall.Citation.url("https://yr.no/oslo", "Oslo", 0, 13),
                        HostedCall.Citation.file("file-1", "guide.md", 14));
    }

    private static void assertHostedAnswer(Response r) {
        assertThat(r.output()).hasSize(7);
        assertThat(r.output().get(0).asWebSearchCall().id()).startsWith("ws_");
        assertThat(r.output().get(1).asFileSearchCall().results().orElseThrow().get(0).text()).contains("Walk it.");
        assertThat(r.output().get(2).asCodeInterpreterCall().code()).contains("print(1)");
        assertThat(r.output().get(3).asImageGenerationCall().result()).contains("AQID");
        assertThat(r.output().get(4).asMcpListTools().tools()).hasSize(1);
        assertThat(r.output().get(5).asMcpCall().output()).contains("42");
        ResponseOutputText text = r.output().get(6).asMessage().content().get(0).asOutputText();
        assertThat(text.text()).isEqualTo(TEXT);
        assertThat(text.annotations()).hasSize(2);
        assertThat(text.annotations().get(0).asUrlCitation().endIndex()).isEqualTo(13);
        assertThat(text.annotations().get(1).asFileCitation().filename()).isEqualTo("guide.md");
    }

    @Test
    void hostedCallsAndCitationsHaveTheApisShapesAlsoStreamed() {
        OpenAIClient c = client(Scripts.always(reply()));
        ResponseCreateParams params = ResponseCreateParams.builder().model("m").input("hi").store(false).build();
        assertHostedAnswer(c.responses().create(params));

        ResponseAccumulator acc = ResponseAccumulator.create();
        try (StreamResponse<ResponseStreamEvent> stream = c.responses().createStreaming(params)) {
            stream.stream().forEach(acc::accumulate);
        }
        assertHostedAnswer(acc.response());
    }

    @Test
    void badHostedToolsAndReplayedItemsAreRefusedAsTheApiDoes() throws Exception {
        client(Scripts.always(ScriptedReply.text("unused")));
        assertThat(post("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"file_search\"}]}"))
                .isEqualTo("400 Invalid 'tools[0]': Missing required parameter: 'vector_store_ids'.");
        assertThat(post("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"teleport\"}]}"))
                .isEqualTo("400 Invalid 'tools[0]': unknown tool type 'teleport'.");
        assertThat(post("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"web_search\",\"searchContextSize\":\"low\"}]}"))
                .isEqualTo("400 Invalid 'tools[0]': unknown parameter 'searchContextSize' for tool type 'web_search'.");
        assertThat(post("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"mcp\",\"server_label\":\"w\","
                + "\"server_url\":\"https://a.example\",\"headers\":{\"Authorization\":\"Bearer ${TURNPIKE_MCP_W}\"}}]}"))
                .startsWith("400 Invalid 'tools[0]': a header still holds an unresolved reference");
        assertThat(post("{\"model\":\"m\",\"input\":[{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"completed\"}]}"))
                .isEqualTo("400 Missing required parameter: 'input[0].action' (web_search_call).");
        assertThat(post("{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"web_search\",\"search_context_size\":\"low\"},"
                + "{\"type\":\"file_search\",\"vector_store_ids\":[\"vs_1\"]}]}")).isEqualTo("200");
        // replayed hosted items are seen as such
        ModelRequestView last = server.modelRequests().get(server.modelRequests().size() - 1);
        assertThat(last.hostedTools()).hasSize(2);
        assertThat(post("{\"model\":\"m\",\"input\":[{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"completed\","
                + "\"action\":{\"type\":\"search\",\"query\":\"q\"}}]}")).isEqualTo("200");
        last = server.modelRequests().get(server.modelRequests().size() - 1);
        assertThat(last.hostedCalls()).extracting(InputItem.Hosted::type, InputItem.Hosted::id)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("web_search_call", "ws_1"));
    }

    private String post(String body) throws Exception {
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(server.baseUrl() + "/responses"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 200) {
                return "200";
            }
            JsonNode error = JSON.readTree(r.body()).path("error");
            assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
            return r.statusCode() + " " + error.path("message").asText();
        }
    }
}
