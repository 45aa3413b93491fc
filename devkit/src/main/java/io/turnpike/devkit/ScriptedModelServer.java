package io.turnpike.devkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenAI-compatible HTTP server that answers from a {@link ModelScript} instead of a model:
 * the test double for every model call in Turnpike, and the "model" of the offline demo.
 *
 * <p>Endpoints (under {@link #baseUrl()}, which ends in {@code /v1}): {@code POST /responses}
 * (Responses API), {@code POST /chat/completions} (Chat Completions), both also streamed as SSE
 * when the request says {@code "stream": true}; {@code GET /models} and {@code GET /models/{id}}.
 * Replies have exactly the shapes of the real API, so the official openai-java client accepts them
 * with {@code responseValidation(true)}. Other paths get a 404, bad JSON a 400, both with OpenAI's
 * error body.
 *
 * <pre>{@code
 * try (var server = ScriptedModelServer.start(Scripts.byTurn(
 *         ScriptedReply.toolCall("get_weather", "{\"city\":\"Paris\"}"),
 *         ScriptedReply.text("It is sunny in Paris.")))) {
 *     OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(server.baseUrl()).apiKey("test").build();
 *     ...
 * }
 * }</pre>
 *
 * <p>Each request runs on its own virtual thread and nothing blocks except a scripted
 * {@link ScriptedReply#withDelay(Duration) delay}, so the server is effectively an instant model.
 * Ids ({@code resp_}, {@code msg_}, {@code fc_}, {@code call_}, {@code chatcmpl-}) are unique for
 * the server's lifetime.
 */
public final class ScriptedModelServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ScriptedModelServer.class);
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final String PREFIX = "/v1";
    private static final int STREAM_CHUNK = 16;

    private final HttpServer http;
    private final ExecutorService executor;
    private final OpenAiWire wire = new OpenAiWire();
    private final List<RecordedRequest> requests = new ArrayList<>();
    private volatile int recordLimit = Integer.MAX_VALUE;
    private final Object failLock = new Object();
    private volatile ModelScript script;
    private volatile Duration streamDelay = Duration.ZERO;
    private int failRemaining;
    private int failStatus;

    private ScriptedModelServer(ModelScript script, int port) throws IOException {
        this.script = Objects.requireNonNull(script, "script");
        this.executor = Executors.newVirtualThreadPerTaskExecutor();
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), port), 256);
        this.http.setExecutor(executor);
        this.http.createContext("/", this::handle);
        this.http.start();
    }

    /** Starts a server on 127.0.0.1 and a free port. */
    public static ScriptedModelServer start(ModelScript script) {
        return start(script, 0);
    }

    /**
     * Starts a server on 127.0.0.1:{@code port} (0: a free one). A fixed port lets a restarted server
     * (a model server process killed and started again) be found at the same base URL.
     */
    public static ScriptedModelServer start(ModelScript script, int port) {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be 0..65535: " + port);
        }
        try {
            ScriptedModelServer server = new ScriptedModelServer(script, port);
            LOG.debug("Scripted model server at {}", server.baseUrl());
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start scripted model server", e);
        }
    }

    /** {@code http://127.0.0.1:<port>/v1}: what openai-java's {@code baseUrl} (and OPENAI_BASE_URL) expects. */
    public String baseUrl() {
        return "http://127.0.0.1:" + http.getAddress().getPort() + PREFIX;
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /**
     * Keeps only the last {@code limit} requests (0: none). Long-running users (benchmarks, the dev
     * launcher) set this so the server's memory stays bounded; tests keep the default, everything.
     */
    public ScriptedModelServer recordLimit(int limit) {
        if (limit < 0) {
            throw new IllegalArgumentException("limit must be >= 0");
        }
        this.recordLimit = limit;
        synchronized (requests) {
            while (requests.size() > limit) {
                requests.remove(0);
            }
        }
        return this;
    }

    /** Every request received so far, in arrival order (a snapshot). */
    public List<RecordedRequest> requests() {
        synchronized (requests) {
            return List.copyOf(requests);
        }
    }

    public int requestCount() {
        synchronized (requests) {
            return requests.size();
        }
    }

    /** Only the parsed model requests (Responses and Chat), in order. */
    public List<ModelRequestView> modelRequests() {
        return requests().stream().map(RecordedRequest::view).filter(Objects::nonNull).toList();
    }

    /**
     * The next {@code count} requests, whatever their path, get {@code httpStatus} with an OpenAI
     * error body instead of reaching the script (for retry tests). Replaces any earlier setting.
     */
    public void failNext(int count, int httpStatus) {
        if (count < 0 || httpStatus < 400 || httpStatus > 599) {
            throw new IllegalArgumentException("count >= 0 and a 4xx/5xx status expected");
        }
        synchronized (failLock) {
            failRemaining = count;
            failStatus = httpStatus;
        }
    }

    /**
     * Waits this long before each delta of a streamed answer (text, reasoning summary, arguments), so a
     * test can watch a stream arrive piece by piece, or stop a client in the middle of one. Zero (the
     * default): the whole stream at once.
     */
    public ScriptedModelServer streamDelay(Duration delay) {
        if (delay == null || delay.isNegative()) {
            throw new IllegalArgumentException("delay must be zero or positive");
        }
        this.streamDelay = delay;
        return this;
    }

    /** The requests that asked for a streamed (SSE) answer, in order. */
    public List<ModelRequestView> streamedRequests() {
        return modelRequests().stream().filter(ModelRequestView::stream).toList();
    }

    public void setScript(ModelScript script) {
        this.script = Objects.requireNonNull(script, "script");
    }

    /** Stops listening at once and interrupts requests still waiting on a delay. */
    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
    }

    // ---------------------------------------------------------------------------------------------

    private void handle(HttpExchange exchange) {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            String method = exchange.getRequestMethod();
            String body;
            try (InputStream in = exchange.getRequestBody()) {
                body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            Map<String, List<String>> headers = Map.copyOf(exchange.getRequestHeaders());

            String api = switch (path) {
                case PREFIX + "/responses" -> ModelRequestView.RESPONSES;
                case PREFIX + "/chat/completions" -> ModelRequestView.CHAT;
                default -> null;
            };
            ModelRequestView view = null;
            String parseError = null;
            if (api != null && method.equals("POST")) {
                try {
                    JsonNode raw = OpenAiWire.JSON.readTree(body);
                    if (raw == null || !raw.isObject()) {
                        parseError = "The request body must be a JSON object.";
                    } else {
                        view = api.equals(ModelRequestView.RESPONSES)
                                ? OpenAiWire.parseResponses(raw, headers)
                                : OpenAiWire.parseChat(raw, headers);
                    }
                } catch (JsonProcessingException e) {
                    parseError = "We could not parse the JSON body of your request. (HINT: This likely means"
                            + " you aren't using your HTTP library correctly. The OpenAI API expects a JSON"
                            + " payload.) " + e.getOriginalMessage();
                }
            }
            synchronized (requests) {
                if (recordLimit > 0) {
                    requests.add(new RecordedRequest(path, body, view));
                    while (requests.size() > recordLimit) {
                        requests.remove(0);
                    }
                }
            }

            Integer forcedFailure = takeFailure();
            if (forcedFailure != null) {
                sendError(exchange, forcedFailure, "Scripted failure (failNext) with HTTP " + forcedFailure + ".");
                return;
            }
            if (api != null) {
                if (!method.equals("POST")) {
                    sendError(exchange, 405, "Method " + method + " not allowed for " + path + "; use POST.");
                } else if (parseError != null) {
                    sendError(exchange, 400, parseError);
                } else if (api.equals(ModelRequestView.RESPONSES) && HostedRequestCheck.problem(view.raw()) != null) {
                    // Hosted tools and replayed hosted calls are checked as the real API checks them.
                    sendError(exchange, 400, HostedRequestCheck.problem(view.raw()));
                } else {
                    answer(exchange, view, body);
                }
            } else if (path.equals(PREFIX + "/models") && method.equals("GET")) {
                ObjectNode list = NODES.objectNode();
                list.put("object", "list");
                list.putArray("data").add(modelObject("scripted-model"));
                sendJson(exchange, 200, list);
            } else if (path.startsWith(PREFIX + "/models/") && method.equals("GET")) {
                sendJson(exchange, 200, modelObject(path.substring((PREFIX + "/models/").length())));
            } else {
                sendError(exchange, 404, "Invalid URL (" + method + " " + path + ")");
            }
        } catch (IOException e) {
            // The client went away (e.g. it timed out during a scripted delay).
            LOG.debug("Scripted model server: connection closed early: {}", e.toString());
        } catch (RuntimeException e) {
            LOG.warn("Scripted model server failed on a request", e);
        }
    }

    private Integer takeFailure() {
        synchronized (failLock) {
            if (failRemaining > 0) {
                failRemaining--;
                return failStatus;
            }
            return null;
        }
    }

    private void answer(HttpExchange exchange, ModelRequestView view, String body) throws IOException {
        ScriptedReply reply;
        try {
            reply = script.reply(view);
            if (reply == null) {
                throw new IllegalStateException("the script returned null");
            }
        } catch (RuntimeException e) {
            LOG.warn("Model script failed for turn {}", view.turn(), e);
            sendError(exchange, 500, "The model script failed: " + e);
            return;
        }
        if (!reply.delay().isZero()) {
            try {
                Thread.sleep(reply.delay());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return; // server closing
            }
        }
        if (reply.kind() == ScriptedReply.Kind.HTTP_ERROR) {
            sendError(exchange, reply.httpStatus(), reply.errorMessage());
            return;
        }
        OpenAiWire.Usage usage = OpenAiWire.Usage.of(reply, body);
        long now = System.currentTimeMillis() / 1000;
        boolean stream = view.stream();
        if (view.api().equals(ModelRequestView.RESPONSES)) {
            String id = wire.newId("resp_");
            List<ObjectNode> output = wire.responsesOutput(reply, view);
            if (stream) {
                streamResponses(exchange, id, now, view, output, usage);
            } else {
                sendJson(exchange, 200, wire.response(id, now, view, "completed", output, usage));
            }
        } else {
            String id = wire.newId("chatcmpl-");
            if (stream) {
                streamChat(exchange, id, now, view, reply, usage);
            } else {
                sendJson(exchange, 200, wire.chatCompletion(id, now, view, reply, usage));
            }
        }
    }

    // ------------------------------------------------------------------------------- streaming

    private void streamResponses(HttpExchange exchange, String id, long now, ModelRequestView view,
                                 List<ObjectNode> output, OpenAiWire.Usage usage) throws IOException {
        Sse sse = Sse.open(exchange);
        int seq = 0;
        ObjectNode inProgress = wire.response(id, now, view, "in_progress", List.of(), null);
        sse.event("response.created", event("response.created", seq++).set("response", inProgress));
        sse.event("response.in_progress", event("response.in_progress", seq++).set("response", inProgress));
        for (int i = 0; i < output.size(); i++) {
            ObjectNode done = output.get(i);
            String itemId = done.path("id").asText();
            ObjectNode added = done.deepCopy();
            added.put("status", "in_progress");
            if ("reasoning".equals(done.path("type").asText())) {
                added.set("summary", NODES.arrayNode());
                sse.event("response.output_item.added", event("response.output_item.added", seq++)
                        .put("output_index", i).set("item", added));
                for (int s = 0; s < done.path("summary").size(); s++) {
                    JsonNode part = done.path("summary").path(s);
                    String summary = part.path("text").asText();
                    sse.event("response.reasoning_summary_part.added", event("response.reasoning_summary_part.added", seq++)
                            .put("item_id", itemId).put("output_index", i).put("summary_index", s)
                            .set("part", NODES.objectNode().put("type", "summary_text").put("text", "")));
                    for (String piece : chunks(summary)) {
                        pause();
                        sse.event("response.reasoning_summary_text.delta",
                                event("response.reasoning_summary_text.delta", seq++).put("item_id", itemId)
                                        .put("output_index", i).put("summary_index", s).put("delta", piece));
                    }
                    sse.event("response.reasoning_summary_text.done", event("response.reasoning_summary_text.done", seq++)
                            .put("item_id", itemId).put("output_index", i).put("summary_index", s).put("text", summary));
                    sse.event("response.reasoning_summary_part.done", event("response.reasoning_summary_part.done", seq++)
                            .put("item_id", itemId).put("output_index", i).put("summary_index", s).set("part", part));
                }
            } else if ("message".equals(done.path("type").asText())) {
                String text = done.path("content").path(0).path("text").asText();
                added.set("content", NODES.arrayNode());
                sse.event("response.output_item.added", event("response.output_item.added", seq++)
                        .put("output_index", i).set("item", added));
                ObjectNode emptyPart = OpenAiWire.outputText("");
                sse.event("response.content_part.added", event("response.content_part.added", seq++)
                        .put("item_id", itemId).put("output_index", i).put("content_index", 0)
                        .set("part", emptyPart));
                for (String piece : chunks(text)) {
                    pause();
                    ObjectNode delta = event("response.output_text.delta", seq++)
                            .put("item_id", itemId).put("output_index", i).put("content_index", 0)
                            .put("delta", piece);
                    delta.set("logprobs", NODES.arrayNode());
                    sse.event("response.output_text.delta", delta);
                }
                ObjectNode textDone = event("response.output_text.done", seq++)
                        .put("item_id", itemId).put("output_index", i).put("content_index", 0).put("text", text);
                textDone.set("logprobs", NODES.arrayNode());
                sse.event("response.output_text.done", textDone);
                sse.event("response.content_part.done", event("response.content_part.done", seq++)
                        .put("item_id", itemId).put("output_index", i).put("content_index", 0)
                        .set("part", done.path("content").path(0)));
            } else if (HostedCall.isHosted(done)) {
                // A provider-run call: announced in progress, then done (its result, for an image, only then).
                if (added.has("result")) {
                    added.putNull("result");
                }
                sse.event("response.output_item.added", event("response.output_item.added", seq++)
                        .put("output_index", i).set("item", added));
            } else {
                String args = done.path("arguments").asText();
                added.put("arguments", "");
                sse.event("response.output_item.added", event("response.output_item.added", seq++)
                        .put("output_index", i).set("item", added));
                for (String piece : chunks(args)) {
                    pause();
                    sse.event("response.function_call_arguments.delta",
                            event("response.function_call_arguments.delta", seq++)
                                    .put("item_id", itemId).put("output_index", i).put("delta", piece));
                }
                sse.event("response.function_call_arguments.done",
                        event("response.function_call_arguments.done", seq++)
                                .put("item_id", itemId).put("output_index", i)
                                .put("name", done.path("name").asText()).put("arguments", args));
            }
            sse.event("response.output_item.done", event("response.output_item.done", seq++)
                    .put("output_index", i).set("item", done));
        }
        ObjectNode completed = wire.response(id, now, view, "completed", output, usage);
        sse.event("response.completed", event("response.completed", seq).set("response", completed));
        sse.close();
    }

    private void streamChat(HttpExchange exchange, String id, long now, ModelRequestView view,
                            ScriptedReply reply, OpenAiWire.Usage usage) throws IOException {
        boolean includeUsage = view.raw().path("stream_options").path("include_usage").asBoolean(false);
        Sse sse = Sse.open(exchange);
        ObjectNode first = NODES.objectNode().put("role", "assistant");
        if (reply.kind() == ScriptedReply.Kind.TEXT) {
            first.put("content", "");
        } else {
            first.putNull("content");
        }
        first.putNull("refusal");
        sse.data(chatChunk(id, now, view, first, null, includeUsage));
        if (reply.kind() == ScriptedReply.Kind.TEXT) {
            for (String piece : chunks(reply.text())) {
                pause();
                sse.data(chatChunk(id, now, view, NODES.objectNode().put("content", piece), null, includeUsage));
            }
        } else {
            ArrayNode calls = wire.chatToolCalls(reply, true);
            for (JsonNode call : calls) {
                ObjectNode head = ((ObjectNode) call).deepCopy();
                String args = call.path("function").path("arguments").asText();
                ((ObjectNode) head.get("function")).put("arguments", "");
                sse.data(chatChunk(id, now, view, toolDelta(head), null, includeUsage));
                for (String piece : chunks(args)) {
                    pause();
                    ObjectNode part = NODES.objectNode().put("index", call.path("index").asInt());
                    part.putObject("function").put("arguments", piece);
                    sse.data(chatChunk(id, now, view, toolDelta(part), null, includeUsage));
                }
            }
        }
        String finish = reply.kind() == ScriptedReply.Kind.TEXT ? "stop" : "tool_calls";
        sse.data(chatChunk(id, now, view, NODES.objectNode(), finish, includeUsage));
        if (includeUsage) {
            ObjectNode last = wire.chatEnvelope(id, now, view, "chat.completion.chunk");
            last.putArray("choices");
            last.set("usage", OpenAiWire.chatUsage(usage));
            sse.data(last);
        }
        sse.done();
        sse.close();
    }

    /** The scripted wait before a streamed delta; a closing server interrupts it and the stream breaks off. */
    private void pause() throws IOException {
        Duration d = streamDelay;
        if (!d.isZero()) {
            try {
                Thread.sleep(d);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("server closing mid-stream", e);
            }
        }
    }

    private static ObjectNode toolDelta(ObjectNode call) {
        ObjectNode delta = NODES.objectNode();
        delta.putArray("tool_calls").add(call);
        return delta;
    }

    private ObjectNode chatChunk(String id, long now, ModelRequestView view, ObjectNode delta, String finish,
                                 boolean includeUsage) {
        ObjectNode chunk = wire.chatEnvelope(id, now, view, "chat.completion.chunk");
        ObjectNode choice = chunk.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("delta", delta);
        choice.putNull("logprobs");
        if (finish == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finish);
        }
        if (includeUsage) {
            chunk.putNull("usage");
        }
        return chunk;
    }

    private static ObjectNode event(String type, int seq) {
        return NODES.objectNode().put("type", type).put("sequence_number", seq);
    }

    /** Splits streamed text into small deltas, never inside a surrogate pair. */
    static List<String> chunks(String s) {
        List<String> out = new ArrayList<>();
        int start = 0;
        while (start < s.length()) {
            int end = Math.min(s.length(), start + STREAM_CHUNK);
            if (end < s.length() && Character.isHighSurrogate(s.charAt(end - 1))) {
                end++;
            }
            out.add(s.substring(start, end));
            start = end;
        }
        return out;
    }

    /** Server-sent events over a chunked response. */
    private record Sse(OutputStream out) {
        static Sse open(HttpExchange exchange) throws IOException {
            exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            exchange.getResponseHeaders().set("Cache-Control", "no-cache");
            exchange.getResponseHeaders().set("x-request-id", "req_" + Long.toHexString(System.nanoTime()));
            exchange.sendResponseHeaders(200, 0);
            return new Sse(exchange.getResponseBody());
        }

        void event(String name, JsonNode data) throws IOException {
            write("event: " + name + "\ndata: " + OpenAiWire.JSON.writeValueAsString(data) + "\n\n");
        }

        void data(JsonNode data) throws IOException {
            write("data: " + OpenAiWire.JSON.writeValueAsString(data) + "\n\n");
        }

        void done() throws IOException {
            write("data: [DONE]\n\n");
        }

        private void write(String s) throws IOException {
            out.write(s.getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        void close() throws IOException {
            out.close();
        }
    }

    // ---------------------------------------------------------------------------------- plumbing

    private ObjectNode modelObject(String id) {
        ObjectNode m = NODES.objectNode();
        m.put("id", id);
        m.put("object", "model");
        m.put("created", 1_700_000_000L);
        m.put("owned_by", "turnpike");
        return m;
    }

    private void sendError(HttpExchange exchange, int status, String message) throws IOException {
        sendJson(exchange, status, OpenAiWire.error(status, message));
    }

    private static void sendJson(HttpExchange exchange, int status, JsonNode json) throws IOException {
        byte[] bytes = OpenAiWire.JSON.writeValueAsBytes(json);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.getResponseHeaders().set("x-request-id", "req_" + Long.toHexString(System.nanoTime()));
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
