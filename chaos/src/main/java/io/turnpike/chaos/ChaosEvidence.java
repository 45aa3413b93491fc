package io.turnpike.chaos;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Everything a chaos run observed, kept apart from what is concluded from it ({@link ChaosReport}).
 * Times are epoch millis; {@code startedAt} (the first submission) is the report's t+0.
 *
 * @param rebalances  per group, the stretches it spent rebalancing
 * @param unreachable per group, the stretches it could not be described (the broker was down)
 * @param processIds  the Kafka Streams process id of each runner (names its group members)
 * @param logErrors   per part, the distinct ERROR lines of its log and how often each came
 */
public record ChaosEvidence(
    ChaosPlan plan,
    Path dir,
    long setupStartedAt,
    long startedAt,
    long submissionsEndedAt,
    long faultsEndedAt,
    long endedAt,
    String warmUp,
    List<RunSubmitter.Submission> submissions,
    TopicAudit.Snapshot topics,
    List<FaultRecord> faults,
    List<HostileRecords.Injected> injected,
    Map<String, List<GroupWatch.Sample>> groupHistories,
    Map<String, List<GroupWatch.Interval>> rebalances,
    Map<String, List<GroupWatch.Interval>> unreachable,
    List<Timeline.Incident> incidents,
    Map<Part, String> processIds,
    Map<Part, Map<String, Integer>> logErrors) {}
