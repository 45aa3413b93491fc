package io.turnpike.chaos;

import io.turnpike.devkit.ScriptedModelServer;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * The model server of a chaos run as a process of its own: a {@link ScriptedModelServer} on a fixed
 * port (so the runners find it again after a restart) answering with {@link ChaosScript}.
 *
 * <pre>java -cp ... io.turnpike.chaos.ChaosModelMain --port 18000 [--delay-ms 100]</pre>
 */
public final class ChaosModelMain {
  public static final String READY = "chaos model server ready at ";

  private ChaosModelMain() {}

  public static void main(String[] args) throws InterruptedException {
    int port = 0;
    long delayMs = 0;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--port" -> port = Integer.parseInt(args[i + 1]);
        case "--delay-ms" -> delayMs = Long.parseLong(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i] + " (expected --port, --delay-ms)");
      }
    }
    // records nothing: a long chaos run must not grow the heap with every request
    ScriptedModelServer server = ScriptedModelServer.start(new ChaosScript(Duration.ofMillis(delayMs)), port).recordLimit(0);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      stopped.countDown();
    }, "chaos-model-shutdown"));
    System.out.println(READY + server.baseUrl());
    System.out.flush();
    stopped.await();
  }
}
