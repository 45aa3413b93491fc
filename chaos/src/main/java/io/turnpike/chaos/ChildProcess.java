package io.turnpike.chaos;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.core.ConditionTimeoutException;

/**
 * One part of the fleet in its own OS process ({@code java -cp <class path> <main>}), with its output
 * appended to one log file across all its starts. {@link #kill()} is {@code kill -9}: no shutdown hook,
 * no commit, no leaving the consumer group. When supervised, an exit the harness did not cause is
 * recorded and the part is started again, as a process supervisor (systemd, Kubernetes) would.
 */
public final class ChildProcess implements AutoCloseable {
  /** The exit status of a process ended by SIGKILL (128 + 9). */
  public static final int SIGKILL_EXIT = 137;
  private static final Duration SUPERVISOR_BACKOFF = Duration.ofSeconds(2);

  /** The result of waiting for readiness. */
  public record ReadyOutcome(boolean ready, long at, String problem) {}

  private final ProcessSpec spec;
  private final Path log;
  private final String java;
  private final String classPath;
  private final Timeline timeline;
  private final ScheduledExecutorService supervisor;

  private Process process;
  private long logOffset;
  private int starts;
  private boolean exitExpected;
  private volatile boolean supervised;
  private volatile boolean closed;

  public ChildProcess(ProcessSpec spec, Path log, String java, String classPath, Timeline timeline,
      ScheduledExecutorService supervisor) {
    this.spec = spec;
    this.log = log;
    this.java = java;
    this.classPath = classPath;
    this.timeline = timeline;
    this.supervisor = supervisor;
  }

  public Part part() {
    return spec.part();
  }

  public Path log() {
    return log;
  }


  public synchronized long pid() {
    return process == null ? -1 : process.pid();
  }

  public synchronized boolean isAlive() {
    return process != null && process.isAlive();
  }

  /** Restart an exit nobody asked for (a crash, a start-up that gave up) after a short back-off. */
  public void supervise(boolean on) {
    supervised = on;
  }

  /** Starts the process (again, with the same spec); returns at once. */
  public synchronized void start() {
    if (closed) {
      throw new IllegalStateException(spec.part() + " was closed");
    }
    if (process != null && process.isAlive()) {
      throw new IllegalStateException(spec.part() + " is already running (pid " + process.pid() + ")");
    }
    List<String> command = new ArrayList<>();
    command.add(java);
    command.addAll(spec.jvmOptions());
    command.add("-cp");
    command.add(classPath);
    command.add(spec.mainClass());
    command.addAll(spec.args());
    try {
      Files.createDirectories(log.getParent());
      Files.writeString(log, "\n===== " + spec.part() + " start #" + (starts + 1) + " at " + Instant.now() + " =====\n",
          StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      logOffset = Files.size(log);
      ProcessBuilder pb = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
      // Only the spec configures a part: nothing inherited from whoever runs the harness.
      pb.environment().keySet().removeIf(k -> k.startsWith("TURNPIKE_") || k.startsWith("OPENAI_") || k.startsWith("OTEL_"));
      pb.environment().putAll(spec.env());
      Process started = pb.start();
      process = started;
      starts++;
      exitExpected = false;
      started.onExit().thenAccept(this::exited);
      timeline.add(spec.part(), Timeline.Kind.STARTED, "pid " + started.pid() + " (start #" + starts + ")");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + spec.part() + ": " + e.getMessage(), e);
    }
  }

