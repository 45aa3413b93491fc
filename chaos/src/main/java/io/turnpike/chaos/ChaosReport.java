package io.turnpike.chaos;

import io.turnpike.avro.RunStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * What a chaos run shows, computed from the topics ({@link TopicAudit}) and the fleet's own record
 * (faults, group samples, exits): the issue's invariants — every run exactly one final result, none
 * FAILED, no step repeated, every hostile record in the dead letters — and the recovery figures.
 */
public final class ChaosReport {
  /** A rebalance at least this long is reported as a stall. */
  public static final Duration STALL = Duration.ofSeconds(30);
  /** The issue's target for a run to move again after a runner is killed. */
  public static final Duration RECOVERY_TARGET = Duration.ofSeconds(15);

  /** The median and the maximum of some waits, in millis. */
  public record Spread(int n, long p50, long max) {
    static Spread of(Collection<Long> values) {
      if (values.isEmpty()) {
        return new Spread(0, -1, -1);
      }
      List<Long> sorted = values.stream().sorted().toList();
      return new Spread(sorted.size(), sorted.get((sorted.size() - 1) / 2), sorted.get(sorted.size() - 1));
    }

    String seconds() {
      return n == 0 ? "n/a" : String.format(Locale.ROOT, "%.1f / %.1f s", p50 / 1000.0, max / 1000.0);
    }
  }

  /** A run that finished other than COMPLETED, with the fault that came before its end. */
  public record FailedRun(String runId, RunStatus status, String error, String context) {}

  /** A step (or a request) seen more than once for a run. */
  public record Repeat(String runId, String what, List<TopicAudit.Step> steps) {}

  /**
   * What one kill did to the runs.
   *
   * @param measure       what was timed: calls to the killed part, or the runs it owned, or all runs in flight;
   *                      each counted from the kill, or from the call or the submission if that came later,
   *                      as long as it came before the part was back
   * @param waitMillis    per call or run hit: from the kill (or the call, if later) to its answer / next step
   * @param unanswered    hit calls or runs that never moved again
   * @param groupBackMs   kill → the part's group stable again without the dead member (null: no group)
   * @param fromReadyMillis broker only: from the broker being ready again to each run's next step
   * @param firstStepAfterReadyMs broker only: from ready to the first step of any run
   */
  public record FaultImpact(FaultRecord fault, String measure, List<Long> waitMillis, List<String> unanswered,
      Long groupBackMs, List<Long> fromReadyMillis, Long firstStepAfterReadyMs) {
    public Spread waits() {
      return Spread.of(waitMillis);
    }

    /** Null unless the fault was the broker's. */
    public Spread fromReady() {
      return fromReadyMillis == null ? null : Spread.of(fromReadyMillis);
    }
  }

  /** A group rebalancing for a long time. */
  public record Stall(String group, long start, long millis, String state, int members) {}

  private final ChaosEvidence e;
  private final List<String> runIds;
  private final Map<String, RunSubmitter.Submission> submissions = new LinkedHashMap<>();
  private final Map<RunStatus, Integer> statusCounts = new EnumMap<>(RunStatus.class);
  private final List<String> lost = new ArrayList<>();
  private final List<String> duplicated = new ArrayList<>();
  private final List<FailedRun> notCompleted = new ArrayList<>();
  private final List<String> degraded = new ArrayList<>();
  private final List<Repeat> repeatedSteps = new ArrayList<>();
  private final List<Repeat> repeatedRequests = new ArrayList<>();
  private final List<FaultImpact> impacts = new ArrayList<>();
  private final List<HostileRecords.Injected> hostileMissing = new ArrayList<>();
  private final Map<String, Integer> otherDeadLetters = new TreeMap<>();
  private final List<String> badRequestsWithoutResult = new ArrayList<>();
  private final List<Stall> rebalances = new ArrayList<>();
  private int hostileFound;
  private int completed;

  private ChaosReport(ChaosEvidence e) {
    this.e = e;
    e.submissions().forEach(s -> submissions.put(s.runId(), s));
    this.runIds = List.copyOf(submissions.keySet());
    classifyRuns();
    findRepeats();
    e.faults().forEach(f -> impacts.add(impact(f)));
    checkHostileRecords();
    e.rebalances().forEach((group, intervals) -> intervals.stream().filter(i -> i.millis() >= 1000).forEach(i ->
        rebalances.add(new Stall(group, i.start(), i.millis(), i.first().state(), i.first().members().size()))));
  }

