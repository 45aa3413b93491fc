package io.turnpike.devkit;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One Turnpike service in a child JVM (this JVM's class path, settings as system properties), so a test
 * can kill it for real: {@link #kill()} is {@code kill -9}, no shutdown hook, no commit, no leaving the
 * consumer group. Ready when the service prints {@code turnpike <service> ready} (ServiceProcess does).
 */
public final class ServiceChild implements AutoCloseable {
  private final Process process;
  private final Path log;

  private ServiceChild(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  /** Starts {@code main} (a service's main class) and waits until {@code service} says it is ready. */
  public static ServiceChild start(String service, Class<?> main, Map<String, String> settings) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path log = Files.createTempFile(service + "-child", ".log");
    List<String> command = new ArrayList<>(List.of(java, "-Xmx512m"));
    settings.forEach((k, v) -> command.add("-D" + k + "=" + v));
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
    ServiceChild child = new ServiceChild(new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start(), log);
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() -> {
      if (!child.process.isAlive()) {
        throw new IllegalStateException(service + " child exited early:\n" + child.output());
      }
      return child.output().contains("turnpike " + service + " ready");
    });
    return child;
  }

  public String output() throws IOException {
    return Files.readString(log);
  }

  /** SIGKILL: no shutdown hook, no commit, no leaving the group. */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }
}
