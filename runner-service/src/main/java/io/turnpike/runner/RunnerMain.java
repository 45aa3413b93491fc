package io.turnpike.runner;

import io.turnpike.schema.Settings;
import io.turnpike.telemetry.Telemetry;
import java.util.concurrent.CountDownLatch;

/** Runs the runner service alone (one process per instance), configured from the environment. */
public final class RunnerMain {
  private RunnerMain() {}

  public static void main(String[] args) throws InterruptedException {
    Settings settings = Settings.fromEnvironment();
    Telemetry telemetry = Telemetry.create("runner-service", settings);
    RunnerService service;
    try {
      service = RunnerService.start(settings, telemetry);
    } catch (RuntimeException e) {
      telemetry.close();
      throw e;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        service.close();
      } finally {
        telemetry.close();
        stopped.countDown();
      }
    }, "runner-shutdown"));
    System.out.println("turnpike runner-service ready");
    stopped.await();
  }
}
