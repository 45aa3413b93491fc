package io.turnpike.sandbox.backend;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs one process with captured, bounded output and a wall clock; on timeout kills it and all its descendants. */
final class ProcessRunner {
  private ProcessRunner() {}

  /** @param stoppedBy why the watch stopped the command, or null */
  record Outcome(int exitCode, OutputBuffer stdout, OutputBuffer stderr, boolean timedOut, boolean outputExceeded,
      long durationMs, String stoppedBy) {}

  static Outcome run(List<String> argv, Path cwd, Map<String, String> env, long timeoutMs, int outputBytes)
      throws IOException, InterruptedException {
    return run(argv, cwd, env, timeoutMs, outputBytes, ExecRequest.Watch.NONE);
  }

  static Outcome run(List<String> argv, Path cwd, Map<String, String> env, long timeoutMs, int outputBytes,
      ExecRequest.Watch watch) throws IOException, InterruptedException {

    long start = System.nanoTime();
    ProcessBuilder pb = new ProcessBuilder(argv).directory(cwd.toFile());
    pb.environment().clear();
    pb.environment().putAll(env);
    pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    Process p = pb.start();
    OutputBuffer out = new OutputBuffer(outputBytes);
    OutputBuffer err = new OutputBuffer(outputBytes);
    long hardCap = Math.max(16L * outputBytes, 4L * 1024 * 1024);
    boolean[] exceeded = {false};
    Thread t1 = Thread.ofVirtual().start(() -> pump(p.getInputStream(), out, hardCap, exceeded, p));
    Thread t2 = Thread.ofVirtual().start(() -> pump(p.getErrorStream(), err, hardCap, exceeded, p));
    long deadline = start + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    boolean done = false;
    String stoppedBy = null;
    while (!done && stoppedBy == null) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        break;
      }
      done = p.waitFor(Math.min(left, TimeUnit.MILLISECONDS.toNanos(ExecRequest.Watch.INTERVAL_MS)), TimeUnit.NANOSECONDS);
      if (!done) {
        stoppedBy = watch.ask();
      }
    }
    if (!done) {
      kill(p);
      p.waitFor(10, TimeUnit.SECONDS);
    }
    t1.join(5_000);
    t2.join(5_000);
    if (t1.isAlive() || t2.isAlive()) {
      // a descendant escaped the kill and holds the pipes: stop reading
      kill(p);
      p.getInputStream().close();
      p.getErrorStream().close();
    }
    int code = p.isAlive() ? -1 : p.exitValue();
    return new Outcome(code, out, err, !done && stoppedBy == null && !exceeded[0], exceeded[0],
        (System.nanoTime() - start) / 1_000_000, stoppedBy);
  }

  /**
   * Kills the process and its descendants, and waits (up to 5 s) until each is gone or has ended:
   * a pid namespace's first process ends only after every other process of its namespace, so a
   * command's whole namespace is gone when this returns.
   */
  static void kill(Process p) {
    List<ProcessHandle> tree = p.descendants().toList();
    p.destroyForcibly();
    tree.forEach(ProcessHandle::destroyForcibly);
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    for (ProcessHandle h : tree) {
      while (running(h.pid()) && System.nanoTime() < until) {
        h.destroyForcibly();
        try {
          Thread.sleep(2);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /** Whether the process exists and has not ended (a zombie has: it only waits to be collected). */
  static boolean running(long pid) {
    try {
      for (String line : java.nio.file.Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
        if (line.startsWith("State:")) {
          String state = line.substring(6).trim();
          return !state.startsWith("Z") && !state.startsWith("X");
        }
      }
      return false;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  private static void pump(InputStream in, OutputBuffer buf, long hardCap, boolean[] exceeded, Process p) {
    byte[] b = new byte[8192];
    try (in) {
      int n;
      while ((n = in.read(b)) >= 0) {
        buf.write(b, 0, n);
        if (buf.total() > hardCap && !exceeded[0]) {
          exceeded[0] = true;
          kill(p);
        }
      }
    } catch (IOException e) {
      // closed after a kill
    }
  }
}