  public static ChaosReport of(ChaosEvidence evidence) {
    return new ChaosReport(evidence);
  }

  public ChaosEvidence evidence() {
    return e;
  }

  public int submitted() {
    return runIds.size();
  }

  public int completed() {
    return completed;
  }

  public int failed() {
    return statusCounts.getOrDefault(RunStatus.FAILED, 0);
  }

  public List<String> lost() {
    return List.copyOf(lost);
  }

  public List<String> duplicated() {
    return List.copyOf(duplicated);
  }

  public List<FailedRun> notCompleted() {
    return List.copyOf(notCompleted);
  }

  public List<Repeat> repeatedSteps() {
    return List.copyOf(repeatedSteps);
  }

  public List<HostileRecords.Injected> hostileMissing() {
    return List.copyOf(hostileMissing);
  }

  public List<FaultImpact> impacts() {
    return List.copyOf(impacts);
  }

  /** Rebalances of {@link #STALL} or longer. */
  public List<Stall> stalls() {
    return rebalances.stream().filter(s -> s.millis() >= STALL.toMillis()).toList();
  }

  /** Per runner kill: the runs it owned, from the kill to their next step; all runner kills pooled. */
  public Spread runnerRecovery() {
    List<Long> waits = new ArrayList<>();
    impacts.stream().filter(i -> i.fault().part().isRunner()).forEach(i -> waits.addAll(i.waitMillis()));
    return Spread.of(waits);
  }

  /** The issue's invariants that this run broke, one line each; empty when it held them all. */
  public List<String> violations() {
    List<String> v = new ArrayList<>();
    if (!lost.isEmpty()) {
      v.add(lost.size() + " of " + submitted() + " runs have no final result (lost): " + head(lost));
    }
    if (!duplicated.isEmpty()) {
      v.add(duplicated.size() + " runs have more than one final result: " + head(duplicated));
    }
    if (!notCompleted.isEmpty()) {
      v.add(notCompleted.size() + " runs ended other than COMPLETED (nothing in these runs fails unless a fault makes it): "
          + head(notCompleted.stream().map(f -> f.runId() + " " + f.status()).toList()));
    }
    if (!degraded.isEmpty()) {
      v.add(degraded.size() + " runs COMPLETED with an answer that lacks a tool's real output (the tool answered with an"
          + " error or a timeout instead): " + head(degraded));
    }
    if (!repeatedSteps.isEmpty()) {
      v.add(repeatedSteps.size() + " repeated steps (one seq written twice): "
          + head(repeatedSteps.stream().map(r -> r.runId() + " " + r.what()).toList()));
    }
    if (!hostileMissing.isEmpty()) {
      v.add(hostileMissing.size() + " of " + e.injected().size() + " hostile records are not in turnpike.dead-letters: "
          + head(hostileMissing.stream().map(h -> h.kind() + " on " + h.topic()).toList()));
    }
    return v;
  }

  // ------------------------------------------------------------------------------------ analysis

  private void classifyRuns() {
    for (String runId : runIds) {
      List<TopicAudit.Result> finals = e.topics().results(runId).stream().filter(TopicAudit.Result::isFinal).toList();
      if (finals.isEmpty()) {
        lost.add(runId);
        continue;
      }
      if (finals.size() > 1) {
        duplicated.add(runId);
      }
      TopicAudit.Result first = finals.get(0);
      statusCounts.merge(first.status(), 1, Integer::sum);
      if (first.status() == RunStatus.COMPLETED) {
        completed++;
        if (!ChaosScript.answerUsesBothTools(first.finalOutput())) {
          degraded.add(runId);
        }
      } else {
        notCompleted.add(new FailedRun(runId, first.status(), first.error(), context(first.finishedAt())));
      }
    }
  }

