package io.turnpike.cli;

import io.turnpike.avro.RunState;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code runs follow} and {@code runs history}: the steps of any run, whoever started it (they read the
 * run's partition of {@code turnpike.turn-events} from its start).
 */
final class RunStepsCommand {
  private RunStepsCommand() {}

  @Command(name = "follow", description = "Print a run's steps from its start and as they happen, until it finishes or"
      + " waits for an approval. Exit code 0 COMPLETED, 3 INTERRUPTED, 1 otherwise (also for an unknown run).",
      mixinStandardHelpOptions = true)
  static final class Follow implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;
    @Mixin
    OutputOptions output;

    @Parameters(index = "0", paramLabel = "RUN_ID")
    String runId;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "5m", description = "How long to wait for it to"
        + " finish or wait for an approval (default ${DEFAULT-VALUE}).")
    String timeout;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      Duration wait = RunCommand.duration(timeout, "--timeout");
      String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name(), Topics.RUN_RESULTS.name(),
          Topics.TURN_EVENTS.name()));
      try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
        RunReport.Found found = RunReport.find(client, runId);
        if (found.wasRefused()) {
          if (output.json()) {
            OutputOptions.print(out, Map.of("run", JsonViews.rejected(found.refused())));
            return 1;
          }
          throw new CliException(found.refusal());
        }
        return RunReport.follow(out, client, found.state(), null, wait, TurnpikeCli.root(spec).clock().instant(),
            output.json());
      }
    }
  }

  @Command(name = "history", description = "Print every step a run has taken so far, in order (one line each; -o json:"
      + " {\"runId\", \"events\": [{\"seq\", \"type\", \"at\", \"turn\", \"agent\", \"summary\"}]}).",
      mixinStandardHelpOptions = true)
  static final class History implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;
    @Mixin
    OutputOptions output;

    @Parameters(index = "0", paramLabel = "RUN_ID")
    String runId;

    @Option(names = "--read-budget", paramLabel = "DURATION", defaultValue = "30s", description = "Give up reading after"
        + " this long, saying how far it got (default ${DEFAULT-VALUE}).")
    String budget;
    @Mixin
    ConsoleOptions console;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      Duration readBudget = RunCommand.duration(budget, "--read-budget");
      var api = console.console();
      if (api.isPresent()) {
        return fromConsole(out, api.get());
      }
      String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name(), Topics.RUN_RESULTS.name(),
          Topics.TURN_EVENTS.name()));
      EventFormat fmt = new EventFormat(false);
      try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
        RunReport.Found found = RunReport.find(client, runId);
        List<TurnEvent> events = found.wasRefused() ? List.of() : client.history(runId, readBudget);
        if (output.json()) {
          Map<String, Object> doc = new LinkedHashMap<>();
          doc.put("runId", runId);
          doc.put("status", found.wasRefused() ? found.refused().getStatus().name() : found.state().getStatus().name());
          doc.put("events", events.stream().map(e -> JsonViews.step(e, fmt)).toList());
          OutputOptions.print(out, doc);
          return 0;
        }
        if (found.wasRefused()) {
          out.println(found.refusal() + ": it has no steps");
          out.flush();
          return 0;
        }
        RunState state = found.state();
        out.println("Run " + runId + " (" + state.getAgent().getName() + "@" + state.getAgent().getVersion() + ", "
            + state.getStatus() + "): " + events.size() + " step" + (events.size() == 1 ? "" : "s"));
        events.forEach(e -> out.println(RunStateFormat.time(e.getAt()) + fmt.format(e)));
        out.flush();
        return 0;
      }
    }

    /** The console's {@code GET /api/runs/{id}/history}: the same fields, with the console's own summaries. */
    private int fromConsole(PrintWriter out, ConsoleOptions.Api api) {
      com.fasterxml.jackson.databind.JsonNode history = api.get("/api/runs/" + ConsoleOptions.Api.segment(runId)
          + "/history");
      com.fasterxml.jackson.databind.JsonNode events = history.path("events");
      if (output.json()) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("runId", runId);
        doc.put("events", events);
        OutputOptions.print(out, doc);
        return 0;
      }
      out.println("Run " + runId + ": " + events.size() + " step" + (events.size() == 1 ? "" : "s"));
      for (com.fasterxml.jackson.databind.JsonNode e : events) {
        out.println(RunStateFormat.time(java.time.Instant.parse(e.path("at").asText())) + "  #"
            + Text.pad(e.path("seq").asText(), 3) + " turn " + Text.pad(e.path("turn").asText(), 2)
            + e.path("summary").asText());
      }
      out.flush();
      return 0;
    }
  }
}
