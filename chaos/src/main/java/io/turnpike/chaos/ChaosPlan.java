package io.turnpike.chaos;

import io.turnpike.schema.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * What a chaos run does: how many runs at what rate, the faults and when (offsets from the first
 * submission), and the knobs that decide how fast a fleet can recover (session timeout) or how long the
 * harness waits for it (drain, readiness).
 *
 * @param runs            runs to submit
 * @param runsPerSecond   steady submission rate
 * @param partitions      partitions of every runId-keyed topic
 * @param sessionTimeout  {@code TURNPIKE_KAFKA_SESSION_TIMEOUT} of every part
 * @param modelDelay      how long the scripted model takes per answer
 * @param toolLatency     how long {@code get_weather} takes per call
 * @param faults          the schedule, in any order (run sorted by offset, one at a time)
 * @param faultGap        the least time between the end of one fault's action (kill, down time, start) and the
 *                        next: a fault that runs late pushes the next ones back rather than piling up on it
 * @param drainTimeout    after the last submission and the last fault: how long runs may still take to finish
 * @param readyTimeout    how long a (re)started part may take to be ready before it is reported as not ready
 * @param bigRecordTopic  the topic whose {@code max.message.bytes} is raised to take the oversized hostile record
 * @param bigRecordBytes  size of that record
 * @param childJvmOptions JVM options of every part, before its own heap size
 */
public record ChaosPlan(
    int runs,
    double runsPerSecond,
    int partitions,
    Duration sessionTimeout,
    Duration modelDelay,
    Duration toolLatency,
    List<PlannedFault> faults,
    Duration faultGap,
    Duration drainTimeout,
    Duration readyTimeout,
    String bigRecordTopic,
    int bigRecordBytes,
    List<String> childJvmOptions) {

  /** A fault and when it happens, from the first submission. */
  public record PlannedFault(Duration at, Fault fault) {}

  /** The kinds of fault the scenario can inflict. */
  public sealed interface Fault {
    /** {@code kill -9} a part, keep it down for {@code down}, start it again with the same configuration. */
    record Kill(Part part, Duration down) implements Fault {}

    /**
     * Kill runner {@code first} and keep it down for {@code firstDown} (its runs fail over to the other
     * runner); start it, and as soon as it asks to rejoin (its JoinGroup waiting in the rebalance its
     * return started), kill it again; start it again at once.
     */
    record RunnerFailoverThenKillDuringRebalance(Part first, Duration firstDown) implements Fault {}

    /** Write every kind of hostile record on the request, result and command topics. */
    record HostileRecords() implements Fault {}
  }

  public ChaosPlan {
    if (runs <= 0 || runsPerSecond <= 0 || partitions <= 0) {
      throw new IllegalArgumentException("runs, rate and partitions must be positive");
    }
    faults = faults.stream().sorted(Comparator.comparing(PlannedFault::at)).toList();
    childJvmOptions = List.copyOf(childJvmOptions);
    Objects.requireNonNull(bigRecordTopic);
  }

  /** How long submitting every run takes at the plan's rate. */
  public Duration submissionWindow() {
    return Duration.ofMillis(Math.round(runs * 1000.0 / runsPerSecond));
  }



  public ChaosPlan withDrainTimeout(Duration drainTimeout) {
    return new ChaosPlan(runs, runsPerSecond, partitions, sessionTimeout, modelDelay, toolLatency, faults, faultGap, drainTimeout,
        readyTimeout, bigRecordTopic, bigRecordBytes, childJvmOptions);
  }

  public ChaosPlan withSessionTimeout(Duration sessionTimeout) {
    return new ChaosPlan(runs, runsPerSecond, partitions, sessionTimeout, modelDelay, toolLatency, faults, faultGap, drainTimeout,
        readyTimeout, bigRecordTopic, bigRecordBytes, childJvmOptions);
  }

  /**
   * The size the JUnit test runs: 60 runs over 100 s with one of each fault (every part killed once,
   * one runner as a failover then again as it rejoins, the broker twice) and every hostile
   * record; about three minutes on a 2-core machine.
   */
  public static ChaosPlan forTest() {
    return standard(60, 0.6, 1, Duration.ofSeconds(100)).withDrainTimeout(Duration.ofSeconds(45));
  }

  /**
   * {@code runs} at {@code runsPerSecond}, with the standard cycle of faults repeated every
   * {@code cycle} for as long as runs are submitted (at least once). Hostile records are written in
   * the first cycle only.
   */
  public static ChaosPlan standard(int runs, double runsPerSecond, int minCycles, Duration cycle) {
    long windowMs = Math.round(runs * 1000.0 / runsPerSecond);
    int cycles = (int) Math.max(minCycles, windowMs / cycle.toMillis());
    List<PlannedFault> faults = new ArrayList<>();
    for (int c = 0; c < cycles; c++) {
      faults.addAll(cycle(cycle.multipliedBy(c), cycle, c == 0, c % 2 == 0 ? Part.RUNNER_1 : Part.RUNNER_2));
    }
    return new ChaosPlan(runs, runsPerSecond, 6, Duration.ofSeconds(6), Duration.ofMillis(100), Duration.ofMillis(300),
        faults, Duration.ofSeconds(2), Duration.ofSeconds(60), Duration.ofSeconds(90), Topics.TOOL_RESULTS.name(), 5 * 1024 * 1024,
        List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError", "-Xss512k"));
  }

  /**
   * One of each fault, spread over {@code length} from {@code start}; {@code firstRunner} is the one that
   * fails over. The runners and the broker go first, while the fleet is whole (their figures are the
   * issue's); the tool worker, whose recovery takes longest on the code this was written against, goes last.
   */
  public static List<PlannedFault> cycle(Duration start, Duration length, boolean hostile, Part firstRunner) {
    List<PlannedFault> f = new ArrayList<>();
    if (hostile) {
      f.add(at(start, length, 0.03, new Fault.HostileRecords()));
    }
    f.add(at(start, length, 0.06, new Fault.RunnerFailoverThenKillDuringRebalance(firstRunner, Duration.ofSeconds(12))));
    f.add(at(start, length, 0.30, new Fault.Kill(firstRunner.peer(), Duration.ZERO)));
    f.add(at(start, length, 0.40, new Fault.Kill(Part.SANDBOX, Duration.ZERO)));
    f.add(at(start, length, 0.45, new Fault.Kill(Part.GUARDRAIL, Duration.ZERO)));
    f.add(at(start, length, 0.50, new Fault.Kill(Part.MODEL, Duration.ZERO)));
    f.add(at(start, length, 0.54, new Fault.Kill(Part.MEMORY, Duration.ZERO)));
    f.add(at(start, length, 0.58, new Fault.Kill(Part.REGISTRY, Duration.ZERO)));
    f.add(at(start, length, 0.64, new Fault.Kill(Part.BROKER, Duration.ZERO)));
    f.add(at(start, length, 0.80, new Fault.Kill(Part.BROKER, Duration.ZERO)));
    f.add(at(start, length, 0.94, new Fault.Kill(Part.TOOL_WORKER, Duration.ZERO)));
    return f;
  }

  private static PlannedFault at(Duration start, Duration length, double fraction, Fault fault) {
    return new PlannedFault(start.plusMillis(Math.round(length.toMillis() * fraction)), fault);
  }
}
