package io.turnpike.guardrail;

import static io.turnpike.guardrail.TestSpecs.spec;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The service loop against a real in-process Kafka broker (and the scripted model server for model guardrails). */
class GuardrailServiceTest {
  static final String REGISTRY = "mock://guardrail-tests";
  static final int PARTITIONS = 3;
  static EmbeddedKafka kafka;
  static KafkaProducer<String, byte[]> producer;

  @BeforeAll
  static void startKafka() {
    kafka = EmbeddedKafka.start();
    try (Admin admin = Admin.create(kafka.clientProperties())) {
      TopicAdmin.ensureTopics(admin, PARTITIONS, (short) 1);
    }
    Map<String, Object> p = new HashMap<>(kafka.clientProperties());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  @AfterAll
  static void stopKafka() {
    if (producer != null) {
      producer.close();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  private static Settings settings(String group, Map<String, String> more) {
    Map<String, String> m = new HashMap<>(Map.of("turnpike.bootstrap.servers", kafka.bootstrapServers(), "turnpike.schema.registry.url", REGISTRY,
        GuardrailConfig.GROUP_ID, group, "turnpike.kafka.session-timeout", "6s",
        // no model configured at all: nothing in the environment may leak in
        GuardrailConfig.MODEL_BASE_URL, "http://127.0.0.1:9/v1"));
    m.putAll(more);
    return Settings.of(m);
  }

  private static void send(GuardrailCheck check, String traceId) throws Exception {
    RecordHeaders h = new RecordHeaders();
    TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, "GuardrailCheck");
    TurnpikeHeaders.put(h, TurnpikeHeaders.TRACE_ID, traceId);
    TurnpikeHeaders.put(h, TurnpikeHeaders.CALL_ID, check.getCallId());
    producer.send(new ProducerRecord<>(Topics.GUARDRAIL_REQUESTS.name(), null, check.getRunId(),
        TurnpikeSerdes.forUrl(REGISTRY).guardrailCheck().encode(check), h)).get();
  }

  private static GuardrailCheck check(String runId, String callId, GuardrailStage stage, String content, String tool,
      GuardrailSpec... specs) {
    GuardrailCheck c = TestSpecs.check(stage, content, tool, specs);
    c.setRunId(runId);
    c.setCallId(callId);
    c.setDeadline(Instant.now().plusSeconds(30));
    return c;
  }

  /** Reads a topic from the beginning, accumulating across calls. */
  static final class TopicReader implements AutoCloseable {
    final KafkaConsumer<String, byte[]> consumer;
    final List<ConsumerRecord<String, byte[]>> records = new ArrayList<>();

    TopicReader(String topic) {
      Map<String, Object> p = new HashMap<>(kafka.clientProperties());
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
      List<TopicPartition> parts = IntStream.range(0, PARTITIONS).mapToObj(i -> new TopicPartition(topic, i)).toList();
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
    }

    List<ConsumerRecord<String, byte[]>> poll() {
      consumer.poll(Duration.ofMillis(200)).forEach(records::add);
      return records;
    }

    /** Verdicts of calls whose id starts with {@code prefix}, by call id. */
    Map<String, ConsumerRecord<String, byte[]>> verdicts(String prefix) {
      Map<String, ConsumerRecord<String, byte[]>> out = new HashMap<>();
      for (ConsumerRecord<String, byte[]> r : poll()) {
        String id = TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID);
        if (id != null && id.startsWith(prefix)) {
          out.put(id, r);
        }
      }
      return out;
    }

    @Override
    public void close() {
      consumer.close();
    }
  }

  private static GuardrailVerdict decode(ConsumerRecord<String, byte[]> r) {
    return TurnpikeSerdes.forUrl(REGISTRY).guardrailVerdict().deserialize(r.topic(), r.value());
  }

  @Test
  void answersEveryOutcomeAndStartsWithoutAModel() throws Exception {
    String p = "t1-" + UUID.randomUUID() + ":";
    GuardrailSpec inputDeny = spec("codenames", GuardrailStage.INPUT, "keywords", GuardrailAction.BLOCK,
        "{\"words\": [\"project falcon\"]}");
    GuardrailSpec outputPii = spec("pii", GuardrailStage.OUTPUT, "pii", GuardrailAction.REDACT, "{}");
    GuardrailSpec noShell = spec("no-shell", GuardrailStage.TOOL_INPUT, "tool_policy", GuardrailAction.REJECT,
        "{\"deny\": [\"shell\"]}");
    try (GuardrailService service = GuardrailService.start(settings("guard-" + UUID.randomUUID(), Map.of()));
        TopicReader reader = new TopicReader(Topics.GUARDRAIL_RESULTS.name())) {
      send(check("run-a", p + "allow", GuardrailStage.INPUT, "What is the weather in Oslo?", null, inputDeny), "trace-1");
      send(check("run-b", p + "trip", GuardrailStage.INPUT, "Tell me about Project Falcon", null, inputDeny), "trace-2");
      send(check("run-c", p + "redact", GuardrailStage.OUTPUT, "Your card 4111 1111 1111 1111 is on file.", null,
          outputPii), "trace-3");
      send(check("run-d", p + "reject", GuardrailStage.TOOL_INPUT, "{\"command\": \"rm -rf /\"}", "shell", noShell),
          "trace-4");
      await().atMost(Duration.ofSeconds(60)).until(() -> reader.verdicts(p).size() == 4);
      Map<String, ConsumerRecord<String, byte[]>> got = reader.verdicts(p);

      ConsumerRecord<String, byte[]> allowRec = got.get(p + "allow");
      assertThat(allowRec.key()).isEqualTo("run-a");
      assertThat(TurnpikeHeaders.get(allowRec.headers(), TurnpikeHeaders.TYPE)).isEqualTo("GuardrailVerdict");
      assertThat(TurnpikeHeaders.get(allowRec.headers(), TurnpikeHeaders.TRACE_ID)).isEqualTo("trace-1");
      GuardrailVerdict allow = decode(allowRec);
      assertThat(allow.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
      assertThat(allow.getContent()).isEqualTo("What is the weather in Oslo?");

      GuardrailVerdict trip = decode(got.get(p + "trip"));
      assertThat(trip.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
      assertThat(trip.getGuardrail()).isEqualTo("codenames");
      assertThat(trip.getContent()).isNull();
      assertThat(new String(got.get(p + "trip").value(), StandardCharsets.ISO_8859_1)).doesNotContainIgnoringCase("falcon");

      GuardrailVerdict redact = decode(got.get(p + "redact"));
      assertThat(redact.getOutcome()).isEqualTo(GuardrailOutcome.REDACT);
      assertThat(redact.getContent()).isEqualTo("Your card [REDACTED:credit_card] is on file.");
      assertThat(new String(got.get(p + "redact").value(), StandardCharsets.ISO_8859_1)).doesNotContain("4111 1111");

      GuardrailVerdict reject = decode(got.get(p + "reject"));
      assertThat(reject.getOutcome()).isEqualTo(GuardrailOutcome.REJECT);
      assertThat(reject.getContent()).contains("refused by guardrail 'no-shell'");
      assertThat(reject.getDurationMs()).isGreaterThanOrEqualTo(0);

      // every test's service reads the whole requests topic (own group), so it may answer earlier tests' checks too
      await().atMost(Duration.ofSeconds(10)).until(() -> service.answered() >= 4);
      assertThat(service.failure()).isNull();
    }
  }

  @Test
  void deadLettersGarbageSkipsExpiredChecksAndKeepsGoing() throws Exception {
    String p = "t2-" + UUID.randomUUID() + ":";
    try (GuardrailService service = GuardrailService.start(settings("guard-" + UUID.randomUUID(), Map.of()));
        TopicReader results = new TopicReader(Topics.GUARDRAIL_RESULTS.name());
        TopicReader dead = new TopicReader(Topics.DEAD_LETTERS.name())) {
      producer.send(new ProducerRecord<>(Topics.GUARDRAIL_REQUESTS.name(), "run-x",
          (p + "garbage").getBytes(StandardCharsets.UTF_8))).get();
      GuardrailCheck expired = check("run-y", p + "expired", GuardrailStage.OUTPUT, "late", null);
      expired.setDeadline(Instant.now().minusSeconds(1));
      send(expired, "t");
      send(check("run-z", p + "fine", GuardrailStage.OUTPUT, "fine", null), "t");

      await().atMost(Duration.ofSeconds(60)).until(() -> results.verdicts(p).containsKey(p + "fine"));
      await().atMost(Duration.ofSeconds(30)).until(() -> dead.poll().stream().anyMatch(r -> new String(r.value(),
          StandardCharsets.UTF_8).equals(p + "garbage")));
      ConsumerRecord<String, byte[]> letter = dead.records.stream()
          .filter(r -> new String(r.value(), StandardCharsets.UTF_8).equals(p + "garbage")).findFirst().orElseThrow();
      assertThat(letter.key()).isEqualTo("run-x");
      assertThat(TurnpikeHeaders.get(letter.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.GUARDRAIL_REQUESTS.name());
      assertThat(TurnpikeHeaders.get(letter.headers(), TurnpikeHeaders.DLQ_REASON)).startsWith("cannot decode the record: cannot decode GuardrailCheck");
      assertThat(service.expired()).isGreaterThanOrEqualTo(1);
      assertThat(results.verdicts(p)).doesNotContainKey(p + "expired");
    }
  }

  @Test
  void aVerdictTooLargeForTheTopicBecomesATrip() throws Exception {
    String p = "t5-" + UUID.randomUUID() + ":";
    // 9,000 short addresses, each redacted to a longer marker, in a check just under 1 MB: the redacted
    // content no longer fits the topic's message size.
    StringBuilder content = new StringBuilder("ab@cd.io ".repeat(9_000));
    content.append("x".repeat(1_000_000 - content.length()));
    GuardrailSpec pii = spec("pii", GuardrailStage.OUTPUT, "pii", GuardrailAction.REDACT, "{}");
    try (GuardrailService service = GuardrailService.start(settings("guard-" + UUID.randomUUID(), Map.of()));
        TopicReader reader = new TopicReader(Topics.GUARDRAIL_RESULTS.name())) {
      send(check("run-big", p + "big", GuardrailStage.OUTPUT, content.toString(), null, pii), "t");
      send(check("run-next", p + "next", GuardrailStage.OUTPUT, "next", null, pii), "t");
      await().atMost(Duration.ofSeconds(60)).until(() -> reader.verdicts(p).size() == 2);
      GuardrailVerdict big = decode(reader.verdicts(p).get(p + "big"));
      assertThat(big.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
      assertThat(big.getGuardrail()).isEqualTo(GuardrailEngine.SERVICE);
      assertThat(big.getReason()).contains("is larger than " + Topics.GUARDRAIL_RESULTS.name() + " accepts");
      assertThat(big.getContent()).isNull();
      assertThat(big.getFindings()).extracting(f -> f.getGuardrail()).containsExactly("pii");
      assertThat(decode(reader.verdicts(p).get(p + "next")).getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
    }
  }

  @Test
  void modelGuardrailTimeoutsFollowTheirFailPolicy() throws Exception {
    String p = "t3-" + UUID.randomUUID() + ":";
    // Instant for the warm-up check, 20 s (far past the guardrails' 1 s timeout) for the others.
    try (ScriptedModelServer model = ScriptedModelServer.start(request -> request.lastUserText().contains("warm up")
            ? ScriptedReply.text("{\"verdict\":\"allow\",\"reason\":\"\"}")
            : ScriptedReply.text("{\"verdict\":\"allow\",\"reason\":\"\"}").withDelay(Duration.ofSeconds(20)));
        GuardrailService service = GuardrailService.start(settings("guard-" + UUID.randomUUID(),
            Map.of(GuardrailConfig.MODEL_BASE_URL, model.baseUrl(), GuardrailConfig.MODEL_WARM_UP, "true")));
        TopicReader reader = new TopicReader(Topics.GUARDRAIL_RESULTS.name())) {
      GuardrailSpec closed = spec("topic-closed", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK,
          "{\"prompt\": \"Only travel questions.\", \"timeout\": \"1s\"}");
      GuardrailSpec open = spec("topic-open", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK,
          "{\"prompt\": \"Only travel questions.\", \"timeout\": \"1s\", \"failPolicy\": \"open\"}");
      // openai-java's first call in a fresh JVM spends seconds loading classes: get that out of the way.
      GuardrailSpec patient = spec("topic-patient", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK,
          "{\"prompt\": \"Only travel questions.\", \"timeout\": \"60s\"}");
      send(check("run-w", p + "warm", GuardrailStage.INPUT, "warm up", null, patient), "t");
      await().atMost(Duration.ofSeconds(90)).until(() -> reader.verdicts(p).containsKey(p + "warm"));
      assertThat(decode(reader.verdicts(p).get(p + "warm")).getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);

      send(check("run-c", p + "closed", GuardrailStage.INPUT, "hello", null, closed), "t");
      send(check("run-o", p + "open", GuardrailStage.INPUT, "hello", null, open), "t");
      await().atMost(Duration.ofSeconds(60)).until(() -> reader.verdicts(p).size() == 3);

      GuardrailVerdict c = decode(reader.verdicts(p).get(p + "closed"));
      assertThat(c.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
      assertThat(c.getGuardrail()).isEqualTo("topic-closed");
      assertThat(c.getReason()).startsWith("model guardrail timed out").endsWith("(fail-closed)");
      assertThat(c.getDurationMs()).isBetween(900L, 5000L);

      GuardrailVerdict o = decode(reader.verdicts(p).get(p + "open"));
      assertThat(o.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
      assertThat(o.getContent()).isEqualTo("hello");
      assertThat(o.getFindings()).singleElement().satisfies(f -> {
        assertThat(f.getGuardrail()).isEqualTo("topic-open");
        assertThat(f.getReason()).endsWith("(fail-open)");
      });
      // each check reached the model (the timed-out ones were abandoned, not skipped)
      await().atMost(Duration.ofSeconds(10)).until(() -> model.requestCount() >= 3);
    }
  }

  @Test
  void manyChecksAreEachAnsweredOnceEvenAcrossARestart() throws Exception {
    String p = "t4-" + UUID.randomUUID() + ":";
    String group = "guard-" + UUID.randomUUID();
    GuardrailSpec pii = spec("pii", GuardrailStage.OUTPUT, "pii", GuardrailAction.REDACT, "{}");
    GuardrailSpec deny = spec("deny", GuardrailStage.OUTPUT, "regex", GuardrailAction.BLOCK, "{\"pattern\": \"forbidden\"}");
    try (TopicReader reader = new TopicReader(Topics.GUARDRAIL_RESULTS.name())) {
      try (GuardrailService service = GuardrailService.start(settings(group,
          Map.of(GuardrailConfig.CONCURRENCY, "4")))) {
        for (int i = 0; i < 150; i++) {
          String content = switch (i % 3) {
            case 0 -> "plain answer " + i;
            case 1 -> "mail user" + i + "@example.com";
            default -> "forbidden " + i;
          };
          send(check("run-" + i, p + i, GuardrailStage.OUTPUT, content, null, pii, deny), "t");
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> reader.verdicts(p).size() == 150);
        await().atMost(Duration.ofSeconds(10)).until(() -> service.answered() >= 150);
      }
      Map<String, ConsumerRecord<String, byte[]>> got = reader.verdicts(p);
      for (int i = 0; i < 150; i++) {
        GuardrailVerdict v = decode(got.get(p + i));
        assertThat(v.getOutcome()).isEqualTo(switch (i % 3) {
          case 0 -> GuardrailOutcome.ALLOW;
          case 1 -> GuardrailOutcome.REDACT;
          default -> GuardrailOutcome.TRIP;
        });
      }
      // A new instance of the same group starts after the committed offsets: nothing is judged again.
      try (GuardrailService again = GuardrailService.start(settings(group, Map.of()))) {
        send(check("run-last", p + "last", GuardrailStage.OUTPUT, "last", null, pii), "t");
        await().atMost(Duration.ofSeconds(60)).until(() -> reader.verdicts(p).containsKey(p + "last"));
      }
      long count = reader.poll().stream()
          .filter(r -> String.valueOf(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.CALL_ID)).startsWith(p)).count();
      assertThat(count).isEqualTo(151);
    }
  }
}
