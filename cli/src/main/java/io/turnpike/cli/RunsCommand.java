package io.turnpike.cli;

import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "runs", description = "Inspect and steer runs.", subcommands = {RunsListCommand.class, RunsCommand.Show.class,
    RunStepsCommand.Follow.class, RunStepsCommand.History.class, RunsMessageCommand.class, RunsCommand.Cancel.class,
    FilesCommand.class, RunStateTransfer.Export.class, RunStateTransfer.Import.class},
    mixinStandardHelpOptions = true)
final class RunsCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  @Command(name = "show", description = "Show a run's latest state (from the compacted topic turnpike.run-state), or, for"
      + " a request refused at submission, its FAILED result. Exit code 1 for an unknown run.",
      mixinStandardHelpOptions = true)
  static final class Show implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;
    @Mixin
    OutputOptions output;
    @Mixin
    ConsoleOptions console;

    @Parameters(index = "0", paramLabel = "RUN_ID")
    String runId;

    @Option(names = "--full", description = "Do not shorten transcript items.")
    boolean full;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      RunReport.Found found;
      var api = console.console();
      if (api.isPresent()) {
        found = fromConsole(api.get());
      } else {
        String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name(), Topics.RUN_RESULTS.name()));
        try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
          found = RunReport.find(client, runId);
        }
      }
      if (found.wasRefused()) {
        RunResult r = found.refused();
        if (output.json()) {
          OutputOptions.print(out, JsonViews.rejected(r));
        } else {
          out.println("Run       " + r.getRunId());
          out.println("Status    " + r.getStatus() + "  (refused at submission: it never started, so it has no RunState)");
          out.println("Agent     " + (r.getAgent() == null ? "?" : r.getAgent()));
          out.println("Refused   " + RunStateFormat.time(r.getFinishedAt()));
          out.println("Error     " + r.getError());
        }
      } else if (output.json()) {
        OutputOptions.print(out, JsonViews.runWithState(found.state()));
      } else {
        out.print(RunStateFormat.format(found.state(), full, TurnpikeCli.root(spec).clock().instant()));
      }
      out.flush();
      return 0;
    }

    /** The console's {@code GET /api/runs/{id}}: the state as the console materialized it, or the refused request. */
    private RunReport.Found fromConsole(ConsoleOptions.Api api) {
      com.fasterxml.jackson.databind.JsonNode run = api.get("/api/runs/" + ConsoleOptions.Api.segment(runId));
      if (run.hasNonNull("state")) {
        return new RunReport.Found(io.turnpike.schema.RunStateJson.read(run.get("state").toString()), null);
      }
      return new RunReport.Found(null, RunResult.newBuilder().setRunId(runId)
          .setStatus(io.turnpike.avro.RunStatus.valueOf(run.path("status").asText("FAILED")))
          .setAgent(run.path("agent").asText(null)).setError(run.path("error").asText(null))
          .setTurns(run.path("turn").asInt()).setFinishedAt(java.time.Instant.parse(run.path("updatedAt").asText()))
          .build());
    }
  }

  @Command(name = "cancel", description = "Ask the runner to cancel a run. Exit code 1 when there is nothing to cancel"
      + " (unknown run, already finished, or refused at submission).", mixinStandardHelpOptions = true)
  static final class Cancel implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @Parameters(index = "0", paramLabel = "RUN_ID")
    String runId;

    @Option(names = "--reason", defaultValue = "cancelled from the turnpike CLI", description = "Why (recorded with the run).")
    String reason;
    @Mixin
    ConsoleOptions console;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      var api = console.console();
      if (api.isPresent()) {
        // The console checks the run too: an unknown one is 404, a finished one 409, both one line here.
        String commandId = api.get().post("/api/runs/" + ConsoleOptions.Api.segment(runId) + "/cancel",
            java.util.Map.of("reason", reason)).path("commandId").asText();
        out.println("cancel requested for run " + runId + " (command " + commandId + ", through the console)");
        out.flush();
        return 0;
      }
      String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name(), Topics.RUN_RESULTS.name(),
          Topics.RUN_COMMANDS.name()));
      try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
        // The runner dead-letters a command for a run it does not have, and ignores one for a finished run:
        // neither would tell the caller, so check first.
        RunState state = RunReport.requireState(client, runId);
        if (TurnpikeClient.isTerminal(state.getStatus())) {
          throw new CliException("run " + runId + " is " + state.getStatus() + "; there is nothing to cancel");
        }
        String commandId = client.cancel(runId, reason);
        out.println("cancel requested for run " + runId + " (command " + commandId + ")");
      }
      out.flush();
      return 0;
    }
  }
}
