package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.RunState;
import io.turnpike.guardrail.GuardrailConfig;
import io.turnpike.guardrail.GuardrailEngine;
import io.turnpike.schema.Settings;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Rule guardrails judged in the orchestrator's process. A check whose guardrails are all built-in rules
 * (keywords, regex, pii, max length, JSON schema, tool policy, prompt-injection heuristics) needs no I/O:
 * sending it to the guardrail service cost two Kafka hops and a transaction per check, for a judgement
 * of well under a millisecond. Such a check is answered within the step that asked for it, by the same
 * engine the guardrail service runs (built-in types only, the service's {@code turnpike.guardrail.*}
 * limits), and the step records what a round trip would have: the check requested, then the verdict.
 * Checks with a model-based or custom guardrail, or one the engine cannot build, or content over
 * {@link #MAX_LOCAL_CHARS}, still go to the service.
 *
 * <p>{@code turnpike.runner.local-guardrails} (default true) turns it off.
 */
public final class LocalGuardrails implements AutoCloseable {
  /** The key under which the Streams configuration carries the instance to the processors. */
  static final String CONFIG = "turnpike.runner.local-guardrails.instance";
  public static final String ENABLED = "turnpike.runner.local-guardrails";
  /** Judges nothing: every check goes to the guardrail service. */
  static final LocalGuardrails OFF = new LocalGuardrails(null);
  /**
   * Larger content goes to the service: a step must stay short whatever the model writes (the rules are
   * linear, about 0.6 ms per 10 KB here), and a stream thread that takes too long leaves its group.
   */
  static final int MAX_LOCAL_CHARS = 64 * 1024;
  /** A check that answers with another local check and so on is cut short (it cannot, but a loop must end). */
  private static final int MAX_ROUNDS = 16;

  private final GuardrailEngine engine;

  private LocalGuardrails(GuardrailEngine engine) {
    this.engine = engine;
  }

  /** Built-in rule guardrails with the limits of {@code turnpike.guardrail.*}, unless {@value #ENABLED} is false. */
  public static LocalGuardrails from(Settings settings) {
    if (!Boolean.parseBoolean(settings.get(ENABLED, "true").trim())) {
      return OFF;
    }
    GuardrailConfig c = GuardrailConfig.from(settings);
    return new LocalGuardrails(GuardrailEngine.builder().unknownType(c.unknownType()).onError(c.onError())
        .maxContentChars(c.maxContentChars()).deadlineMargin(c.deadlineMargin()).discoverProviders(false).build());
  }

  static LocalGuardrails from(Map<String, ?> streamsConfig) {
    return streamsConfig != null && streamsConfig.get(CONFIG) instanceof LocalGuardrails shared ? shared : OFF;
  }

  boolean enabled() {
    return engine != null;
  }

  /**
   * {@code t} with every check it sends that can be judged here answered: the verdict applied to the
   * state as the run would apply the service's, its effects appended, the check no longer sent.
   *
   * @param agents the agents a held answer may hand off to, as the run looks them up for a verdict
   */
  Transition judge(Transition t, Function<RunState, Map<String, AgentDefinition>> agents, Instant now) {
    if (engine == null || !t.changed()) {
      return t;
    }
    java.util.Set<Effect.SendGuardrailCheck> declined = new java.util.HashSet<>();
    for (int round = 0; round < MAX_ROUNDS; round++) {
      List<Effect.SendGuardrailCheck> local = t.effectsOf(Effect.SendGuardrailCheck.class).stream()
          .filter(c -> !declined.contains(c) && small(c) && engine.inline(c.check())).toList();
      if (local.isEmpty()) {
        return t;
      }
      List<Effect> effects = new ArrayList<>(t.effects());
      effects.removeAll(local);
      RunState state = t.state();
      for (Effect.SendGuardrailCheck c : local) {
        GuardrailVerdict verdict;
        try {
          verdict = engine.evaluate(c.check());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt(); // closing: the check goes to the service after all
          declined.add(c);
          effects.add(c);
          continue;
        }
        Transition answered = RunStateMachine.apply(state, new RunEvent.GuardrailAnswered(verdict, agents.apply(state)), now);
        if (!answered.changed()) { // cannot happen for a check just asked; if it does, the service answers it
          declined.add(c);
          effects.add(c);
          continue;
        }
        state = answered.state();
        effects.addAll(answered.effects());
      }
      t = Transition.to(state, effects);
    }
    return t;
  }

  private static boolean small(Effect.SendGuardrailCheck c) {
    return c.check().getContent() == null || c.check().getContent().length() <= MAX_LOCAL_CHARS;
  }

  @Override
  public void close() {
    if (engine != null) {
      engine.close();
    }
  }
}
