package io.turnpike.sandbox.backend;

import io.turnpike.sandbox.Limits;
import io.turnpike.sandbox.workspace.Workspace;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Commands as processes on this host. Each command is a fresh process tree:
 * <ul>
 *   <li>isolated by bubblewrap ({@code bwrap}): new user, pid, network, ipc, uts and cgroup namespaces,
 *       a read-only view of {@code /usr} and {@code /etc}, a private {@code /tmp}, and the session's
 *       workspace as the only writable folder, at {@code /workspace}; an empty environment plus the
 *       manifest's variables;
 *   <li>bounded by {@code prlimit}: CPU seconds, address space (memory), processes, file size, open
 *       files; when the service runs as root each live session has its own uid (so the process limit
 *       counts that session alone) and the command drops every capability ({@code setpriv});
 *   <li>bounded by a wall clock: on timeout the whole tree is killed (bubblewrap's pid namespace dies
 *       with it).
 * </ul>
 * Without bubblewrap (or where it cannot create namespaces) commands are refused, unless the operator
 * allowed the unisolated mode; then they run as plain processes (same limits, no namespaces, no
 * network isolation) and every result says so.
 */
public final class LocalBackend implements Backend {
  private static final Logger log = LoggerFactory.getLogger(LocalBackend.class);
  private static final String PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  static final String UNISOLATED_NOTE = "unisolated: this host has no bubblewrap, so the command ran without namespace "
      + "isolation (turnpike.sandbox.allow-unisolated=true)";

  private final String bwrap;
  private final String prlimit;
  private final String setpriv;
  private final boolean root;
  private final boolean allowUnisolated;
  private final String unavailable;
  private final boolean isolated;
  private final int uidBase;
  /** Whether this bubblewrap can bound a tmpfs ({@code --size}, bubblewrap 0.7 and later). */
  private final boolean tmpfsSize;
  /** Size of a command's private /tmp, as the docker backend's. */
  static final long TMP_BYTES = 64L * 1024 * 1024;

  /** @param bwrapSetting {@code auto} (bwrap on the PATH), a path to bwrap, or {@code none} (as if absent) */
  public LocalBackend(boolean allowUnisolated, int uidBase, Path probeDir, String bwrapSetting) {
    this.allowUnisolated = allowUnisolated;
    this.bwrap = switch (bwrapSetting == null ? "auto" : bwrapSetting) {
      case "auto" -> which("bwrap");
      case "none" -> null;
      default -> Files.isExecutable(Path.of(bwrapSetting)) ? bwrapSetting : null;
    };
    this.prlimit = which("prlimit");
    this.setpriv = which("setpriv");
    this.root = isRoot();
    // Two instances on one host (tests, or a second service) get different uid ranges.
    this.uidBase = uidBase + ThreadLocalRandom.current().nextInt(1000) * 1000;
    this.tmpfsSize = bwrap != null && supportsTmpfsSize(bwrap);
    String bwrapProblem = bwrap == null ? "bubblewrap (bwrap) is not installed" : probe(probeDir);
    this.isolated = bwrapProblem == null;
    if (prlimit == null) {
      unavailable = "the local sandbox cannot bound commands on this host: prlimit (util-linux) is not installed";
    } else if (!isolated && !allowUnisolated) {
      unavailable = "the local sandbox refuses to run commands on this host: " + bwrapProblem
          + ". Install bubblewrap (apt-get install bubblewrap), or let the operator set "
          + "turnpike.sandbox.allow-unisolated=true to run commands without isolation";
    } else {
      unavailable = null;
    }
    if (unavailable != null) {
      log.warn("local sandbox backend: {}", unavailable);
    } else if (!isolated) {
      log.warn("local sandbox backend: UNISOLATED mode ({}); commands run as plain processes with rlimits only", bwrapProblem);
    } else {
      log.info("local sandbox backend: bubblewrap {}, prlimit {}{}", bwrap, prlimit,
          root && setpriv != null ? ", per-session uids from " + this.uidBase : "");
    }
  }

  @Override
  public String name() {
    return "local";
  }

  public boolean isolated() {
    return isolated;
  }

  @Override
  public String unavailableReason() {
    return unavailable;
  }