  private void findRepeats() {
    for (String runId : runIds) {
      Map<Long, List<TopicAudit.Step>> bySeq = new TreeMap<>();
      Map<String, List<TopicAudit.Step>> byRequest = new TreeMap<>();
      for (TopicAudit.Step s : e.topics().steps(runId)) {
        bySeq.computeIfAbsent(s.seq(), k -> new ArrayList<>()).add(s);
        if (s.kind().equals("ModelCallRequested") || s.kind().equals("ToolCallRequested")) {
          byRequest.computeIfAbsent(s.kind() + " " + s.callId() + " attempt " + s.attempt(), k -> new ArrayList<>()).add(s);
        }
      }
      bySeq.forEach((seq, steps) -> {
        if (steps.size() > 1) {
          repeatedSteps.add(new Repeat(runId, "seq " + seq + " " + steps.stream().map(TopicAudit.Step::kind).toList(), steps));
        }
      });
      byRequest.forEach((what, steps) -> {
        if (steps.size() > 1) {
          repeatedRequests.add(new Repeat(runId, what, steps));
        }
      });
    }
  }

  private FaultImpact impact(FaultRecord f) {
    long tk = f.killedAt();
    Long groupBack = groupBack(f);
    long windowEnd = Math.max(f.backAt() == null ? e.endedAt() : f.backAt(), groupBack == null ? 0 : tk + groupBack);
    return switch (f.part()) {
      case TOOL_WORKER -> calls(f, groupBack, windowEnd, "calls to " + ChaosScript.WEATHER_TOOL,
          s -> s.kind().equals("ToolCallRequested") && ChaosScript.WEATHER_TOOL.equals(s.detail()), Set.of("ToolCallCompleted"));
      case SANDBOX -> calls(f, groupBack, windowEnd, "calls to " + ChaosScript.SANDBOX_TOOL,
          s -> s.kind().equals("ToolCallRequested") && ChaosScript.SANDBOX_TOOL.equals(s.detail()), Set.of("ToolCallCompleted"));
      case GUARDRAIL -> calls(f, groupBack, windowEnd, "guardrail checks",
          s -> s.kind().equals("GuardrailCheckRequested"), Set.of("GuardrailChecked"));
      case MODEL -> calls(f, groupBack, windowEnd, "model calls",
          s -> s.kind().equals("ModelCallRequested"), Set.of("ModelResponded", "ModelFailed"));
      case RUNNER_1, RUNNER_2 -> runsInFlight(f, groupBack, windowEnd, "runs on its partitions "
          + new java.util.TreeSet<>(f.victimPartitions()), s -> f.victimPartitions().contains(s.partition()));
      default -> runsInFlight(f, groupBack, windowEnd, "runs in flight", s -> true);
    };
  }

  /** Calls to the killed part that were outstanding at the kill or asked for before it was back, until answered. */
  private FaultImpact calls(FaultRecord f, Long groupBack, long windowEnd, String measure,
      Predicate<TopicAudit.Step> request, Set<String> answers) {
    long tk = f.killedAt();
    List<Long> waits = new ArrayList<>();
    List<String> unanswered = new ArrayList<>();
    for (String runId : runIds) {
      List<TopicAudit.Step> steps = e.topics().steps(runId);
      Set<String> seen = new HashSet<>();
      for (TopicAudit.Step r : steps) {
        if (!request.test(r) || r.at() > windowEnd || seen.contains(r.callId())) {
          continue;
        }
        TopicAudit.Step answer = steps.stream().filter(s -> s.seq() > r.seq() && answers.contains(s.kind())
            && r.callId().equals(s.callId())).findFirst().orElse(null);
        if (answer != null && answer.at() < tk) {
          continue; // answered before the kill
        }
        seen.add(r.callId());
        if (answer == null) {
          unanswered.add(runId + " " + r.callId());
        } else {
          waits.add(answer.at() - Math.max(r.at(), tk));
        }
      }
    }
    return new FaultImpact(f, measure, List.copyOf(waits), unanswered, groupBack, null, null);
  }

