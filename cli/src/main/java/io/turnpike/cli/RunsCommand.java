package io.turnpike.cli;

import io.turnpike.avro.RunState;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "runs", description = "Inspect and steer runs.", subcommands = {RunsListCommand.class, RunsCommand.Show.class,
    RunsMessageCommand.class, RunsCommand.Cancel.class, FilesCommand.class},
    mixinStandardHelpOptions = true)
final class RunsCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  @Command(name = "show", description = "Show a run's latest state (from the compacted topic turnpike.run-state).",
      mixinStandardHelpOptions = true)
  static final class Show implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @Parameters(index = "0", paramLabel = "RUN_ID")
    String runId;

    @Option(names = "--full", description = "Do not shorten transcript items.")
    boolean full;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name()));
      Optional<RunState> state;
      try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
        state = client.runState(runId);
      }
      if (state.isEmpty()) {
        throw new CliException("no run " + runId + " in " + Topics.RUN_STATE.name()
            + " (unknown id, not started yet, or already compacted away)");
      }
      out.print(RunStateFormat.format(state.get(), full, TurnpikeCli.root(spec).clock().instant()));
      out.flush();
      return 0;
    }
  }

  @Command(name = "cancel", description = "Ask the runner to cancel a run.", mixinStandardHelpOptions = true)
  static final class Cancel implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @Parameters(index = "0", paramLabel = "RUN_ID")
    String runId;

    @Option(names = "--reason", defaultValue = "cancelled from the turnpike CLI", description = "Why (recorded with the run).")
    String reason;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      String bootstrap = kafka.requireKafka(List.of(Topics.RUN_COMMANDS.name()));
      try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
        String commandId = client.cancel(runId, reason);
        out.println("cancel requested for run " + runId + " (command " + commandId + ")");
      }
      out.flush();
      return 0;
    }
  }
}
