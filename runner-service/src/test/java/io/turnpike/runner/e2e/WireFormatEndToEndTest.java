package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.NodeDecodeCheck;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.guardrail.GuardrailService;
import io.turnpike.runner.RunnerService;
import io.turnpike.runner.run.OrchestratorTopology;
import io.turnpike.sandbox.SandboxService;
import io.turnpike.schema.SchemaRegistration;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicSpec;
import io.turnpike.schema.Topics;
import io.turnpike.schema.registry.SchemaRegistryException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Kafka UI cannot run here, so an independent Confluent-compatible client stands in for it: Node's
 * {@code kafkajs} with {@code @kafkajs/confluent-schema-registry} (code none of us wrote) reads every
 * Avro topic after a run that touched them all, resolving each value's schema id at the dev registry.
 */
class WireFormatEndToEndTest {
  private static final String APP_ID = "wire-runner";
  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static GuardrailService guardrails;
  private static SandboxService sandbox;
  private static ToolWorker tools;
  private static TopicTail results;
  private static TopicTail deadLetters;

  static ScriptedReply script(ModelRequestView req) {
    String last = null;
    for (InputItem item : req.input()) {
      if (item instanceof InputItem.FunctionCallOutput o) {
        last = o.output();
      }
    }
    return switch (req.turn()) {
      case 0 -> ScriptedReply.toolCall("lookup", "{\"q\":\"oslo\"}");
      case 1 -> ScriptedReply.toolCall("write_file", "{\"path\":\"notes.txt\",\"content\":\"" + last + "\"}");
      default -> ScriptedReply.text("Done: " + last);
    };
  }