  /**
   * Runs (those matching {@code owned}) that were in flight at the kill or submitted before the part was
   * back: from the kill, or their submission if later, to their next step.
   */
  private FaultImpact runsInFlight(FaultRecord f, Long groupBack, long windowEnd, String measure,
      Predicate<RunSubmitter.Submission> owned) {
    long tk = f.killedAt();
    List<Long> waits = new ArrayList<>();
    List<Long> fromReady = new ArrayList<>();
    List<String> unanswered = new ArrayList<>();
    for (String runId : runIds) {
      RunSubmitter.Submission sub = submissions.get(runId);
      if (sub.submittedAt() >= windowEnd || !owned.test(sub)) {
        continue;
      }
      long from = Math.max(tk, sub.submittedAt());
      List<TopicAudit.Step> steps = e.topics().steps(runId);
      boolean finished = steps.stream().anyMatch(s -> s.at() < from && s.kind().equals("RunFinished"));
      if (finished) {
        continue;
      }
      TopicAudit.Step next = steps.stream().filter(s -> s.at() >= from).findFirst().orElse(null);
      if (next == null) {
        unanswered.add(runId);
        continue;
      }
      waits.add(next.at() - from);
      if (f.ready()) {
        fromReady.add(Math.max(0, next.at() - f.readyAt()));
      }
    }
    Long firstAfterReady = null;
    if (f.part() == Part.BROKER && f.ready()) {
      firstAfterReady = runIds.stream().flatMap(id -> e.topics().steps(id).stream()).mapToLong(TopicAudit.Step::at)
          .filter(at -> at >= f.readyAt()).min().stream().map(at -> at - f.readyAt()).boxed().findFirst().orElse(null);
    }
    return new FaultImpact(f, measure, List.copyOf(waits), unanswered, groupBack,
        f.part() == Part.BROKER ? List.copyOf(fromReady) : null, firstAfterReady);
  }

  /** From the kill until the part's group was stable again without the dead member (and, for a runner, with its partitions owned). */
  private Long groupBack(FaultRecord f) {
    if (f.group() == null || f.victimMembers().isEmpty()) {
      return null;
    }
    for (GroupWatch.Sample s : e.groupHistories().getOrDefault(f.group(), List.of())) {
      if (s.at() < f.killedAt() || !s.stable() || s.members().isEmpty()) {
        continue;
      }
      boolean deadGone = s.members().stream().noneMatch(m -> f.victimMembers().contains(m.memberId()));
      Set<Integer> owned = new HashSet<>();
      s.members().forEach(m -> owned.addAll(m.partitions()));
      if (deadGone && owned.containsAll(f.victimPartitions())) {
        return s.at() - f.killedAt();
      }
    }
    return null;
  }

  private void checkHostileRecords() {
    Map<String, Integer> found = new HashMap<>();
    for (TopicAudit.DeadLetterSeen d : e.topics().deadLetters()) {
      found.merge(d.sourceTopic() + "-" + d.sourcePartition() + "@" + d.sourceOffset(), 1, Integer::sum);
    }
    Set<String> injectedKeys = new HashSet<>();
    for (HostileRecords.Injected h : e.injected()) {
      String k = h.topic() + "-" + h.partition() + "@" + h.offset();
      injectedKeys.add(k);
      if (found.containsKey(k)) {
        hostileFound++;
      } else {
        hostileMissing.add(h);
      }
      if (h.failsRun() && e.topics().results(h.key()).stream().noneMatch(r -> r.status() == RunStatus.FAILED)) {
        badRequestsWithoutResult.add(h.kind() + " (" + h.key() + ")");
      }
    }
    for (TopicAudit.DeadLetterSeen d : e.topics().deadLetters()) {
      if (!injectedKeys.contains(d.sourceTopic() + "-" + d.sourcePartition() + "@" + d.sourceOffset())) {
        otherDeadLetters.merge(d.sourceTopic() + ": " + TopicAudit.abbreviate(normalize(d.reason()), 140), 1, Integer::sum);
      }
    }
  }

  /** "(12.3 s after kill -9 tool-worker)": the last fault before {@code at}. */
  private String context(long at) {
    FaultRecord last = null;
    for (FaultRecord f : e.faults()) {
      if (f.killedAt() <= at && (last == null || f.killedAt() > last.killedAt())) {
        last = f;
      }
    }
    return last == null ? "before any kill" : String.format(Locale.ROOT, "%.1f s after %s", (at - last.killedAt()) / 1000.0,
        last.label());
  }

  // ------------------------------------------------------------------------------------ rendering

