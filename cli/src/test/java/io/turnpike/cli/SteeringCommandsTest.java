package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Human-in-the-loop and follow-up commands end to end: the real runner (orchestrator + model
 * invoker) on an in-process broker, a scripted OpenAI-compatible model over HTTP, and a real tool
 * worker. The agent's {@code run_command} tool needs an approval when its arguments contain
 * {@code rm }: {@code run --follow} stops with exit code 3, {@code approvals list} shows the call,
 * {@code approve} / {@code reject} decide it, {@code runs message} continues a completed run.
 */
class SteeringCommandsTest {
  static final String REGISTRY = Cli.REGISTRY;
  static EmbeddedKafka kafka;
  static String bootstrap;
  static ScriptedModelServer model;
  static RunnerService runner;
  static ToolWorker tools;

  @TempDir
  static Path tmp;

  static final String OPS = """
      name: ops-bot
      version: 1
      model: gpt-4.1-mini
      instructions: You run shell-like commands for the team.
      tools:
        - name: run_command
          description: Run a command
          parameters:
            type: object
            properties: {command: {type: string}}
            required: [command]
      approvalRules:
        - {tool: run_command, pattern: "rm "}
      handoffs: [ops-lead]
      """;

  static final String LEAD = """
      name: ops-lead
      version: 2
      model: gpt-4.1-mini
      instructions: You are the ops lead.
      """;

  /**
   * The scripted model: the lead answers at once; the bot hands "escalate" to the lead, asks for
   * {@code rm -rf build} on "clean", {@code ls} on "list", and after a tool output reports it.
   * Anything else gets an echo of the last user message.
   */
  static ScriptedReply script(ModelRequestView req) {
    if (req.instructions() != null && req.instructions().contains("ops lead")) {
      return ScriptedReply.text("Lead here: " + req.lastUserText());
    }
    List<InputItem> input = req.input();
    InputItem last = input.get(input.size() - 1);
    if (last instanceof InputItem.FunctionCallOutput out) {
      return ScriptedReply.text("Done: " + out.output());
    }
    String user = req.lastUserText();
    if (user.contains("escalate")) {
      return ScriptedReply.toolCall("transfer_to_ops-lead", "{}");
    }
    if (user.contains("clean")) {
      return ScriptedReply.toolCall("run_command", "{\"command\":\"rm -rf build\"}");
    }
    if (user.contains("list")) {
      return ScriptedReply.toolCall("run_command", "{\"command\":\"ls\"}");
    }
    return ScriptedReply.text("You said: " + user);
  }

