package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.cli.example.ExampleTools;
import io.turnpike.cli.example.OfflineTravelScript;
import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI commands against a real broker. The run tests use the real runner (orchestrator + model
 * invoker) with the offline scripted model and the example tool worker, so they need
 * {@code RunnerService} wired, as {@link DevCommandTest} does.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CliCommandsTest {
  static final String REGISTRY = Cli.REGISTRY;
  static EmbeddedKafka kafka;
  static String bootstrap;
  static ScriptedModelServer model;
  static RunnerService runner;
  static ToolWorker tools;
  static final Path AGENTS = Path.of("..", "agents");

  @TempDir
  static Path tmp;

  @BeforeAll
  static void startStack() {
    kafka = EmbeddedKafka.start();
    bootstrap = kafka.bootstrapServers();
    Cli.Result created = Cli.run("topics", "create", "-b", bootstrap);
    assertThat(created.exitCode()).as(created.toString()).isZero();
    assertThat(created.out()).startsWith("created turnpike.agents, ");
    OfflineTravelScript travel = new OfflineTravelScript();
    // An agent offering `never_answered` asks for it and so waits (nobody serves it) until cancelled.
    model = ScriptedModelServer.start(req -> req.toolNames().contains("never_answered")
        ? ScriptedReply.toolCall("never_answered", "{}") : travel.reply(req));
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", REGISTRY, "turnpike.bootstrap.servers", bootstrap,
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "offline",
        "turnpike.runner.state-dir", tmp.resolve("runner-state").toString())));
    tools = ExampleTools.startWorker(bootstrap, REGISTRY, Clock.systemUTC());
    console = io.turnpike.console.ConsoleService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", REGISTRY, "turnpike.bootstrap.servers", bootstrap,
        "turnpike.console.host", "127.0.0.1", "turnpike.console.port", "0",
        "turnpike.console.state-dir", tmp.resolve("console-state").toString())));
  }

  static io.turnpike.console.ConsoleService console;

  @AfterAll
  static void stopStack() {
    if (console != null) {
      console.close();
    }
    if (tools != null) {
      tools.close();
    }
    if (runner != null) {
      runner.close();
    }
    if (model != null) {
      model.close();
    }
    kafka.close();
  }

  @Test
  @Order(1)
  void topicsCreateIsIdempotent() {
    Cli.Result r = Cli.run("topics", "create", "--bootstrap-server", bootstrap);
    assertThat(r.exitCode()).isZero();
    assertThat(r.out()).isEqualTo("all " + io.turnpike.schema.Topics.ALL.size() + " topics already exist\n");
  }

  @Test
  @Order(2)
  void agentsApplyThenList() {
    Cli.Result r = Cli.run("agents", "apply", "-f", AGENTS.toString(), "-b", bootstrap);
    assertThat(r.exitCode()).as(r.toString()).isZero();
    assertThat(r.out()).contains("applied travel-assistant v1 (new)");

    Cli.Result again = Cli.run("agents", "apply", "-f", AGENTS.resolve("travel-assistant.yaml").toString(), "-b", bootstrap);
    assertThat(again.out()).contains("applied travel-assistant v1 (unchanged, v1)");

    Cli.Result list = Cli.run(Map.of("TURNPIKE_BOOTSTRAP_SERVERS", bootstrap), "agents", "list");
    assertThat(list.exitCode()).as(list.toString()).isZero();
    assertThat(list.out()).startsWith("NAME").contains("VERSION").contains("travel-assistant")
        .contains("gpt-4.1-mini").contains("get_weather,get_local_time");
  }

  @Test
  @Order(3)
  void runFollowWithoutStreamingShowsTheStepsOnly() {
    Cli.Result run = Cli.run("run", "travel-assistant", "Is it raining in Rome?", "--follow", "--no-stream",
        "--timeout", "2m", "-b", bootstrap);
    assertThat(run.exitCode()).as(run.toString()).isZero();
    assertThat(run.out()).contains("model answered", "run finished    COMPLETED").doesNotContain("streaming", " args ");
  }

  @Test
  @Order(3)
  void runFollowThenShowThenCancel() {
    Cli.Result run = Cli.run("run", "travel-assistant", "Is it raining in Paris?", "--follow", "--timeout", "2m",
        "-m", "ticket=T-1", "-b", bootstrap);
    assertThat(run.exitCode()).as(run.toString()).isZero();
    assertThat(run.out())
        .contains("tool call       get_weather {\"city\":\"Paris\"}")
        .contains("run finished    COMPLETED")
        .contains("Result: COMPLETED after 3 turns")
        .contains(OfflineTravelScript.LABEL + " In Paris it is overcast and 15 C");
    // --follow streams: the answer's text and each call's arguments show as the model writes them,
    // each before the step that records it
    String out = run.out();
    int args = out.indexOf("get_weather args {\"city\":\"Paris\"}");
    int streamed = out.indexOf("streaming       " + OfflineTravelScript.LABEL + " In Paris it is overcast and 15 C");
    assertThat(args).as(out).isPositive();
    assertThat(streamed).as(out).isPositive();
    assertThat(out.indexOf("model answered", args)).isGreaterThan(args);
    assertThat(out.indexOf("model answered", streamed)).isGreaterThan(streamed)
        .isLessThan(out.indexOf("run finished    COMPLETED"));
    Matcher m = Pattern.compile("run ([0-9a-f-]{36}) submitted \\(travel-assistant v1\\)").matcher(run.out());
    assertThat(m.find()).as(run.out()).isTrue();
    String runId = m.group(1);

    Cli.Result show = Cli.run("runs", "show", runId, "-b", bootstrap);
    assertThat(show.exitCode()).as(show.toString()).isZero();
    assertThat(show.out())
        .contains("Run       " + runId)
        .contains("Status    COMPLETED")
        .contains("Agent     travel-assistant@1  (model gpt-4.1-mini)")
        .contains("Metadata  ticket=T-1")
        .contains("user      Is it raining in Paris?")
        .contains("assistant -> get_weather {\"city\":\"Paris\"}")
        .contains("tool      get_weather <- {\"city\":\"Paris\",\"condition\":\"overcast\"")
        .contains("3 model calls")
        .contains("Final output\n  " + OfflineTravelScript.LABEL + " In Paris");

    completedRunId = runId;

    // The runner would ignore a CANCEL for a finished run: the CLI says so and fails
    Cli.Result cancel = Cli.run("runs", "cancel", runId, "-b", bootstrap);
    assertThat(cancel.exitCode()).as(cancel.toString()).isEqualTo(1);
    assertThat(cancel.err()).isEqualTo("error: run " + runId + " is COMPLETED; there is nothing to cancel\n");
    assertThat(Cli.run("runs", "cancel", "no-such-run", "-b", bootstrap).exitCode()).isEqualTo(1);
  }

  static String completedRunId;

  @Test
  @Order(4)
  void scriptsReadRunsAsJsonFollowThemAndExportThem() throws Exception {
    String runId = completedRunId;
    assertThat(runId).as("set by runFollowThenShowThenCancel").isNotNull();
    JsonNode list = json(Cli.run("runs", "list", "-o", "json", "-b", bootstrap));
    assertThat(list.path("runs").findValuesAsText("runId")).contains(runId);
    JsonNode show = json(Cli.run("runs", "show", runId, "-o", "json", "-b", bootstrap));
    assertThat(show.path("status").asText()).isEqualTo("COMPLETED");
    assertThat(show.path("state").path("runId").asText()).isEqualTo(runId);

    JsonNode history = json(Cli.run("runs", "history", runId, "-o", "json", "-b", bootstrap));
    JsonNode events = history.path("events");
    assertThat(events.get(0).path("type").asText()).isEqualTo("RunStarted");
    assertThat(events.get(events.size() - 1).path("type").asText()).isEqualTo("RunFinished");
    assertThat(events.get(events.size() - 1).path("summary").asText()).isEqualTo("run finished COMPLETED");

    // follow works for any run, also one that finished: its steps, then its outcome and exit code
    Cli.Result follow = Cli.run("runs", "follow", runId, "-b", bootstrap);
    assertThat(follow.exitCode()).as(follow.toString()).isZero();
    assertThat(follow.out()).contains("tool call       get_weather {\"city\":\"Paris\"}", "Result: COMPLETED after 3 turns");
    Cli.Result followJson = Cli.run("runs", "follow", runId, "-o", "json", "-b", bootstrap);
    java.util.List<String> lines = followJson.out().lines().toList();
    assertThat(lines).hasSize(events.size() + 1);
    assertThat(OutputOptions.JSON.readTree(lines.getLast()).path("run").path("status").asText()).isEqualTo("COMPLETED");

    Path exported = tmp.resolve("run.json");
    Cli.Result export = Cli.run("runs", "export", runId, "-f", exported.toString(), "-b", bootstrap);
    assertThat(export.exitCode()).as(export.toString()).isZero();
    assertThat(io.turnpike.schema.RunStateJson.read(Files.readString(exported)).getRunId()).isEqualTo(runId);
    Cli.Result imported = Cli.run("runs", "import", exported.toString());
    assertThat(imported.exitCode()).as(imported.toString()).isZero();
    assertThat(imported.out()).contains("Run       " + runId, "A valid RunState (schema version ");
    Path broken = Files.writeString(tmp.resolve("broken.json"), "{\"runId\": 42}");
    Cli.Result bad = Cli.run("runs", "import", broken.toString());
    assertThat(bad.exitCode()).isEqualTo(1);
    assertThat(bad.err()).startsWith("error: " + broken + ": not a RunState as JSON");

    assertThat(json(Cli.run("agents", "list", "-o", "json", "-b", bootstrap)).path("agents").findValuesAsText("name"))
        .contains("travel-assistant");
    assertThat(json(Cli.run("approvals", "list", "-o", "json", "-b", bootstrap)).path("approvals").isArray()).isTrue();
  }

  @Test
  @Order(4)
  void requestsRefusedAtSubmissionAreListedAndShown() {
    // run --follow of a request the runner refuses: its FAILED result ends the follow, not the timeout
    Cli.Result refused = Cli.run("run", "travel-assistant", "hello", "--agent-version", "99", "--follow",
        "--timeout", "90s", "-b", bootstrap);
    assertThat(refused.exitCode()).as(refused.toString()).isEqualTo(1);
    assertThat(refused.out()).contains("Result: FAILED", "version 99 is not available");

    String runId;
    try (TurnpikeClient client = new TurnpikeClient(bootstrap, REGISTRY)) {
      runId = client.submit("no-such-agent", "hello");
    }
    Cli.Result show = await().atMost(Duration.ofSeconds(30)).until(() -> Cli.run("runs", "show", runId, "-b", bootstrap),
        r -> r.exitCode() == 0);
    assertThat(show.out()).contains("Status    FAILED  (refused at submission").contains("no-such-agent");
    assertThat(Cli.run("runs", "list", "-b", bootstrap).out()).contains(runId).contains("(refused at submission: ");
    JsonNode list = json(Cli.run("runs", "list", "--status", "FAILED", "-o", "json", "-b", bootstrap));
    assertThat(list.path("runs").findValues("rejected").stream().filter(JsonNode::asBoolean)).isNotEmpty();
    Cli.Result cancel = Cli.run("runs", "cancel", runId, "-b", bootstrap);
    assertThat(cancel.exitCode()).isEqualTo(1);
    assertThat(cancel.err()).startsWith("error: run " + runId + " was refused at submission (FAILED: ");
  }

  @Test
  @Order(4)
  void withAConsoleTheCommandsAskItAndNotTheTopics() {
    String runId = completedRunId;
    String url = console.url();
    // no -b: nothing is read from Kafka (the default localhost:9092 has no broker here)
    Cli.Result show = await().atMost(Duration.ofSeconds(60)).until(() -> Cli.run("runs", "show", runId, "--console", url),
        r -> r.exitCode() == 0);
    assertThat(show.out()).contains("Run       " + runId, "Status    COMPLETED", "Final output");
    assertThat(json(Cli.run("runs", "list", "--console", url, "-o", "json")).path("runs").findValuesAsText("runId"))
        .contains(runId);
    assertThat(Cli.run("runs", "list", "--console", url).out()).startsWith("RUN ID").contains(runId);
    Cli.Result unknown = Cli.run("runs", "show", "no-such-run", "--console", url);
    assertThat(unknown.exitCode()).isEqualTo(1);
    assertThat(unknown.err()).isEqualTo("error: no run no-such-run\n");
    Cli.Result cancel = Cli.run("runs", "cancel", runId, "--console", url);
    assertThat(cancel.exitCode()).isEqualTo(1);
    assertThat(cancel.err()).isEqualTo("error: run " + runId + " is COMPLETED already\n");
    Cli.Result approve = Cli.run("approve", runId, "t1.1", "--console", url);
    assertThat(approve.exitCode()).isEqualTo(1);
    assertThat(approve.err()).startsWith("error: run " + runId + " is COMPLETED");
    assertThat(json(Cli.run("approvals", "list", "--console", url, "-o", "json")).path("approvals").isArray()).isTrue();
    JsonNode steps = json(Cli.run("runs", "history", runId, "--console", url, "-o", "json")).path("events");
    assertThat(steps.get(0).path("type").asText()).isEqualTo("RunStarted");
    assertThat(Cli.run("runs", "history", runId, "--console", url).out()).contains("Run " + runId + ": ");
    assertThat(Cli.run("runs", "list", "--console", "not-a-url").exitCode()).isEqualTo(2);
  }

  static JsonNode json(Cli.Result r) {
    assertThat(r.exitCode()).as(r.toString()).isZero();
    try {
      return OutputOptions.JSON.readTree(r.out());
    } catch (java.io.IOException e) {
      throw new AssertionError(r.toString(), e);
    }
  }

  @Test
  @Order(4)
  void aRunThatFailsExitsWithOne() throws Exception {
    String yaml = Files.readString(AGENTS.resolve("travel-assistant.yaml"))
        .replace("name: travel-assistant", "name: impatient-traveller")
        .replace("maxTurns: 6", "maxTurns: 1");
    Path file = Files.writeString(tmp.resolve("impatient.yaml"), yaml);
    assertThat(Cli.run("agents", "apply", "-f", file.toString(), "-b", bootstrap).exitCode()).isZero();

    Cli.Result run = Cli.run("run", "impatient-traveller", "Weather in Berlin?", "-b", bootstrap);
    assertThat(run.exitCode()).as(run.toString()).isEqualTo(1);
    assertThat(run.out()).contains("Result: FAILED").contains("Error: max turns exceeded");
  }

  @Test
  @Order(5)
  void cancellingAWaitingRunEndsItAsCancelled() throws Exception {
    Path file = Files.writeString(tmp.resolve("waiter.yaml"), """
        name: waiter
        version: 1
        model: gpt-4.1-mini
        tools:
          - name: never_answered
        toolTimeout: 5m
        """);
    assertThat(Cli.run("agents", "apply", "-f", file.toString(), "-b", bootstrap).exitCode()).isZero();

    Cli.Running run = Cli.start("run", "waiter", "wait for me", "--follow", "--timeout", "2m", "-b", bootstrap);
    String runId = await().atMost(Duration.ofSeconds(60))
        .until(() -> {
          Matcher m = Pattern.compile("run ([0-9a-f-]{36}) submitted").matcher(run.out().toString());
          return m.find() && run.out().toString().contains("tool call       never_answered") ? m.group(1) : null;
        }, java.util.Objects::nonNull);

    Cli.Result show = Cli.run("runs", "show", runId, "-b", bootstrap);
    assertThat(show.out()).contains("Status    RUNNING").contains("Pending calls").contains("TOOL  never_answered");

    Cli.Result cancel = Cli.run("runs", "cancel", runId, "--reason", "test says stop", "-b", bootstrap);
    assertThat(cancel.exitCode()).isZero();

    Cli.Result r = run.await();
    assertThat(r.exitCode()).as(r.toString()).isEqualTo(1);
    assertThat(r.out()).contains("run finished    CANCELLED").contains("Result: CANCELLED");
  }

  @Test
  void unknownAgentsAndRunsAreReportedInOneLine() {
    Cli.Result run = Cli.run("run", "ghost", "hello", "-b", bootstrap);
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).startsWith("error: unknown agent 'ghost'");

    Cli.Result show = Cli.run("runs", "show", "no-such-run", "-b", bootstrap);
    assertThat(show.exitCode()).isEqualTo(1);
    assertThat(show.err()).isEqualTo("error: no run no-such-run in turnpike.run-state"
        + " (unknown id, not started yet, or already compacted away)\n");
  }

  @Test
  void badAgentFilesGiveClearErrorsWithoutStackTraces() throws Exception {
    Path bad = Files.writeString(tmp.resolve("bad.yaml"), "name: x\nversion: [1\nmodel: m\n");
    Cli.Result r = Cli.run("agents", "apply", "-f", bad.toString(), "-b", bootstrap);
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: " + bad + ": invalid YAML at line ").doesNotContain("\tat ");

    Path badTool = Files.writeString(tmp.resolve("badtool.yaml"), "name: x\nversion: 1\nmodel: m\ntools: [{name: 'a b'}]\n");
    Cli.Result r2 = Cli.run("agents", "apply", "-f", badTool.toString(), "--dry-run");
    assertThat(r2.exitCode()).isEqualTo(1);
    assertThat(r2.err()).isEqualTo("error: " + badTool + ": tools[0].name: 'a b' is not a valid tool name"
        + " (must match ^[a-zA-Z0-9_-]{1,64}$)\n");

    Cli.Result missing = Cli.run("agents", "apply", "-f", tmp.resolve("nope.yaml").toString(), "-b", bootstrap);
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err()).isEqualTo("error: " + tmp.resolve("nope.yaml") + ": no such file or directory\n");

    Cli.Result dry = Cli.run("agents", "apply", "-f", AGENTS.toString(), "--dry-run");
    assertThat(dry.exitCode()).as(dry.toString()).isZero();
    // one line per bundled agent file (more are added as features land), these four described exactly
    long files;
    try (var list = Files.list(AGENTS)) {
      files = list.filter(f -> f.toString().endsWith(".yaml")).count();
    }
    assertThat(dry.out().lines()).hasSize((int) files).allMatch(l -> l.startsWith("valid: "));
    // travel-assistant's tool count follows its memory settings (memory_update is a tool)
    assertThat(dry.out().lines()).anyMatch(l -> l.startsWith("valid: travel-assistant v1 ("));
    assertThat(dry.out().lines()).contains(
        "valid: billing-specialist v1 (2 tools; 1 guardrail)",
        "valid: support-triage v1 (0 tools; hands off to billing-specialist; 2 guardrails)",
        "valid: trip-concierge v1 (1 tool; calls travel-assistant as a tool (child runs))",
        "valid: workspace-coder v1 (0 tools; capabilities filesystem, shell, skills; 1 guardrail; 1 approval rule;"
            + " manifest: 2 files, 1 skill)");
  }

  @Test
  void anUnreachableBrokerFailsWithinAboutTenSeconds() {
    long t0 = System.nanoTime();
    Cli.Result r = Cli.run("agents", "list", "-b", "127.0.0.1:1");
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: cannot reach Kafka at 127.0.0.1:1 within 10s").contains("turnpike dev --keep-running")
        .doesNotContain("\tat ");
    assertThat(r.err().lines().count()).isEqualTo(1);
    assertThat(took).isLessThan(Duration.ofSeconds(20));
  }

  @Test
  void anUnreachableRegistryIsNamedWithinTenSeconds() {
    long t0 = System.nanoTime();
    Cli.Result show = Cli.run("runs", "show", "some-run", "-b", bootstrap, "--schema-registry", "http://127.0.0.1:1");
    Cli.Result run = Cli.run("run", "travel-assistant", "hi", "-b", bootstrap, "--schema-registry", "http://127.0.0.1:1");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
    for (Cli.Result r : java.util.List.of(show, run)) {
      assertThat(r.exitCode()).as(r.toString()).isEqualTo(1);
      assertThat(r.err()).startsWith("error: cannot reach the schema registry at http://127.0.0.1:1 (").hasLineCount(1);
    }
  }

  @Test
  void usageErrorsExitWithTwo() {
    Cli.Result notAUrl = Cli.run("runs", "show", "x", "--schema-registry", "not-a-url", "-b", bootstrap);
    assertThat(notAUrl.exitCode()).isEqualTo(2);
    assertThat(notAUrl.err()).isEqualTo("error: --schema-registry: 'not-a-url' is not a registry URL; give its base URL,"
        + " e.g. http://localhost:8081\n");
    assertThat(Cli.run("runs", "list", "-o", "yaml", "-b", bootstrap).exitCode()).isEqualTo(2);
    assertThat(Cli.run("run", "travel-assistant").exitCode()).isEqualTo(2);
    Cli.Result badTimeout = Cli.run("run", "a", "b", "--timeout", "5", "-b", bootstrap);
    assertThat(badTimeout.exitCode()).isEqualTo(2);
    assertThat(badTimeout.err()).contains("--timeout: '5' is not a duration");
    Cli.Result help = Cli.run("--help");
    assertThat(help.exitCode()).isZero();
    assertThat(help.out()).contains("dev").contains("run").contains("runs").contains("agents").contains("topics");
  }
}
