package io.turnpike.sandbox;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import io.turnpike.schema.PartitionProgress;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.sandbox.backend.Backend;
import io.turnpike.sandbox.backend.DockerBackend;
import io.turnpike.sandbox.backend.LocalBackend;
import io.turnpike.telemetry.KafkaTracing;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeSpans;
import io.turnpike.sandbox.workspace.WorkspaceStore;
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
import java.util.function.BiConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live sessions of one instance, at most {@code maxSessions}. Each session runs its commands one
 * at a time, in arrival order, on its own virtual thread; different sessions run concurrently. A
 * command for a new session when every slot is taken evicts the least recently used idle session
 * (its snapshot stays on Kafka); when no session is idle, {@link #offer} says no and the worker keeps
 * the command and pauses consumption. Idle sessions are stopped after {@code idleTimeout}.
 */
final class SessionManager implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SessionManager.class);

  /** One fetched command and where it came from. */
  record Work(SandboxCommand cmd, TopicPartition tp, long offset, PartitionProgress progress, String traceId,
      SpanContext parent) {
    String sessionId() {
      String s = cmd.getSessionId();
      return s == null || s.isBlank() ? cmd.getRunId() : s;
    }
  }

  private final class Holder {
    final String sessionId;
    final int slot;
    final CompletableFuture<Void> previousClosed;
    final ArrayDeque<Work> queue = new ArrayDeque<>();
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
  private final BiConsumer<Work, SandboxResult> sink;
  private final Runnable wakeup;
  private final Map<String, Backend> backends = new ConcurrentHashMap<>();
  private final Map<String, Holder> live = new HashMap<>();
  private final Map<String, CompletableFuture<Void>> closing = new HashMap<>();
  private final BitSet slots = new BitSet();
  private final ExecutorService threads = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("turnpike-sandbox-session-", 0).factory());
  private long lastReap;
  private volatile boolean shuttingDown;
  private final Telemetry telemetry;

  SessionManager(SandboxConfig config, WorkspaceStore store, BiConsumer<Work, SandboxResult> sink, Runnable wakeup) {
    this(config, store, sink, wakeup, Telemetry.noop("sandbox-service"));
  }

  /** {@code sink} is called inside the command's span, so it can put the span's context on the answer. */
  SessionManager(SandboxConfig config, WorkspaceStore store, BiConsumer<Work, SandboxResult> sink, Runnable wakeup,
      Telemetry telemetry) {
    this.telemetry = telemetry;
    this.config = config;
    this.store = store;
    this.sink = sink;
    this.wakeup = wakeup;
    prepareRoot(config.root());
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

  /** Takes the command if its session is live or can be made live; false when every slot is busy. */
  synchronized boolean offer(Work w) {
    String id = w.sessionId();
    Holder h = live.get(id);
    if (h != null && h.stale) {
      return false; // its previous owner is finishing a command; retried when it has stopped
    }
    if (h == null || h.closing) {
      int slot = slots.nextClearBit(0);
      if (slot >= config.maxSessions()) {
        evictIdle();
        return false;
      }
      slots.set(slot);
      h = new Holder(id, slot, closing.getOrDefault(id, CompletableFuture.completedFuture(null)));
      live.put(id, h);
    }
    h.partition = w.tp();
    h.queue.add(w);
    if (!h.running) {
      h.running = true;
      Holder started = h;
      threads.execute(() -> runQueue(started));
    }
    return true;
  }

  /** Commands taken but not yet finished. */
  synchronized int queued() {
    return live.values().stream().mapToInt(h -> h.queue.size() + (h.running ? 1 : 0)).sum();
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
  synchronized void reapIdle() {
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
  synchronized void revoke(Collection<TopicPartition> partitions) {
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
        wakeup.run();
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
      Work w;
      synchronized (this) {
        w = h.queue.poll();
        if (w == null || shuttingDown) {
          h.running = false;
          h.lastUsed = System.currentTimeMillis();
          if (h.stale && !h.closing) {
            stop(h, "its partition moved to another instance");
          }
          return;
        }
      }
      Span span = telemetry.tracing().childSpan(TurnpikeSpans.SANDBOX_COMMAND, w.parent())
          .setAttribute(TurnpikeSpans.RUN_ID, w.cmd().getRunId())
          .setAttribute(TurnpikeSpans.CALL_ID, w.cmd().getCallId())
          .setAttribute(TurnpikeSpans.SANDBOX_SESSION, h.sessionId)
          .setAttribute(TurnpikeSpans.SANDBOX_OPERATION, String.valueOf(w.cmd().getTool()))
          .startSpan();
      try (Scope ignored = span.makeCurrent()) {
        SandboxResult r;
        try {
          r = process(h, w);
        } catch (RuntimeException e) {
          log.error("session {}: command {} failed unexpectedly", h.sessionId, w.cmd().getCallId(), e);
          KafkaTracing.fail(span, e);
          r = error(w.cmd(), h.sessionId, "the sandbox failed: " + e);
        }
        if (h.backend != null) {
          span.setAttribute(TurnpikeSpans.SANDBOX_BACKEND, h.backend);
        }
        if (r.getIsError()) {
          span.setStatus(StatusCode.ERROR);
        }
        sink.accept(w, r);
      } finally {
        span.end();
      }
    }
  }

  private SandboxResult process(Holder h, Work w) {
    SandboxCommand cmd = w.cmd();
    if (h.session == null) {
      h.previousClosed.join();
      Manifest m = cmd.getManifest();
      String backendName = m != null && m.getBackend() != null && !m.getBackend().isBlank()
          ? m.getBackend().trim().toLowerCase() : config.defaultBackend();
      try {
        h.session = SandboxSession.open(h.sessionId, cmd.getAgent(), m, config, store, backend(backendName), h.slot);
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
    return h.session.execute(cmd);
  }

  static SandboxResult error(SandboxCommand cmd, String sessionId, String message) {
    return SandboxResult.newBuilder().setRunId(cmd.getRunId()).setCallId(cmd.getCallId()).setSessionId(sessionId)
        .setTool(cmd.getTool()).setOutput(message).setIsError(true).build();
  }

  @Override
  public void close() {
    synchronized (this) {
      shuttingDown = true;
      live.values().forEach(h -> h.queue.clear());
    }
    threads.shutdown();
    try {
      if (!threads.awaitTermination(config.closeTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn("commands still running after {}; stopping them", config.closeTimeout());
        threads.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      threads.shutdownNow();
    }
    List<Holder> all;
    synchronized (this) {
      all = new ArrayList<>(live.values());
      live.clear();
    }
    for (Holder h : all) {
      if (h.session != null) {
        h.session.close(); // the local workspace stays: a restart on this host reuses it if it is current
      }
    }
    backends.values().forEach(Backend::close);
  }
}
