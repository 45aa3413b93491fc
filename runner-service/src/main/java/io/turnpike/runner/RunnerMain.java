package io.turnpike.runner;

import io.turnpike.runner.model.ModelInvokerConfig;
import io.turnpike.runner.run.OrchestratorConfig;
import io.turnpike.runner.run.OrchestratorTopology;
import io.turnpike.schema.Topics;
import io.turnpike.worker.ServiceProcess;
import java.util.ArrayList;
import java.util.List;

/** Runs the runner service alone (one process per instance), configured from the environment. */
public final class RunnerMain {
  private RunnerMain() {}

  public static void main(String[] args) {
    List<String> topics = new ArrayList<>(OrchestratorTopology.INPUTS);
    topics.addAll(List.of(Topics.AGENTS.name(), Topics.MODEL_REQUESTS.name(), Topics.TURN_EVENTS.name(),
        Topics.RUN_STATE.name(), Topics.DEAD_LETTERS.name()));
    ServiceProcess.run("runner-service", topics, settings -> {
      // Read both parts' configuration now, so that a mistake exits at once.
      OrchestratorConfig.from(settings);
      ModelInvokerConfig.from(settings);
      return settings;
    }, ctx -> RunnerService.launch(ctx.settings(), ctx.telemetry(), ctx.onFatal()));
  }
}
