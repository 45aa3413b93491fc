package io.turnpike.sandbox.backend;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.async.ResultCallback;
import com.github.dockerjava.api.command.InspectContainerResponse;
import com.github.dockerjava.api.command.TopContainerResponse;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.Capability;
import com.github.dockerjava.api.model.Container;
import com.github.dockerjava.api.model.Frame;
import com.github.dockerjava.api.model.HostConfig;
import com.github.dockerjava.api.model.StreamType;
import com.github.dockerjava.api.model.Volume;
import com.github.dockerjava.core.DefaultDockerClientConfig;
import com.github.dockerjava.core.DockerClientConfig;
import com.github.dockerjava.core.DockerClientImpl;
import com.github.dockerjava.httpclient5.ApacheDockerHttpClient;
import io.turnpike.sandbox.Limits;
import io.turnpike.sandbox.workspace.Workspace;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Commands in Docker containers, through docker-java (httpclient5 transport). One container per
 * session, created on the session's first command from the manifest's image (else the configured one):
 * no network ({@code --network none}) unless allowed, memory (swap included), CPUs and pids bounded,
 * every capability dropped, {@code no-new-privileges}, a read-only root file system with a private
 * {@code /tmp}, a non-root user, and the session's workspace folder bind-mounted at
 * {@code /workspace}. Each command is an exec of {@code sh -c} with CPU-time and file-size ulimits.
 * Nothing outlives its command: the container's first process runs as another user than commands,
 * and after every exec (ended, timed out, flooded, stopped by its watch, or its wrapper killed by the
 * command itself) the service kills every process of the commands' user ({@code kill -9 -1} as that
 * user, in its own exec) until the engine lists none, restarting the container if that fails. The
 * same check runs before every file tool. CPUs and memory are clamped to what the engine offers.
 */
public final class DockerBackend implements Backend {
  private static final Logger log = LoggerFactory.getLogger(DockerBackend.class);
  static final String LABEL = "io.turnpike.sandbox";
  static final String LABEL_ROOT = "io.turnpike.sandbox.root";
  static final String LABEL_SESSION = "io.turnpike.sandbox.session";
  /** Runs the command, then kills whatever it left behind (kill -1 spares the caller and pid 1). */
  private static final String WRAPPER = "ulimit -H -t $((TP_CPU + 1)) 2>/dev/null; ulimit -S -t \"$TP_CPU\" 2>/dev/null; ulimit -f \"$TP_FSIZE\" 2>/dev/null; "
      + "unset TP_CPU TP_FSIZE; /bin/sh -c \"$1\"; rc=$?; kill -9 -1 2>/dev/null; exit $rc";

  private final DockerClient docker;
  private final String defaultImage;
  private final String user;
  private final String rootLabel;
  private final String unavailable;
  /** Cores and memory (MB) of the engine's host, read once; 0 while unknown. */
  private volatile double engineCpus;
  private volatile long engineMemoryMb;

