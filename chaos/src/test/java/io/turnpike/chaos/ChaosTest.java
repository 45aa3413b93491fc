package io.turnpike.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue #10's chaos test at the size of the build: the whole fleet as separate processes (broker,
 * registry, model server, tool worker, two runners, sandbox, guardrail, memory), runs that use a
 * function tool, the sandbox and guardrails, every part killed with SIGKILL and restarted (a runner
 * while the group rebalances, the broker twice), and every kind of hostile record. The invariants are
 * checked from the topics. {@code bench/} runs the same harness with 1,000 runs.
 */
@Tag("chaos")
class ChaosTest {

  @Test
  @Timeout(value = 10, unit = java.util.concurrent.TimeUnit.MINUTES)
  void everyRunFinishesExactlyOnceWhateverIsKilled() throws Exception {
    ChaosScenario.missingPrerequisite().ifPresent(reason -> Assumptions.abort(reason));
    Path dir = Files.createTempDirectory("turnpike-chaos-");
    ChaosScenario scenario = new ChaosScenario(ChaosPlan.forTest(), dir, System.getProperty("java.class.path"),
        line -> System.out.println(line));
    long t0 = System.nanoTime();
    ChaosReport report = scenario.run();
    System.out.println(report.render());
    System.out.println("chaos test took " + Duration.ofNanos(System.nanoTime() - t0).toSeconds() + " s; report in "
        + dir.resolve("report.txt"));

    assertThat(report.violations())
        .as("the issue's invariants, from the topics (whole report above and in %s):%n%s", dir.resolve("report.txt"),
            report.render())
        .isEmpty();
    assertThat(report.submitted()).isEqualTo(ChaosPlan.forTest().runs());
  }
}
