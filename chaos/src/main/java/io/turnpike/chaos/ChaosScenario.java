package io.turnpike.chaos;

import static org.awaitility.Awaitility.await;

import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.chaos.ChaosPlan.Fault;
import io.turnpike.chaos.ChaosPlan.PlannedFault;
import io.turnpike.client.agent.AgentCatalog;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.schema.SchemaRegistration;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.schema.registry.SchemaRegistries;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;
import org.awaitility.core.ConditionTimeoutException;

/**
 * A chaos run from start to report: starts the {@link Fleet}, creates the topics, registers the
 * schemas and publishes the {@link ChaosAgent}; proves the fleet completes one run; then submits the
 * plan's runs at a steady rate while it carries out the plan's faults one after the other ({@code kill
 * -9} and restart of each part, the runners as a failover followed by a kill during the rebalance,
 * the broker, hostile records); waits for the runs to finish (or the drain deadline); and builds the
 * {@link ChaosReport} from the topics.
 *
 * <p>Consumer groups are sampled all along ({@link GroupWatch}); parts that exit on their own are
 * restarted like a supervisor would, and the exit is reported.
 */
public final class ChaosScenario {
  public static final String TOOL_GROUP = ToolWorker.defaultGroupId(List.of(ChaosScript.WEATHER_TOOL));
  public static final String MODEL_GROUP = "turnpike-model-invoker";
  public static final String SANDBOX_GROUP = "turnpike-sandbox";
  public static final String GUARDRAIL_GROUP = "turnpike-guardrail-service";
  public static final String RUN_PREFIX = "chaos-";
  private static final String WARM_UP_RUN = RUN_PREFIX + "warmup";
  /** How long a runner or broker kill waits for the rest of the fleet to be ready first. */
  private static final Duration WHOLE_FLEET_WAIT = Duration.ofSeconds(30);

  private final ChaosPlan plan;
  private final Path dir;
  private final String classPath;
  private final Consumer<String> progress;

  /**
   * @param dir       where every part's log, the broker's data and the report go (kept afterwards)
   * @param classPath the class path of every part: this JVM's {@code java.class.path} when it holds the
   *                  services (a test, or {@code java -cp ...}); not Maven's own when run by {@code exec:java}
   * @param progress  receives one line per phase and per fault
   */
  public ChaosScenario(ChaosPlan plan, Path dir, String classPath, Consumer<String> progress) {
    this.plan = plan;
    this.dir = dir;
    this.classPath = classPath;
    this.progress = progress;
  }

  /** Why a chaos run cannot happen on this machine, if it cannot: the sandbox's local backend needs bubblewrap. */
  public static Optional<String> missingPrerequisite() {
    Optional<Path> bwrap = findOnPath("bwrap");
    if (bwrap.isEmpty()) {
      return Optional.of("bubblewrap (bwrap) is not on the PATH: the sandbox's local backend cannot run commands here");
    }
    try {
      Process p = new ProcessBuilder(bwrap.get().toString(), "--ro-bind", "/", "/", "--unshare-all", "true")
          .redirectErrorStream(true).start();
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return Optional.of("bubblewrap did not run a command within 20 s");
      }
      if (p.exitValue() != 0) {
        return Optional.of("bubblewrap cannot create namespaces here (exit " + p.exitValue() + "): "
            + new String(p.getInputStream().readAllBytes()).strip());
      }
      return Optional.empty();
    } catch (IOException e) {
      return Optional.of("bubblewrap cannot be started: " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.of("interrupted while checking bubblewrap");
    }
  }

