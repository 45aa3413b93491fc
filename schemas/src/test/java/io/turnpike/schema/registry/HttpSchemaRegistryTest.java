package io.turnpike.schema.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.turnpike.avro.RunRequest;
import io.turnpike.schema.TurnpikeSerdes;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The client's error handling against a real HTTP server playing a registry that fails. */
class HttpSchemaRegistryTest {
  private HttpServer server;

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(0);
    }
  }

  private String serve(int failuresBeforeAnswer, int failureStatus, AtomicInteger calls) throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> {
      int n = calls.incrementAndGet();
      String body;
      int status;
      if (n <= failuresBeforeAnswer) {
        status = failureStatus;
        body = "{\"error_code\":" + (failureStatus == 500 ? 50001 : 40403) + ",\"message\":\"no such schema\"}";
      } else {
        status = 200;
        body = "{\"schema\":" + com.fasterxml.jackson.databind.node.TextNode.valueOf(RunRequest.getClassSchema().toString()) + "}";
      }
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(status, b.length);
      ex.getResponseBody().write(b);
      ex.close();
    });
    server.start();
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  @Test
  void aRegistryOutageIsRetriedThenAnswered() throws IOException {
    AtomicInteger calls = new AtomicInteger();
    HttpSchemaRegistry registry = new HttpSchemaRegistry(serve(2, 500, calls));
    assertThat(registry.schemaById(7)).isEqualTo(RunRequest.getClassSchema());
    assertThat(calls).hasValue(3);
    registry.schemaById(7);
    assertThat(calls).as("ids are cached").hasValue(3);
  }

  @Test
  void anAnswerIsNotRetriedAndIsNotTransient() throws IOException {
    AtomicInteger calls = new AtomicInteger();
    HttpSchemaRegistry registry = new HttpSchemaRegistry(serve(100, 404, calls));
    assertThatThrownBy(() -> registry.schemaById(7)).isInstanceOfSatisfying(SchemaRegistryException.class, e -> {
      assertThat(e.isTransient()).isFalse();
      assertThat(e.errorCode()).isEqualTo(40403);
    });
    assertThat(calls).hasValue(1);
  }

  @Test
  void anUnreachableRegistryIsTransientForTheSerdeNotAPoisonRecord() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    TurnpikeSerdes serdes = TurnpikeSerdes.using(new HttpSchemaRegistry("http://127.0.0.1:" + port));
    byte[] record = {0, 0, 0, 0, 42, 2, 'x'};
    // the caller must retry this record later, not dead-letter it
    assertThatThrownBy(() -> serdes.runRequest().deserialize("t", record))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> assertThat(e.isTransient()).isTrue())
        .hasMessageContaining("unreachable");
  }

  @Test
  void anUnknownIdIsAPoisonRecord() throws IOException {
    AtomicInteger calls = new AtomicInteger();
    TurnpikeSerdes serdes = TurnpikeSerdes.using(new HttpSchemaRegistry(serve(100, 404, calls)));
    assertThatThrownBy(() -> serdes.runRequest().deserialize("t", new byte[] {0, 0, 0, 0, 42, 2, 'x'}))
        .isInstanceOf(SerializationException.class).hasMessageContaining("no such schema");
  }
}