  /** The whole report as text (paste it into bench/RESULTS.md inside a code block). */
  public String render() {
    StringBuilder sb = new StringBuilder();
    ChaosPlan p = e.plan();
    sb.append(String.format(Locale.ROOT, "CHAOS REPORT: %d runs at %.2f/s, %d partitions, session timeout %d ms; agent deadlines:"
            + " tool %d s, model %d s, guardrail %d s per attempt, default retry policy%n", submitted(), p.runsPerSecond(), p.partitions(),
        p.sessionTimeout().toMillis(), ChaosAgent.TOOL_TIMEOUT_MS / 1000, ChaosAgent.MODEL_TIMEOUT_MS / 1000,
        ChaosAgent.GUARDRAIL_TIMEOUT_MS / 1000));
    sb.append(String.format(Locale.ROOT, "fleet: %s, each its own process; logs in %s%n",
        java.util.Arrays.stream(Part.values()).map(Part::label).collect(Collectors.joining(", ")), e.dir().resolve("logs")));
    sb.append("runner process ids: ").append(e.processIds().isEmpty() ? "unknown (their group members cannot be told apart)"
        : e.processIds().toString()).append('\n');
    sb.append(String.format(Locale.ROOT, "setup %.0f s (%s); submissions until %s, faults until %s, end %s (drain up to %d s)%n%n",
        (e.startedAt() - e.setupStartedAt()) / 1000.0, e.warmUp(), t(e.submissionsEndedAt()), t(e.faultsEndedAt()),
        t(e.endedAt()), p.drainTimeout().toSeconds()));

    sb.append(String.format("RUNS       submitted %d | completed %d | failed %d | cancelled %d | guardrail-tripped %d | lost %d | duplicated %d%n",
        submitted(), completed, failed(), statusCounts.getOrDefault(RunStatus.CANCELLED, 0),
        statusCounts.getOrDefault(RunStatus.GUARDRAIL_TRIPPED, 0), lost.size(), duplicated.size()));
    sb.append(String.format("           repeated steps (a seq twice) %d | repeated requests (a call and attempt twice) %d"
        + " | completed without both tools' output in the answer %d%n", repeatedSteps.size(), repeatedRequests.size(), degraded.size()));
    if (!e.topics().undecodable().isEmpty()) {
      sb.append("           undecodable records on audited topics: ").append(e.topics().undecodable().size()).append('\n');
    }
    List<String> v = violations();
    sb.append(v.isEmpty() ? "INVARIANTS hold\n" : "INVARIANTS broken:\n");
    v.forEach(line -> sb.append("  - ").append(line).append('\n'));

    if (!notCompleted.isEmpty()) {
      sb.append("\nNOT COMPLETED, by reason\n");
      Map<String, List<FailedRun>> byReason = new TreeMap<>();
      notCompleted.forEach(f -> byReason.computeIfAbsent(f.status() + ": " + normalize(f.error()), k -> new ArrayList<>()).add(f));
      byReason.entrySet().stream().sorted(Comparator.comparingInt(en -> -en.getValue().size())).forEach(en -> {
        sb.append(String.format("  %3d x %s%n", en.getValue().size(), TopicAudit.abbreviate(en.getKey(), 220)));
        en.getValue().stream().limit(6).forEach(f -> sb.append("        ").append(f.runId()).append(" (").append(f.context()).append(")\n"));
      });
    }
    if (!lost.isEmpty()) {
      sb.append("\nLOST (no final result by the deadline): last step of each\n");
      lost.stream().limit(15).forEach(id -> sb.append("  ").append(id).append(" p").append(submissions.get(id).partition())
          .append(": ").append(lastStep(id)).append('\n'));
      if (lost.size() > 15) {
        sb.append("  ... and ").append(lost.size() - 15).append(" more\n");
      }
    }
    if (!duplicated.isEmpty()) {
      sb.append("\nDUPLICATED final results\n");
      duplicated.stream().limit(10).forEach(id -> sb.append("  ").append(id).append(": ")
          .append(e.topics().results(id).stream().filter(TopicAudit.Result::isFinal).map(r -> r.status() + "@" + r.offset()).toList())
          .append('\n'));
    }
    if (!repeatedSteps.isEmpty() || !repeatedRequests.isEmpty()) {
      sb.append("\nREPEATS\n");
      repeatedSteps.stream().limit(10).forEach(r -> sb.append("  step ").append(r.runId()).append(' ').append(r.what()).append('\n'));
      repeatedRequests.stream().limit(10).forEach(r -> sb.append("  request ").append(r.runId()).append(' ').append(r.what())
          .append(" at ").append(r.steps().stream().map(s -> t(s.at())).toList()).append('\n'));
    }
    if (!degraded.isEmpty()) {
      sb.append("\nCOMPLETED WITHOUT BOTH TOOL OUTPUTS (a tool answered with an error or a timeout)\n");
      degraded.stream().limit(8).forEach(id -> sb.append("  ").append(id).append(": ")
          .append(TopicAudit.abbreviate(e.topics().results(id).get(0).finalOutput(), 200)).append('\n'));
    }

    sb.append("\nFAULTS (t+0 = first submission; waits are p50 / max)\n");
    sb.append(String.format("  %-8s %-72s %4s %9s %9s  %-40s %-15s %s%n", "at", "fault", "exit", "ready", "group ok",
        "what was hit", "waited", "never moved"));
    for (Timeline.Incident h : e.incidents()) {
      if (h.kind() == Timeline.Kind.HOSTILE) {
        sb.append(String.format("  %-8s %s%n", t(h.at()), h.detail()));
      }
    }
    for (FaultImpact i : impacts) {
      FaultRecord f = i.fault();
      sb.append(String.format(Locale.ROOT, "  %-8s %-72s %4s %9s %9s  %-40s %-15s %s%n", t(f.killedAt()),
          TopicAudit.abbreviate(f.label(), 72), f.exitStatus(),
          f.ready() ? secs(f.readyAt() - f.killedAt()) : FaultRecord.KILLED_AGAIN.equals(f.readyProblem()) ? "re-killed" : "NOT READY",
          i.groupBackMs() == null ? (f.group() == null ? "-" : "not seen") : secs(i.groupBackMs()),
          i.waits().n() + " " + TopicAudit.abbreviate(i.measure(), 36), i.waits().seconds(),
          i.unanswered().isEmpty() ? "0" : i.unanswered().size() + " " + head(i.unanswered())));
      if (!f.ready() && !FaultRecord.KILLED_AGAIN.equals(f.readyProblem())) {
        sb.append("           not ready: ").append(f.readyProblem()).append('\n');
      }
      List<String> overlapping = overlapping(f);
      if (!overlapping.isEmpty()) {
        sb.append("           overlaps (down at the same time): ").append(String.join(", ", overlapping)).append('\n');
      }
      if (f.part().isRunner()) {
        sb.append("           group ").append(f.group()).append(" was ").append(f.groupStateAtKill()).append(" at the kill; ")
            .append(f.victimMembers().size()).append(" member(s) died with it\n");
      }
      if (!f.sigkill()) {
        sb.append("           exit status is not 137: the process did not die of SIGKILL\n");
      }
    }

    sb.append("\nRECOVERY (target: a killed runner's runs move again within ").append(RECOVERY_TARGET.toSeconds()).append(" s)\n");
    Spread runners = runnerRecovery();
    sb.append("  runner kill -9 -> next step of its runs: p50 / max ").append(runners.seconds()).append(" (")
        .append(runners.n()).append(" runs over ").append(impacts.stream().filter(i -> i.fault().part().isRunner()).count())
        .append(" kills)\n");
    impacts.stream().filter(i -> i.fault().label().contains("failover")).forEach(i -> sb.append("  failover with two runners ("
        + i.fault().part() + " killed): group settled without it in "
        + (i.groupBackMs() == null ? "not seen" : secs(i.groupBackMs())) + "; its runs' next step " + i.waits().seconds() + "\n"));
    impacts.stream().filter(i -> i.fault().part() == Part.BROKER).forEach(i -> sb.append("  " + i.fault().label() + ": restart (kill -> ready) "
        + (i.fault().ready() ? secs(i.fault().readyAt() - i.fault().killedAt()) : "NOT READY")
        + ", first step of any run after ready " + (i.firstStepAfterReadyMs() == null ? "none" : secs(i.firstStepAfterReadyMs()))
        + ", runs in flight: next step after kill " + i.waits().seconds() + ", after ready "
        + (i.fromReady() == null ? "n/a" : i.fromReady().seconds()) + "\n"));

    sb.append("\nCONSUMER GROUPS (rebalances of 1 s or more; ").append(STALL.toSeconds()).append(" s or more is a STALL)\n");
    for (String group : e.rebalances().keySet()) {
      List<Stall> mine = rebalances.stream().filter(s -> s.group().equals(group)).toList();
      long longest = mine.stream().mapToLong(Stall::millis).max().orElse(0);
      sb.append(String.format(Locale.ROOT, "  %-28s %d rebalances >= 1 s, longest %s%n", group, mine.size(), secs(longest)));
      mine.stream().filter(s -> s.millis() >= 5000).forEach(s -> sb.append(String.format(Locale.ROOT,
          "      %s %s for %s, %d members%s%n", t(s.start()), s.state(), secs(s.millis()), s.members(),
          s.millis() >= STALL.toMillis() ? "  <-- STALL" : "")));
    }
    List<GroupWatch.Interval> outages = e.unreachable().getOrDefault(Fleet.RUNNER_APPLICATION_ID, List.of());
    if (!outages.isEmpty()) {
      sb.append("  groups could not be described (broker down): ")
          .append(outages.stream().map(o -> t(o.start()) + " for " + secs(o.millis())).toList()).append('\n');
    }

    List<Timeline.Incident> exits = e.incidents().stream().filter(h -> h.kind() == Timeline.Kind.EXITED
        || h.kind() == Timeline.Kind.NOT_READY || h.kind() == Timeline.Kind.NOTE).toList();
    sb.append("\nEXITS NOBODY ASKED FOR, PARTS NOT READY IN TIME, NOTES (").append(exits.size()).append(")\n");
    exits.forEach(h -> sb.append("  ").append(t(h.at())).append(' ').append(h.part()).append(": ")
        .append(TopicAudit.abbreviate(h.detail(), 300)).append('\n'));

    sb.append("\nERRORS IN THE PARTS' LOGS (distinct, numbers blanked)\n");
    e.logErrors().forEach((part, lines) -> {
      if (lines.isEmpty()) {
        return;
      }
      sb.append("  ").append(part).append(": ").append(lines.values().stream().mapToInt(Integer::intValue).sum()).append(" lines\n");
      lines.entrySet().stream().sorted(Comparator.comparingInt(en -> -en.getValue())).limit(6)
          .forEach(en -> sb.append(String.format("    %4d x %s%n", en.getValue(), TopicAudit.abbreviate(en.getKey(), 230))));
    });

    sb.append(String.format("%nHOSTILE RECORDS  %d written, %d found in turnpike.dead-letters, %d missing%n",
        e.injected().size(), hostileFound, hostileMissing.size()));
    hostileMissing.forEach(h -> sb.append(String.format("  missing: %-44s %s-%d@%d (%d bytes)%n", h.kind(), h.topic(),
        h.partition(), h.offset(), h.bytes())));
    long badRequests = e.injected().stream().filter(HostileRecords.Injected::failsRun).count();
    sb.append(String.format("  bad run requests answered with a FAILED RunResult: %d of %d%s%n", badRequests - badRequestsWithoutResult.size(),
        badRequests, badRequestsWithoutResult.isEmpty() ? "" : " (missing: " + head(badRequestsWithoutResult) + ")"));
    sb.append(String.format("DEAD LETTERS  %d in all; %d not from a hostile record%n", e.topics().deadLetters().size(),
        otherDeadLetters.values().stream().mapToInt(Integer::intValue).sum()));
    otherDeadLetters.entrySet().stream().sorted(Comparator.comparingInt(en -> -en.getValue())).limit(12)
        .forEach(en -> sb.append(String.format("  %3d x %s%n", en.getValue(), en.getKey())));
    return sb.toString();
  }

