package io.turnpike.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryLine;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.MemoryScript;
import io.turnpike.devkit.ModelScript;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ServiceChild;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.devkit.registry.DevSchemaRegistry;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Memory end to end on a real broker: runs go through the real runner and model invoker against the
 * scripted HTTP model server, whose {@link MemoryScript} answers the memory service's phase-one and
 * phase-two requests. The tests build on each other, in order.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MemoryEndToEndTest {
  static final String WRITER = """
      name: helper
      version: 1
      model: gpt-test
      instructions: You help.
      memory:
        read: true
        write: true
        generate: {consolidateAfter: {candidates: 3}}
      """;
  static final String READER = """
      name: reader
      version: 1
      model: gpt-test
      memory: {read: true}
      """;

  static EmbeddedKafka kafka;
  static DevSchemaRegistry registry;
  static TurnpikeSerdes serdes;
  static MemorySerdes memory;
  static ScriptedModelServer model;
  static RunnerService runner;
  static MemoryService service;
  static KafkaProducer<String, byte[]> producer;
  static TopicTail results;
  static TopicTail candidates;
  static TopicTail documents;
  static Settings settings;
  static Map<String, String> settingsMap;

  /** Normal runs: "fix memory" calls memory_update on line L1 first; everything else is answered at once. */
  static final ModelScript RUNS = request -> {
    String said = String.valueOf(request.firstUserText());
    if (said.contains("fix memory") && request.turn() == 0) {
      return ScriptedReply.toolCall("memory_update",
          "{\"action\":\"edit\",\"lineId\":\"L1\",\"text\":\"The user prefers: the front row\",\"reason\":\"the user changed their mind\"}");
    }
    return ScriptedReply.text("[scripted] noted: " + said);
  };

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    registry = DevSchemaRegistry.start(kafka.bootstrapServers());
    serdes = TurnpikeSerdes.forUrl(registry.url());
    memory = MemorySerdes.using(serdes.registry());
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
      TopicAdmin.ensureTopics(admin, 2, (short) 1);
    }
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    publish(AgentYaml.parse(WRITER, "helper.yaml"));
    publish(AgentYaml.parse(READER, "reader.yaml"));
    model = ScriptedModelServer.start(MemoryScript.around(RUNS));
    Map<String, String> s = new HashMap<>(Map.of(
        "turnpike.schema.registry.url", registry.url(),
        "turnpike.bootstrap.servers", kafka.bootstrapServers(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "test-key",
        "turnpike.runner.application-id", "memory-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("runner-state").toString(),
        "turnpike.memory.application-id", "memory-e2e",
        "turnpike.memory.model.scripted", "true",
        "turnpike.memory.tick-interval", "500ms"));
    s.put("turnpike.memory.close-timeout", "0s");
    s.put("turnpike.memory.model.response-validation", "true");
    s.put("turnpike.kafka.session-timeout", "6s"); // a killed instance's partitions move on sooner
    settingsMap = Map.copyOf(s);
    settings = Settings.of(s);
    runner = RunnerService.start(settings);
    service = startMemory("one");
    results = new TopicTail(kafka.bootstrapServers(), Topics.RUN_RESULTS.name());
    candidates = new TopicTail(kafka.bootstrapServers(), Topics.MEMORY_CANDIDATES.name());
    documents = new TopicTail(kafka.bootstrapServers(), Topics.MEMORY.name());
    await().atMost(Duration.ofSeconds(60)).until(service::isReady);
  }

  static MemoryService startMemory(String instance) throws Exception {
    Settings own = settings.with(Map.of("turnpike.memory.state-dir", Files.createTempDirectory("memory-" + instance).toString()));
    MemoryConfigs configs = MemoryConfigs.from(own);
    return MemoryService.start(own, configs, new OpenAiMemoryModel(configs.model()), Telemetry.noop("memory-" + instance),
        e -> {}, Clock.systemUTC());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, candidates, documents, service, runner, model, producer, registry, kafka}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  static void publish(AgentDefinition agent) {
    send(Topics.AGENTS.name(), agent.getName(), serdes.agentDefinition().encode(agent), "AgentDefinition");
  }

  static void send(String topic, String key, byte[] value, String type) {
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, key, value);
    rec.headers().add(TurnpikeHeaders.TYPE, type.getBytes(StandardCharsets.UTF_8));
    try {
      producer.send(rec).get();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  static RunResult run(String runId, String agent, String input) {
    RunRequest req = RunRequest.newBuilder().setRunId(runId).setAgent(agent).setInput(input).setMetadata(Map.of())
        .setRequestedAt(Instant.now()).build();
    send(Topics.RUN_REQUESTS.name(), runId, serdes.runRequest().encode(req), "RunRequest");
    await().atMost(Duration.ofSeconds(60)).until(() -> results.forKey(runId).stream()
        .map(r -> serdes.runResult().deserialize(Topics.RUN_RESULTS.name(), r.value()))
        .anyMatch(r -> r.getStatus() == RunStatus.COMPLETED || r.getStatus() == RunStatus.FAILED));
    return results.forKey(runId).stream().map(r -> serdes.runResult().deserialize(Topics.RUN_RESULTS.name(), r.value()))
        .reduce((a, b) -> b).orElseThrow();
  }

  static List<MemoryCandidates> candidatesOf(String scope) {
    return candidates.forKey(scope).stream().map(r -> memory.candidates().deserialize(Topics.MEMORY_CANDIDATES.name(), r.value()))
        .toList();
  }

  static List<MemoryDocument> documentsOf(String scope) {
    return documents.forKey(scope).stream().map(r -> memory.document().deserialize(Topics.MEMORY.name(), r.value())).toList();
  }

  static MemoryDocument latest(String scope) {
    List<MemoryDocument> docs = documentsOf(scope);
    return docs.isEmpty() ? null : docs.get(docs.size() - 1);
  }

  @Test
  @Order(1)
  void threeRunsGiveCandidatesAndAreConsolidatedAtTheThresholdNotBefore() {
    assertThat(run("run-1", "helper", "I prefer window seats").getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(run("run-2", "helper", "Remember that I live in Oslo").getStatus()).isEqualTo(RunStatus.COMPLETED);
    await().atMost(Duration.ofSeconds(30)).until(() -> candidatesOf("helper").size() == 2);
    assertThat(documentsOf("helper")).as("two runs are below the threshold of three").isEmpty();
    MemoryCandidates first = candidatesOf("helper").stream().filter(c -> c.getRunId().equals("run-1")).findFirst().orElseThrow();
    var c = first.getCandidates().get(0);
    assertThat(c.getText()).isEqualTo("[scripted] The user prefers: window seats");
    assertThat(c.getProvenance().getRunId()).isEqualTo("run-1");
    assertThat(c.getProvenance().getScripted()).isTrue();
    assertThat(c.getProvenance().getModel()).isEqualTo("gpt-test");
    assertThat(c.getProvenance().getEvents()).singleElement()
        .satisfies(e -> assertThat(e.getTopic()).isEqualTo(Topics.RUN_STATE.name()));
    assertThat(c.getProvenance().getItems()).containsExactly(0);

    assertThat(run("run-3", "helper", "I prefer aisle seats").getStatus()).isEqualTo(RunStatus.COMPLETED);
    await().atMost(Duration.ofSeconds(30)).until(() -> latest("helper") != null);
    MemoryDocument doc = latest("helper");
    assertThat(doc.getVersion()).isEqualTo(1);
    assertThat(doc.getLines()).extracting(MemoryLine::getText)
        .containsExactly("[scripted] The user prefers: aisle seats", "[scripted] I live in Oslo");
    assertThat(doc.getLines().get(0).getSources()).containsExactly("run-1", "run-3");
    assertThat(doc.getLines().get(1).getSources()).containsExactly("run-2");
  }

  @Test
  @Order(2)
  void theFourthRunSeesTheMemoryAndAReadOnlyAgentNeverProducesCandidates() {
    AgentDefinition reader = AgentYaml.parse(READER, "reader.yaml");
    assertThat(reader.getTools()).extracting(ToolSpec::getName).doesNotContain("memory_update");
    assertThat(run("run-r", "reader", "I prefer tea").getStatus()).isEqualTo(RunStatus.COMPLETED);
    // A writer's run after it: once its candidates are out, the reader's final state was read long before.
    run("run-after-reader", "helper", "Remember that the reader ran");
    await().atMost(Duration.ofSeconds(30)).until(() -> candidatesOf("helper").stream()
        .anyMatch(c -> c.getRunId().equals("run-after-reader")));
    // The writer's fourth run: the model request the scripted server got carries the memory consolidated
    // from the first three, read by the runner when the run started.
    String instructions = model.requests().stream().map(q -> q.view())
        .filter(v -> v != null && "run-after-reader".equals(v.header("x-turnpike-run-id")))
        .findFirst().orElseThrow().instructions();
    assertThat(instructions).startsWith("You help.\n\n## Memory (helper, version 1)")
        .contains("- [L1] (preference) [scripted] The user prefers: aisle seats\n- [L2] (fact) [scripted] I live in Oslo")
        .contains("memory_update");
    assertThat(model.requests().stream().map(q -> q.view())
        .filter(v -> v != null && "run-1".equals(v.header("x-turnpike-run-id"))).findFirst().orElseThrow().instructions())
        .as("the first run had no memory yet").isEqualTo("You help.");
    assertThat(candidates.records()).noneMatch(r -> r.key().startsWith("reader"));
    assertThat(candidatesOf("helper")).noneMatch(c -> c.getRunId().equals("run-r"));
  }

  @Test
  @Order(3)
  void forgettingARunRemovesExactlyTheLinesRestingOnlyOnIt() {
    var forget = Commands.forgetRun("run-2", Instant.now());
    send(Topics.MEMORY_COMMANDS.name(), Commands.key(forget), memory.command().encode(forget), "MemoryCommand");
    await().atMost(Duration.ofSeconds(30)).until(() -> latest("helper").getVersion() == 2);
    MemoryDocument doc = latest("helper");
    assertThat(doc.getLines()).extracting(MemoryLine::getText).containsExactly("[scripted] The user prefers: aisle seats");
    assertThat(doc.getChange()).isEqualTo("run run-2 forgotten");
  }

  @Test
  @Order(4)
  void memoryUpdateFromARunChangesTheDocumentAtOnce() {
    RunResult r = run("run-fix", "helper", "Please fix memory: front row now");
    assertThat(r.getStatus()).isEqualTo(RunStatus.COMPLETED);
    await().atMost(Duration.ofSeconds(30)).until(() -> latest("helper").getVersion() == 3);
    MemoryLine l1 = latest("helper").getLines().get(0);
    assertThat(l1.getId()).isEqualTo("L1");
    assertThat(l1.getText()).isEqualTo("The user prefers: the front row");
    assertThat(l1.getSources()).containsExactly("run-1", "run-3", "run-fix");
    assertThat(l1.getEditReason()).isEqualTo("the user changed their mind");
  }

  @Test
  @Order(5)
  void killingTheServiceMidConsolidationNeitherLosesNorDuplicates() throws Exception {
    long consolidations = latest("helper").getConsolidations();
    // The phase-two model now takes long enough for the service to die while it thinks.
    model.setScript(MemoryScript.around(RUNS).slowPhaseTwo(Duration.ofSeconds(5)));
    // The service moves into a process of its own, to be killed there for real.
    service.close();
    Map<String, String> own = new HashMap<>(settingsMap);
    own.put("turnpike.memory.state-dir", Files.createTempDirectory("memory-child").toString());
    ServiceChild child = ServiceChild.start("memory-service", MemoryService.class, own);
    try {
      run("run-k1", "helper", "Remember that killing is tested");
      await().atMost(Duration.ofSeconds(60)).until(() -> model.requests().stream()
          .anyMatch(q -> q.body() != null && q.body().contains(MemoryScript.PHASE_TWO) && q.body().contains("Killing is tested")));
      child.kill(); // kill -9 while the phase-two model thinks: nothing of the consolidation is committed
    } finally {
      child.close();
    }
    model.setScript(MemoryScript.around(RUNS));
    service = startMemory("two");
    await().atMost(Duration.ofSeconds(60)).until(() -> latest("helper").getConsolidations() == consolidations + 1);
    run("run-k2", "helper", "Remember that nothing is lost");
    run("run-k3", "helper", "Remember that nothing is doubled");
    run("run-k4", "helper", "Remember that versions only grow");
    await().atMost(Duration.ofSeconds(60)).until(() -> latest("helper").getConsolidations() == consolidations + 2);
    // Nothing more happens: no second application of either consolidation.
    await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(10))
        .until(() -> latest("helper").getConsolidations() == consolidations + 2);
    List<MemoryDocument> docs = documentsOf("helper");
    Set<Long> versions = new TreeSet<>();
    docs.forEach(d -> assertThat(versions.add(d.getVersion())).as("version %d published once", d.getVersion()).isTrue());
    MemoryDocument doc = latest("helper");
    assertThat(doc.getPendingCandidates()).isZero();
    Set<String> sources = new TreeSet<>();
    doc.getLines().forEach(l -> sources.addAll(l.getSources()));
    assertThat(sources).contains("run-after-reader", "run-fix", "run-k1", "run-k2", "run-k3", "run-k4");
    assertThat(doc.getLines()).extracting(MemoryLine::getText).doesNotHaveDuplicates();
  }

  @Test
  @Order(6)
  void anIndependentClientDecodesEveryMemoryTopic() {
    // the memory service's half of the runner's WireFormatEndToEndTest: what the tests above wrote on
    // each memory topic, read by kafkajs + avsc with the registry's schemas (not Turnpike's code)
    List<String> topics = List.of(Topics.MEMORY_CANDIDATES.name(), Topics.MEMORY.name(), Topics.MEMORY_COMMANDS.name(),
        Topics.MEMORY_CONSOLIDATION_REQUESTS.name(), Topics.MEMORY_CONSOLIDATION_RESULTS.name());
    io.turnpike.devkit.NodeDecodeCheck.Result decoded = io.turnpike.devkit.NodeDecodeCheck.run(
        kafka.bootstrapServers(), registry.url(), topics, Duration.ofSeconds(90));
    assertThat(decoded.errors()).as("values the independent client could not decode").isEmpty();
    for (String topic : topics) {
      assertThat(decoded.values(topic)).as("decoded values on " + topic).isNotEmpty();
    }
  }
}