  private boolean ownUsers() {
    return root && setpriv != null;
  }

  @Override
  public int[] owner(int slot) {
    return ownUsers() ? new int[] {uidBase + slot, uidBase + slot} : null;
  }

  @Override
  public BackendSession open(String sessionId, int slot, Workspace workspace, Limits limits, Map<String, String> env,
      String image, boolean network) {
    return new Session(slot, workspace, env, network);
  }

  private final class Session implements BackendSession {
    private final int slot;
    private final Workspace ws;
    private final Map<String, String> env;
    private final boolean network;

    Session(int slot, Workspace ws, Map<String, String> env, boolean network) {
      this.slot = slot;
      this.ws = ws;
      this.env = env;
      this.network = network;
    }

    @Override
    public ExecResult exec(ExecRequest r) throws InterruptedException {
      if (unavailable != null) {
        return new ExecResult(-1, "", "", false, unavailable, 0);
      }
      Map<String, String> cmdEnv = new LinkedHashMap<>();
      cmdEnv.put("PATH", PATH);
      cmdEnv.put("HOME", isolated ? Workspace.MOUNT : ws.root().toString());
      cmdEnv.put("TMPDIR", "/tmp");
      cmdEnv.put("LANG", "C.UTF-8");
      cmdEnv.putAll(r.env());
      List<String> argv = argv(r, cmdEnv);
      Map<String, String> processEnv = isolated ? Map.of("PATH", PATH) : cmdEnv;
      try {
        ProcessRunner.Outcome o = ProcessRunner.run(argv, ws.root(), processEnv, r.timeoutMs(), r.limits().outputBytes(),
            r.watch());
        String note = describe(o, r);
        return new ExecResult(o.timedOut() || o.stoppedBy() != null ? 137 : o.exitCode(), o.stdout().text(),
            o.stderr().text(), o.timedOut(), isolated ? note : note == null ? UNISOLATED_NOTE : UNISOLATED_NOTE + "; " + note,
            o.durationMs());
      } catch (IOException e) {
        return new ExecResult(-1, "", "", false, "the command could not be started: " + e.getMessage(), 0);
      } finally {
        // Isolated, the command's pid namespace is empty once bubblewrap has exited (see argv). The
        // session's own uid (service as root) makes sure of it, and catches what an unisolated command left.
        quiesce();
      }
    }

    /**
     * Kills every process of the session's uid, where it has one of its own (the service runs as
     * root); elsewhere every command had its own pid namespace, which ended with it.
     */
    @Override
    public String quiesce() {
      if (!ownUsers()) {
        return null; // unisolated as the service's own user, what a command left cannot be told apart (docs/sandbox.md)
      }
      return killAllOf(uidBase + slot);
    }

    private List<String> argv(ExecRequest r, Map<String, String> cmdEnv) {
      Limits l = r.limits();
      List<String> a = new ArrayList<>();
      long nproc = l.pids();
      if (!ownUsers()) {
        // The process limit counts every process of the uid: allow the service user's own on top.
        nproc += countProcessesOfCurrentUser();
      }
      a.add(prlimit);
      a.add("--cpu=" + l.cpuSeconds() + ":" + (l.cpuSeconds() + 1));
      a.add("--as=" + (long) l.memoryMb() * 1024 * 1024);
      a.add("--nproc=" + nproc);
      a.add("--fsize=" + (long) l.diskMb() * 1024 * 1024);
      a.add("--nofile=1024");
      a.add("--core=0");
      a.add("--");
      if (ownUsers()) {
        int uid = uidBase + slot;
        a.addAll(List.of(setpriv, "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--inh-caps=-all", "--"));
      }
      if (isolated) {
        a.addAll(bwrapArgs(ws.root(), network, cmdEnv));
        // No bubblewrap init: bubblewrap's own reports the command's exit and exits before the kernel
        // has emptied the pid namespace, so what the command left could run on for a moment. As pid 1,
        // this shell is waited for by bubblewrap, which the kernel lets happen only once every other
        // process of the namespace has ended: when the command's process ends, nothing of it runs. The
        // command itself runs as its child, with ordinary signal handling (pid 1 ignores SIGXCPU).
        a.addAll(List.of("/bin/sh", "-c", "/bin/sh -c \"$1\" & wait $!", "sh", r.command()));
        return a;
      }
      a.addAll(List.of("/bin/sh", "-c", r.command()));
      return a;
    }

