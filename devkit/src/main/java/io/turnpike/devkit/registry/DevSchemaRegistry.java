package io.turnpike.devkit.registry;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Confluent-compatible schema registry (Avro only) for Turnpike's embedded dev default; it is
 * not meant for production, where docker-compose and real deployments run Confluent's own
 * Schema Registry.
 *
 * <p>It exists because Confluent's registry is not available as a library here, and the embedded
 * default must still give every topic real Confluent wire-format records that any
 * Confluent-compatible client (Kafka UI, kcat, kafkajs) can decode.
 *
 * <p>State lives in the compacted topic {@code _schemas} in Confluent's own record layout, and is
 * replayed on start, so a registry restarted on the same cluster serves the same ids and versions.
 * Ids are global and a schema keeps its id in every subject; the default compatibility level is
 * BACKWARD. Endpoints: {@code /subjects[?subjectPrefix=]}, {@code /subjects/{s}/versions[/{v}|latest[/schema]]},
 * {@code POST /subjects/{s}} (lookup), {@code DELETE /subjects/{s}[/versions/{v}][?permanent=true]},
 * {@code /schemas/ids/{id}[/schema|/subjects|/versions]}, {@code /schemas/types},
 * {@code /config[/{s}][?defaultToGlobal=true]}, {@code /compatibility/subjects/{s}/versions[/{v}]},
 * {@code /mode}. Error bodies and codes are Confluent's. Schema references, JSON Schema and
 * Protobuf are not supported.
 *
 * <pre>{@code
 * try (EmbeddedKafka kafka = EmbeddedKafka.start();
 *      DevSchemaRegistry registry = DevSchemaRegistry.start(kafka.bootstrapServers())) {
 *     String url = registry.url();   // "http://127.0.0.1:<port>"
 * }
 * }</pre>
 *
 * <p>One registry per cluster at a time: writes are serialised inside one instance only.
 */
public final class DevSchemaRegistry implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DevSchemaRegistry.class);
    private static final String MEDIA_TYPE = "application/vnd.schemaregistry.v1+json";
    private static final Duration KAFKA_TIMEOUT = Duration.ofSeconds(30);

    private final SchemaStore store;
    private final RegistryApi api;
    private final HttpServer http;
    private final ExecutorService executor;

    private DevSchemaRegistry(SchemaStore store, int port) throws IOException {
        this.store = store;
        this.api = new RegistryApi(store);
        this.executor = Executors.newVirtualThreadPerTaskExecutor();
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), port), 128);
        this.http.setExecutor(executor);
        this.http.createContext("/", this::handle);
        this.http.start();
    }

    /** Starts a registry on a free port of 127.0.0.1, keeping its state on the given cluster. */
    public static DevSchemaRegistry start(String bootstrapServers) {
        return start(bootstrapServers, 0);
    }

    /**
     * Starts a registry on 127.0.0.1:{@code port} (0 for a free one): creates {@code _schemas} if
     * missing, replays it, then listens.
     *
     * @throws IllegalStateException if Kafka cannot be reached or {@code _schemas} is unusable
     *                               (more than one partition, not compacted)
     * @throws UncheckedIOException  if the port cannot be bound
     */
    public static DevSchemaRegistry start(String bootstrapServers, int port) {
        long t0 = System.nanoTime();
        SchemaLog log = SchemaLog.open(bootstrapServers, KAFKA_TIMEOUT);
        SchemaStore store;
        try {
            store = SchemaStore.open(log);
        } catch (RuntimeException e) {
            log.close();
            throw new IllegalStateException("Cannot read " + SchemaLog.TOPIC + " on " + bootstrapServers
                    + ": " + e.getMessage(), e);
        }
        try {
            DevSchemaRegistry registry = new DevSchemaRegistry(store, port);
            LOG.info("Dev schema registry at {} (state in {} on {}), ready in {} ms", registry.url(),
                    SchemaLog.TOPIC, bootstrapServers, (System.nanoTime() - t0) / 1_000_000);
            return registry;
        } catch (IOException e) {
            store.close();
            throw new UncheckedIOException("Cannot listen on 127.0.0.1:" + port, e);
        }
    }

    /** {@code http://127.0.0.1:<port>}: what schema registry clients take as their URL. */
    public String url() {
        return "http://127.0.0.1:" + port();
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /** Stops listening, then closes the Kafka clients; the state stays in {@code _schemas}. */
    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
        store.close();
    }

    // ---------------------------------------------------------------------------------------------

    private void handle(HttpExchange exchange) {
        try (exchange) {
            RegistryApi.Reply reply;
            try {
                String body;
                try (InputStream in = exchange.getRequestBody()) {
                    body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
                reply = api.handle(exchange.getRequestMethod(), segments(exchange.getRequestURI().getRawPath()),
                        query(exchange.getRequestURI().getRawQuery()), body);
            } catch (RegistryError e) {
                reply = error(e.status(), e.errorCode(), e.getMessage());
            } catch (RuntimeException e) {
                LOG.warn("Dev schema registry failed on {} {}", exchange.getRequestMethod(), exchange.getRequestURI(), e);
                reply = error(500, 50001, "Internal error: " + e);
            }
            byte[] bytes = reply.body().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", MEDIA_TYPE);
            exchange.sendResponseHeaders(reply.status(), bytes.length == 0 ? -1 : bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        } catch (IOException e) {
            LOG.debug("Client went away during {} {}", exchange.getRequestMethod(), exchange.getRequestURI(), e);
        }
    }

    private static RegistryApi.Reply error(int status, int code, String message) {
        var body = SchemaStore.JSON.createObjectNode().put("error_code", code).put("message", message);
        return new RegistryApi.Reply(status, body.toString());
    }

    /**
     * Splits before decoding, so a subject holding an encoded {@code /} stays one segment; a
     * {@code +} in a path is a plus, not a space.
     */
    static List<String> segments(String rawPath) {
        List<String> out = new ArrayList<>();
        if (rawPath == null) {
            return out;
        }
        for (String part : rawPath.split("/")) {
            if (!part.isEmpty()) {
                out.add(decode(part.replace("+", "%2B")));
            }
        }
        return out;
    }

    static Map<String, String> query(String rawQuery) {
        Map<String, String> out = new HashMap<>();
        if (rawQuery == null || rawQuery.isEmpty()) {
            return out;
        }
        for (String pair : rawQuery.split("&")) {
            int eq = pair.indexOf('=');
            String name = eq < 0 ? pair : pair.substring(0, eq);
            String value = eq < 0 ? "" : pair.substring(eq + 1);
            out.put(decode(name), decode(value));
        }
        return out;
    }

    private static String decode(String text) {
        try {
            return URLDecoder.decode(text, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw RegistryError.badRequest("Malformed percent-encoding in '" + text + "'");
        }
    }
}