  public ChaosReport run() {
    Timeline timeline = new Timeline();
    long setupStartedAt = System.currentTimeMillis();
    Fleet fleet = new Fleet(dir, plan, classPath, timeline);
    Thread cleanup = new Thread(fleet::close, "chaos-fleet-cleanup");
    Runtime.getRuntime().addShutdownHook(cleanup);
    try {
      progress.accept("chaos: " + plan.runs() + " runs at " + plan.runsPerSecond() + "/s, " + plan.faults().size()
          + " faults; every part's log in " + dir.resolve("logs"));
      fleet.startPlatform(plan.readyTimeout());
      prepareCluster(fleet);
      fleet.startServices(plan.readyTimeout());
      Map<Part, String> processIds = new EnumMap<>(Part.class);
      for (Part runner : List.of(Part.RUNNER_1, Part.RUNNER_2)) {
        fleet.runnerProcessId(runner).ifPresent(id -> processIds.put(runner, id));
      }
      progress.accept("chaos: fleet ready in " + (System.currentTimeMillis() - setupStartedAt) + " ms " + pids(fleet));
      ChaosReport report = drive(fleet, timeline, processIds, setupStartedAt);
      Files.writeString(dir.resolve("report.txt"), report.render());
      return report;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } finally {
      fleet.close();
      try {
        Runtime.getRuntime().removeShutdownHook(cleanup);
      } catch (IllegalStateException e) {
        // the JVM is already shutting down
      }
    }
  }

  private ChaosReport drive(Fleet fleet, Timeline timeline, Map<Part, String> processIds, long setupStartedAt) {
    TurnpikeSerdes serdes = TurnpikeSerdes.forUrl(fleet.registryUrl());
    String bootstrap = fleet.bootstrapServers();
    List<String> groups = List.of(Fleet.RUNNER_APPLICATION_ID, MODEL_GROUP, TOOL_GROUP, SANDBOX_GROUP, GUARDRAIL_GROUP);
    ScheduledExecutorService clock = Executors.newSingleThreadScheduledExecutor(
        r -> Thread.ofPlatform().daemon(true).name("chaos-clock").unstarted(r));
    try (GroupWatch groupWatch = new GroupWatch(bootstrap, groups).start(Duration.ofMillis(200));
         ResultWatch results = new ResultWatch(bootstrap, serdes).start();
         RunSubmitter submitter = new RunSubmitter(bootstrap, serdes, ChaosAgent.NAME, RUN_PREFIX);
         HostileRecords hostile = new HostileRecords(bootstrap, serdes, 20261210L)) {
      String warmUp = warmUp(submitter, results, fleet);
      fleet.supervise(true);
      FaultDriver driver = new FaultDriver(fleet, groupWatch, hostile, submitter, processIds, clock, timeline);

      long startedAt = System.currentTimeMillis();
      CompletableFuture<Void> submitted = submitter.submitAtRate(plan.runs(), plan.runsPerSecond());
      long lastFaultEnded = 0;
      for (PlannedFault planned : plan.faults()) {
        long due = Math.max(startedAt + planned.at().toMillis(), lastFaultEnded + plan.faultGap().toMillis());
        pause(clock, due - System.currentTimeMillis());
        driver.execute(planned.fault(), startedAt);
        lastFaultEnded = System.currentTimeMillis();
      }
      List<FaultRecord> faults = driver.faults(); // every restarted part ready again, or given up on
      long faultsEndedAt = System.currentTimeMillis();
      progress.accept("chaos: faults done at t+" + (faultsEndedAt - startedAt) / 1000 + " s; waiting for the last submissions");
      try {
        submitted.get(plan.submissionWindow().toMillis() + 600_000, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (ExecutionException | TimeoutException e) {
        progress.accept("chaos: submissions did not finish: " + e);
      }
      List<String> runIds = submitter.submissions().stream().map(RunSubmitter.Submission::runId)
          .filter(id -> !id.equals(WARM_UP_RUN)).toList();
      long submissionsEndedAt = submitter.submissions().stream().mapToLong(RunSubmitter.Submission::submittedAt).max()
          .orElse(startedAt);
      long drainDeadline = Math.max(faultsEndedAt, submissionsEndedAt) + plan.drainTimeout().toMillis();
      try {
        await().atMost(Duration.ofMillis(Math.max(1, drainDeadline - System.currentTimeMillis())))
            .pollInterval(Duration.ofMillis(500)).until(() -> results.allFinished(runIds));
      } catch (ConditionTimeoutException e) {
        // runs without a final result by the deadline are reported as lost
      }
      long endedAt = System.currentTimeMillis();
      progress.accept("chaos: " + results.finishedCount(runIds) + "/" + runIds.size() + " runs finished at t+"
          + (endedAt - startedAt) / 1000 + " s; reading the topics");
      submitter.flush();
      // after the flush: every request's partition and acknowledgement are known
      List<RunSubmitter.Submission> submissions = submitter.submissions().stream()
          .filter(sub -> !sub.runId().equals(WARM_UP_RUN)).toList();
      TopicAudit.Snapshot snapshot = TopicAudit.read(bootstrap, serdes, Duration.ofSeconds(60));
      groupWatch.close();
      Map<String, List<GroupWatch.Sample>> histories = new LinkedHashMap<>();
      groups.forEach(g -> histories.put(g, groupWatch.history(g)));
      ChaosEvidence evidence = new ChaosEvidence(plan, dir, setupStartedAt, startedAt, submissionsEndedAt, faultsEndedAt,
          endedAt, warmUp, submissions, snapshot, faults, driver.injected(), histories,
          groupIntervals(groupWatch, groups, GroupWatch.Sample::rebalancing),
          groupIntervals(groupWatch, groups, s -> GroupWatch.UNREACHABLE.equals(s.state())).entrySet().stream()
              .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey,
                  // one failed sample (a slow answer) is not an outage
                  en -> en.getValue().stream().filter(i -> i.millis() >= 1000).toList(), (a, b) -> a, LinkedHashMap::new)),
          timeline.incidents(), processIds, fleet.errorLines());
      writeEvidence(evidence);
      return ChaosReport.of(evidence);
    } finally {
      clock.shutdownNow();
    }
  }

