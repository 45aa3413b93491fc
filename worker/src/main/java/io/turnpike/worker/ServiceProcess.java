package io.turnpike.worker;

import io.turnpike.schema.Settings;
import io.turnpike.schema.registry.SchemaRegistryException;
import io.turnpike.telemetry.Telemetry;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.common.errors.RetriableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one way a Turnpike service runs as an operating-system process, so that a supervisor (compose
 * {@code restart:}, Kubernetes, systemd) can keep it healthy:
 *
 * <ol>
 *   <li>Its configuration is read first: a mistake exits with code 2 at once (restarting cannot help).
 *   <li>Its health endpoint comes up first: {@code /health/live} UP, {@code /health/ready} DOWN.
 *   <li>It waits, with backoff and a log line saying what for, until Kafka answers, the topics it needs
 *       exist and the schema registry answers, instead of exiting.
 *   <li>It starts the service. A start that fails for a passing reason (the registry or the broker went
 *       away meanwhile) is tried again with backoff; a configuration mistake exits with code 2 at once.
 *   <li>Ready only while started and not stopping. A part that cannot go on (a worker loop that died,
 *       the Streams client in ERROR) calls {@link Context#onFatal}: {@code /health/live} turns DOWN and the
 *       process exits with code 1, so the supervisor restarts it.
 *   <li>SIGTERM drains: the shutdown hook closes the service (jobs in flight finish and answer, offsets are
 *       committed) before the process ends; a shutdown that hangs is cut short by a watchdog.
 * </ol>
 */
public final class ServiceProcess {
  private static final Logger log = LoggerFactory.getLogger(ServiceProcess.class);

  /** Exit code of a process that stopped because a part of it could not go on. */
  public static final int EXIT_FATAL = 1;
  /** Exit code of a process whose configuration is wrong (restarting will not help). */
  public static final int EXIT_CONFIG = 2;

  private static final Duration MAX_BACKOFF = Duration.ofSeconds(15);

  /**
   * What the service gets to start with.
   *
   * @param config  what {@code configure} made of the settings
   * @param onFatal to call when a part cannot go on
   */
  public record Context<C>(Settings settings, C config, Telemetry telemetry, Consumer<Throwable> onFatal) {}

  /** Starts the service's parts and returns what closes them (in drain order). */
  @FunctionalInterface
  public interface Starter<C> {
    AutoCloseable start(Context<C> context) throws Exception;
  }

  private enum Phase { WAITING, STARTING, RUNNING, STOPPING, FAILED }

  private final String name;
  private final Settings settings;
  private final Collection<String> topics;
  private final AtomicReference<Phase> phase = new AtomicReference<>(Phase.WAITING);
  private final AtomicBoolean exiting = new AtomicBoolean();
  private volatile AutoCloseable service;

  private ServiceProcess(String name, Settings settings, Collection<String> topics) {
    this.name = name;
    this.settings = settings;
    this.topics = List.copyOf(topics);
  }

  /**
   * Runs the service named {@code name} until the process is stopped; never returns normally.
   *
   * @param topics    the topics it cannot start without (waited for)
   * @param configure reads and checks the service's configuration (an IllegalArgumentException is a
   *                  configuration mistake)
   */
  public static <C> void run(String name, Collection<String> topics, Function<Settings, C> configure, Starter<C> starter) {
    Settings settings = Settings.fromEnvironment();
    C config;
    Telemetry telemetry;
    try {
      // The Kafka settings every part applies are checked here too, before anything waits.
      settings.consumerTuning();
      settings.producerTuning();
      config = configure.apply(settings);
      telemetry = Telemetry.create(name, settings);
    } catch (RuntimeException e) {
      log.error("{}: configuration error, exiting with code {}: {}", name, EXIT_CONFIG, rootMessage(e));
      System.exit(EXIT_CONFIG);
      return;
    }
    new ServiceProcess(name, settings, topics).run(telemetry, config, starter);
  }

  private <C> void run(Telemetry telemetry, C config, Starter<C> starter) {
    telemetry.readiness("process", () -> phase.get() == Phase.RUNNING);
    telemetry.liveness("process", () -> phase.get() != Phase.FAILED);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name(name + "-shutdown").unstarted(() -> {
      Phase before = phase.getAndUpdate(p -> p == Phase.FAILED ? p : Phase.STOPPING);
      log.info("{}: stopping ({}): draining work in flight", name, before);
      AutoCloseable s = service;
      if (s != null) {
        try {
          s.close();
        } catch (Exception e) {
          log.warn("{}: close failed: {}", name, e.toString());
        }
      }
      telemetry.close();
      log.info("{}: stopped", name);
      stopped.countDown();
    }));
    Consumer<Throwable> onFatal = this::fatal;
    try {
      awaitDependencies();
      service = startWithRetry(new Context<>(settings, config, telemetry, onFatal), starter);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    } catch (Throwable t) {
      if (isConfiguration(t)) {
        phase.set(Phase.FAILED);
        log.error("{}: configuration error, exiting with code {}: {}", name, EXIT_CONFIG, rootMessage(t));
        exit(EXIT_CONFIG);
      } else {
        fatal(t);
      }
      return;
    }
    if (phase.compareAndSet(Phase.STARTING, Phase.RUNNING)) {
      log.info("{}: ready", name);
      System.out.println("turnpike " + name + " ready");
    }
    try {
      stopped.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A part cannot go on: say so on /health/live and exit, so the supervisor restarts the process. */
  private void fatal(Throwable cause) {
    phase.set(Phase.FAILED);
    log.error("{}: cannot go on, exiting with code {} so that the process is restarted: {}", name, EXIT_FATAL,
        cause.toString(), cause);
    exit(EXIT_FATAL);
  }

  private void exit(int code) {
    if (!exiting.compareAndSet(false, true)) {
      return;
    }
    // Not on the caller's thread: it may be a worker loop that the shutdown hook waits for.
    Thread.ofPlatform().name(name + "-exit").start(() -> {
      Thread.ofPlatform().daemon(true).name(name + "-exit-watchdog").start(() -> {
        try {
          Thread.sleep(Duration.ofSeconds(60)); // a drain that hangs must not keep a dead process around
          log.error("{}: shutdown did not finish in time; halting", name);
          Runtime.getRuntime().halt(code);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      System.exit(code);
    });
  }

  // ------------------------------------------------------------------------------- dependencies

  private void awaitDependencies() throws InterruptedException {
    Backoff backoff = new Backoff();
    String bootstrap = settings.bootstrapServers();
    while (true) {
      String missing = kafkaProblem(bootstrap);
      if (missing == null) {
        break;
      }
      log.warn("{}: waiting for {}; again in {}", name, missing, backoff.peek());
      backoff.sleep();
    }
    String registry = settings.schemaRegistryUrl();
    if (!registry.startsWith("mock://")) {
      backoff = new Backoff();
      while (true) {
        String problem = registryProblem(registry);
        if (problem == null) {
          break;
        }
        log.warn("{}: waiting for the schema registry at {} ({}); again in {}", name, registry, problem, backoff.peek());
        backoff.sleep();
      }
    }
    phase.set(Phase.STARTING);
  }

  /** What is missing on the Kafka side, or null when the broker answers and every topic exists. */
  private String kafkaProblem(String bootstrap) {
    Map<String, Object> props = Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000);
    try (Admin admin = Admin.create(props)) {
      admin.describeCluster(new DescribeClusterOptions().timeoutMs(10_000)).clusterId().get(15, TimeUnit.SECONDS);
      if (topics.isEmpty()) {
        return null;
      }
      Set<String> existing = admin.listTopics().names().get(15, TimeUnit.SECONDS);
      Set<String> absent = new TreeSet<>(topics);
      absent.removeAll(existing);
      return absent.isEmpty() ? null
          : "topics " + absent + " on " + bootstrap + " (create them with `turnpike topics create`)";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "Kafka at " + bootstrap + " (interrupted)";
    } catch (Exception e) {
      return "Kafka at " + bootstrap + " (" + rootMessage(e) + ")";
    }
  }

  private static String registryProblem(String url) {
    try {
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
      HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(url.replaceAll("/+$", "") + "/subjects"))
          .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.discarding());
      return r.statusCode() == 200 ? null : "HTTP " + r.statusCode();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    } catch (Exception e) {
      return rootMessage(e);
    }
  }

  // ----------------------------------------------------------------------------------- start-up

  private <C> AutoCloseable startWithRetry(Context<C> context, Starter<C> starter) throws Exception {
    Backoff backoff = new Backoff();
    while (true) {
      try {
        return starter.start(context);
      } catch (Exception e) {
        if (!passing(e)) {
          throw e;
        }
        log.warn("{}: cannot start yet ({}); again in {}", name, rootMessage(e), backoff.peek());
        backoff.sleep();
      }
    }
  }

  /** Whether a start-up failure is an outage that may pass (then: wait and try again). */
  static boolean passing(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SchemaRegistryException s) {
        return s.isTransient();
      }
      if (t instanceof RetriableException || t instanceof ConnectException
          || t instanceof java.util.concurrent.TimeoutException
          || t instanceof org.apache.kafka.common.errors.TimeoutException) {
        return true;
      }
    }
    return false;
  }

  /** Whether a start-up failure is a mistake in the configuration (restarting cannot help). */
  static boolean isConfiguration(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof IllegalArgumentException || t instanceof org.apache.kafka.common.config.ConfigException) {
        return true;
      }
    }
    return false;
  }

  private static String rootMessage(Throwable e) {
    List<String> seen = new ArrayList<>();
    for (Throwable t = e; t != null && seen.size() < 3; t = t.getCause()) {
      String message = t.getMessage();
      if (message != null && seen.stream().noneMatch(m -> m.contains(message))) {
        seen.add(t.getClass().getSimpleName() + ": " + message);
      }
    }
    return seen.isEmpty() ? e.getClass().getSimpleName() : String.join(" / ", seen);
  }

  /** 1 s, doubling, at most {@link #MAX_BACKOFF}. */
  private static final class Backoff {
    private Duration next = Duration.ofSeconds(1);

    Duration peek() {
      return next;
    }

    void sleep() throws InterruptedException {
      Thread.sleep(next); // waiting between attempts is the point here, not a test's wait
      next = next.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : next.multipliedBy(2);
    }
  }
}
