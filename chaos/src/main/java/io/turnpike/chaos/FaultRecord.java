package io.turnpike.chaos;

import java.util.Set;

/**
 * One {@code kill -9} as it happened.
 *
 * @param label            what the fault was, for the report
 * @param killedAt         when SIGKILL was sent (epoch millis)
 * @param exitStatus       the killed process's exit status ({@value ChildProcess#SIGKILL_EXIT} confirms SIGKILL)
 * @param restartedAt      when the same part was started again
 * @param ready            whether it was ready again within the plan's readiness timeout
 * @param readyAt          when it was (or when the harness stopped waiting)
 * @param readyProblem     why not, or null
 * @param group            the consumer group the part was a member of, or null
 * @param victimMembers    the group's members that died with the process
 * @param victimPartitions for a runner: the run partitions its stream thread owned when it was killed
 * @param groupStateAtKill the group's state at the kill (a runner killed "during a rebalance" shows it here)
 */
public record FaultRecord(String label, Part part, long killedAt, int exitStatus, long restartedAt, boolean ready,
    long readyAt, String readyProblem, String group, Set<String> victimMembers, Set<Integer> victimPartitions,
    String groupStateAtKill) {

  public FaultRecord {
    victimMembers = Set.copyOf(victimMembers);
    victimPartitions = Set.copyOf(victimPartitions);
  }

  public boolean sigkill() {
    return exitStatus == ChildProcess.SIGKILL_EXIT;
  }

  /** {@link #readyProblem} of a part that was killed again before it was ready. */
  public static final String KILLED_AGAIN = "killed again before it was ready";

  /** When the part was back, as far as this fault is concerned: ready, killed again, or never (null). */
  public Long backAt() {
    return ready || KILLED_AGAIN.equals(readyProblem) ? readyAt : null;
  }

  FaultRecord killedAgain(long restartedAt, long killedAgainAt) {
    return new FaultRecord(label, part, killedAt, exitStatus, restartedAt, false, killedAgainAt, KILLED_AGAIN, group,
        victimMembers, victimPartitions, groupStateAtKill);
  }

  FaultRecord restarted(long restartedAt, ChildProcess.ReadyOutcome outcome) {
    return new FaultRecord(label, part, killedAt, exitStatus, restartedAt, outcome.ready(), outcome.at(),
        outcome.problem(), group, victimMembers, victimPartitions, groupStateAtKill);
  }
}
