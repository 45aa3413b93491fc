package io.turnpike.cli;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.client.agent.AgentCatalog;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.client.run.RunTimeoutException;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "run", description = "Start a run of an agent and print its result. Exit code 0 when COMPLETED, 3 when"
    + " INTERRUPTED (it waits for an approval: see `turnpike approvals list`), 1 otherwise.",
    mixinStandardHelpOptions = true)
final class RunCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;
  @Mixin
  KafkaOptions kafka;

  @Parameters(index = "0", paramLabel = "AGENT", description = "Agent name.")
  String agent;

  @Parameters(index = "1", paramLabel = "INPUT", description = "The user's message.")
  String input;

  @Option(names = {"-f", "--follow"}, description = "Print each step of the run as it happens, until it finishes or"
      + " waits for an approval.")
  boolean follow;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "5m", description = "How long to wait for the result (default ${DEFAULT-VALUE}).")
  String timeout;

  @Option(names = "--agent-version", paramLabel = "N", description = "Run this version (default: the current one).")
  Integer version;

  @Option(names = {"-m", "--meta"}, paramLabel = "KEY=VALUE", description = "Metadata for the run (repeatable).")
  Map<String, String> metadata = new LinkedHashMap<>();

  @Option(names = "--user", paramLabel = "ID", description = "Who the run is for (RunRequest.user): the memory scope of"
      + " agents with memory.scope user, and what `turnpike memory forget --user` forgets.")
  String user;

  @Option(names = "--stream", negatable = true, description = "Ask for the model's answers to be streamed (token deltas"
      + " on turnpike.model.stream as they are written); with --follow they are printed live. Default: on with --follow.")
  Boolean stream;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Duration wait = duration(timeout, "--timeout");
    String bootstrap = kafka.requireKafka(List.of(Topics.AGENTS.name(), Topics.RUN_REQUESTS.name(),
        Topics.RUN_RESULTS.name(), Topics.TURN_EVENTS.name()));
    try (AgentCatalog catalog = new AgentCatalog(bootstrap, kafka.registry()); TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
      Map<String, AgentDefinition> agents = catalog.list();
      AgentDefinition def = agents.get(agent);
      if (def == null) {
        throw new CliException("unknown agent '" + agent + "'" + (agents.isEmpty() ? " (no agents are published;"
            + " publish one with `turnpike agents apply -f agents/`)" : " (published: " + String.join(", ", agents.keySet()) + ")"));
      }
      boolean streamed = stream != null ? stream : follow;
      String runId = client.submit(RunRequest.newBuilder()
          .setRunId(UUID.randomUUID().toString())
          .setAgent(agent)
          .setAgentVersion(version)
          .setInput(input)
          .setMetadata(Map.copyOf(metadata))
          .setUser(user == null || user.isBlank() ? null : user.trim())
          .setRequestedAt(Instant.now())
          .setStream(streamed)
          .build());
      out.println("run " + runId + " submitted (" + agent + (version == null ? " v" + def.getVersion() : " v" + version) + ")");
      out.flush();
      long t0 = System.nanoTime();
      try {
        if (follow) {
          EventFormat fmt = new EventFormat(false);
          StreamPrinter printer = new StreamPrinter(out, fmt);
          // Until the run finishes, or waits for a human (ApprovalRequested, with nothing else going on); a child
          // run's steps (an agent called as a tool) are printed under the parent's when its outcome arrives.
          client.followUntilSettled(runId, null, e -> ChildRunSteps.print(client, fmt, e, "", printer::line, wait),
              streamed ? printer::delta : null, wait);
        }
        // After a follow the result is already committed (with the step that settled the run).
        Duration left = wait.minusNanos(System.nanoTime() - t0);
        Duration resultWait = !follow ? wait : left.compareTo(Duration.ofSeconds(10)) < 0 ? Duration.ofSeconds(10) : left;
        RunResult r = client.awaitResult(runId, resultWait);
        printResult(out, r, Duration.ofNanos(System.nanoTime() - t0), false);
        if (r.getStatus() == RunStatus.INTERRUPTED) {
          RunReport.printInterruptions(out, runId, r.getInterruptions(), TurnpikeCli.root(spec).clock().instant());
        }
        return RunReport.exitCode(r.getStatus());
      } catch (RunTimeoutException e) {
        throw new CliException(e.getMessage());
      }
    }
  }

  static void printResult(PrintWriter out, RunResult r, Duration took, boolean scripted) {
    out.println();
    out.println("Result: " + r.getStatus() + " after " + r.getTurns() + " turn" + (r.getTurns() == 1 ? "" : "s")
        + (r.getUsage() == null ? "" : " (" + RunStateFormat.usage(r.getUsage()) + ")")
        + " in " + String.format(java.util.Locale.ROOT, "%.1fs", took.toMillis() / 1000.0));
    if (r.getFinalOutput() != null) {
      if (scripted) {
        out.println("Final answer (from the OFFLINE SCRIPTED model, not a real LLM):");
      }
      out.println(r.getFinalOutput());
    }
    if (r.getError() != null) {
      out.println("Error: " + r.getError());
    }
    out.flush();
  }

  static Duration duration(String text, String option) {
    try {
      return AgentYaml.parseDuration(text);
    } catch (IllegalArgumentException e) {
      throw new CliException(option + ": " + e.getMessage(), 2);
    }
  }
}
