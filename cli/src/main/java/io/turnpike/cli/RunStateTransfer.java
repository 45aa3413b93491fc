package io.turnpike.cli;

import io.turnpike.avro.RunState;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.RunStateJson;
import io.turnpike.schema.Topics;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code runs export} and {@code runs import}: a RunState as JSON (the SDK's {@code RunState.toJSON/fromJSON}),
 * in Avro's JSON encoding of the RunState schema ({@link RunStateJson}), the form the console downloads.
 *
 * <p>Import only reads and checks: the orchestrator keeps each run's state in its own store and takes no
 * state from outside (a RunRequest has no "resume from" field), and writing one to {@code turnpike.run-state}
 * would only make {@code runs show} disagree with the run the runner actually has.
 */
final class RunStateTransfer {
  private RunStateTransfer() {}

  @Command(name = "export", description = "Write a run's latest RunState as JSON (Avro's JSON encoding of the RunState"
      + " schema: every field, as `runs import` and the SDK's RunState.fromJSON read it).", mixinStandardHelpOptions = true)
  static final class Export implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @Parameters(index = "0", paramLabel = "RUN_ID")
    String runId;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Write it here instead of to stdout.")
    Path file;

    @Override
    public Integer call() throws IOException {
      PrintWriter out = spec.commandLine().getOut();
      String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name(), Topics.RUN_RESULTS.name()));
      RunState state;
      try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
        state = RunReport.requireState(client, runId);
      }
      String json = RunStateJson.write(state, true);
      if (file == null) {
        out.println(json);
      } else {
        Files.writeString(file, json + "\n", StandardCharsets.UTF_8);
        out.println("wrote run " + runId + " (" + state.getStatus() + ", version " + state.getVersion() + ") to " + file);
      }
      out.flush();
      return 0;
    }
  }

  @Command(name = "import", description = "Read a RunState exported as JSON, check it and print what it holds. It is not"
      + " written anywhere: the runner takes no run state from outside (see README, `runs import`).",
      mixinStandardHelpOptions = true)
  static final class Import implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    OutputOptions output;

    @Parameters(index = "0", paramLabel = "FILE", description = "The exported JSON, or - for stdin.")
    String file;

    @Option(names = "--full", description = "Do not shorten transcript items.")
    boolean full;

    @Override
    public Integer call() throws IOException {
      PrintWriter out = spec.commandLine().getOut();
      String text;
      try {
        text = "-".equals(file) ? new String(System.in.readAllBytes(), StandardCharsets.UTF_8)
            : Files.readString(Path.of(file), StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        throw new CliException(file + ": no such file");
      }
      RunState state;
      try {
        state = RunStateJson.read(text);
      } catch (IllegalArgumentException e) {
        throw new CliException(("-".equals(file) ? "stdin" : file) + ": " + e.getMessage());
      }
      if (output.json()) {
        OutputOptions.print(out, JsonViews.run(state));
      } else {
        out.print(RunStateFormat.format(state, full, TurnpikeCli.root(spec).clock().instant()));
        out.println();
        out.println("A valid RunState (schema version " + state.getSchemaVersion() + ", version " + state.getVersion()
            + "); checked only: the runner takes no run state from outside.");
      }
      out.flush();
      return 0;
    }
  }
}
