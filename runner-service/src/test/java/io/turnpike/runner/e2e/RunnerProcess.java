package io.turnpike.runner.e2e;

import static org.awaitility.Awaitility.await;

import io.turnpike.runner.RunnerMain;
import io.turnpike.schema.Settings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/** The runner service in a child JVM, so a test can kill it for real ({@code kill -9}). */
final class RunnerProcess implements AutoCloseable {
  private final Process process;
  private final Path log;

  private RunnerProcess(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  static RunnerProcess start(Map<String, String> settings) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path log = Files.createTempFile("runner-child", ".log");
    ProcessBuilder pb = new ProcessBuilder(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"), RunnerMain.class.getName())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    settings.forEach((k, v) -> pb.environment().put(Settings.envName(k), v));
    RunnerProcess rp = new RunnerProcess(pb.start(), log);
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() -> {
      if (!rp.process.isAlive()) {
        throw new IllegalStateException("runner child exited early:\n" + rp.output());
      }
      return rp.output().contains("turnpike runner-service ready");
    });
    return rp;
  }

  String output() throws IOException {
    return Files.readString(log);
  }

  /** SIGKILL: no shutdown hook, no commit, no leaving the group. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }
}
