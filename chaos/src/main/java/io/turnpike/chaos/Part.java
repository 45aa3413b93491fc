package io.turnpike.chaos;

/** One process of the fleet a chaos run starts, kills and restarts. */
public enum Part {
  BROKER("broker"),
  REGISTRY("schema-registry"),
  MODEL("model-server"),
  TOOL_WORKER("tool-worker"),
  SANDBOX("sandbox"),
  GUARDRAIL("guardrail"),
  MEMORY("memory"),
  RUNNER_1("runner-1"),
  RUNNER_2("runner-2");

  private final String label;

  Part(String label) {
    this.label = label;
  }

  public String label() {
    return label;
  }

  public boolean isRunner() {
    return this == RUNNER_1 || this == RUNNER_2;
  }

  /** The other runner of the two. */
  public Part peer() {
    return switch (this) {
      case RUNNER_1 -> RUNNER_2;
      case RUNNER_2 -> RUNNER_1;
      default -> throw new IllegalStateException(label + " has no peer");
    };
  }

  @Override
  public String toString() {
    return label;
  }
}
