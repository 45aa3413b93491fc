package io.turnpike.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.registry.DevSchemaRegistry;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A supervised service as a real operating-system process ({@link EchoServiceMain}): it waits for what
 * it needs instead of exiting, is ready only once it serves, drains on SIGTERM, and exits with a code a
 * supervisor acts on when it cannot go on.
 */
class ServiceProcessTest {
  static final HttpClient HTTP = HttpClient.newHttpClient();

  @TempDir
  Path dir;

  final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable c : open.reversed()) {
      c.close();
    }
  }

  /** The service's JVM, with its output in a file. */
  final class Service implements AutoCloseable {
    final Process process;
    final Path log;
    final int httpPort;

    Service(String name, Map<String, String> env) throws IOException {
      httpPort = freePort();
      log = dir.resolve(name + ".log");
      String java = ProcessHandle.current().info().command().orElse("java");
      ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
          EchoServiceMain.class.getName())
          .redirectErrorStream(true).redirectOutput(log.toFile());
      pb.environment().put("TURNPIKE_HTTP_PORT", String.valueOf(httpPort));
      pb.environment().putAll(env);
      process = pb.start();
      open.add(this);
    }

    int status(String path) {
      try {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path))
            .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
      } catch (IOException e) {
        return -1; // not serving (yet, or any more)
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return -1;
      }
    }

    String output() {
      try {
        return Files.readString(log, StandardCharsets.UTF_8);
      } catch (IOException e) {
        return "";
      }
    }

    @Override
    public void close() throws InterruptedException {
      process.destroyForcibly();
      process.waitFor(30, TimeUnit.SECONDS);
    }
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  EmbeddedKafka broker(int port) {
    EmbeddedKafka kafka = EmbeddedKafka.builder().port(port).build().start();
    open.add(kafka);
    return kafka;
  }

  static void createTopics(EmbeddedKafka kafka) {
    kafka.createTopics(List.of(new NewTopic(EchoServiceMain.REQUESTS, 1, (short) 1),
        new NewTopic(EchoServiceMain.RESULTS, 1, (short) 1), new NewTopic("turnpike.dead-letters", 1, (short) 1)));
  }

  static String echoOf(EmbeddedKafka kafka, String request) throws Exception {
    try (KafkaProducer<String, String> p = new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers()),
        new StringSerializer(), new StringSerializer())) {
      p.send(new ProducerRecord<>(EchoServiceMain.REQUESTS, "k", request)).get(30, TimeUnit.SECONDS);
    }
    Map<String, Object> c = new HashMap<>(Map.of("bootstrap.servers", kafka.bootstrapServers()));
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
      TopicPartition tp = new TopicPartition(EchoServiceMain.RESULTS, 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long deadline = System.currentTimeMillis() + 30_000;
      while (System.currentTimeMillis() < deadline) {
        for (var r : consumer.poll(Duration.ofMillis(200))) {
          if (r.value().equals("echo:" + request)) {
            return r.value();
          }
        }
      }
      return null;
    }
  }

  @Test
  void waitsForKafkaAndItsTopicsInsteadOfExitingThenServesAndDrainsOnSigterm() throws Exception {
    int kafkaPort = freePort();
    Service s = new Service("echo", Map.of("TURNPIKE_BOOTSTRAP_SERVERS", "127.0.0.1:" + kafkaPort,
        "TURNPIKE_SCHEMA_REGISTRY_URL", "mock://echo"));

    await().atMost(Duration.ofSeconds(60)).until(() -> s.output().contains("waiting for Kafka at 127.0.0.1:" + kafkaPort));
    assertThat(s.status("/health/live")).isEqualTo(200);
    assertThat(s.status("/health/ready")).isEqualTo(503);

    EmbeddedKafka kafka = broker(kafkaPort);
    await().atMost(Duration.ofSeconds(60)).until(() -> s.output().contains("waiting for topics"));
    assertThat(s.process.isAlive()).isTrue();
    assertThat(s.status("/health/ready")).isEqualTo(503);
    createTopics(kafka);

    await().atMost(Duration.ofSeconds(60)).until(() -> s.status("/health/ready") == 200);
    assertThat(echoOf(kafka, "hello")).isEqualTo("echo:hello");

    s.process.destroy(); // SIGTERM
    assertThat(s.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(s.process.exitValue()).isEqualTo(143); // 128 + SIGTERM: stopped by the signal, after the hooks ran
    assertThat(s.output()).contains("echo-service: stopping").contains("echo stopped: 1 answered").contains("echo-service: stopped");
  }

  @Test
  void waitsForTheSchemaRegistry() throws Exception {
    EmbeddedKafka kafka = broker(0);
    createTopics(kafka);
    int registryPort = freePort();
    Service s = new Service("echo-registry", Map.of("TURNPIKE_BOOTSTRAP_SERVERS", kafka.bootstrapServers(),
        "TURNPIKE_SCHEMA_REGISTRY_URL", "http://127.0.0.1:" + registryPort));

    await().atMost(Duration.ofSeconds(60)).until(() -> s.output().contains("waiting for the schema registry at http://127.0.0.1:" + registryPort));
    assertThat(s.status("/health/ready")).isEqualTo(503);
    open.add(DevSchemaRegistry.start(kafka.bootstrapServers(), registryPort));

    await().atMost(Duration.ofSeconds(60)).until(() -> s.status("/health/ready") == 200);
    assertThat(s.process.isAlive()).isTrue();
  }

  @Test
  void aPartThatCannotGoOnEndsTheProcessWithCode1() throws Exception {
    EmbeddedKafka kafka = broker(0);
    createTopics(kafka);
    // Two live processes with one static member id: Kafka fences the older one, whose loop cannot go on.
    Map<String, String> env = Map.of("TURNPIKE_BOOTSTRAP_SERVERS", kafka.bootstrapServers(),
        "TURNPIKE_SCHEMA_REGISTRY_URL", "mock://echo", "TURNPIKE_KAFKA_INSTANCE_ID", "echo-1");
    Service first = new Service("first", env);
    await().atMost(Duration.ofSeconds(60)).until(() -> first.status("/health/ready") == 200);
    Service second = new Service("second", env);

    assertThat(first.process.waitFor(60, TimeUnit.SECONDS)).as(first.output()).isTrue();
    assertThat(first.process.exitValue()).isEqualTo(ServiceProcess.EXIT_FATAL);
    assertThat(first.output()).contains("cannot go on, exiting with code 1").contains("Fenced");
    await().atMost(Duration.ofSeconds(60)).until(() -> second.status("/health/ready") == 200);
  }

  @Test
  void aConfigurationMistakeExitsWithCode2AtOnce() throws Exception {
    Service s = new Service("bad-config", Map.of("TURNPIKE_BOOTSTRAP_SERVERS", "127.0.0.1:1",
        "TURNPIKE_SCHEMA_REGISTRY_URL", "mock://echo", "TURNPIKE_KAFKA_SESSION_TIMEOUT", "banana"));

    assertThat(s.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(s.process.exitValue()).as(s.output()).isEqualTo(ServiceProcess.EXIT_CONFIG);
    assertThat(s.output()).contains("turnpike.kafka.session-timeout must be a duration");
  }
}
