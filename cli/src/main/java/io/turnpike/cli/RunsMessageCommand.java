package io.turnpike.cli;

import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
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

@Command(name = "message", description = "Add a user message to a run: a COMPLETED run continues with it; a RUNNING or"
    + " INTERRUPTED run gets it with its next model call.", mixinStandardHelpOptions = true)
final class RunsMessageCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;
  @Mixin
  KafkaOptions kafka;

  @Parameters(index = "0", paramLabel = "RUN_ID")
  String runId;

  @Parameters(index = "1", paramLabel = "TEXT", description = "The user's message.")
  String text;

  @Option(names = {"-f", "--follow"}, description = "Then print the run's steps until it finishes or waits for an"
      + " approval (exit code 0 COMPLETED, 3 INTERRUPTED, 1 otherwise).")
  boolean follow;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "5m", description = "With --follow: how long to"
      + " wait (default ${DEFAULT-VALUE}).")
  String timeout;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Duration wait = RunCommand.duration(timeout, "--timeout");
    if (text.isBlank()) {
      throw new CliException("the message is empty", 2);
    }
    String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name(), Topics.RUN_COMMANDS.name(),
        Topics.TURN_EVENTS.name()));
    try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
      RunState state = RunReport.requireState(client, runId);
      RunStatus status = state.getStatus();
      if (TurnpikeClient.isTerminal(status) && status != RunStatus.COMPLETED) {
        throw new CliException("run " + runId + " is " + status + "; only RUNNING, INTERRUPTED or COMPLETED runs take"
            + " messages (start a new run instead)");
      }
      String commandId = client.sendMessage(runId, text);
      out.println("message sent to run " + runId + " (command " + commandId + "): " + (status == RunStatus.COMPLETED
          ? "the run continues with it"
          : "the run is " + status + "; the model gets it with its next call"));
      out.flush();
      if (!follow) {
        return 0;
      }
      return RunReport.follow(out, client, state, wait, TurnpikeCli.root(spec).clock().instant());
    }
  }
}
