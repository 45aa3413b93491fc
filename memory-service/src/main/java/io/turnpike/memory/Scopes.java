package io.turnpike.memory;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryScopeKind;
import io.turnpike.avro.RunStatus;

/**
 * Memory scopes: {@code <agent>} for an agent's memory, {@code <agent>/<user>} for memory per agent and
 * user. Agent names cannot hold '/' or ':', so a scope names its agent unambiguously and can never be
 * mistaken for a broadcast key ({@link #FORGET_PREFIX}).
 */
public final class Scopes {
  /** Key prefix of forget commands, which go to every partition. */
  public static final String FORGET_PREFIX = "forget:";

  private Scopes() {}

  /** The scope of a run of {@code agent} for {@code user}, or null when the run has none (no memory, or user scope without a user). */
  public static String of(AgentDefinition agent, String user) {
    MemoryConfig m = agent == null ? null : agent.getMemory();
    if (m == null) {
      return null;
    }
    if (m.getScope() == MemoryScopeKind.USER) {
      return user == null || user.isBlank() ? null : agent.getName() + "/" + user;
    }
    return agent.getName();
  }

  public static String of(String agent, String user) {
    return user == null || user.isBlank() ? agent : agent + "/" + user;
  }

  public static String agentOf(String scope) {
    int slash = scope.indexOf('/');
    return slash < 0 ? scope : scope.substring(0, slash);
  }

  public static String userOf(String scope) {
    int slash = scope.indexOf('/');
    return slash < 0 ? null : scope.substring(slash + 1);
  }

  /** Whether a run in this status is over (INTERRUPTED and RUNNING are not: their results are interim). */
  public static boolean isFinal(RunStatus status) {
    return status == RunStatus.COMPLETED || status == RunStatus.FAILED || status == RunStatus.CANCELLED
        || status == RunStatus.GUARDRAIL_TRIPPED;
  }

  public static boolean writes(AgentDefinition agent) {
    return agent != null && agent.getMemory() != null && agent.getMemory().getWrite();
  }

  public static boolean reads(AgentDefinition agent) {
    return agent != null && agent.getMemory() != null && agent.getMemory().getRead();
  }
}
