package io.turnpike.runner;

import io.turnpike.schema.Settings;
import java.util.concurrent.CountDownLatch;

/** Runs the runner service alone (one process per instance), configured from the environment. */
public final class RunnerMain {
  private RunnerMain() {}

  public static void main(String[] args) throws InterruptedException {
    RunnerService service = RunnerService.start(Settings.fromEnvironment());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      service.close();
      stopped.countDown();
    }, "runner-shutdown"));
    System.out.println("turnpike runner-service ready");
    stopped.await();
  }
}