  /**
   * {@code kill -9}: {@link Process#destroyForcibly()} sends SIGKILL on Linux, which the exit status
   * ({@value #SIGKILL_EXIT}) confirms.
   *
   * @return the exit status of the killed process
   */
  public int kill() {
    Process p;
    synchronized (this) {
      p = process;
      if (p == null || !p.isAlive()) {
        throw new IllegalStateException(spec.part() + " is not running");
      }
      exitExpected = true;
    }
    p.destroyForcibly();
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        throw new IllegalStateException(spec.part() + " (pid " + p.pid() + ") survived SIGKILL for 30 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while killing " + spec.part(), e);
    }
    int status = p.exitValue();
    timeline.add(spec.part(), Timeline.Kind.KILLED, "kill -9 pid " + p.pid() + ", exit status " + status);
    return status;
  }

  /**
   * Polls the part's readiness until it holds, the process exits, or {@code timeout} passes. Does not
   * throw: a part that is slow to come back is a finding, not a reason to stop the run.
   */
  public ReadyOutcome awaitReady(Duration timeout) {
    Process p;
    synchronized (this) {
      p = process;
    }
    if (p == null) {
      return new ReadyOutcome(false, System.currentTimeMillis(), "not started");
    }
    AtomicReference<String> problem = new AtomicReference<>("not ready within " + timeout.toSeconds() + " s");
    try {
      await().atMost(timeout).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(100)).until(() -> {
        if (!p.isAlive()) {
          problem.set("exited with status " + p.exitValue() + " before it was ready");
          return true;
        }
        try {
          return spec.readiness().ready(currentLog());
        } catch (Exception e) {
          return false;
        }
      });
    } catch (ConditionTimeoutException e) {
      timeline.add(spec.part(), Timeline.Kind.NOT_READY, problem.get());
      return new ReadyOutcome(false, System.currentTimeMillis(), problem.get());
    }
    long at = System.currentTimeMillis();
    if (!p.isAlive()) {
      timeline.add(spec.part(), Timeline.Kind.NOT_READY, problem.get());
      return new ReadyOutcome(false, at, problem.get());
    }
    timeline.add(spec.part(), Timeline.Kind.READY, "pid " + p.pid());
    return new ReadyOutcome(true, at, null);
  }

  /** As {@link #awaitReady}, but a part that does not come up is an error carrying its log's tail. */
  public void awaitReadyOrFail(Duration timeout) {
    ReadyOutcome outcome = awaitReady(timeout);
    if (!outcome.ready()) {
      throw new IllegalStateException(spec.part() + ": " + outcome.problem() + "; log " + log + " ends with:\n"
          + logTail(40));
    }
  }

  /** How long the log is now: a mark for {@link #awaitLogLine}. */
  public long logSize() {
    try {
      return Files.exists(log) ? Files.size(log) : 0;
    } catch (IOException e) {
      return 0;
    }
  }

  /**
   * Polls the log (every 10 ms, up to {@code timeout}) until text containing {@code needle} is written
   * after {@code mark}; whether it was.
   */
  public boolean awaitLogLine(String needle, long mark, Duration timeout) {
    try {
      await().atMost(timeout).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(10))
          .until(() -> readFrom(mark).contains(needle));
      return true;
    } catch (ConditionTimeoutException e) {
      return false;
    }
  }

  /** What the log says after {@code mark} ("" if it cannot be read). */
  public String logSince(long mark) {
    try {
      return readFrom(mark);
    } catch (IOException e) {
      return "";
    }
  }

  /** The last {@code lines} lines of the log (all starts). */
  public String logTail(int lines) {
    try {
      if (!Files.exists(log)) {
        return "(no log)";
      }
      List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException | UncheckedIOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }

  /** What the current start printed so far. */
  private String currentLog() throws IOException {
    long from;
    synchronized (this) {
      from = logOffset;
    }
    return readFrom(from);
  }

  private String readFrom(long from) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
      long len = f.length() - from;
      if (len <= 0) {
        return "";
      }
      byte[] bytes = new byte[(int) Math.min(len, 4 * 1024 * 1024)];
      f.seek(from);
      f.readFully(bytes);
      return new String(bytes, StandardCharsets.UTF_8);
    }
  }

  private void exited(Process p) {
    synchronized (this) {
      if (p != process || exitExpected || closed) {
        return;
      }
    }
    String last = logTail(3).replace('\n', ' ');
    timeline.add(spec.part(), Timeline.Kind.EXITED, "pid " + p.pid() + " exited on its own with status " + p.exitValue()
        + "; log ends: " + (last.length() > 400 ? last.substring(last.length() - 400) : last));
    if (supervised) {
      supervisor.schedule(() -> {
        synchronized (this) {
          if (closed || !supervised || p != process) {
            return;
          }
          start();
        }
      }, SUPERVISOR_BACKOFF.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /** Asks the process to stop (SIGTERM, so it leaves its groups), then kills it if it does not. */
  @Override
  public void close() {
    Process p;
    synchronized (this) {
      closed = true;
      supervised = false;
      p = process;
      exitExpected = true;
    }
    if (p == null || !p.isAlive()) {
      return;
    }
    p.destroy();
    try {
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
    }
  }
}