    @Override
    public void close() {}
  }

  private List<String> bwrapArgs(Path workspace, boolean network, Map<String, String> env) {
    List<String> a = new ArrayList<>(List.of(bwrap, "--unshare-all", "--as-pid-1"));
    if (network) {
      a.add("--share-net");
    }
    a.addAll(List.of("--uid", "1000", "--gid", "1000", "--die-with-parent", "--new-session", "--hostname", "sandbox",
        "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"));
    for (String d : List.of("bin", "sbin", "lib", "lib32", "lib64", "libx32")) {
      Path p = Path.of("/", d);
      try {
        if (Files.isSymbolicLink(p)) {
          a.addAll(List.of("--symlink", Files.readSymbolicLink(p).toString(), "/" + d));
        } else if (Files.isDirectory(p)) {
          a.addAll(List.of("--ro-bind", "/" + d, "/" + d));
        }
      } catch (IOException e) {
        // skip it
      }
    }
    a.addAll(List.of("--proc", "/proc", "--dev", "/dev"));
    if (tmpfsSize) {
      // /tmp is memory of this host: as bounded as a container's
      a.addAll(List.of("--size", String.valueOf(TMP_BYTES)));
    }
    a.addAll(List.of("--tmpfs", "/tmp",
        "--bind", workspace.toString(), Workspace.MOUNT, "--remount-ro", "/", "--chdir", Workspace.MOUNT, "--clearenv"));
    env.forEach((k, v) -> a.addAll(List.of("--setenv", k, v)));
    a.add("--");
    return a;
  }

  /**
   * Kills every process of {@code uid} ({@code kill -9 -1} as that uid: the kernel signals them all in
   * one pass, forks included) and checks that none is left. Null when none is; else what is left.
   */
  private String killAllOf(int uid) {
    for (int attempt = 0; attempt < 5; attempt++) {
      List<String> left = processesOf(uid);
      if (left.isEmpty()) {
        return null;
      }
      log.info("killing the processes of the session uid {} left behind: {}", uid, left);
      try {
        ProcessRunner.run(List.of(setpriv, "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--inh-caps=-all", "--",
            "/bin/sh", "-c", "kill -9 -1"), Path.of("/"), Map.of("PATH", PATH), 5_000, 1024);
        // a killed process needs a moment to be gone
        long until = System.nanoTime() + 500_000_000L;
        while (!processesOf(uid).isEmpty() && System.nanoTime() < until) {
          Thread.sleep(10);
        }
      } catch (IOException e) {
        log.warn("cannot run the kill as uid {}: {}", uid, e.toString());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return "interrupted while stopping the processes of the session";
      }
    }
    List<String> left = processesOf(uid);
    return left.isEmpty() ? null : left.size() + " processes of the session (uid " + uid + ") could not be killed: " + left;
  }

