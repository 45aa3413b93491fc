package io.turnpike.sandbox.backend;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.async.ResultCallback;
import com.github.dockerjava.api.command.InspectContainerResponse;
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
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Commands in Docker containers, through docker-java (httpclient5 transport). One container per
 * session, created on the session's first command from the manifest's image (else the configured one):
 * no network ({@code --network none}) unless allowed, memory (swap included), CPUs and pids bounded,
 * every capability dropped, {@code no-new-privileges}, a read-only root file system with a private
 * {@code /tmp}, a non-root user, and the session's workspace folder bind-mounted at
 * {@code /workspace}. Each command is an exec of {@code sh -c} with CPU-time and file-size ulimits; on
 * return every other process of the user in the container is killed, so nothing outlives its
 * command. A command past its wall clock is killed the same way (or by restarting the container if
 * even that cannot start).
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

  @Override
  public BackendSession open(String sessionId, int slot, Workspace workspace, Limits limits, Map<String, String> env,
      String image, boolean network) {
    return new Session(sessionId, workspace, limits, env, image == null || image.isBlank() ? defaultImage : image, network);
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

    Session(String sessionId, Workspace ws, Limits limits, Map<String, String> env, String image, boolean network) {
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
          .withUser(userFor())
          .withWorkingDir(Workspace.MOUNT)
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
            try {
              close(); // ends the wait; the process is killed below
            } catch (java.io.IOException e) {
              // closing anyway
            }
          }
        }
      });
      // awaitCompletion(timeout) closes the stream when it returns: call it once
      boolean done = cb.awaitCompletion(r.timeoutMs(), TimeUnit.MILLISECONDS) && !exceeded[0];
      if (!done) {
        healthy = false;
        killAll();
        try {
          cb.close();
        } catch (Exception e) {
          // ignore
        }
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
      String note = exceeded[0] ? "killed: the command wrote more than " + hardCap + " bytes of output"
          : !done ? "timed out after " + r.timeoutMs() + " ms: the command and all its processes were killed"
          : LocalBackend.signalNote(exit, r.limits());
      return new ExecResult(exit, out.text(), err.text(), !done && !exceeded[0], note,
          (System.nanoTime() - start) / 1_000_000);
    }

    /** Kills every process of the user but pid 1; restarts the container if even that cannot run. */
    private void killAll() {
      try {
        String id = docker.execCreateCmd(containerId).withCmd("/bin/sh", "-c", "kill -9 -1").withUser(userFor()).exec().getId();
        docker.execStartCmd(id).exec(new ResultCallback.Adapter<Frame>()).awaitCompletion(5, TimeUnit.SECONDS);
        return;
      } catch (Exception e) {
        log.info("session {}: cannot exec the kill ({}); restarting the container", sessionId, e.toString());
      }
      try {
        docker.killContainerCmd(containerId).exec();
      } catch (RuntimeException e) {
        log.warn("session {}: cannot kill the container: {}", sessionId, e.toString());
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
