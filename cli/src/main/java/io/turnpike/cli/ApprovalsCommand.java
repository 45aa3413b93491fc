package io.turnpike.cli;

import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunState;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "approvals", description = "Tool calls waiting for a human decision (runs that are INTERRUPTED).",
    subcommands = ApprovalsCommand.ListApprovals.class, mixinStandardHelpOptions = true)
final class ApprovalsCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  @Command(name = "list", description = "List every pending approval of every run, oldest first (from the compacted"
      + " topic turnpike.run-state, latest state per run).", mixinStandardHelpOptions = true)
  static final class ListApprovals implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;
    @Mixin
    OutputOptions output;
    @Mixin
    ConsoleOptions console;

    @Option(names = "--agent", paramLabel = "NAME", description = "Only runs of this agent.")
    String agent;

    private record Row(RunState run, PendingApproval approval) {}

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      var api = console.console();
      if (api.isPresent()) {
        return fromConsole(out, api.get());
      }
      String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name()));
      Map<String, RunState> runs;
      try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
        runs = client.runStates();
      }
      List<Row> rows = new ArrayList<>();
      for (RunState s : runs.values()) {
        if (TurnpikeClient.isTerminal(s.getStatus()) || (agent != null && !agent.equals(s.getAgent().getName()))) {
          continue;
        }
        s.getApprovals().forEach(a -> rows.add(new Row(s, a)));
      }
      rows.sort(Comparator.comparing((Row r) -> r.approval().getRequestedAt()).thenComparing(r -> r.approval().getCallId()));
      if (output.json()) {
        OutputOptions.print(out, Map.of("approvals", rows.stream().map(r -> JsonViews.approval(r.run(), r.approval())).toList()));
        return 0;
      }
      if (rows.isEmpty()) {
        out.println("no tool calls are waiting for approval" + (agent == null ? "" : " in runs of " + agent));
        out.flush();
        return 0;
      }
      Instant now = TurnpikeCli.root(spec).clock().instant();
      int callW = Math.max(9, rows.stream().mapToInt(r -> r.approval().getCallId().length()).max().orElse(9) + 2);
      int toolW = Math.max(6, rows.stream().mapToInt(r -> r.approval().getTool().length()).max().orElse(6) + 2);
      int agentW = Math.max(7, rows.stream().mapToInt(r -> agentOf(r.run()).length()).max().orElse(7) + 2);
      out.println(Text.pad("RUN ID", 38) + Text.pad("CALL ID", callW) + Text.pad("AGENT", agentW) + Text.pad("TOOL", toolW)
          + Text.pad("WAITING SINCE", 31) + Text.pad("REASON", 42) + "ARGUMENTS");
      for (Row r : rows) {
        PendingApproval a = r.approval();
        out.println(Text.pad(r.run().getRunId(), 38) + Text.pad(a.getCallId(), callW) + Text.pad(agentOf(r.run()), agentW)
            + Text.pad(a.getTool(), toolW)
            + Text.pad(RunStateFormat.time(a.getRequestedAt()) + " (" + RunStateFormat.ago(a.getRequestedAt(), now) + ")", 31)
            + Text.pad(Text.oneLine(a.getReason(), 40), 42) + Text.oneLine(a.getArguments(), 60));
      }
      long runCount = rows.stream().map(r -> r.run().getRunId()).distinct().count();
      childNotes(rows.stream().map(Row::run).toList()).forEach(out::println);
      out.println();
      out.println(rows.size() + " call" + (rows.size() == 1 ? "" : "s") + " waiting in " + runCount + " run"
          + (runCount == 1 ? "" : "s") + ". Decide with:");
      out.println("  turnpike approve <RUN ID> <CALL ID> [--always]");
      out.println("  turnpike reject <RUN ID> <CALL ID> --message \"why\" [--always]");
      out.flush();
      return 0;
    }

    /** The console's {@code GET /api/approvals} (oldest first), in the shape the topic path prints. */
    private int fromConsole(PrintWriter out, ConsoleOptions.Api api) {
      List<Map<String, Object>> rows = new ArrayList<>();
      for (com.fasterxml.jackson.databind.JsonNode a : api.get("/api/approvals")) {
        if (agent != null && !agent.equals(a.path("agent").asText(null))) {
          continue;
        }
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("runId", a.path("runId").asText());
        m.put("callId", a.path("callId").asText());
        m.put("agent", a.path("agent").asText(null));
        m.put("tool", a.path("tool").asText());
        m.put("arguments", a.path("arguments").asText());
        m.put("reason", a.path("reason").asText(null));
        m.put("requestedAt", a.path("since").asText());
        rows.add(m);
      }
      if (output.json()) {
        OutputOptions.print(out, Map.of("approvals", rows));
        return 0;
      }
      if (rows.isEmpty()) {
        out.println("no tool calls are waiting for approval" + (agent == null ? "" : " in runs of " + agent));
        out.flush();
        return 0;
      }
      Instant now = TurnpikeCli.root(spec).clock().instant();
      out.println(Text.pad("RUN ID", 38) + Text.pad("CALL ID", 46) + Text.pad("TOOL", 20) + Text.pad("WAITING SINCE", 31)
          + "ARGUMENTS");
      for (Map<String, Object> r : rows) {
        Instant since = Instant.parse((String) r.get("requestedAt"));
        out.println(Text.pad((String) r.get("runId"), 38) + Text.pad((String) r.get("callId"), 46)
            + Text.pad((String) r.get("tool"), 20)
            + Text.pad(RunStateFormat.time(since) + " (" + RunStateFormat.ago(since, now) + ")", 31)
            + Text.oneLine((String) r.get("arguments"), 60));
      }
      out.println();
      out.println("Decide with:");
      out.println("  turnpike approve <RUN ID> <CALL ID> [--always]");
      out.println("  turnpike reject <RUN ID> <CALL ID> --message \"why\" [--always]");
      out.flush();
      return 0;
    }

    /** A child run (an agent called as a tool) waiting here holds up its parent's call too: say which. */
    static List<String> childNotes(List<RunState> waiting) {
      java.util.Map<String, RunState> children = new java.util.LinkedHashMap<>();
      waiting.stream().filter(s -> s.getParent() != null).forEach(s -> children.putIfAbsent(s.getRunId(), s));
      return children.values().stream().map(c -> "(" + c.getRunId() + " is a child run: run " + c.getParent().getRunId()
          + " waits for it in its call " + c.getParent().getCallId() + ")").toList();
    }

    private static String agentOf(RunState s) {
      return s.getAgent().getName() + "@" + s.getAgent().getVersion();
    }
  }
}