  /**
   * Processes whose real uid is {@code uid}, from /proc, as "pid name state"; those that have ended
   * and wait for their parent to collect them (zombies) run nothing and are left out.
   */
  static List<String> processesOf(int uid) {
    List<String> found = new ArrayList<>();
    String want = "Uid:\t" + uid + "\t";
    try (var procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : procs) {
        try {
          String name = "";
          String state = "";
          for (String line : Files.readAllLines(p.resolve("status"))) {
            if (line.startsWith("Name:")) {
              name = line.substring(5).trim();
            } else if (line.startsWith("State:")) {
              state = line.substring(6).trim();
            } else if (line.startsWith("Uid:")) {
              if (line.startsWith(want) && !state.startsWith("Z") && !state.startsWith("X")) {
                found.add(p.getFileName() + " " + name + " " + state);
              }
              break;
            }
          }
        } catch (IOException | RuntimeException e) {
          // ended while we looked
        }
      }
    } catch (IOException e) {
      log.warn("cannot list /proc: {}", e.toString());
    }
    return found;
  }

  static String describe(ProcessRunner.Outcome o, ExecRequest r) {
    if (o.stoppedBy() != null) {
      return "stopped: " + o.stoppedBy();
    }
    if (o.outputExceeded()) {
      return "killed: the command wrote more than " + Math.max(16L * r.limits().outputBytes(), 4L * 1024 * 1024)
          + " bytes of output";
    }
    if (o.timedOut()) {
      return "timed out after " + r.timeoutMs() + " ms: the command and all its processes were killed";
    }
    return signalNote(o.exitCode(), r.limits());
  }

  /** What an exit code of 128 + signal most likely means under the session's limits. */
  public static String signalNote(int code, Limits l) {
    return switch (code) {
      case 137 -> "killed (SIGKILL): a resource limit was hit (memory " + l.memoryMb() + " MB, CPU " + l.cpuSeconds()
          + " s or processes " + l.pids() + ")";
      case 152 -> "killed (SIGXCPU): the CPU time limit of " + l.cpuSeconds() + " s was exceeded";
      case 153 -> "killed (SIGXFSZ): the file size limit of " + l.diskMb() + " MB was exceeded";
      case 139 -> "crashed (SIGSEGV): often a failed allocation under the memory limit of " + l.memoryMb() + " MB";
      case 134 -> "aborted (SIGABRT): often a failed allocation under the memory limit of " + l.memoryMb() + " MB";
      default -> null;
    };
  }

  /**
   * Runs one command in a sandbox as commands will run, in {@code dir}, emptied first: an instance
   * started again on this host has other session uids, which cannot overwrite what a previous one left.
   */
  private String probe(Path dir) {
    try {
      Files.createDirectories(dir);
      emptyQuietly(dir);
      List<String> argv = new ArrayList<>();
      if (root && which("setpriv") != null) {
        // the probe runs as one of the session users, as commands will
        Files.setAttribute(dir, "unix:uid", uidBase);
        Files.setAttribute(dir, "unix:gid", uidBase);
        argv.addAll(List.of(which("setpriv"), "--reuid=" + uidBase, "--regid=" + uidBase, "--clear-groups",
            "--inh-caps=-all", "--"));
      }
      argv.addAll(bwrapArgs(dir, false, Map.of("PATH", PATH)));
      argv.addAll(List.of("/bin/sh", "-c", "echo ok > probe && cat probe"));
      ProcessRunner.Outcome o = ProcessRunner.run(argv, dir, Map.of("PATH", PATH), 20_000, 4096);
      if (o.exitCode() == 0 && o.stdout().text().trim().equals("ok")) {
        return null;
      }
      return "bubblewrap cannot create a sandbox here (exit " + o.exitCode() + ": " + o.stderr().text().trim() + ")";
    } catch (IOException e) {
      return "bubblewrap cannot be started: " + e.getMessage();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted while probing bubblewrap";
    }
  }

  private static void emptyQuietly(Path dir) {
    try (var paths = Files.walk(dir)) {
      paths.filter(p -> !p.equals(dir)).sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          log.debug("cannot delete {}: {}", p, e.toString());
        }
      });
    } catch (IOException e) {
      log.debug("cannot delete {}: {}", dir, e.toString());
    }
  }

  private static boolean supportsTmpfsSize(String bwrap) {
    try {
      ProcessRunner.Outcome o = ProcessRunner.run(List.of(bwrap, "--help"), Path.of("/"), Map.of("PATH", PATH), 10_000, 64 * 1024);
      boolean yes = (o.stdout().text() + o.stderr().text()).contains("--size");
      if (!yes) {
        log.warn("this bubblewrap cannot bound a tmpfs (--size, 0.7 and later): /tmp of local commands is unbounded");
      }
      return yes;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  static String which(String program) {
    for (String dir : (System.getenv().getOrDefault("PATH", "") + ":" + PATH).split(":")) {
      if (!dir.isEmpty()) {
        Path p = Path.of(dir, program);
        if (Files.isExecutable(p)) {
          return p.toString();
        }
      }
    }
    return null;
  }

  static boolean isRoot() {
    try {
      return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
    } catch (Exception e) {
      return "root".equals(System.getProperty("user.name"));
    }
  }

  private static long countProcessesOfCurrentUser() {
    String user = System.getProperty("user.name");
    return ProcessHandle.allProcesses().filter(h -> h.info().user().map(user::equals).orElse(false)).count();
  }
}