  /** Every step of every run and every group sample, next to the report, for whoever reads a failure. */
  private void writeEvidence(ChaosEvidence evidence) {
    StringBuilder steps = new StringBuilder();
    for (RunSubmitter.Submission sub : evidence.submissions()) {
      steps.append(sub.runId()).append(" partition ").append(sub.partition()).append(" submitted ")
          .append(sub.submittedAt() - evidence.startedAt()).append(" ms\n");
      for (TopicAudit.Step st : evidence.topics().steps(sub.runId())) {
        steps.append(String.format("  %8d ms seq %3d turn %d %-24s %-28s #%d %s%n", st.at() - evidence.startedAt(), st.seq(),
            st.turn(), st.kind(), st.callId() == null ? "" : st.callId(), st.attempt(), TopicAudit.abbreviate(st.detail(), 200)));
      }
      for (TopicAudit.Result r : evidence.topics().results(sub.runId())) {
        steps.append(String.format("  result %s at %d ms: %s%n", r.status(), r.finishedAt() - evidence.startedAt(),
            TopicAudit.abbreviate(r.error() != null ? r.error() : r.finalOutput(), 200)));
      }
    }
    StringBuilder groups = new StringBuilder();
    evidence.groupHistories().forEach((group, samples) -> {
      groups.append(group).append('\n');
      for (GroupWatch.Sample sample : samples) {
        groups.append(String.format("  %8d ms %-20s %s%n", sample.at() - evidence.startedAt(), sample.state(),
            sample.members().stream().map(m -> m.clientId() + " " + m.partitions()).toList()));
      }
    });
    StringBuilder incidents = new StringBuilder();
    for (Timeline.Incident i : evidence.incidents()) {
      incidents.append(String.format("%8d ms %-16s %-9s %s%n", i.at() - evidence.startedAt(), i.part(), i.kind(), i.detail()));
    }
    try {
      Files.writeString(dir.resolve("steps.txt"), steps);
      Files.writeString(dir.resolve("groups.txt"), groups);
      Files.writeString(dir.resolve("timeline.txt"), incidents);
    } catch (IOException e) {
      progress.accept("chaos: cannot write the evidence files: " + e);
    }
  }

  private static Map<String, List<GroupWatch.Interval>> groupIntervals(GroupWatch watch, List<String> groups,
      java.util.function.Predicate<GroupWatch.Sample> condition) {
    Map<String, List<GroupWatch.Interval>> out = new LinkedHashMap<>();
    groups.forEach(g -> out.put(g, watch.intervals(g, condition)));
    return out;
  }