  @BeforeAll
  static void start() throws Exception {
    Assumptions.assumeTrue(NodeDecodeCheck.available(), "node and npm are needed for the independent decoder");
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/bwrap")),
        "bubblewrap (/usr/bin/bwrap) is not installed: the sandbox topics cannot be exercised here");
    cluster = new Cluster();
    cluster.publishAgent(AgentDefinition.newBuilder().setName("everything").setVersion(1).setModel("scripted")
        .setInstructions("Use every part.").setCapabilities(List.of("filesystem")).setMaxTurns(6)
        // streamed, so that turnpike.model.stream has records to decode too
        .setModelSettings(io.turnpike.avro.ModelSettings.newBuilder().setStream(true).build())
        .setTools(List.of(ToolSpec.newBuilder().setName("lookup")
            .setParametersJson("{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}").build()))
        .setGuardrails(List.of(GuardrailSpec.newBuilder().setName("no-secrets").setStage(GuardrailStage.INPUT)
            .setType("keywords").setAction(GuardrailAction.BLOCK).setConfigJson("{\"words\":[\"secret\"]}").build()))
        .setGuardrailTimeoutMs(15_000).build());
    model = ScriptedModelServer.start(WireFormatEndToEndTest::script);
    Settings settings = Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "k",
        "turnpike.runner.application-id", APP_ID,
        "turnpike.runner.state-dir", Files.createTempDirectory("wire-runner").toString(),
        "turnpike.sandbox.root", Files.createTempDirectory("wire-sbx").toString(),
        // the rule guardrails here stand for any check the guardrail service judges: send them to it
        "turnpike.runner.local-guardrails", "false"));
    runner = RunnerService.start(settings);
    guardrails = GuardrailService.start(settings);
    sandbox = SandboxService.start(settings);
    tools = ToolWorker.builder(cluster.bootstrap(), cluster.registryUrl()).tool("lookup", inv -> "rainy").build().start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    deadLetters = new TopicTail(cluster.bootstrap(), Topics.DEAD_LETTERS.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, deadLetters, tools, sandbox, guardrails, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception ignored) {
        // best effort
      }
    }
  }

  private static RunResult awaitFinal(String runId) {
    await().atMost(Duration.ofSeconds(90)).until(() -> results.forKey(runId).stream()
        .map(r -> cluster.serdes().runResult().decode(r.value())).anyMatch(r -> r.getStatus() != RunStatus.RUNNING));
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value()))
        .filter(r -> r.getStatus() != RunStatus.RUNNING).findFirst().orElseThrow();
  }

  @Test
  void anIndependentClientDecodesEveryAvroTopic() {
    cluster.submit("wire-1", "everything", "what is the weather in oslo?");
    assertThat(awaitFinal("wire-1").getStatus()).isEqualTo(RunStatus.COMPLETED);
    // a command for the finished run: run-commands gets a record whatever the orchestrator makes of it
    RunCommand cancel = RunCommand.newBuilder().setRunId("wire-1").setCommandId("c1").setType(RunCommandType.CANCEL)
        .setMessage("audit").setIssuedAt(Instant.now()).build();
    cluster.send(Topics.RUN_COMMANDS.name(), "wire-1", cluster.serdes().runCommand().encode(cancel), "RunCommand");
    // and an approval nobody asked for: a well-formed record the orchestrator sets aside as a dead letter
    RunCommand stray = RunCommand.newBuilder().setRunId("wire-1").setCommandId("c2").setType(RunCommandType.APPROVE)
        .setCallId("wire-1:t9.9").setIssuedAt(Instant.now()).build();
    cluster.send(Topics.RUN_COMMANDS.name(), "wire-1", cluster.serdes().runCommand().encode(stray), "RunCommand");
    await().atMost(Duration.ofSeconds(30)).until(() -> deadLetters.forKey("wire-1").size() >= 1);

    // every topic: dead letters keep the original bytes, which here are all wire-format records too
    List<String> topics = new ArrayList<>();
    for (TopicSpec t : Topics.ALL) {
      topics.add(t.name());
    }
    String changelog = APP_ID + "-" + OrchestratorTopology.RUN_STORE + "-changelog";
    topics.add(changelog);

    NodeDecodeCheck.Result decoded = NodeDecodeCheck.run(cluster.bootstrap(), cluster.registryUrl(), topics, Duration.ofSeconds(90));

    assertThat(decoded.errors()).as("values the independent client could not decode").isEmpty();
    for (String topic : topics) {
      if (topic.startsWith("turnpike.memory")) {
        continue; // no memory service in this cluster: MemoryEndToEndTest decodes those topics the same way
      }
      if (topic.equals(Topics.MCP_TOOLS.name())) {
        continue; // no MCP gateway in this cluster (McpGatewayEndToEndTest reads its records back)
      }
      assertThat(decoded.values(topic)).as("decoded values on " + topic).isNotEmpty();
    }
    assertThat(decoded.records(Topics.DEAD_LETTERS.name())).anySatisfy(r -> {
      assertThat(r.path("headers").path("turnpike.dlq.reason").asText()).isNotEmpty();
      assertThat(r.path("value").path("callId").asText()).isEqualTo("wire-1:t9.9");
    });
    JsonNode result = decoded.values(Topics.RUN_RESULTS.name()).stream()
        .filter(v -> "wire-1".equals(v.path("runId").asText()) && "COMPLETED".equals(v.path("status").asText()))
        .findFirst().orElseThrow();
    assertThat(result.path("agent").asText()).isEqualTo("everything");
    assertThat(result.toString()).contains("Done: ");
    assertThat(decoded.values(Topics.TOOL_REQUESTS.name())).anySatisfy(v -> assertThat(v.toString()).contains("lookup"));
    assertThat(decoded.values(Topics.SANDBOX_REQUESTS.name())).anySatisfy(v -> assertThat(v.toString()).contains("notes.txt"));
    assertThat(decoded.values(Topics.GUARDRAIL_REQUESTS.name())).anySatisfy(v -> assertThat(v.toString()).contains("no-secrets"));
    assertThat(decoded.values(Topics.GUARDRAIL_RESULTS.name()))
        .anySatisfy(v -> assertThat(v.path("outcome").asText()).isEqualTo("ALLOW"));
    assertThat(decoded.values(Topics.RUN_COMMANDS.name())).anySatisfy(v -> assertThat(v.path("type").asText()).isEqualTo("CANCEL"));
    assertThat(decoded.records(Topics.TURN_EVENTS.name()))
        .allSatisfy(r -> assertThat(r.path("headers").path("turnpike.trace-id").asText()).hasSize(32));
  }

  @Test
  void aJsonRunRequestRunsLikeAnAvroOne() {
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(Topics.RUN_REQUESTS.name(), "wire-json",
        "{\"agent\":\"everything\",\"input\":\"json please\",\"metadata\":{\"via\":\"kcat\"}}".getBytes(StandardCharsets.UTF_8));
    rec.headers().add("content-type", "application/json".getBytes(StandardCharsets.UTF_8));
    cluster.producer.send(rec);
    RunResult r = awaitFinal("wire-json");
    assertThat(r.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(r.getFinalOutput()).startsWith("Done: ");
  }

  @Test
  void theRegistryRefusesABreakingChangeToARegisteredSchema() {
    SchemaRegistration.registerAll(cluster.serdes().registry());
    String subject = Topics.RUN_REQUESTS.name() + "-value";
    // a new required field without a default: consumers on it could not read the records already written
    Schema breaking = SchemaBuilder.record("RunRequest").namespace("io.turnpike.avro").fields()
        .requiredString("runId").requiredString("agent").requiredString("input").requiredString("tenant").endRecord();
    assertThat(cluster.serdes().registry().isCompatible(subject, breaking)).isFalse();
    assertThatThrownBy(() -> cluster.serdes().registry().register(subject, breaking))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> assertThat(e.isIncompatible()).isTrue())
        .hasMessageContaining("409");
    // while an additive change with a default is accepted
    Schema additive = SchemaBuilder.record("RunRequest").namespace("io.turnpike.avro").fields()
        .requiredString("runId").requiredString("agent").name("agentVersion").type().unionOf().nullType().and().intType()
        .endUnion().nullDefault().requiredString("input")
        .name("metadata").type().map().values().stringType().mapDefault(Map.of())
        .name("requestedAt").type(org.apache.avro.LogicalTypes.timestampMillis().addToSchema(Schema.create(Schema.Type.LONG))).noDefault()
        .name("tenant").type().stringType().stringDefault("default").endRecord();
    assertThat(cluster.serdes().registry().isCompatible(subject, additive)).isTrue();
  }
}
