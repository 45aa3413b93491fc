package io.turnpike.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.Usage;
import io.turnpike.console.ConsoleService;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The console's run list with N runs in its store (issue 16's figure): N RunStates (70% COMPLETED, 10% each
 * INTERRUPTED, FAILED, RUNNING; 5 agents) are written to turnpike.run-state, the console materializes them,
 * then {@code GET /api/runs} is timed over HTTP: the first page (50 newest), a status filter that matches one
 * run in ten, and the 100th page of 50 (cursor paging).
 *
 * <p>Usage: {@code ConsoleListBench [runs=10000] [requests=1000]}
 */
public final class ConsoleListBench {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] AGENTS = {"travel-assistant", "support-triage", "billing-specialist", "trip-planner", "release-bot"};

  private ConsoleListBench() {}

  public static void main(String[] args) throws Exception {
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    int requests = args.length > 1 ? Integer.parseInt(args[1]) : 1_000;
    System.out.printf("ConsoleListBench: %d runs in the console's store, %d requests per case; %s; %d cores; -Xmx %d MiB%n",
        runs, requests, Runtime.version(), Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20);
    String registry = "mock://console-bench";
    TurnpikeSerdes serdes = TurnpikeSerdes.forUrl(registry);
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        TopicAdmin.ensureTopics(admin, 6, (short) 1);
      }
      long t0 = System.nanoTime();
      try (KafkaProducer<String, byte[]> producer = producer(kafka.bootstrapServers())) {
        Instant base = Instant.now().minus(Duration.ofDays(2));
        for (int i = 0; i < runs; i++) {
          RunState s = state("bench-" + i, base.plusSeconds(i * 10L), i);
          producer.send(new ProducerRecord<>(Topics.RUN_STATE.name(), s.getRunId(),
              serdes.runState().serialize(Topics.RUN_STATE.name(), s)));
        }
        producer.flush();
      }
      System.out.printf("  wrote %d RunStates in %.1f s%n", runs, (System.nanoTime() - t0) / 1e9);
      t0 = System.nanoTime();
      try (ConsoleService console = ConsoleService.start(Settings.of(Map.of(
          "turnpike.bootstrap.servers", kafka.bootstrapServers(),
          "turnpike.schema.registry.url", registry,
          "turnpike.console.port", "0",
          "turnpike.console.host", "127.0.0.1",
          "turnpike.console.state-dir", Files.createTempDirectory("console-bench").toString())))) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        String base = "http://127.0.0.1:" + console.port() + "/api/runs";
        // materialized when the oldest run (the last page's last line) is there
        while (true) {
          HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base.replace("/api/runs", "/api/runs/bench-0")))
              .GET().build(), HttpResponse.BodyHandlers.ofString());
          if (r.statusCode() == 200 && count(http, base) == runs) {
            break;
          }
          Thread.sleep(200); // polling a service that is loading: a bench, not a test
        }
        System.out.printf("  console materialized %d runs in %.1f s%n", runs, (System.nanoTime() - t0) / 1e9);
        String cursor = cursorOfPage(http, base, 99);
        time(http, "one run (GET /api/runs/{id})", base + "/bench-0", requests);
        time(http, "first page (limit 50)", base, requests);
        time(http, "status=INTERRUPTED (limit 50)", base + "?status=INTERRUPTED", requests);
        time(http, "page 100 (after=cursor)", base + "?after=" + URLEncoder.encode(cursor, StandardCharsets.UTF_8), requests);
      }
    }
  }

  static RunState state(String runId, Instant created, int i) {
    RunStatus status = switch (i % 10) {
      case 0 -> RunStatus.INTERRUPTED;
      case 1 -> RunStatus.FAILED;
      case 2 -> RunStatus.RUNNING;
      default -> RunStatus.COMPLETED;
    };
    String agent = AGENTS[i % AGENTS.length];
    List<Object> items = new ArrayList<>();
    items.add(MessageItem.newBuilder().setRole(io.turnpike.avro.Role.USER).setText("What's the weather in Lisbon, run " + i + "?").build());
    items.add(MessageItem.newBuilder().setRole(io.turnpike.avro.Role.ASSISTANT).setText("Sunny, 22 degrees, light wind from the north-west.").build());
    return RunState.newBuilder()
        .setSchemaVersion(5).setRunId(runId).setStatus(status)
        .setAgent(AgentDefinition.newBuilder().setName(agent).setVersion(1).setModel("gpt-4.1-mini")
            .setInstructions("You are a helpful assistant for " + agent + ".").build())
        .setInput("What's the weather in Lisbon, run " + i + "?")
        .setTurn(2).setItems(items).setPending(List.of())
        .setUsage(Usage.newBuilder().setInputTokens(420).setOutputTokens(80).setTotalTokens(500).build())
        .setFinalOutput(status == RunStatus.COMPLETED ? "Sunny, 22 degrees." : null)
        .setError(status == RunStatus.FAILED ? "tool get_weather got no answer after 10 attempt(s)" : null)
        .setMetadata(Map.of()).setCreatedAt(created).setUpdatedAt(created.plusSeconds(3)).setVersion(12)
        .setApprovals(status == RunStatus.INTERRUPTED ? List.of(PendingApproval.newBuilder().setCallId(runId + ":t1.1")
            .setToolCallId("call_1").setTool("deploy").setArguments("{\"service\":\"web\"}").setReason("needsApproval")
            .setRequestedAt(created.plusSeconds(2)).build()) : List.of())
        .build();
  }

  static int count(HttpClient http, String base) throws Exception {
    int n = 0;
    String cursor = null;
    do {
      JsonNode page = get(http, base + "?limit=500" + (cursor == null ? "" : "&after=" + URLEncoder.encode(cursor, StandardCharsets.UTF_8)));
      n += page.get("runs").size();
      cursor = page.get("next").isNull() ? null : page.get("next").asText();
    } while (cursor != null);
    return n;
  }

  static String cursorOfPage(HttpClient http, String base, int pages) throws Exception {
    String cursor = null;
    for (int i = 0; i < pages; i++) {
      JsonNode next = get(http, base + (cursor == null ? "" : "?after=" + URLEncoder.encode(cursor, StandardCharsets.UTF_8)))
          .get("next");
      if (next.isNull()) {
        break; // fewer runs than pages: the last page there is
      }
      cursor = next.asText();
    }
    return cursor;
  }

  static JsonNode get(HttpClient http, String url) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IllegalStateException(url + " -> " + r.statusCode() + " " + r.body());
    }
    return JSON.readTree(r.body());
  }

  static void time(HttpClient http, String label, String url, int requests) throws Exception {
    for (int i = 0; i < Math.min(200, requests); i++) { // warm-up: JIT, RocksDB block cache
      get(http, url);
    }
    List<Double> ms = new ArrayList<>();
    int lines = 0;
    for (int i = 0; i < requests; i++) {
      long t = System.nanoTime();
      JsonNode page = get(http, url);
      ms.add((System.nanoTime() - t) / 1e6);
      lines = page.has("runs") ? page.get("runs").size() : 1;
    }
    Collections.sort(ms);
    System.out.printf("  %-32s runs/page=%d  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms%n", label, lines,
        ms.get(ms.size() / 2), ms.get((int) (ms.size() * 0.9)), ms.get((int) (ms.size() * 0.99)), ms.get(ms.size() - 1));
  }

  private static KafkaProducer<String, byte[]> producer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 10);
    // One record per key, order irrelevant: without idempotence a send retried while the fresh topic's leaders
    // settle cannot be stuck on OUT_OF_ORDER_SEQUENCE_NUMBER (seen on the embedded broker under load).
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }
}
