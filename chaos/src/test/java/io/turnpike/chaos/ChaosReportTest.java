package io.turnpike.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.RunStatus;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The report's arithmetic on a hand-made record of a chaos run: no fleet needed. */
class ChaosReportTest {
  static final String ANSWER = "Chaos answer: {\"forecast\":\"sunny\"} | sandbox-ok chaos workspace";

  static TopicAudit.Step step(String run, long seq, long at, String kind, String callId, String detail, int partition) {
    return new TopicAudit.Step(run, seq, 1, at, kind, callId, 1, detail, partition, seq);
  }

  static TopicAudit.Result result(String run, RunStatus status, String output, long offset) {
    return new TopicAudit.Result(run, status, null, output, 3000, 0, offset);
  }

  static ChaosReport report() {
    List<RunSubmitter.Submission> submissions = List.of(
        new RunSubmitter.Submission("chaos-0001", 900, 0, 901, null),
        new RunSubmitter.Submission("chaos-0002", 900, 1, 901, null),
        new RunSubmitter.Submission("chaos-0003", 1400, 0, 1401, null));
    Map<String, List<TopicAudit.Step>> steps = Map.of(
        "chaos-0001", List.of(step("chaos-0001", 1, 1000, "RunStarted", null, "", 0),
            step("chaos-0001", 2, 1100, "ModelCallRequested", "chaos-0001:m1", "", 0),
            step("chaos-0001", 3, 3000, "RunFinished", null, "COMPLETED", 0)),
        "chaos-0002", List.of(step("chaos-0002", 1, 1000, "RunStarted", null, "", 1),
            step("chaos-0002", 1, 1200, "RunStarted", null, "", 1),
            step("chaos-0002", 2, 1300, "RunFinished", null, "COMPLETED", 1)),
        "chaos-0003", List.of(step("chaos-0003", 1, 1500, "RunStarted", null, "", 0),
            step("chaos-0003", 2, 1600, "ToolCallRequested", "chaos-0003:t1.1", "get_weather", 0),
            step("chaos-0003", 3, 9000, "ToolCallCompleted", "chaos-0003:t1.1", "get_weather", 0)));
    Map<String, List<TopicAudit.Result>> results = Map.of(
        "chaos-0001", List.of(result("chaos-0001", RunStatus.COMPLETED, ANSWER, 1)),
        "chaos-0002", List.of(result("chaos-0002", RunStatus.COMPLETED, ANSWER, 2), result("chaos-0002", RunStatus.COMPLETED, ANSWER, 3)));
    List<TopicAudit.DeadLetterSeen> dead = List.of(
        new TopicAudit.DeadLetterSeen("hostile-1", "turnpike.run-requests", 2, 7L, "undecodable", "x", 10, "10", false, 0));
    List<HostileRecords.Injected> injected = List.of(
        new HostileRecords.Injected("random bytes", "turnpike.run-requests", 2, 7, "hostile-1", 10, false),
        new HostileRecords.Injected("empty value", "turnpike.tool.requests", 0, 3, "hostile-2", 0, false));
    FaultRecord runnerKill = new FaultRecord("kill -9 runner-1", Part.RUNNER_1, 2000, 137, 2100, true, 5000, null,
        Fleet.RUNNER_APPLICATION_ID, Set.of("m1"), Set.of(0), "Stable");
    Map<String, List<GroupWatch.Sample>> histories = Map.of(Fleet.RUNNER_APPLICATION_ID, List.of(
        new GroupWatch.Sample(1500, Fleet.RUNNER_APPLICATION_ID, "Stable", List.of(
            new GroupWatch.Member("m1", "c1", Set.of(0)), new GroupWatch.Member("m2", "c2", Set.of(1)))),
        new GroupWatch.Sample(3000, Fleet.RUNNER_APPLICATION_ID, "PreparingRebalance", List.of(
            new GroupWatch.Member("m1", "c1", Set.of()), new GroupWatch.Member("m2", "c2", Set.of()))),
        new GroupWatch.Sample(4000, Fleet.RUNNER_APPLICATION_ID, "Stable", List.of(
            new GroupWatch.Member("m2", "c2", Set.of(0, 1))))));
    ChaosEvidence evidence = new ChaosEvidence(ChaosPlan.forTest(), Path.of("/tmp/x"), 0, 900, 1400, 5000, 10_000, "warm",
        submissions, new TopicAudit.Snapshot(steps, results, dead, List.of()), List.of(runnerKill), injected, histories,
        Map.of(), Map.of(), List.of(), Map.of(), Map.of());
    return ChaosReport.of(evidence);
  }

  @Test
  void findsLostDuplicatedRepeatedAndMissingDeadLetters() {
    ChaosReport r = report();
    assertThat(r.lost()).containsExactly("chaos-0003");
    assertThat(r.duplicated()).containsExactly("chaos-0002");
    assertThat(r.repeatedSteps()).singleElement().satisfies(rep -> assertThat(rep.runId()).isEqualTo("chaos-0002"));
    assertThat(r.hostileMissing()).singleElement().satisfies(h -> assertThat(h.kind()).isEqualTo("empty value"));
    assertThat(r.completed()).isEqualTo(2);
    assertThat(r.notCompleted()).isEmpty();
    assertThat(r.violations()).hasSize(4);
  }

  @Test
  void timesARunnersRunsFromTheKillToTheirNextStep() {
    ChaosReport r = report();
    // chaos-0001 moves again 1 s after the kill, chaos-0003 (submitted before it) 7 s after
    assertThat(r.runnerRecovery()).isEqualTo(new ChaosReport.Spread(2, 1000, 7000));
    ChaosReport.FaultImpact impact = r.impacts().get(0);
    assertThat(impact.groupBackMs()).as("stable without the dead member, its partition owned").isEqualTo(2000);
    assertThat(r.render()).contains("INVARIANTS broken", "kill -9 runner-1", "chaos-0003");
    assertThat(r.renderMarkdown()).contains("| 3 | 2 | 0 | 0 | 1 | 1 | 1 | 1 / 2 |");
  }
}
