package io.turnpike.cli;

import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunState;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code turnpike approve} and {@code turnpike reject}: decide one pending approval of a run. */
abstract class DecisionCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;
  @Mixin
  KafkaOptions kafka;

  @Parameters(index = "0", paramLabel = "RUN_ID")
  String runId;

  @Parameters(index = "1", paramLabel = "CALL_ID", description = "The pending approval's callId (as `turnpike approvals"
      + " list` shows it; the part after '<runId>:' is enough).")
  String callId;

  @Option(names = "--always", description = "Also decide every other pending and later call of this tool the same way,"
      + " for the rest of this run.")
  boolean always;

  @Option(names = {"-f", "--follow"}, description = "Then print the run's steps until it finishes or waits for an"
      + " approval again (exit code 0 COMPLETED, 3 INTERRUPTED, 1 otherwise).")
  boolean follow;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "5m", description = "With --follow: how long to"
      + " wait (default ${DEFAULT-VALUE}).")
  String timeout;

  @Option(names = "--as", paramLabel = "NAME", description = "Who decides, recorded with the decision (default: $USER,"
      + " else the OS user name).")
  String as;

  @Mixin
  ConsoleOptions console;

  /** Who decides: --as, else the user this command runs as. */
  String decider() {
    String user = as != null ? as : TurnpikeCli.root(spec).env().getOrDefault("USER", System.getProperty("user.name"));
    return user == null || user.isBlank() ? null : user.trim();
  }

  abstract boolean approve();

  /** What the model is told (reject only). */
  String message() {
    return null;
  }

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Duration wait = RunCommand.duration(timeout, "--timeout");
    String verb = approve() ? "approve" : "reject";
    var api = console.console();
    if (api.isPresent() && !follow) {
      // The console checks the approval is pending (404 unknown run or call, 409 not waiting) and records who.
      String call = RunReport.callId(runId, callId);
      java.util.Map<String, Object> body = new java.util.LinkedHashMap<>();
      body.put("decision", verb);
      body.put("message", message());
      body.put("always", always);
      String commandId = api.get().post("/api/runs/" + ConsoleOptions.Api.segment(runId) + "/approvals/"
          + ConsoleOptions.Api.segment(call), body, decider()).path("commandId").asText();
      out.println((approve() ? "approved" : "rejected") + " call " + call + " of run " + runId
          + (always ? ", and every later call of this tool in this run" : "") + " (command " + commandId
          + ", through the console)");
      out.flush();
      return 0;
    }
    // Following reads the run's steps from the topics, so the decision goes there too.
    String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name(), Topics.RUN_COMMANDS.name(),
        Topics.TURN_EVENTS.name()));
    try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
      RunState state = RunReport.requireState(client, runId);
      String call = RunReport.callId(runId, callId);
      if (TurnpikeClient.isTerminal(state.getStatus())) {
        throw new CliException("run " + runId + " is " + state.getStatus() + "; there is nothing to " + verb);
      }
      if (state.getApprovals().stream().noneMatch(a -> a.getCallId().equals(call))) {
        List<String> pending = state.getApprovals().stream().map(PendingApproval::getCallId).toList();
        throw new CliException("run " + runId + " has no pending approval " + call + (pending.isEmpty()
            ? " (it waits for none; status " + state.getStatus() + ")" : " (pending: " + String.join(", ", pending) + ")"));
      }
      PendingApproval a = state.getApprovals().stream().filter(x -> x.getCallId().equals(call)).findFirst().orElseThrow();
      String commandId = client.decide(runId, approve() ? RunCommandType.APPROVE : RunCommandType.REJECT, call, message(), always,
          decider());
      out.println((approve() ? "approved" : "rejected") + " call " + call + " (" + a.getTool() + ") of run " + runId
          + (always ? ", and every later " + a.getTool() + " call of this run" : "") + " (command " + commandId + ")");
      out.flush();
      if (!follow) {
        return 0;
      }
      return RunReport.follow(out, client, state, wait, TurnpikeCli.root(spec).clock().instant());
    }
  }

  @Command(name = "approve", description = "Approve a tool call a run waits for; the call then runs.",
      mixinStandardHelpOptions = true)
  static final class Approve extends DecisionCommand {
    @Override
    boolean approve() {
      return true;
    }
  }

  @Command(name = "reject", description = "Reject a tool call a run waits for; the model is told it was rejected (and"
      + " why, with --message) and goes on.", mixinStandardHelpOptions = true)
  static final class Reject extends DecisionCommand {
    @Option(names = {"-m", "--message"}, paramLabel = "TEXT", description = "Why: the model sees it.")
    String message;

    @Override
    boolean approve() {
      return false;
    }

    @Override
    String message() {
      return message;
    }
  }
}