  public DockerBackend(String defaultImage, String user, String rootLabel) {
    this.defaultImage = defaultImage;
    this.user = user;
    this.rootLabel = rootLabel;
    DockerClient client = null;
    String problem;
    try {
      DockerClientConfig config = DefaultDockerClientConfig.createDefaultConfigBuilder().build();
      ApacheDockerHttpClient http = new ApacheDockerHttpClient.Builder()
          .dockerHost(config.getDockerHost())
          .sslConfig(config.getSSLConfig())
          .maxConnections(64)
          .connectionTimeout(Duration.ofSeconds(3))
          .responseTimeout(Duration.ofMinutes(5))
          .build();
      client = DockerClientImpl.getInstance(config, http);
      client.pingCmd().exec();
      problem = null;
      removeLeftovers(client);
      try {
        var info = client.infoCmd().exec();
        engineCpus = info.getNCPU() == null ? 0 : info.getNCPU();
        engineMemoryMb = info.getMemTotal() == null ? 0 : info.getMemTotal() / (1024 * 1024);
      } catch (RuntimeException e) {
        log.warn("cannot ask the Docker engine for its CPUs and memory ({}): limits are not clamped to it", e.toString());
      }
    } catch (Throwable e) {
      problem = "the docker sandbox backend is not available on this sandbox-service instance: cannot reach the Docker "
          + "engine (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")";
    }
    this.docker = client;
    this.unavailable = problem;
    if (problem != null) {
      log.warn(problem);
    } else {
      log.info("docker sandbox backend ready (default image {}, user {})", defaultImage, user);
    }
  }

  @Override
  public String name() {
    return "docker";
  }

  @Override
  public String unavailableReason() {
    return unavailable;
  }

  /** Whether {@code image} exists in the engine (no registry is asked). */
  public boolean hasImage(String image) {
    if (docker == null) {
      return false;
    }
    try {
      docker.inspectImageCmd(image).exec();
      return true;
    } catch (NotFoundException e) {
      return false;
    }
  }

  @Override
  public int[] owner(int slot) {
    if (!LocalBackend.isRoot()) {
      return null; // the bind mount is the service user's; run the container as that user (see userFor)
    }
    String[] p = user.split(":");
    int uid = Integer.parseInt(p[0]);
    return new int[] {uid, p.length > 1 ? Integer.parseInt(p[1]) : uid};
  }

  private String userFor() {
    if (LocalBackend.isRoot()) {
      return user;
    }
    try {
      java.nio.file.Path self = java.nio.file.Path.of("/proc/self");
      return java.nio.file.Files.getAttribute(self, "unix:uid") + ":" + java.nio.file.Files.getAttribute(self, "unix:gid");
    } catch (Exception e) {
      return user;
    }
  }

  /** The uid commands run as in containers. */
  private int commandUid() {
    return Integer.parseInt(userFor().split(":")[0]);
  }

  /**
   * The user of a container's first process: never the commands' user, so a command can neither signal
   * nor trace it, and {@code kill -9 -1} as the commands' user leaves it alone. It has no capabilities.
   */
  private String keeperUser() {
    return commandUid() == 65534 ? "65533:65533" : "65534:65534";
  }

  @Override
  public BackendSession open(String sessionId, int slot, Workspace workspace, Limits limits, Map<String, String> env,
      String image, boolean network) {
    List<String> notes = new ArrayList<>();
    Limits clamped = limits.clampToHost(engineCpus, engineMemoryMb, notes);
    notes.forEach(n -> log.info("session {}: {}", sessionId, n));
    return new Session(sessionId, workspace, clamped, env, image == null || image.isBlank() ? defaultImage : image, network,
        notes.isEmpty() ? null : String.join("; ", notes));
  }

  private void removeLeftovers(DockerClient client) {
    List<Container> left = client.listContainersCmd().withShowAll(true)
        .withLabelFilter(Map.of(LABEL_ROOT, rootLabel)).exec();
    for (Container c : left) {
      try {
        client.removeContainerCmd(c.getId()).withForce(true).exec();
        log.info("removed the leftover sandbox container {} of a previous instance", c.getNames());
      } catch (RuntimeException e) {
        log.warn("cannot remove the leftover container {}: {}", c.getId(), e.toString());
      }
    }
  }

  private final class Session implements BackendSession {
    private final String sessionId;
    private final Workspace ws;
    private final Limits limits;
    private final Map<String, String> env;
    private final String image;
    private final boolean network;
    private String containerId;
    /** False after an exec that did not end normally: the container is checked before the next one. */
    private boolean healthy;
    /** What the first command is told about limits lowered to the engine's (null: nothing). */
    private String clampNote;

    Session(String sessionId, Workspace ws, Limits limits, Map<String, String> env, String image, boolean network,
        String clampNote) {
      this.clampNote = clampNote;
      this.sessionId = sessionId;
      this.ws = ws;
      this.limits = limits;
      this.env = env;
      this.image = image;
      this.network = network;
    }

    private void ensureContainer() {
      if (containerId != null && healthy) {
        return;
      }
      if (containerId != null) {
        InspectContainerResponse.ContainerState state;
        try {
          state = docker.inspectContainerCmd(containerId).exec().getState();
        } catch (NotFoundException e) {
          state = null;
        }
        if (state != null && Boolean.TRUE.equals(state.getRunning())) {
          healthy = true;
          return;
        }
        if (state != null) {
          docker.startContainerCmd(containerId).exec();
          healthy = true;
          return;
        }
        containerId = null;
      }
      if (!hasImage(image)) {
        throw new IllegalStateException("the image " + image + " is not in the Docker engine of this sandbox service"
            + (image.equals(defaultImage) ? " (build it with sandbox-service/docker/build-sandbox-image.sh)" : ""));
      }
      long memory = (long) limits.memoryMb() * 1024 * 1024;
      HostConfig hc = HostConfig.newHostConfig()
          .withNetworkMode(network ? "bridge" : "none")
          .withMemory(memory)
          .withMemorySwap(memory)
          .withNanoCPUs((long) (limits.cpus() * 1_000_000_000L))
          .withPidsLimit((long) limits.pids())
          .withCapDrop(Capability.ALL)
          .withSecurityOpts(List.of("no-new-privileges"))
          .withReadonlyRootfs(true)
          .withTmpFs(Map.of("/tmp", "rw,nosuid,nodev,size=64m"))
          .withBinds(new Bind(ws.root().toString(), new Volume(Workspace.MOUNT)));
      List<String> envList = new ArrayList<>(List.of("HOME=" + Workspace.MOUNT, "TMPDIR=/tmp"));
      env.forEach((k, v) -> envList.add(k + "=" + v));
      String name = "turnpike-sbx-" + sessionId.replaceAll("[^a-zA-Z0-9_.-]", "_") + "-"
          + UUID.randomUUID().toString().substring(0, 8);
      containerId = docker.createContainerCmd(image)
          .withName(name.length() > 120 ? name.substring(0, 120) : name)
          .withHostConfig(hc)
          .withUser(keeperUser())
          .withWorkingDir("/")
          .withEnv(envList)
          .withLabels(Map.of(LABEL, "1", LABEL_ROOT, rootLabel, LABEL_SESSION, sessionId))
          .withNetworkDisabled(!network)
          .withEntrypoint("/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600; done")
          .exec().getId();
      docker.startContainerCmd(containerId).exec();
      healthy = true;
      log.info("session {}: container {} from {} started", sessionId, containerId.substring(0, 12), image);
    }

    @Override
    public ExecResult exec(ExecRequest r) throws InterruptedException {
      if (unavailable != null) {
        return new ExecResult(-1, "", "", false, unavailable, 0);
      }
      long start = System.nanoTime();
      ExecResult result = null;
      String reaped = null;
      try {
        result = execOnce(r, start);
      } catch (RuntimeException e) {
        healthy = false;
        result = new ExecResult(-1, "", "", false, "the command failed in the session's container: " + e.getMessage(),
            (System.nanoTime() - start) / 1_000_000);
      } finally {
        // whatever happened above, nothing the command started may run once it has answered
        reaped = reap();
      }
      List<String> notes = new ArrayList<>();
      if (clampNote != null && result.exitCode() >= 0) {
        notes.add(clampNote);
        clampNote = null;
      }
      if (result.note() != null) {
        notes.add(result.note());
      }
      if (reaped != null) {
        notes.add(reaped);
      }
      return new ExecResult(result.exitCode(), result.stdout(), result.stderr(), result.timedOut(),
          notes.isEmpty() ? null : String.join("; ", notes), result.durationMs());
    }

    private ExecResult execOnce(ExecRequest r, long start) throws InterruptedException {
      try {
        ensureContainer();
      } catch (RuntimeException e) {
        return new ExecResult(-1, "", "", false, "cannot start the session's container: " + e.getMessage(), 0);
      }
      List<String> execEnv = new ArrayList<>();
      execEnv.add("TP_CPU=" + r.limits().cpuSeconds());
      execEnv.add("TP_FSIZE=" + (long) r.limits().diskMb() * 2048); // 512-byte blocks
      r.env().forEach((k, v) -> execEnv.add(k + "=" + v));
      String execId;
      try {
        execId = createExec(r, execEnv);
      } catch (RuntimeException e) {
        // the container may have died (OOM of its first process, removed by hand): check it and try once more
        healthy = false;
        try {
          ensureContainer();
          execId = createExec(r, execEnv);
        } catch (RuntimeException again) {
          return new ExecResult(-1, "", "", false, "cannot run the command in the session's container: " + again.getMessage(), 0);
        }
      }
      return run(execId, r, start);
    }

    private String createExec(ExecRequest r, List<String> execEnv) {
      return docker.execCreateCmd(containerId)
          .withCmd("/bin/sh", "-c", WRAPPER, "sh", r.command())
          .withAttachStdout(true).withAttachStderr(true)
          .withUser(userFor())
          .withWorkingDir(Workspace.MOUNT)
          .withEnv(execEnv)
          .exec().getId();
    }

    private ExecResult run(String execId, ExecRequest r, long start) throws InterruptedException {
      OutputBuffer out = new OutputBuffer(r.limits().outputBytes());
      OutputBuffer err = new OutputBuffer(r.limits().outputBytes());
      long hardCap = Math.max(16L * r.limits().outputBytes(), 4L * 1024 * 1024);
      boolean[] exceeded = {false};
      CountDownLatch ended = new CountDownLatch(1);
      ResultCallback.Adapter<Frame> cb = docker.execStartCmd(execId).exec(new ResultCallback.Adapter<>() {
        @Override
        public void onNext(Frame f) {
          byte[] b = f.getPayload();
          if (b == null) {
            return;
          }
          OutputBuffer target = f.getStreamType() == StreamType.STDERR ? err : out;
          target.write(b, 0, b.length);
          if (out.total() + err.total() > hardCap && !exceeded[0]) {
            exceeded[0] = true;
            ended.countDown(); // the process is killed below
          }
        }

        @Override
        public void onComplete() {
          super.onComplete();
          ended.countDown();
        }

        @Override
        public void onError(Throwable t) {
          super.onError(t);
          ended.countDown();
        }
      });
      long deadline = start + TimeUnit.MILLISECONDS.toNanos(r.timeoutMs());
      boolean done = false;
      String stoppedBy = null;
      while (!done && stoppedBy == null) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          break;
        }
        done = ended.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(ExecRequest.Watch.INTERVAL_MS)), TimeUnit.NANOSECONDS);
        if (!done) {
          stoppedBy = r.watch().ask();
        }
      }
      done = done && !exceeded[0];
      if (!done) {
        healthy = false;
        killAll();
      }
      try {
        cb.close();
      } catch (Exception e) {
        // ending the stream anyway
      }
      Long code = null;
      if (done) {
        // the stream can end a moment before the engine records the exit code
        for (int i = 0; i < 100 && code == null; i++) {
          var inspect = docker.inspectExecCmd(execId).exec();
          code = Boolean.TRUE.equals(inspect.isRunning()) ? null : inspect.getExitCodeLong();
          if (code == null) {
            Thread.sleep(5);
          }
        }
      }
      int exit = done ? (code == null ? -1 : code.intValue()) : 137;
      if (exit == 137 || exit < 0) {
        healthy = false; // an OOM kill may have taken the container's first process too
      }
      String note = stoppedBy != null ? "stopped: " + stoppedBy
          : exceeded[0] ? "killed: the command wrote more than " + hardCap + " bytes of output"
          : !done ? "timed out after " + r.timeoutMs() + " ms: the command and all its processes were killed"
          : LocalBackend.signalNote(exit, r.limits());
      return new ExecResult(exit, out.text(), err.text(), !done && !exceeded[0] && stoppedBy == null, note,
          (System.nanoTime() - start) / 1_000_000);
    }

    /**
     * Kills every process of the commands' user and checks with the engine that none is left; restarts
     * the container when that does not work. Null when nothing was left to kill; else a note for the
     * command's result.
     */
    private String reap() throws InterruptedException {
      if (containerId == null) {
        return null;
      }
      int uid = commandUid();
      int killed = 0;
      for (int attempt = 0; attempt < 4; attempt++) {
        List<String> left;
        try {
          left = processesOf(uid);
        } catch (RuntimeException e) {
          break; // the container is not running (then none of its processes is) or cannot be asked: restart below
        }
        if (left == null || left.isEmpty()) {
          return killed == 0 ? null : "the " + killed + " processes the command left running were killed";
        }
        killed = Math.max(killed, left.size());
        killAll();
      }
      log.warn("session {}: processes of the command are still running in {}; restarting the container", sessionId,
          containerId.substring(0, 12));
      restart();
      return "the processes the command left running were killed (the session's container was restarted: /tmp is empty)";
    }

    /**
     * The engine's list of the container's processes that run as {@code uid}: host pids, as its
     * {@code top} shows them. Null when the container is not running.
     */
    private List<String> processesOf(int uid) {
      InspectContainerResponse.ContainerState state = docker.inspectContainerCmd(containerId).exec().getState();
      if (state == null || !Boolean.TRUE.equals(state.getRunning())) {
        return null;
      }
      TopContainerResponse top = docker.topContainerCmd(containerId).withPsArgs("-o pid,uid,stat").exec();
      String[] titles = top.getTitles();
      int pidCol = -1;
      int uidCol = -1;
      int statCol = -1;
      for (int i = 0; titles != null && i < titles.length; i++) {
        switch (titles[i].trim().toUpperCase(java.util.Locale.ROOT)) {
          case "PID" -> pidCol = i;
          case "UID" -> uidCol = i;
          case "STAT" -> statCol = i;
          default -> { }
        }
      }
      if (pidCol < 0 || uidCol < 0) {
        throw new IllegalStateException("the engine's process list has no PID and UID columns");
      }
      List<String> found = new ArrayList<>();
      for (String[] row : top.getProcesses() == null ? new String[0][] : top.getProcesses()) {
        boolean zombie = statCol >= 0 && row.length > statCol && row[statCol].trim().startsWith("Z"); // ended, not yet reaped
        if (row.length > Math.max(pidCol, uidCol) && row[uidCol].trim().equals(String.valueOf(uid)) && !zombie) {
          found.add(row[pidCol].trim());
        }
      }
      return found;
    }

    /** Before a file tool: no process of the commands' user may run. */
    @Override
    public String quiesce() throws InterruptedException {
      if (containerId == null || unavailable != null) {
        return null;
      }
      for (int attempt = 0; attempt < 2; attempt++) {
        List<String> left;
        try {
          left = processesOf(commandUid());
        } catch (RuntimeException e) {
          return "cannot ask the Docker engine whether processes of the previous command still run: " + e.getMessage();
        }
        if (left == null || left.isEmpty()) {
          return null;
        }
        log.warn("session {}: {} processes of the commands' user run before a file tool; killing them", sessionId, left.size());
        reap();
      }
      return "processes of the previous command are still running and cannot be stopped";
    }

    /** Kills every process of the commands' user but the container's first one; restarts the container if even that cannot run. */
    private void killAll() {
      try {
        String id = docker.execCreateCmd(containerId).withCmd("/bin/sh", "-c", "kill -9 -1").withUser(userFor()).exec().getId();
        docker.execStartCmd(id).exec(new ResultCallback.Adapter<Frame>()).awaitCompletion(5, TimeUnit.SECONDS);
        return;
      } catch (Exception e) {
        log.info("session {}: cannot exec the kill ({}); restarting the container", sessionId, e.toString());
      }
      restart();
    }

    /** Kills the container (its pid namespace, so every process in it) and starts it again. */
    private void restart() {
      healthy = false;
      try {
        docker.killContainerCmd(containerId).exec();
      } catch (RuntimeException e) {
        log.warn("session {}: cannot kill the container: {}", sessionId, e.toString());
      }
      try {
        ensureContainer();
      } catch (RuntimeException e) {
        log.warn("session {}: cannot start the container again: {}", sessionId, e.toString());
      }
    }

    @Override
    public void close() {
      if (containerId != null) {
        try {
          docker.removeContainerCmd(containerId).withForce(true).exec();
        } catch (NotFoundException e) {
          // gone already
        } catch (RuntimeException e) {
          log.warn("session {}: cannot remove container {}: {}", sessionId, containerId, e.toString());
        }
        containerId = null;
      }
    }
  }

  @Override
  public void close() {
    if (docker != null) {
      try {
        docker.close();
      } catch (Exception e) {
        log.warn("cannot close the docker client: {}", e.toString());
      }
    }
  }
}