  /** One run through the whole fleet before any fault: if this fails, the fleet is broken, not resilient. */
  private String warmUp(RunSubmitter submitter, ResultWatch results, Fleet fleet) {
    String runId = submitter.submit(WARM_UP_RUN);
    long t0 = System.currentTimeMillis();
    try {
      await().atMost(plan.readyTimeout()).pollInterval(Duration.ofMillis(200)).until(() -> results.result(runId).isPresent());
    } catch (ConditionTimeoutException e) {
      throw new IllegalStateException("the fleet did not finish a run before any fault (" + runId + " has no result after "
          + plan.readyTimeout().toSeconds() + " s); logs in " + dir.resolve("logs") + "; runner-1 log ends with:\n"
          + fleet.part(Part.RUNNER_1).logTail(30));
    }
    RunResult r = results.result(runId).orElseThrow();
    if (r.getStatus() != RunStatus.COMPLETED || !ChaosScript.answerUsesBothTools(r.getFinalOutput())) {
      throw new IllegalStateException("the fleet did not complete a run before any fault: " + runId + " ended "
          + r.getStatus() + (r.getError() == null ? "" : " (" + r.getError() + ")") + " with output " + r.getFinalOutput()
          + "; logs in " + dir.resolve("logs"));
    }
    String line = "warm-up run " + runId + " COMPLETED in " + (System.currentTimeMillis() - t0) + " ms";
    progress.accept("chaos: " + line);
    return line;
  }

