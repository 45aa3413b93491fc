package io.turnpike.client.run;

import io.turnpike.avro.TurnEvent;
import java.util.List;

/**
 * Where a followed run stands when {@link TurnpikeClient#followUntilSettled} returns: it finished
 * (a terminal {@code RunFinished}), or it is interrupted: it waits for human decisions on the tool
 * calls in {@code waitingFor} (their callIds) and nothing else is happening.
 *
 * @param last the last event delivered (null when none was)
 */
public record FollowOutcome(Kind kind, TurnEvent last, List<String> waitingFor) {
  public enum Kind { FINISHED, INTERRUPTED }

  public FollowOutcome {
    waitingFor = List.copyOf(waitingFor);
  }

  public boolean interrupted() {
    return kind == Kind.INTERRUPTED;
  }
}