  @BeforeAll
  static void startStack() throws Exception {
    kafka = EmbeddedKafka.start();
    bootstrap = kafka.bootstrapServers();
    assertThat(Cli.run("topics", "create", "-b", bootstrap).exitCode()).isZero();
    model = ScriptedModelServer.start(SteeringCommandsTest::script);
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", REGISTRY, "turnpike.bootstrap.servers", bootstrap,
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "offline",
        "turnpike.runner.state-dir", tmp.resolve("runner-state").toString())));
    tools = ToolWorker.builder(bootstrap, REGISTRY)
        .tool("run_command", inv -> "ran: " + inv.requireString("command"))
        .build()
        .start();
    Path dir = Files.createDirectories(tmp.resolve("agents"));
    Files.writeString(dir.resolve("ops-bot.yaml"), OPS);
    Files.writeString(dir.resolve("ops-lead.yaml"), LEAD);
    Cli.Result applied = Cli.run("agents", "apply", "-f", dir.toString(), "-b", bootstrap);
    assertThat(applied.exitCode()).as(applied.toString()).isZero();
  }

  @AfterAll
  static void stopStack() {
    for (AutoCloseable c : new AutoCloseable[] {tools, runner, model, kafka}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  @Test
  void runFollowStopsAtAnApprovalWithExitThreeThenApproveCompletesIt() {
    Cli.Result run = Cli.run("run", "ops-bot", "please clean the build folder", "--follow", "--timeout", "2m",
        "-b", bootstrap);
    assertThat(run.exitCode()).as(run.toString()).isEqualTo(3);
    String runId = runId(run);
    String callId = runId + ":t1.1";
    assertThat(run.out())
        .contains("needs approval  run_command {\"command\":\"rm -rf build\"}")
        .contains("(arguments match approval rule /rm /)  call " + callId)
        .contains("Result: INTERRUPTED after 1 turn")
        .contains("The run is INTERRUPTED: it waits for a human decision on 1 tool call.")
        .contains("Approve: turnpike approve " + runId + " " + callId + " [--always]")
        .contains("Reject:  turnpike reject " + runId + " " + callId + " --message \"why\" [--always]")
        .doesNotContain("tool result");

    Cli.Result list = Cli.run("approvals", "list", "-b", bootstrap);
    assertThat(list.exitCode()).as(list.toString()).isZero();
    String row = list.out().lines().filter(l -> l.startsWith(runId)).findFirst().orElseThrow(
        () -> new AssertionError("no row for " + runId + " in\n" + list.out()));
    assertThat(row).contains(callId).contains("ops-bot@1").contains("run_command")
        .contains("arguments match approval rule /rm /").contains("{\"command\":\"rm -rf build\"}").contains("ago)");
    assertThat(list.out()).startsWith("RUN ID").contains("turnpike approve <RUN ID> <CALL ID> [--always]");

    Cli.Result show = Cli.run("runs", "show", runId, "-b", bootstrap);
    assertThat(show.out())
        .contains("Status    INTERRUPTED")
        .contains("Waiting for approval (1)")
        .contains("call " + callId + "  run_command {\"command\":\"rm -rf build\"}")
        .contains("Tool calls in flight")
        .contains("awaiting approval run_command");
    // following a run someone else started: its steps so far, then exit 3 as it waits for a human
    Cli.Result follow = Cli.run("runs", "follow", runId, "-b", bootstrap);
    assertThat(follow.exitCode()).as(follow.toString()).isEqualTo(3);
    assertThat(follow.out()).contains("run started", "needs approval", "Result: INTERRUPTED");

    Cli.Result approve = Cli.run("approve", runId, callId, "--follow", "--as", "dana", "-b", bootstrap);
    assertThat(approve.exitCode()).as(approve.toString()).isZero();
    // who decided travels with the decision (the console shows it in the run's timeline)
    try (io.turnpike.devkit.TopicTail commands = new io.turnpike.devkit.TopicTail(bootstrap, Topics.RUN_COMMANDS.name())) {
      var serde = io.turnpike.schema.TurnpikeSerdes.forUrl(REGISTRY).runCommand();
      await().atMost(Duration.ofSeconds(30)).until(() -> commands.forKey(runId).stream()
          .map(r -> serde.deserialize(Topics.RUN_COMMANDS.name(), r.value()))
          .anyMatch(c -> callId.equals(c.getCallId()) && "dana".equals(c.getIssuedBy())));
    }
    assertThat(approve.out())
        .startsWith("approved call " + callId + " (run_command) of run " + runId)
        .contains("approved        call " + callId)
        .contains("tool result     run_command -> ran: rm -rf build")
        .contains("run finished    COMPLETED")
        .contains("Result: COMPLETED after 2 turns")
        .contains("Done: ran: rm -rf build")
        // the run was started with --follow, so it streams: the answer after the approval shows as it is written
        .contains("streaming       Done: ran: rm -rf build");
    // The model saw the tool's real output after the approval.
    assertThat(model.modelRequests()).anySatisfy(r -> assertThat(r.lastToolOutput()).isEqualTo("ran: rm -rf build"));

    Cli.Result after = Cli.run("approvals", "list", "-b", bootstrap);
    assertThat(after.out()).doesNotContain(runId);
    Cli.Result again = Cli.run("approve", runId, callId, "-b", bootstrap);
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err()).isEqualTo("error: run " + runId + " is COMPLETED; there is nothing to approve\n");
  }

  @Test
  void rejectWithAMessageTellsTheModelWhy() {
    Cli.Result run = Cli.run("run", "ops-bot", "clean up everything", "-b", bootstrap);
    assertThat(run.exitCode()).as(run.toString()).isEqualTo(3);
    String runId = runId(run);
    assertThat(run.out()).contains("Result: INTERRUPTED").contains("call " + runId + ":t1.1");

    // The short form of the call id works too.
    Cli.Result reject = Cli.run("reject", runId, "t1.1", "--message", "not on a Friday", "-b", bootstrap);
    assertThat(reject.exitCode()).as(reject.toString()).isZero();
    assertThat(reject.out()).startsWith("rejected call " + runId + ":t1.1 (run_command) of run " + runId);

    String told = "a human rejected this call: not on a Friday";
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(model.modelRequests()).anySatisfy(r -> {
          assertThat(r.firstUserText()).isEqualTo("clean up everything");
          assertThat(r.lastToolOutput()).isEqualTo(told);
        }));
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Cli.run("runs", "show", runId, "-b", bootstrap).out())
            .contains("Status    COMPLETED")
            .contains("tool error run_command <- " + told)
            .contains("Final output\n  Done: " + told));
  }

  @Test
  void rejectAlwaysRefusesTheToolForTheRestOfTheRun() {
    Cli.Result run = Cli.run("run", "ops-bot", "clean the cache", "--follow", "-b", bootstrap);
    assertThat(run.exitCode()).as(run.toString()).isEqualTo(3);
    String runId = runId(run);
    Cli.Result reject = Cli.run("reject", runId, runId + ":t1.1", "--always", "--follow", "-b", bootstrap);
    assertThat(reject.exitCode()).as(reject.toString()).isZero();
    assertThat(reject.out())
        .contains("and every later run_command call of this run")
        .contains("rejected        call " + runId + ":t1.1 (and every later call of this tool in this run)")
        .contains("Result: COMPLETED");
    // A later call of the tool in this run is refused without asking.
    Cli.Result more = Cli.run("runs", "message", runId, "now clean the logs", "--follow", "-b", bootstrap);
    assertThat(more.exitCode()).as(more.toString()).isZero();
    assertThat(more.out())
        .contains("tool error      run_command -> rejected: a human rejected every call of run_command for this run")
        .doesNotContain("needs approval");
    assertThat(Cli.run("runs", "show", runId, "-b", bootstrap).out()).contains("always reject:  run_command");
  }

  @Test
  void runsMessageContinuesACompletedRun() {
    Cli.Result run = Cli.run("run", "ops-bot", "hello there", "--follow", "-b", bootstrap);
    assertThat(run.exitCode()).as(run.toString()).isZero();
    String runId = runId(run);
    assertThat(run.out()).contains("You said: hello there");

    Cli.Result msg = Cli.run("runs", "message", runId, "and what about tomorrow?", "--follow", "-b", bootstrap);
    assertThat(msg.exitCode()).as(msg.toString()).isZero();
    assertThat(msg.out())
        .startsWith("message sent to run " + runId + " (command ")
        .contains("the run continues with it")
        .contains("user message    \"and what about tomorrow?\"")
        .contains("run finished    COMPLETED")
        .contains("Result: COMPLETED after 2 turns")
        .contains("You said: and what about tomorrow?")
        .contains("streaming       You said: and what about tomorrow?")
        // Only the steps (and streamed text) after the message are shown.
        .doesNotContain("run started")
        .doesNotContain("You said: hello there");
    // The model got the whole conversation: the first exchange, then the new message.
    assertThat(model.modelRequests()).anySatisfy(r -> {
      assertThat(r.firstUserText()).isEqualTo("hello there");
      assertThat(r.lastUserText()).isEqualTo("and what about tomorrow?");
      assertThat(r.input()).anySatisfy(i -> assertThat(i).isEqualTo(new InputItem.Message("assistant", "You said: hello there")));
    });

    Cli.Result show = Cli.run("runs", "show", runId, "-b", bootstrap);
    assertThat(show.out()).contains("Status    COMPLETED").contains("user      hello there")
        .contains("user      and what about tomorrow?").contains("Turn      2 of at most");

    // Without --follow it only sends; a message that leads to an approval ends the follow with exit 3.
    Cli.Result clean = Cli.run("runs", "message", runId, "clean it all", "--follow", "-b", bootstrap);
    assertThat(clean.exitCode()).as(clean.toString()).isEqualTo(3);
    assertThat(clean.out()).contains("needs approval").contains("Result: INTERRUPTED");
    Cli.Result cancel = Cli.run("runs", "cancel", runId, "-b", bootstrap);
    assertThat(cancel.exitCode()).isZero();
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Cli.run("runs", "show", runId, "-b", bootstrap).out()).contains("Status    CANCELLED"));
    Cli.Result late = Cli.run("runs", "message", runId, "anyone?", "-b", bootstrap);
    assertThat(late.exitCode()).isEqualTo(1);
    assertThat(late.err()).contains("is CANCELLED; only RUNNING, INTERRUPTED or COMPLETED runs take messages");
  }

  @Test
  void handoffsShowLiveAndInTheRunsHistory() {
    Cli.Result run = Cli.run("run", "ops-bot", "escalate this please", "--follow", "-b", bootstrap);
    assertThat(run.exitCode()).as(run.toString()).isZero();
    String runId = runId(run);
    assertThat(run.out())
        .contains("handoff         ops-bot -> ops-lead v2")
        .contains("Lead here: escalate this please");
    Cli.Result show = Cli.run("runs", "show", runId, "-b", bootstrap);
    assertThat(show.out())
        .contains("Agent     ops-lead@2  (model gpt-4.1-mini)  started as ops-bot")
        .contains("Handoffs\n  turn 1  ops-bot -> ops-lead v2   at ");
  }

  @Test
  void runsListShowsRecentRunsNewestFirst() {
    Cli.Result done = Cli.run("run", "ops-bot", "list the files", "-b", bootstrap);
    assertThat(done.exitCode()).as(done.toString()).isZero();
    String doneId = runId(done);
    Cli.Result waiting = Cli.run("run", "ops-bot", "clean the tmp dir", "-b", bootstrap);
    assertThat(waiting.exitCode()).isEqualTo(3);
    String waitingId = runId(waiting);

    Cli.Result list = Cli.run("runs", "list", "-b", bootstrap);
    assertThat(list.exitCode()).as(list.toString()).isZero();
    List<String> lines = list.out().lines().toList();
    assertThat(lines.get(0)).startsWith("RUN ID").contains("AGENT").contains("STATUS").contains("TURNS")
        .contains("UPDATED");
    String doneRow = lines.stream().filter(l -> l.startsWith(doneId)).findFirst().orElseThrow();
    String waitingRow = lines.stream().filter(l -> l.startsWith(waitingId)).findFirst().orElseThrow();
    assertThat(doneRow).contains("ops-bot@1").contains("COMPLETED").containsPattern("COMPLETED\\s+2\\s")
        .contains("\"list the files\"");
    assertThat(waitingRow).contains("INTERRUPTED (1)").containsPattern("\\)\\s+1\\s");
    assertThat(lines.indexOf(waitingRow)).as("newest first").isLessThan(lines.indexOf(doneRow));

    Cli.Result interrupted = Cli.run("runs", "list", "--status", "interrupted", "-b", bootstrap);
    assertThat(interrupted.out()).contains(waitingId).doesNotContain(doneId);
    Cli.Result one = Cli.run("runs", "list", "--limit", "1", "-b", bootstrap);
    assertThat(one.out().lines().filter(l -> l.matches("^[0-9a-f-]{36} .*"))).hasSize(1);
    assertThat(one.out()).contains("older runs not shown; use --limit");
  }

  @Test
  void decisionsOnTheWrongCallOrRunAreRefusedInOneLine() {
    Cli.Result run = Cli.run("run", "ops-bot", "clean the disk", "-b", bootstrap);
    assertThat(run.exitCode()).isEqualTo(3);
    String runId = runId(run);
    Cli.Result wrong = Cli.run("approve", runId, "t9.9", "-b", bootstrap);
    assertThat(wrong.exitCode()).isEqualTo(1);
    assertThat(wrong.err()).isEqualTo("error: run " + runId + " has no pending approval " + runId + ":t9.9 (pending: "
        + runId + ":t1.1)\n");
    Cli.Result ghost = Cli.run("reject", "no-such-run", "t1.1", "-b", bootstrap);
    assertThat(ghost.exitCode()).isEqualTo(1);
    assertThat(ghost.err()).startsWith("error: no run no-such-run in turnpike.run-state");
    Cli.Result usage = Cli.run("approve", runId);
    assertThat(usage.exitCode()).isEqualTo(2);
    assertThat(Cli.run("runs", "message", runId, "   ", "-b", bootstrap).exitCode()).isEqualTo(2);
  }

  private static String runId(Cli.Result r) {
    Matcher m = Pattern.compile("run ([0-9a-f-]{36}) submitted").matcher(r.out());
    assertThat(m.find()).as(r.toString()).isTrue();
    return m.group(1);
  }
}
