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

  record Outcome(int exitCode, OutputBuffer stdout, OutputBuffer stderr, boolean timedOut, boolean outputExceeded,
      long durationMs) {}

  static Outcome run(List<String> argv, Path cwd, Map<String, String> env, long timeoutMs, int outputBytes)
      throws IOException, InterruptedException {
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
    boolean done = p.waitFor(timeoutMs, TimeUnit.MILLISECONDS);
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
    return new Outcome(code, out, err, !done, exceeded[0], (System.nanoTime() - start) / 1_000_000);
  }

  static void kill(Process p) {
    List<ProcessHandle> tree = p.descendants().toList();
    p.destroyForcibly();
    tree.forEach(ProcessHandle::destroyForcibly);
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
