package io.turnpike.devkit.registry;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** A bare HTTP client for the registry, so tests see the wire exactly as other clients do. */
final class RegistryHttp {

    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** Status, raw body and the body parsed as JSON. */
    record Reply(int status, String body, String contentType) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("Not JSON (" + status + "): " + body, e);
            }
        }

        int errorCode() {
            return json().path("error_code").asInt(-1);
        }
    }

    private final String url;

    RegistryHttp(String url) {
        this.url = url;
    }

    /** A path segment as a client library encodes it (space as %20, slash as %2F). */
    static String segment(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** The body of a register/lookup/compatibility request for an Avro schema. */
    static String schemaBody(String avroSchema) {
        return JSON.createObjectNode().put("schema", avroSchema).toString();
    }

    Reply get(String path) {
        return send(HttpRequest.newBuilder(URI.create(url + path)).GET());
    }

    Reply post(String path, String body) {
        return send(HttpRequest.newBuilder(URI.create(url + path)).POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    Reply put(String path, String body) {
        return send(HttpRequest.newBuilder(URI.create(url + path)).PUT(HttpRequest.BodyPublishers.ofString(body)));
    }

    Reply delete(String path) {
        return send(HttpRequest.newBuilder(URI.create(url + path)).DELETE());
    }

    /** Registers under {@code subject} and returns the id, failing the test on anything but 200. */
    int register(String subject, String avroSchema) {
        Reply r = post("/subjects/" + segment(subject) + "/versions", schemaBody(avroSchema));
        if (r.status() != 200) {
            throw new AssertionError("register " + subject + " -> " + r.status() + " " + r.body());
        }
        return r.json().get("id").asInt();
    }

    private static Reply send(HttpRequest.Builder request) {
        try {
            HttpResponse<String> response = CLIENT.send(request
                    .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
            return new Reply(response.statusCode(), response.body(),
                    response.headers().firstValue("Content-Type").orElse(""));
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
