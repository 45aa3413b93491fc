package io.turnpike.devkit;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.Reasoning;
import com.openai.models.ReasoningEffort;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseIncludable;
import com.openai.models.responses.ResponseStreamEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The scripted server's SSE: reasoning summaries streamed as the real API does, and a pause before each delta. */
class ScriptedStreamingTest {
    static final String TEXT = "Sixty-four characters of text arrive in four sixteen-char deltas";

    ScriptedModelServer server;
    OpenAIClient client;

    @AfterEach
    void tearDown() {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    ResponseCreateParams params() {
        return ResponseCreateParams.builder().model("scripted").input("go").store(false)
                .reasoning(Reasoning.builder().effort(ReasoningEffort.LOW).summary(Reasoning.Summary.AUTO).build())
                .addInclude(ResponseIncludable.REASONING_ENCRYPTED_CONTENT).build();
    }

    @Test
    void aStreamedReasoningAnswerHasTheRealEventsAndTheSameResponseAsUnstreamed() {
        server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text(TEXT).withReasoning("First, think.")));
        client = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl()).apiKey("k").responseValidation(true).build();
        List<String> kinds = new ArrayList<>();
        StringBuilder summary = new StringBuilder();
        ResponseAccumulator acc = ResponseAccumulator.create();
        try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(params())) {
            stream.stream().forEach(e -> {
                acc.accumulate(e);
                e.reasoningSummaryTextDelta().ifPresent(d -> summary.append(d.delta()));
                if (e.isReasoningSummaryPartAdded()) {
                    kinds.add("summary part");
                } else if (e.isReasoningSummaryTextDelta()) {
                    kinds.add("summary delta");
                } else if (e.isOutputTextDelta()) {
                    kinds.add("text delta");
                } else if (e.isCompleted()) {
                    kinds.add("completed");
                }
            });
        }
        Response streamed = acc.response();
        Response whole = client.responses().create(params());

        assertThat(summary.toString()).isEqualTo("First, think.");
        assertThat(kinds).containsSubsequence("summary part", "summary delta", "text delta", "completed");
        assertThat(streamed.output().getFirst().asReasoning().summary().getFirst().text()).isEqualTo("First, think.");
        assertThat(streamed.output().getFirst().asReasoning().encryptedContent())
                .isEqualTo(whole.output().getFirst().asReasoning().encryptedContent());
        assertThat(streamed.output().get(1).asMessage().content().getFirst().asOutputText().text()).isEqualTo(TEXT);
        assertThat(server.streamedRequests()).hasSize(1);
        assertThat(server.modelRequests()).extracting(ModelRequestView::stream).containsExactly(true, false);
    }

    @Test
    void streamDelayPausesBeforeEachDelta() {
        server = ScriptedModelServer.start(Scripts.always(ScriptedReply.text(TEXT)));
        client = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl()).apiKey("k").responseValidation(true).build();
        deltaArrivals(); // a first stream without pauses, so that the client's first parse of each event is not measured
        server.streamDelay(Duration.ofMillis(150));
        List<Long> arrivals = deltaArrivals();
        assertThat(arrivals).hasSize(4);
        // three gaps of at least a pause each (the first pause comes before the first delta)
        assertThat(Duration.ofNanos(arrivals.getLast() - arrivals.getFirst())).isGreaterThanOrEqualTo(Duration.ofMillis(3 * 140));
    }

    private List<Long> deltaArrivals() {
        List<Long> arrivals = new ArrayList<>();
        try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(
                ResponseCreateParams.builder().model("scripted").input("go").build())) {
            stream.stream().forEach(e -> e.outputTextDelta().ifPresent(d -> arrivals.add(System.nanoTime())));
        }
        return arrivals;
    }
}