  /** The figures bench/RESULTS.md asks for, as a Markdown table. */
  public String renderMarkdown() {
    StringBuilder sb = new StringBuilder();
    sb.append("| runs | completed | of which without a tool's real output | failed | lost | duplicated | repeated steps"
        + " | hostile records in DLQ |\n");
    sb.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    sb.append(String.format("| %d | %d | %d | %d | %d | %d | %d | %d / %d |%n%n", submitted(), completed, degraded.size(),
        submitted() - completed - lost.size(), lost.size(), duplicated.size(), repeatedSteps.size(), hostileFound,
        e.injected().size()));
    sb.append("| recovery | p50 | max | n |\n| --- | ---: | ---: | ---: |\n");
    Spread r = runnerRecovery();
    sb.append(String.format("| runner `kill -9` -> next step of its runs | %s | %s | %d |%n", secs(r.p50()), secs(r.max()), r.n()));
    impacts.stream().filter(i -> i.fault().label().contains("failover")).forEach(i -> sb.append(String.format(
        "| failover with two runners (%s): its runs' next step | %s | %s | %d |%n", i.fault().part(), secs(i.waits().p50()),
        secs(i.waits().max()), i.waits().n())));
    impacts.stream().filter(i -> i.fault().part() == Part.BROKER).forEach(i -> sb.append(String.format(
        "| %s: restart %s; runs' next step after ready | %s | %s | %d |%n", i.fault().label(),
        i.fault().ready() ? secs(i.fault().readyAt() - i.fault().killedAt()) : "NOT READY",
        i.fromReady() == null ? "n/a" : secs(i.fromReady().p50()), i.fromReady() == null ? "n/a" : secs(i.fromReady().max()),
        i.fromReady() == null ? 0 : i.fromReady().n())));
    long longest = stalls().stream().mapToLong(Stall::millis).max().orElse(0);
    sb.append(String.format("%nLongest rebalance of `%s`: %s.%n", Fleet.RUNNER_APPLICATION_ID,
        secs(rebalances.stream().filter(s -> s.group().equals(Fleet.RUNNER_APPLICATION_ID)).mapToLong(Stall::millis).max().orElse(0))));
    if (longest > 0) {
      sb.append("Stalls (").append(STALL.toSeconds()).append(" s or more): ").append(stalls().size()).append(".\n");
    }
    return sb.toString();
  }

