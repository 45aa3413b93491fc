package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.cli.example.ExampleTools;
import io.turnpike.cli.example.OfflineTravelScript;
import io.turnpike.client.internal.TopicReader;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.registry.DevSchemaRegistry;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.SchemaRegistration;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.schema.registry.SchemaRegistries;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The outside-client examples of docs/outside-clients.md, run as written against the real runner and
 * the dev registry over HTTP: the Python example with Debian's python3-confluent-kafka, and a JSON run
 * request from Debian's kcat. Each is skipped, saying why, where its tool is missing.
 */
class OutsideClientsTest {
  static final Path PYTHON_EXAMPLE = Path.of("..", "docs", "examples", "turnpike_run.py");
  static EmbeddedKafka kafka;
  static DevSchemaRegistry registry;
  static ScriptedModelServer model;
  static RunnerService runner;
  static ToolWorker tools;

  @TempDir
  static Path tmp;

  @BeforeAll
  static void startStack() {
    kafka = EmbeddedKafka.start();
    registry = DevSchemaRegistry.start(kafka.bootstrapServers(), 0);
    SchemaRegistration.registerAll(SchemaRegistries.forUrl(registry.url()));
    Map<String, String> env = Map.of("TURNPIKE_BOOTSTRAP_SERVERS", kafka.bootstrapServers(),
        "TURNPIKE_SCHEMA_REGISTRY_URL", registry.url());
    assertThat(Cli.run(env, "topics", "create").exitCode()).isZero();
    Cli.Result applied = Cli.run(env, "agents", "apply", "-f", Path.of("..", "agents", "travel-assistant.yaml").toString());
    assertThat(applied.exitCode()).as(applied.toString()).isZero();
    OfflineTravelScript travel = new OfflineTravelScript();
    model = ScriptedModelServer.start(travel::reply);
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", registry.url(), "turnpike.bootstrap.servers", kafka.bootstrapServers(),
        "turnpike.model.base-url", model.baseUrl(), "turnpike.model.api-key", "offline",
        "turnpike.runner.state-dir", tmp.resolve("runner-state").toString())));
    tools = ExampleTools.startWorker(kafka.bootstrapServers(), registry.url(), Clock.systemUTC());
  }

  @AfterAll
  static void stopStack() {
    for (AutoCloseable c : new AutoCloseable[] {tools, runner, model, registry}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
    kafka.close();
  }

  @Test
  void thePythonExampleRunsAsWritten() throws Exception {
    Assumptions.assumeTrue(succeeds("/usr/bin/python3", "-c", "import confluent_kafka.avro"),
        "needs Debian's python3-confluent-kafka, python3-avro and python3-requests (.ci/run installs them)");
    Process p = new ProcessBuilder("/usr/bin/python3", PYTHON_EXAMPLE.toString(), "--bootstrap", kafka.bootstrapServers(),
        "--registry", registry.url(), "--timeout", "90", "travel-assistant", "Weather in Lisbon?")
        .redirectErrorStream(true).start();
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).containsPattern("run [0-9a-f-]{36} submitted \\(travel-assistant\\)")
        .contains("final result: COMPLETED after 3 turn(s)", OfflineTravelScript.LABEL);
  }

  @Test
  void kcatSubmitsARunAsJson() throws Exception {
    Assumptions.assumeTrue(succeeds("kcat", "-V"), "needs kcat (Debian's kcat)");
    // As docs/outside-clients.md has it: a JSON value with the content-type header, murmur2 partitioner.
    String runId = "kcat-" + System.nanoTime();
    Process p = new ProcessBuilder("kcat", "-P", "-b", kafka.bootstrapServers(), "-t", "turnpike.run-requests", "-K:",
        "-H", "content-type=application/json", "-X", "partitioner=murmur2_random").start();
    p.getOutputStream().write((runId + ":{\"agent\":\"travel-assistant\",\"input\":\"Weather in Paris?\"}\n")
        .getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8)).isZero();

    TurnpikeSerdes serdes = TurnpikeSerdes.forUrl(registry.url());
    RunResult result = await().atMost(Duration.ofSeconds(60)).until(() -> TopicReader.latestForKey(
        kafka.bootstrapServers(), "turnpike.run-results", serdes.runResult(), runId, Duration.ofSeconds(10)),
        r -> r != null && r.getStatus() != RunStatus.INTERRUPTED);
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);

    // Reading with kcat: keys, headers and offsets as JSON (-J); the Avro value is not decoded by Debian's kcat.
    Process c = new ProcessBuilder("kcat", "-C", "-b", kafka.bootstrapServers(), "-t", "turnpike.run-results", "-J", "-e",
        "-q").start();
    assertThat(c.waitFor(30, TimeUnit.SECONDS)).isTrue();
    String lines = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(lines).contains("\"key\":\"" + runId + "\"").contains("\"turnpike.type\",\"RunResult\"");
  }

  private static boolean succeeds(String... command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
