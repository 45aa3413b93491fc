package io.turnpike.sandbox.backend;

import io.turnpike.sandbox.Limits;
import io.turnpike.sandbox.workspace.Workspace;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Runs in a JVM of its own as an ordinary user (see {@link LocalBackendAsNonRootTest}): the local
 * backend as a service without root has it, with no per-session uid to sweep. Prints one line per
 * case: {@code <case> left=<processes left> out=<what the command said>}.
 */
public final class NonRootProbe {
  private NonRootProbe() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    LocalBackend backend = new LocalBackend(false, 200_000, dir.resolve("probe"), "auto");
    if (backend.unavailableReason() != null) {
      System.out.println("unavailable " + backend.unavailableReason());
      return;
    }
    System.out.println("isolated " + backend.isolated() + " owner " + java.util.Arrays.toString(backend.owner(0)));
    Workspace ws = new Workspace(dir.resolve("workspace"), null, null);
    Limits limits = new Limits(1, 10, 256, 64, 20_000, 4096, 64);
    Backend.BackendSession session = backend.open("non-root", 0, ws, limits, Map.of(), null, false);
    String[][] cases = {
        {"background", "(LOOP) >/dev/null 2>&1 & echo started"},
        {"nohup", "nohup sh -c 'LOOP' >/dev/null 2>&1 & echo started"},
        {"setsid", "setsid sh -c 'LOOP' >/dev/null 2>&1 </dev/null & echo started"},
        {"double-fork", "( (LOOP) >/dev/null 2>&1 & ) ; echo started"},
        {"kill-own-wrapper", "(LOOP) >/dev/null 2>&1 & sleep 0.3; kill -9 $PPID; echo survived"},
        {"timeout", "(LOOP) >/dev/null 2>&1 & sleep 60"},
    };
    for (String[] c : cases) {
      String marker = "tp-nonroot-" + c[0] + "-" + System.nanoTime();
      String command = c[1].replace("LOOP", "while :; do echo " + marker + " >> beat; sleep 0.1; done");
      ExecResult r = session.exec(new ExecRequest(command, c[0].equals("timeout") ? 1500 : 10_000, Map.of(), limits));
      System.out.println(c[0] + " left=" + processesNaming(marker) + " exit=" + r.exitCode() + " out="
          + r.stdout().strip().replace('\n', ' '));
    }
    ExecResult escape = session.exec(new ExecRequest("for d in /etc /usr /tmp/..; do echo x > $d/tp-nonroot-escape "
        + "2>/dev/null && echo WROTE $d; done; id -u; echo checked", 10_000, Map.of(), limits));
    System.out.println("escape out=" + escape.stdout().strip().replace('\n', ' '));
  }

  private static int processesNaming(String marker) throws IOException {
    int n = 0;
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
        try {
          if (new String(Files.readAllBytes(p.resolve("cmdline"))).contains(marker)) {
            n++;
          }
        } catch (IOException e) {
          // ended while we looked
        }
      }
    }
    return n;
  }
}
