package io.turnpike.schema.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;

/**
 * Client for a Confluent-compatible schema registry's REST API (the subset serializers use). Ids are
 * cached forever, the way Confluent's CachedSchemaRegistryClient does: an id never changes meaning, so
 * after the first record of a type there is no registry traffic on the hot path.
 */
public final class HttpSchemaRegistry implements SchemaRegistry {
  private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int ATTEMPTS = 4;

  private final String url;
  private final HttpClient http;
  private final Duration timeout;
  private final Map<Integer, Schema> byId = new ConcurrentHashMap<>();
  private final Map<String, Integer> idBySubjectAndSchema = new ConcurrentHashMap<>();

  public HttpSchemaRegistry(String url) {
    this(url, Duration.ofSeconds(10));
  }

  public HttpSchemaRegistry(String url, Duration timeout) {
    this.url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    this.timeout = timeout;
    this.http = HttpClient.newBuilder().connectTimeout(timeout).build();
  }

  @Override
  public String url() {
    return url;
  }

  @Override
  public int register(String subject, Schema schema) {
    String key = subject + '\u0000' + schema.toString();
    Integer known = idBySubjectAndSchema.get(key);
    if (known != null) {
      return known;
    }
    ObjectNode body = JSON.createObjectNode().put("schema", schema.toString());
    JsonNode reply = call("POST", "/subjects/" + encode(subject) + "/versions", body,
        "register the schema of " + schema.getFullName() + " under subject " + subject);
    int id = reply.path("id").asInt(-1);
    if (id < 0) {
      throw new SchemaRegistryException("registry at " + url + " answered a registration without an id: " + reply, -1);
    }
    byId.putIfAbsent(id, schema);
    idBySubjectAndSchema.put(key, id);
    return id;
  }

  @Override
  public Schema schemaById(int id) {
    Schema known = byId.get(id);
    if (known != null) {
      return known;
    }
    JsonNode reply = call("GET", "/schemas/ids/" + id, null, "fetch schema id " + id);
    String text = reply.path("schema").asText(null);
    if (text == null) {
      throw new SchemaRegistryException("registry at " + url + " has no schema text for id " + id, 40403);
    }
    Schema schema = new Schema.Parser().parse(text);
    byId.putIfAbsent(id, schema);
    return byId.get(id);
  }

  @Override
  public void setCompatibility(String subject, String level) {
    call("PUT", "/config/" + encode(subject), JSON.createObjectNode().put("compatibility", level),
        "set compatibility of " + subject + " to " + level);
  }

  @Override
  public boolean isCompatible(String subject, Schema schema) {
    try {
      JsonNode reply = call("POST", "/compatibility/subjects/" + encode(subject) + "/versions/latest",
          JSON.createObjectNode().put("schema", schema.toString()), "check compatibility for " + subject);
      return reply.path("is_compatible").asBoolean(false);
    } catch (SchemaRegistryException e) {
      if (e.errorCode() == 40401 || e.errorCode() == 40402) {
        return true; // nothing registered yet: anything is compatible with nothing
      }
      throw e;
    }
  }

  /** Retries outages a few times (about 2 s in all) so a registry restart does not fail a record. */
  private JsonNode call(String method, String path, JsonNode body, String what) {
    long backoffMs = 100;
    for (int attempt = 1; ; attempt++) {
      try {
        return callOnce(method, path, body, what);
      } catch (SchemaRegistryException e) {
        if (!e.isTransient() || attempt == ATTEMPTS || Thread.currentThread().isInterrupted()) {
          throw e;
        }
      }
      try {
        Thread.sleep(backoffMs); // backoff between retries of a remote call, not a test wait
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SchemaRegistryException("interrupted while trying to " + what, e);
      }
      backoffMs *= 4;
    }
  }

  private JsonNode callOnce(String method, String path, JsonNode body, String what) {
    HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(url + path)).timeout(timeout)
        .header("Accept", CONTENT_TYPE + ", application/json");
    if (body != null) {
      req.header("Content-Type", CONTENT_TYPE).method(method, HttpRequest.BodyPublishers.ofString(body.toString()));
    } else {
      req.method(method, HttpRequest.BodyPublishers.noBody());
    }
    HttpResponse<String> res;
    try {
      res = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new SchemaRegistryException("cannot " + what + ": schema registry at " + url + " is unreachable ("
          + e + "); start one or point TURNPIKE_SCHEMA_REGISTRY_URL at yours", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SchemaRegistryException("interrupted while trying to " + what, e);
    }
    JsonNode json;
    try {
      json = res.body().isBlank() ? JSON.createObjectNode() : JSON.readTree(res.body());
    } catch (IOException e) {
      throw new SchemaRegistryException("cannot " + what + ": registry at " + url + " answered HTTP "
          + res.statusCode() + " with a body that is not JSON: " + abbreviate(res.body()), e);
    }
    if (res.statusCode() / 100 != 2) {
      throw new SchemaRegistryException("cannot " + what + ": registry answered HTTP " + res.statusCode() + ": "
          + json.path("message").asText(abbreviate(res.body())), json.path("error_code").asInt(res.statusCode()));
    }
    return json;
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }

  private static String abbreviate(String s) {
    return s.length() > 300 ? s.substring(0, 300) + "..." : s;
  }
}
