package io.turnpike.sandbox;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.sandbox.backend.Backend;
import io.turnpike.sandbox.backend.DockerBackend;
import io.turnpike.sandbox.backend.LocalBackend;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeSpans;
import io.turnpike.worker.Admission;
import io.turnpike.worker.Job;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live sessions of one instance, at most {@code maxSessions}, and the sandbox's admission to the
 * worker loop. Each session runs its commands one at a time, in arrival order, on its own virtual
 * thread; different sessions run concurrently. A command for a new session when every slot is taken
 * evicts the least recently used idle session (its snapshot stays on Kafka) and is refused
 * {@link Verdict#FULL FULL}: the loop keeps it, and everything read after it, until the slot is free,
 * so a new session is not starved by busy ones. Idle sessions are stopped after {@code idleTimeout}.
 */
final class SessionManager implements Admission<SandboxCommand, SandboxResult> {
  private static final Logger log = LoggerFactory.getLogger(SessionManager.class);

  private final class Holder {
    final String sessionId;
    final int slot;
    final CompletableFuture<Void> previousClosed;
    final ArrayDeque<Job<SandboxCommand, SandboxResult>> queue = new ArrayDeque<>();
    TopicPartition partition;
    boolean running;
    boolean closing;
    boolean stale;
    long lastUsed = System.currentTimeMillis();
    SandboxSession session;
    String backend;

    Holder(String sessionId, int slot, CompletableFuture<Void> previousClosed) {
      this.sessionId = sessionId;
      this.slot = slot;
      this.previousClosed = previousClosed;
    }
  }

  private final SandboxConfig config;
  private final WorkspaceStore store;
  private final Telemetry telemetry;
  /** Commands taken and not finished, at most: beyond it the loop keeps them and pauses. */
  private final int maxQueued;
  private final Map<String, Backend> backends = new ConcurrentHashMap<>();
  private final Map<String, Holder> live = new HashMap<>();
  private final Map<String, CompletableFuture<Void>> closing = new HashMap<>();
  private final BitSet slots = new BitSet();
  private final ExecutorService threads = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("turnpike-sandbox-session-", 0).factory());
  private long lastReap;
  private volatile boolean shuttingDown;
  /** Drain ran out of time: commands still running are left unanswered, for the partition's next owner. */
  private volatile boolean abandoned;
  private boolean refusing;
  private final AtomicLong pauses = new AtomicLong();

  SessionManager(SandboxConfig config, WorkspaceStore store, Telemetry telemetry) {
    this.telemetry = telemetry;
    this.config = config;
    this.store = store;
    this.maxQueued = Math.max(100, config.maxSessions() * 8);
    prepareRoot(config.root());
  }

  /** A command's session: its own, or its run's when it names none. */
  static String sessionId(SandboxCommand cmd) {
    String s = cmd.getSessionId();
    return s == null || s.isBlank() ? cmd.getRunId() : s;
  }

  /**
   * Creates the workspace root and its {@code sessions} folder, traversable (not readable) by the
   * per-session users, who must reach their own workspace through them.
   */
  static void prepareRoot(java.nio.file.Path root) {
    try {
      for (java.nio.file.Path p : List.of(root, root.resolve("sessions"))) {
        java.nio.file.Files.createDirectories(p);
        java.nio.file.Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
      }
    } catch (java.io.IOException | UnsupportedOperationException e) {
      log.warn("cannot prepare the sandbox root {}: {}", root, e.toString());
    }
  }

  Backend backend(String name) {
    return backends.computeIfAbsent(name, n -> switch (n) {
      case "local" -> new LocalBackend(config.allowUnisolated(), config.localUidBase(), config.root().resolve("probe"), config.bwrap());
      case "docker" -> new DockerBackend(config.dockerImage(), config.dockerUser(), config.root().toString());
      default -> throw new ToolException("unknown sandbox backend '" + n + "' (local or docker)");
    });
  }

  @Override
  public String orderKey(Job<SandboxCommand, SandboxResult> job) {
    return sessionId(job.request());
  }

  /**
   * Takes the command when its session is live or can be made live; BUSY while its session's previous
   * owner (a revoked partition's) is finishing; FULL when every slot is busy or too many commands wait.
   */
  @Override
  public synchronized Verdict offer(Job<SandboxCommand, SandboxResult> job) {
    Verdict v = admit(job);
    if (v == Verdict.TAKEN) {
      refusing = false;
    } else if (!refusing) {
      refusing = true;
      pauses.incrementAndGet();
    }
    return v;
  }

  private Verdict admit(Job<SandboxCommand, SandboxResult> job) {
    if (shuttingDown || queued() >= maxQueued) {
      return Verdict.FULL;
    }
    String id = sessionId(job.request());
    Holder h = live.get(id);
    if (h != null && h.stale) {
      return Verdict.BUSY; // offered again once it has stopped
    }
    if (h == null) {
      int slot = slots.nextClearBit(0);
      if (slot >= config.maxSessions()) {
        // The loop offers this command again on every turn: one slot on its way back is enough for it.
        if (closing.isEmpty()) {
          evictIdle();
        }
        return Verdict.FULL;
      }
      slots.set(slot);
      h = new Holder(id, slot, closing.getOrDefault(id, CompletableFuture.completedFuture(null)));
      live.put(id, h);
    }
    h.partition = job.partition();
    h.queue.add(job);
    if (!h.running) {
      h.running = true;
      Holder started = h;
      threads.execute(() -> runQueue(started));
    }
    return Verdict.TAKEN;
  }

  /** Commands taken but not yet finished. */
  @Override
  public synchronized int inFlight() {
    return queued();
  }

  private int queued() {
    return live.values().stream().mapToInt(h -> h.queue.size() + (h.running ? 1 : 0)).sum();
  }

  /** How many times it began refusing commands after taking them. */
  long pauses() {
    return pauses.get();
  }

  synchronized int liveSessions() {
    return live.size();
  }

  /** Live sessions opened on {@code backend}. */
  synchronized int liveSessions(String backend) {
    return (int) live.values().stream().filter(h -> h.session != null && backend.equals(h.backend)).count();
  }

  synchronized List<String> liveSessionIds() {
    return new ArrayList<>(live.keySet());
  }

  /** Stops the least recently used idle session, if there is one. */
  private void evictIdle() {
    live.values().stream().filter(h -> !h.running && h.queue.isEmpty() && !h.closing)
        .min(java.util.Comparator.comparingLong(h -> h.lastUsed))
        .ifPresent(h -> stop(h, "evicted to make room for another session"));
  }

  /** Stops sessions idle for longer than the idle timeout (checked at most once a second). */
  @Override
  public synchronized void tick() {
    long now = System.currentTimeMillis();
    if (now - lastReap < Math.min(1000, config.idleTimeout().toMillis())) {
      return;
    }
    lastReap = now;
    for (Holder h : List.copyOf(live.values())) {
      if (!h.running && h.queue.isEmpty() && !h.closing && now - h.lastUsed >= config.idleTimeout().toMillis()) {
        stop(h, "idle for " + config.idleTimeout().toSeconds() + " s");
      }
    }
  }

  /**
   * Partitions moved to another instance: commands not yet started are dropped (the new owner gets
   * them), and their sessions stop once idle, since the new owner now changes their workspaces.
   */
  @Override
  public synchronized void revoked(Collection<TopicPartition> partitions) {
    for (Holder h : List.copyOf(live.values())) {
      if (h.partition != null && partitions.contains(h.partition)) {
        h.queue.clear();
        h.stale = true;
        if (!h.running) {
          stop(h, "its partition moved to another instance");
        }
      }
    }
  }

  private void stop(Holder h, String why) {
    h.closing = true;
    live.remove(h.sessionId);
    CompletableFuture<Void> done = new CompletableFuture<>();
    closing.put(h.sessionId, done);
    log.info("stopping session {}: {}", h.sessionId, why);
    Runnable task = () -> {
      try {
        h.previousClosed.join();
        if (h.session != null) {
          h.session.close();
          h.session.deleteLocal();
        }
      } catch (RuntimeException e) {
        log.warn("cannot stop session {} cleanly: {}", h.sessionId, e.toString());
      } finally {
        synchronized (SessionManager.this) {
          slots.clear(h.slot);
          closing.remove(h.sessionId, done);
        }
        done.complete(null);
      }
    };
    try {
      threads.execute(task);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      task.run();
    }
  }

  private void runQueue(Holder h) {
    while (true) {
      Job<SandboxCommand, SandboxResult> job;
      synchronized (this) {
        job = h.queue.poll();
        if (job == null || shuttingDown) {
          h.running = false;
          h.lastUsed = System.currentTimeMillis();
          if (h.stale && !h.closing && !shuttingDown) {
            stop(h, "its partition moved to another instance");
          }
          return;
        }
      }
      SandboxCommand cmd = job.request();
      Span span = telemetry.tracing().childSpan(TurnpikeSpans.SANDBOX_COMMAND, job.parent())
          .setAttribute(TurnpikeSpans.RUN_ID, cmd.getRunId())
          .setAttribute(TurnpikeSpans.CALL_ID, cmd.getCallId())
          .setAttribute(TurnpikeSpans.SANDBOX_SESSION, h.sessionId)
          .setAttribute(TurnpikeSpans.SANDBOX_OPERATION, String.valueOf(cmd.getTool()))
          .startSpan();
      try (Scope ignored = span.makeCurrent()) {
        SandboxResult r;
        try {
          r = process(h, cmd);
        } catch (RuntimeException | OutOfMemoryError | StackOverflowError e) {
          // answered as an error: a thread that died here would leave its session running, and hung, for ever
          log.error("session {}: command {} failed unexpectedly", h.sessionId, cmd.getCallId(), e);
          KafkaTracing.fail(span, e);
          r = error(cmd, h.sessionId, "the sandbox failed: " + e);
        }
        if (h.backend != null) {
          span.setAttribute(TurnpikeSpans.SANDBOX_BACKEND, h.backend);
        }
        if (abandoned) {
          // Cut short by the shutdown: not the command's answer. Uncommitted, it runs again elsewhere.
          span.setAttribute(TurnpikeSpans.OUTCOME, "abandoned");
          log.warn("session {}: command {} was stopped by the shutdown; left for the partition's next owner",
              h.sessionId, cmd.getCallId());
          return;
        }
        if (r.getIsError()) {
          span.setStatus(StatusCode.ERROR);
        }
        job.answer(r, Context.current());
      } finally {
        span.end();
      }
    }
  }

  private SandboxResult process(Holder h, SandboxCommand cmd) {
    if (h.session == null) {
      h.previousClosed.join();
      Manifest m = cmd.getManifest();
      String backendName = m != null && m.getBackend() != null && !m.getBackend().isBlank()
          ? m.getBackend().trim().toLowerCase() : config.defaultBackend();
      try {
        h.session = SandboxSession.open(h.sessionId, cmd.getAgent(), m, configOf(h.sessionId), store, backend(backendName),
            h.slot);
        h.backend = backendName;
      } catch (ToolException e) {
        return error(cmd, h.sessionId, "cannot create the sandbox session: " + e.getMessage());
      } catch (Exception e) {
        log.error("session {}: cannot open", h.sessionId, e);
        return error(cmd, h.sessionId, "cannot create the sandbox session: " + e);
      }
    }
    SandboxResult before = h.session.answered(cmd.getCallId());
    if (before != null) {
      log.info("session {}: {} was answered before; sending the same answer", h.sessionId, cmd.getCallId());
      return SandboxResult.newBuilder(before).setRunId(cmd.getRunId()).setCallId(cmd.getCallId()).build();
    }
    if ("close_session".equals(cmd.getTool())) {
      // The holder stays; a later command of the session opens it again from its snapshot.
      SandboxSession s = h.session;
      h.session = null;
      s.close();
      s.deleteLocal();
      log.info("session {} closed by {}", h.sessionId, cmd.getCallId());
      return SandboxResult.newBuilder().setRunId(cmd.getRunId()).setCallId(cmd.getCallId()).setSessionId(h.sessionId)
          .setTool(cmd.getTool()).setOutput("session closed; its last workspace snapshot stays available")
          .setSnapshotId(s.snapshot() == null ? null : s.snapshot().snapshotId()).build();
    }
    SandboxResult r = h.session.execute(cmd);
    if (h.session.stuckTool() != null) {
      replace(h);
    }
    return r;
  }

  /** Sessions whose earlier life left a file tool call that could not be stopped: how many times, by session id. */
  private final Map<String, Integer> replaced = new ConcurrentHashMap<>();

  /**
   * The configuration a session opens with: its workspace under the root, or, once a tool call of it
   * could not be stopped, under a root of its own, so that call (still running) cannot touch the
   * workspace of its next life.
   */
  private SandboxConfig configOf(String sessionId) {
    Integer n = replaced.get(sessionId);
    if (n == null) {
      return config;
    }
    java.nio.file.Path root = config.root().resolve("replaced").resolve(String.valueOf(n));
    prepareRoot(config.root().resolve("replaced"));
    prepareRoot(root);
    return config.withRoot(root);
  }

  /**
   * A file tool call of this session could not be stopped: the session is set up again from its last
   * snapshot in another folder on its next command; the old folder is deleted once that call ends.
   */
  private void replace(Holder h) {
    SandboxSession old = h.session;
    Thread stuck = old.stuckTool();
    h.session = null;
    replaced.merge(h.sessionId, 1, Integer::sum);
    log.warn("session {}: a file tool call could not be stopped; the session is set up again from its last snapshot",
        h.sessionId);
    old.close();
    Thread.ofVirtual().name("turnpike-sandbox-stuck-" + h.sessionId).start(() -> {
      try {
        stuck.join();
        old.deleteLocal();
        log.info("session {}: the file tool call that could not be stopped has ended; its old workspace is deleted",
            h.sessionId);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
  }

  static SandboxResult error(SandboxCommand cmd, String sessionId, String message) {
    return SandboxResult.newBuilder().setRunId(cmd.getRunId()).setCallId(cmd.getCallId()).setSessionId(sessionId)
        .setTool(cmd.getTool()).setOutput(message).setIsError(true).build();
  }

  /**
   * Stops taking commands, lets those running finish and answer for up to {@code grace}, then stops
   * what is left (unanswered, so the partition's next owner runs it again) and the sessions; their local
   * workspaces stay, so a restart on this host reuses them if they are current.
   */
  @Override
  public void drain(Duration grace) {
    synchronized (this) {
      if (shuttingDown) {
        return;
      }
      shuttingDown = true;
      live.values().forEach(h -> h.queue.clear());
    }
    threads.shutdown();
    try {
      if (!threads.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn("{} commands still running after {}; stopping them", inFlight(), grace);
        abandoned = true;
        threads.shutdownNow();
        threads.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      abandoned = true;
      threads.shutdownNow();
    }
    List<Holder> all;
    synchronized (this) {
      all = new ArrayList<>(live.values());
      live.clear();
    }
    // Runs before the loop's last commit: nothing here may throw.
    for (Holder h : all) {
      if (h.session != null) {
        try {
          h.session.close();
        } catch (RuntimeException e) {
          log.warn("cannot stop session {} cleanly: {}", h.sessionId, e.toString());
        }
      }
    }
    for (Backend b : backends.values()) {
      try {
        b.close();
      } catch (RuntimeException e) {
        log.warn("cannot close the {} backend: {}", b.name(), e.toString());
      }
    }
  }
}
