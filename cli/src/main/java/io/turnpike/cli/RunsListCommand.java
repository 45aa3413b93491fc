package io.turnpike.cli;

import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "list", description = "Recent runs, newest first (from the compacted topic turnpike.run-state, latest"
    + " state per run).", mixinStandardHelpOptions = true)
final class RunsListCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;
  @Mixin
  KafkaOptions kafka;

  @Option(names = {"-n", "--limit"}, paramLabel = "N", defaultValue = "20", description = "At most this many runs"
      + " (default ${DEFAULT-VALUE}).")
  int limit;

  @Option(names = "--status", paramLabel = "STATUS", split = ",", description = "Only runs with these statuses"
      + " (RUNNING, INTERRUPTED, COMPLETED, FAILED, CANCELLED, GUARDRAIL_TRIPPED).")
  Set<RunStatus> statuses;

  @Option(names = "--agent", paramLabel = "NAME", description = "Only runs whose current agent is NAME.")
  String agent;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    if (limit < 1) {
      throw new CliException("--limit must be at least 1", 2);
    }
    String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name()));
    List<RunState> all;
    try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
      all = client.runStates().values().stream()
          .filter(s -> statuses == null || statuses.isEmpty() || statuses.contains(s.getStatus()))
          .filter(s -> agent == null || agent.equals(s.getAgent().getName()))
          .sorted(Comparator.comparing(RunState::getUpdatedAt).reversed().thenComparing(RunState::getRunId))
          .toList();
    }
    if (all.isEmpty()) {
      out.println("no runs" + (statuses == null && agent == null ? " yet; start one with `turnpike run <agent> \"...\"`"
          : " match"));
      out.flush();
      return 0;
    }
    List<RunState> shown = all.subList(0, Math.min(limit, all.size()));
    Instant now = TurnpikeCli.root(spec).clock().instant();
    int agentW = Math.max(7, shown.stream().mapToInt(s -> agentOf(s).length()).max().orElse(7) + 2);
    out.println(Text.pad("RUN ID", 38) + Text.pad("AGENT", agentW) + Text.pad("STATUS", 19) + Text.pad("TURNS", 7)
        + Text.pad("UPDATED", 31) + "INPUT");
    for (RunState s : shown) {
      String status = s.getStatus() + (s.getApprovals().isEmpty() ? "" : " (" + s.getApprovals().size() + ")");
      out.println(Text.pad(s.getRunId(), 38) + Text.pad(agentOf(s), agentW) + Text.pad(status, 19)
          + Text.pad(String.valueOf(s.getTurn()), 7)
          + Text.pad(RunStateFormat.time(s.getUpdatedAt()) + " (" + RunStateFormat.ago(s.getUpdatedAt(), now) + ")", 31)
          + (s.getParent() == null ? "" : "(child of " + s.getParent().getRunId() + ") ") + Text.quoted(s.getInput(), 50));
    }
    if (all.size() > shown.size()) {
      out.println("(" + (all.size() - shown.size()) + " older runs not shown; use --limit)");
    }
    out.flush();
    return 0;
  }

  private static String agentOf(RunState s) {
    return s.getAgent().getName() + "@" + s.getAgent().getVersion();
  }
}
