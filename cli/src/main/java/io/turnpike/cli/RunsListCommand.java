package io.turnpike.cli;

import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.client.internal.TopicReader;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.kafka.common.TopicPartition;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "list", description = "Recent runs, newest first (from the compacted topic turnpike.run-state, latest"
    + " state per run), and requests refused at submission (a FAILED result on turnpike.run-results, no state).",
    mixinStandardHelpOptions = true)
final class RunsListCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;
  @Mixin
  KafkaOptions kafka;
  @Mixin
  OutputOptions output;
  @Mixin
  ConsoleOptions console;

  @Option(names = {"-n", "--limit"}, paramLabel = "N", defaultValue = "20", description = "At most this many runs"
      + " (default ${DEFAULT-VALUE}).")
  int limit;

  @Option(names = "--status", paramLabel = "STATUS", split = ",", description = "Only runs with these statuses"
      + " (RUNNING, INTERRUPTED, COMPLETED, FAILED, CANCELLED, GUARDRAIL_TRIPPED).")
  Set<RunStatus> statuses;

  @Option(names = "--agent", paramLabel = "NAME", description = "Only runs whose current agent is NAME.")
  String agent;

  @Option(names = "--read-budget", paramLabel = "DURATION", defaultValue = "30s", description = "Give up reading the"
      + " topics after this long, saying how far it got (default ${DEFAULT-VALUE}).")
  String budget;

  /** One line of the list: a run's latest state, or the result of a request that never became a run. */
  private record Row(String runId, Instant updatedAt, RunState state, RunResult refused) {}

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    if (limit < 1) {
      throw new CliException("--limit must be at least 1", 2);
    }
    Duration readBudget = RunCommand.duration(budget, "--read-budget");
    var api = console.console();
    if (api.isPresent()) {
      return fromConsole(out, api.get());
    }
    String bootstrap = kafka.requireKafka(List.of(Topics.RUN_STATE.name(), Topics.RUN_RESULTS.name()));
    long t0 = System.nanoTime();
    List<Row> all = new ArrayList<>();
    Map<String, RunState> states;
    try (TurnpikeClient client = new TurnpikeClient(bootstrap, kafka.registry())) {
      states = client.runStates(readBudget);
    }
    states.values().stream().filter(this::matches).forEach(s -> all.add(new Row(s.getRunId(), s.getUpdatedAt(), s, null)));
    all.sort(Comparator.comparing(Row::updatedAt).reversed().thenComparing(Row::runId));
    // A refusal older than the N-th newest run cannot make the list: read results from that time on only.
    Instant since = all.size() >= limit ? all.get(limit - 1).updatedAt() : Instant.EPOCH;
    Duration left = readBudget.minusNanos(System.nanoTime() - t0);
    refused(bootstrap, since, states.keySet(), left.isNegative() ? Duration.ofSeconds(1) : left).values().stream()
        .filter(r -> (statuses == null || statuses.isEmpty() || statuses.contains(r.getStatus()))
            && (agent == null || agent.equals(r.getAgent())))
        .forEach(r -> all.add(new Row(r.getRunId(), r.getFinishedAt(), null, r)));
    all.sort(Comparator.comparing(Row::updatedAt).reversed().thenComparing(Row::runId));
    List<Row> shown = all.subList(0, Math.min(limit, all.size()));
    if (output.json()) {
      Map<String, Object> doc = new LinkedHashMap<>();
      doc.put("runs", shown.stream().map(r -> r.state() != null ? JsonViews.run(r.state()) : JsonViews.rejected(r.refused()))
          .toList());
      doc.put("omitted", all.size() - shown.size());
      OutputOptions.print(out, doc);
      return 0;
    }
    if (all.isEmpty()) {
      out.println("no runs" + (statuses == null && agent == null ? " yet; start one with `turnpike run <agent> \"...\"`"
          : " match"));
      out.flush();
      return 0;
    }
    Instant now = TurnpikeCli.root(spec).clock().instant();
    int agentW = Math.max(7, shown.stream().mapToInt(r -> agentOf(r).length()).max().orElse(7) + 2);
    out.println(Text.pad("RUN ID", 38) + Text.pad("AGENT", agentW) + Text.pad("STATUS", 19) + Text.pad("TURNS", 7)
        + Text.pad("UPDATED", 31) + "INPUT");
    for (Row r : shown) {
      String when = Text.pad(RunStateFormat.time(r.updatedAt()) + " (" + RunStateFormat.ago(r.updatedAt(), now) + ")", 31);
      if (r.refused() != null) {
        out.println(Text.pad(r.runId(), 38) + Text.pad(agentOf(r), agentW) + Text.pad(r.refused().getStatus().name(), 19)
            + Text.pad("-", 7) + when + "(refused at submission: " + Text.oneLine(r.refused().getError(), 60) + ")");
        continue;
      }
      RunState s = r.state();
      String status = s.getStatus() + (s.getApprovals().isEmpty() ? "" : " (" + s.getApprovals().size() + ")");
      out.println(Text.pad(s.getRunId(), 38) + Text.pad(agentOf(r), agentW) + Text.pad(status, 19)
          + Text.pad(String.valueOf(s.getTurn()), 7) + when
          + (s.getParent() == null ? "" : "(child of " + s.getParent().getRunId() + ") ") + Text.quoted(s.getInput(), 50));
    }
    if (all.size() > shown.size()) {
      out.println("(" + (all.size() - shown.size()) + " older runs not shown; use --limit)");
    }
    out.flush();
    return 0;
  }

  /** The console's {@code GET /api/runs}: its list is kept materialized, so nothing is read from the topics. */
  private int fromConsole(PrintWriter out, ConsoleOptions.Api api) {
    StringBuilder q = new StringBuilder("/api/runs?limit=" + limit);
    if (statuses != null && !statuses.isEmpty()) {
      q.append("&status=").append(String.join(",", statuses.stream().map(Enum::name).sorted().toList()));
    }
    if (agent != null) {
      q.append("&agent=").append(ConsoleOptions.Api.segment(agent));
    }
    com.fasterxml.jackson.databind.JsonNode page = api.get(q.toString());
    if (output.json()) {
      OutputOptions.print(out, page);
      return 0;
    }
    com.fasterxml.jackson.databind.JsonNode runs = page.path("runs");
    if (runs.isEmpty()) {
      out.println("no runs" + (statuses == null && agent == null ? " yet" : " match"));
      out.flush();
      return 0;
    }
    Instant now = TurnpikeCli.root(spec).clock().instant();
    out.println(Text.pad("RUN ID", 38) + Text.pad("AGENT", 22) + Text.pad("STATUS", 19) + Text.pad("TURNS", 7)
        + Text.pad("UPDATED", 31) + "ERROR");
    for (com.fasterxml.jackson.databind.JsonNode r : runs) {
      Instant updated = Instant.parse(r.path("updatedAt").asText());
      int waiting = r.path("pendingApprovals").asInt();
      out.println(Text.pad(r.path("runId").asText(), 38) + Text.pad(r.path("agent").asText("?"), 22)
          + Text.pad(r.path("status").asText() + (waiting == 0 ? "" : " (" + waiting + ")"), 19)
          + Text.pad(r.path("turn").asText(), 7)
          + Text.pad(RunStateFormat.time(updated) + " (" + RunStateFormat.ago(updated, now) + ")", 31)
          + Text.oneLine(r.path("error").asText(""), 60));
    }
    if (!page.path("next").isNull() && !page.path("next").isMissingNode()) {
      out.println("(older runs not shown; use --limit)");
    }
    out.flush();
    return 0;
  }

  private boolean matches(RunState s) {
    return (statuses == null || statuses.isEmpty() || statuses.contains(s.getStatus()))
        && (agent == null || agent.equals(s.getAgent().getName()));
  }

  /** Requests refused at submission since {@code since}: the newest result of each run that has no state. */
  private Map<String, RunResult> refused(String bootstrap, Instant since, Set<String> started, Duration budget) {
    long deadline = System.nanoTime() + budget.toNanos();
    Map<String, RunResult> refused = new LinkedHashMap<>();
    try (TopicReader<RunResult> reader = TopicReader.open(bootstrap, Topics.RUN_RESULTS.name(),
        io.turnpike.schema.TurnpikeSerdes.forUrl(kafka.registry()).runResult(), budget).fromTime(since)) {
      Map<TopicPartition, Long> end = reader.endOffsets();
      while (!reader.reached(end)) {
        if (System.nanoTime() > deadline) {
          throw new CliException("read budget of " + budget.toSeconds() + "s spent reading " + Topics.RUN_RESULTS.name()
              + " for requests refused at submission; raise --read-budget");
        }
        for (TopicReader.Entry<RunResult> e : reader.poll(Duration.ofMillis(200))) {
          if (e.key() != null && e.value() != null && !started.contains(e.key()) && e.value().getStatus() == RunStatus.FAILED
              && e.value().getTurns() == 0) {
            refused.put(e.key(), e.value());
          }
        }
      }
    }
    return refused;
  }

  private static String agentOf(Row r) {
    if (r.refused() != null) {
      return (r.refused().getAgent() == null ? "?" : r.refused().getAgent())
          + (r.refused().getAgentVersion() == null ? "" : "@" + r.refused().getAgentVersion());
    }
    return r.state().getAgent().getName() + "@" + r.state().getAgent().getVersion();
  }
}
