package io.turnpike.runner.run;

import io.turnpike.avro.RunState;
import java.util.List;

/**
 * The result of applying one event: the new state and the effects to emit, or a rejection (an
 * error as a value) when the event cannot apply, or neither when the event changes nothing.
 *
 * @param state     the new state; null when unchanged or rejected
 * @param effects   records to emit, in order
 * @param rejection why the event was refused; the orchestrator dead-letters the input with it
 */
public record Transition(RunState state, List<Effect> effects, String rejection) {

  public Transition {
    effects = List.copyOf(effects);
  }

  public static Transition to(RunState state, List<Effect> effects) {
    return new Transition(state, effects, null);
  }

  public static Transition rejected(String reason) {
    return new Transition(null, List.of(), reason);
  }

  public static Transition unchanged() {
    return new Transition(null, List.of(), null);
  }

  public boolean isRejected() {
    return rejection != null;
  }

  public boolean changed() {
    return state != null;
  }

  public <T extends Effect> List<T> effectsOf(Class<T> type) {
    return effects.stream().filter(type::isInstance).map(type::cast).toList();
  }
}