  @Override
  public String toString() {
    return render();
  }

  // ------------------------------------------------------------------------------------ helpers

  /** Other faults whose part was down (kill to ready) while this one's was: their effects mix. */
  private List<String> overlapping(FaultRecord f) {
    long end = f.backAt() == null ? e.endedAt() : f.backAt();
    return e.faults().stream().filter(o -> o != f)
        .filter(o -> o.killedAt() < end && (o.backAt() == null ? e.endedAt() : o.backAt()) > f.killedAt())
        .map(FaultRecord::label).toList();
  }

  private String lastStep(String runId) {
    List<TopicAudit.Step> steps = e.topics().steps(runId);
    if (steps.isEmpty()) {
      RunSubmitter.Submission s = submissions.get(runId);
      return "no step at all (submitted " + t(s.submittedAt()) + (s.ackedAt() < 0 ? ", never acknowledged: " + s.error()
          : ", acknowledged " + t(s.ackedAt())) + ")";
    }
    TopicAudit.Step last = steps.get(steps.size() - 1);
    return last.kind() + " " + (last.callId() == null ? "" : last.callId().substring(last.callId().indexOf(':') + 1) + " ")
        + (last.detail().isEmpty() ? "" : TopicAudit.abbreviate(last.detail(), 80) + " ") + "at " + t(last.at())
        + " (" + steps.size() + " steps)";
  }

  private String t(long at) {
    return String.format(Locale.ROOT, "t+%.1fs", (at - e.startedAt()) / 1000.0);
  }

  private static String secs(long millis) {
    return millis < 0 ? "n/a" : String.format(Locale.ROOT, "%.1f s", millis / 1000.0);
  }

  private static String head(List<String> items) {
    return items.size() <= 5 ? String.join(", ", items) : String.join(", ", items.subList(0, 5)) + ", ...";
  }

  /** The same failure of different runs reads the same: run ids and hostile keys are replaced. */
  static String normalize(String s) {
    if (s == null) {
      return "(no error)";
    }
    return s.replaceAll(java.util.regex.Pattern.quote(ChaosScenario.RUN_PREFIX) + "\\d{4}", "<run>")
        .replaceAll(java.util.regex.Pattern.quote(HostileRecords.KEY_PREFIX) + "[\\w-]+", "<hostile>");
  }
}
