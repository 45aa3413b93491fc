package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.EventOffset;
import io.turnpike.avro.MemoryCandidate;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryGenerate;
import io.turnpike.avro.MemoryKind;
import io.turnpike.avro.MemoryProvenance;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.MemoryScript;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.Scripts;
import io.turnpike.memory.MemoryService;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code turnpike memory show | list | forget} against a real broker and a real memory service (scripted model). */
class MemoryCliTest {
  static EmbeddedKafka kafka;
  static String bootstrap;
  static ScriptedModelServer model;
  static MemoryService memory;

  @TempDir
  static Path tmp;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    bootstrap = kafka.bootstrapServers();
    assertThat(Cli.run("topics", "create", "-b", bootstrap).exitCode()).isZero();
    model = ScriptedModelServer.start(MemoryScript.around(Scripts.echo()));
    memory = MemoryService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", Cli.REGISTRY, "turnpike.bootstrap.servers", bootstrap,
        "turnpike.memory.model.base-url", model.baseUrl(), "turnpike.memory.model.api-key", "offline",
        "turnpike.memory.application-id", "memory-cli-test",
        "turnpike.memory.state-dir", tmp.resolve("memory-state").toString())));
    MemorySerdes serdes = MemorySerdes.forUrl(Cli.REGISTRY);
    MemoryConfig config = MemoryConfig.newBuilder().setRead(true).setWrite(true)
        .setGenerate(MemoryGenerate.newBuilder().setConsolidateAfterCandidates(2).build()).build();
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      for (String run : List.of("run-a", "run-b")) {
        MemoryCandidate c = MemoryCandidate.newBuilder().setCandidateId(run + "@3#0").setScope("helper").setKind(MemoryKind.FACT)
            .setText("Fact from " + run).setConfidence(0.9)
            .setProvenance(MemoryProvenance.newBuilder().setRunId(run).setTurn(1).setItems(List.of(0))
                .setEvents(List.of(new EventOffset(Topics.RUN_STATE.name(), 0, 7L))).setModel("m").setScripted(true).build())
            .setCreatedAt(Instant.now()).build();
        MemoryCandidates batch = MemoryCandidates.newBuilder().setExtractionId(run + "@3").setScope("helper").setAgent("helper")
            .setRunId(run).setCandidates(List.of(c)).setConfig(config).setAgentModel("m").setExtractedAt(Instant.now()).build();
        producer.send(new ProducerRecord<>(Topics.MEMORY_CANDIDATES.name(), "helper", serdes.candidates().encode(batch))).get();
      }
    }
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {memory, model, kafka}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing
      }
    }
  }

  @Test
  void showListAndForget() throws Exception {
    await().atMost(Duration.ofSeconds(60)).until(() -> Cli.run("memory", "show", "helper", "-b", bootstrap).exitCode() == 0);
    Cli.Result shown = Cli.run("memory", "show", "helper", "-b", bootstrap);
    assertThat(shown.out()).contains("memory helper  version 1  (2 lines, 0 pending candidate(s), 1 consolidation(s))")
        .contains("[L1] fact       Fact from run-a").contains("sources: run-a")
        .contains("[L2] fact       Fact from run-b").contains("sources: run-b");
    assertThat(Cli.run("memory", "list", "-b", bootstrap).out()).contains("helper").contains("version 1");
    Cli.Result json = Cli.run("memory", "show", "helper", "-o", "json", "-b", bootstrap);
    assertThat(json.exitCode()).as(json.toString()).isZero();
    assertThat(OutputOptions.JSON.readTree(json.out()).path("lines").toString()).contains("\"sources\":[\"run-a\"]");
    assertThat(OutputOptions.JSON.readTree(Cli.run("memory", "list", "-o", "json", "-b", bootstrap).out())
        .path("scopes").findValuesAsText("scope")).contains("helper");

    Cli.Result forget = Cli.run("memory", "forget", "--run", "run-a", "-b", bootstrap);
    assertThat(forget.exitCode()).as(forget.toString()).isZero();
    assertThat(forget.out()).contains("forget run run-a requested");
    await().atMost(Duration.ofSeconds(30)).until(() -> Cli.run("memory", "show", "helper", "-b", bootstrap).out().contains("version 2"));
    Cli.Result after = Cli.run("memory", "show", "helper", "-b", bootstrap);
    assertThat(after.out()).contains("run run-a forgotten").contains("Fact from run-b").doesNotContain("Fact from run-a");
  }

  @Test
  void mistakesAreUsageErrorsOrSayWhatIsMissing() {
    assertThat(Cli.run("memory", "forget", "-b", bootstrap).exitCode()).isEqualTo(2);
    assertThat(Cli.run("memory", "forget", "--run", "r", "--user", "u", "-b", bootstrap).exitCode()).isEqualTo(2);
    Cli.Result missing = Cli.run("memory", "show", "nobody", "-b", bootstrap);
    assertThat(missing.exitCode()).isNotZero();
    assertThat(missing.err()).contains("no memory for nobody");
  }
}