  private void prepareCluster(Fleet fleet) {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.bootstrapServers()))) {
      TopicAdmin.ensureTopics(admin, plan.partitions(), (short) 1);
      ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, plan.bigRecordTopic());
      admin.incrementalAlterConfigs(Map.of(topic, List.of(new AlterConfigOp(
          new ConfigEntry("max.message.bytes", String.valueOf(8 * 1024 * 1024)), AlterConfigOp.OpType.SET))))
          .all().get(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while preparing the cluster", e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("cannot raise max.message.bytes of " + plan.bigRecordTopic() + ": " + e, e);
    }
    SchemaRegistration.registerAll(SchemaRegistries.forUrl(fleet.registryUrl()));
    try (AgentCatalog catalog = new AgentCatalog(fleet.bootstrapServers(), fleet.registryUrl())) {
      catalog.publish(ChaosAgent.definition());
    }
  }

  private static String pids(Fleet fleet) {
    StringBuilder sb = new StringBuilder("(pids");
    for (Part p : Part.values()) {
      sb.append(' ').append(p.label()).append('=').append(fleet.part(p).pid());
    }
    return sb.append(')').toString();
  }

  /** Waits a planned time on the scenario's clock (a schedule, not a wait for a condition). */
  static void pause(ScheduledExecutorService clock, long millis) {
    if (millis <= 0) {
      return;
    }
    try {
      clock.schedule(() -> null, millis, TimeUnit.MILLISECONDS).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Optional<Path> findOnPath(String name) {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
    for (String d : path.split(java.io.File.pathSeparator)) {
      Path candidate = Path.of(d, name);
      if (Files.isExecutable(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }

  /**
   * Carries out faults one after the other and remembers what each did. A fault's action (kill, planned
   * down time, start again) holds up the schedule; waiting for the part to be ready again does not, so
   * a part that is slow to come back shows as slow instead of pushing every later fault back. A part is
   * only killed again once its previous restart is ready (or given up on), and a runner or the broker
   * only once every part is.
   */
  private final class FaultDriver {
    private final Fleet fleet;
    private final GroupWatch groups;
    private final HostileRecords hostile;
    private final RunSubmitter submitter;
    private final Map<Part, String> processIds;
    private final ScheduledExecutorService clock;
    private final Timeline timeline;
    private final List<CompletableFuture<FaultRecord>> faults = new ArrayList<>();
    private final Map<Part, CompletableFuture<FaultRecord>> restarting = new EnumMap<>(Part.class);
    private final List<HostileRecords.Injected> injected = new ArrayList<>();
    private final Map<Part, Integer> kills = new EnumMap<>(Part.class);
    private final java.util.concurrent.ExecutorService waiters = Executors.newVirtualThreadPerTaskExecutor();

    FaultDriver(Fleet fleet, GroupWatch groups, HostileRecords hostile, RunSubmitter submitter, Map<Part, String> processIds,
        ScheduledExecutorService clock, Timeline timeline) {
      this.fleet = fleet;
      this.groups = groups;
      this.hostile = hostile;
      this.submitter = submitter;
      this.processIds = processIds;
      this.clock = clock;
      this.timeline = timeline;
    }

    /** Every fault, once its part is ready again (or was given up on), in the order of the kills. */
    List<FaultRecord> faults() {
      List<FaultRecord> done = new ArrayList<>(faults.stream().map(CompletableFuture::join).toList());
      done.sort(Comparator.comparingLong(FaultRecord::killedAt));
      waiters.shutdown();
      return done;
    }

    List<HostileRecords.Injected> injected() {
      return List.copyOf(injected);
    }

    void execute(Fault fault, long startedAt) {
      String at = "t+" + (System.currentTimeMillis() - startedAt) / 1000 + " s";
      switch (fault) {
        case Fault.HostileRecords h -> {
          List<HostileRecords.Injected> sent = hostile.injectAll(ChaosAgent.NAME, submitter.lastSubmitted(),
              plan.bigRecordTopic(), plan.bigRecordBytes());
          injected.addAll(sent);
          timeline.add(null, Timeline.Kind.HOSTILE, sent.size() + " hostile records");
          progress.accept("chaos: " + at + " wrote " + sent.size() + " hostile records");
        }
        case Fault.Kill k -> {
          FaultRecord killed = killNow(k.part(), "kill -9 " + k.part() + numbered(k.part())
              + (k.down().isZero() ? "" : ", down " + k.down().toSeconds() + " s"));
          if (killed == null) {
            return;
          }
          pause(clock, k.down().toMillis());
          restart(killed, at);
        }
        case Fault.RunnerFailoverThenKillDuringRebalance r -> failoverThenKillDuringRebalance(r, at);
      }
    }

    private void failoverThenKillDuringRebalance(Fault.RunnerFailoverThenKillDuringRebalance r, String at) {
      Part runner = r.first();
      ChildProcess child = fleet.part(runner);
      FaultRecord failover = killNow(runner, "kill -9 " + runner + numbered(runner) + " (failover to " + runner.peer()
          + "; down " + r.firstDown().toSeconds() + " s)");
      if (failover == null) {
        return;
      }
      pause(clock, r.firstDown().toMillis());
      long mark = child.logSize();
      long restartedAt = System.currentTimeMillis();
      child.start();
      // Its return makes the group rebalance, and it waits in that rebalance for the other runner to
      // rejoin (up to one heartbeat interval): that is when it dies again. The group coordinator of Kafka
      // 4.3.1 does not expire a member waiting for its join or sync (ClassicGroupMember
      // .hasSatisfiedHeartbeat); only the rebalance timeout does — for Kafka Streams max.poll.interval.ms,
      // 300 s by default.
      boolean rejoining = child.awaitLogLine("groupId=" + Fleet.RUNNER_APPLICATION_ID + "] (Re-)joining group", mark,
          plan.readyTimeout());
      Optional<GroupWatch.Sample> state = Optional.ofNullable(groups.describeNow().get(Fleet.RUNNER_APPLICATION_ID));
      FaultRecord again = killNow(runner, "kill -9 " + runner + numbered(runner) + (rejoining
          ? " as it rejoins (its JoinGroup waits in the rebalance its return started)"
          : " (it did not ask to rejoin within " + plan.readyTimeout().toSeconds() + " s)"), false);
      if (again == null) {
        return;
      }
      faults.add(CompletableFuture.completedFuture(failover.killedAgain(restartedAt, again.killedAt())));
      state.ifPresent(s -> timeline.add(runner, Timeline.Kind.NOTE, "runner group " + s.state() + " at the second kill"));
      restart(again, at);
    }

    /** Starts the killed part again at once; its readiness is awaited in the background. */
    private void restart(FaultRecord killed, String at) {
      long restartedAt = System.currentTimeMillis();
      ChildProcess child = fleet.part(killed.part());
      child.start();
      CompletableFuture<FaultRecord> done = CompletableFuture.supplyAsync(
          () -> killed.restarted(restartedAt, child.awaitReady(plan.readyTimeout())), waiters);
      done.thenAccept(f -> progress.accept("chaos: " + at + " " + f.label() + ": exit " + f.exitStatus()
          + (f.part().isRunner() ? ", group was " + f.groupStateAtKill() : "")
          + ", back " + (f.ready() ? "and ready in " + (f.readyAt() - f.killedAt()) + " ms" : "but " + f.readyProblem())));
      faults.add(done);
      restarting.put(killed.part(), done);
    }

    private String numbered(Part part) {
      int n = kills.merge(part, 1, Integer::sum);
      return part == Part.BROKER || n > 1 ? " (#" + n + ")" : "";
    }

    /** Notes who the part was in its consumer group, then sends SIGKILL; null if it was not running. */
    private FaultRecord killNow(Part part, String label) {
      // The runner and broker figures are the ones the issue asks for: they start from a whole fleet, so
      // that what they measure is theirs. Any other part waits only for its own previous restart.
      return killNow(part, label, part == Part.BROKER || part.isRunner());
    }

    private FaultRecord killNow(Part part, String label, boolean wholeFleet) {
      List<Part> awaited = wholeFleet ? List.copyOf(restarting.keySet()) : List.of(part);
      for (Part p : awaited) {
        CompletableFuture<FaultRecord> previous = restarting.get(p);
        if (previous == null) {
          continue;
        }
        try {
          // its own previous restart: as long as readiness may take; the rest of the fleet: a while, then
          // go on (a part that does not come back must not hold up every later fault; overlaps are reported)
          previous.get(p == part ? plan.readyTimeout().toMillis() + 5000 : WHOLE_FLEET_WAIT.toMillis(), TimeUnit.MILLISECONDS);
          restarting.remove(p);
        } catch (TimeoutException e) {
          timeline.add(p, Timeline.Kind.NOTE, "still not ready when " + label + " began");
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
          restarting.remove(p);
        }
      }
      ChildProcess child = fleet.part(part);
      if (!child.isAlive()) {
        timeline.add(part, Timeline.Kind.NOTE, "not killed (" + label + "): it was not running");
        progress.accept("chaos: " + label + " skipped: " + part + " was not running");
        return null;
      }
      String group = groupOf(part);
      Set<String> victims = new HashSet<>();
      Set<Integer> partitions = new HashSet<>();
      String state = null;
      if (group != null) {
        long now = System.currentTimeMillis();
        GroupWatch.Sample current = groups.describeNow().get(group);
        state = current == null ? null : current.state();
        String prefix = part.isRunner() && processIds.containsKey(part)
            ? Fleet.RUNNER_APPLICATION_ID + "-" + processIds.get(part) : null;
        if (current != null) {
          for (GroupWatch.Member m : current.members()) {
            if (!part.isRunner() || (prefix != null && m.clientId().startsWith(prefix))) {
              victims.add(m.memberId());
            }
          }
        }
        if (part.isRunner() && prefix != null) {
          GroupWatch.Sample owners = current != null && current.stable() ? current
              : groups.lastStableBefore(group, now).orElse(null);
          if (owners != null) {
            owners.members().stream().filter(m -> m.clientId().startsWith(prefix)).forEach(m -> partitions.addAll(m.partitions()));
          }
        }
      }
      long killedAt = System.currentTimeMillis();
      int status = child.kill();
      return new FaultRecord(label, part, killedAt, status, -1, false, -1, null, group, victims, partitions, state);
    }

    private String groupOf(Part part) {
      return switch (part) {
        case RUNNER_1, RUNNER_2 -> Fleet.RUNNER_APPLICATION_ID;
        case TOOL_WORKER -> TOOL_GROUP;
        case SANDBOX -> SANDBOX_GROUP;
        case GUARDRAIL -> GUARDRAIL_GROUP;
        default -> null;
      };
    }
  }
}
