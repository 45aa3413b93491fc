package io.turnpike.cli;

import io.turnpike.avro.ChildRunFinished;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.run.RunTimeoutException;
import io.turnpike.client.run.TurnpikeClient;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * Agents as tools in a followed run: when a child run's outcome reaches its parent
 * ({@code ChildRunFinished}), the child has finished, so its own steps are read and printed first,
 * indented under the parent's (grandchildren further in). Used by {@code run --follow} and
 * {@code turnpike dev}.
 */
final class ChildRunSteps {
  private ChildRunSteps() {}

  /** Prints {@code e} with {@code line}, after the steps of the child run it reports on, if any. */
  static void print(TurnpikeClient client, EventFormat fmt, TurnEvent e, String indent, Consumer<String> line,
      Duration timeout) {
    if (e.getStep() instanceof ChildRunFinished f) {
      line.accept(indent + "    child run " + f.getChildRunId() + ":");
      try {
        client.follow(f.getChildRunId(), c -> print(client, fmt, c, indent + "    ", line, timeout), timeout);
      } catch (RunTimeoutException ex) {
        line.accept(indent + "    (its steps did not arrive in time; see `turnpike runs show " + f.getChildRunId() + "`)");
      }
    }
    line.accept(indent + fmt.format(e));
  }
}
