package io.turnpike.chaos;

import io.turnpike.devkit.EmbeddedKafkaMain;
import io.turnpike.devkit.registry.DevSchemaRegistryMain;
import io.turnpike.guardrail.GuardrailService;
import io.turnpike.memory.MemoryService;
import io.turnpike.runner.RunnerMain;
import io.turnpike.sandbox.SandboxService;
import io.turnpike.schema.Settings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.common.GroupState;

/**
 * Every part of a Turnpike deployment as a separate OS process on this machine: a real KRaft broker,
 * the dev schema registry, the scripted model server, a tool worker, two runners (same application
 * id, separate state directories), the sandbox (local backend), guardrail and memory services. Ports,
 * data and state directories are fixed when the fleet is built, so any part killed and started again
 * comes back with the configuration it died with.
 */
public final class Fleet implements AutoCloseable {
  public static final String RUNNER_APPLICATION_ID = "turnpike-runner";
  public static final String MODEL_API_KEY = "chaos-key";
  private static final Pattern UUID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  private static final Pattern ERROR_LINE = Pattern.compile("^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ERROR ");
  private static final Pattern EXCEPTION_LINE = Pattern.compile("^[a-z][\\w.$]*(Exception|Error)\\b");
  private static final Pattern BLANKS = Pattern.compile("[0-9a-f]{8}-[0-9a-f-]{27}|\\d+");

  private final Path dir;
  private final ChaosPlan plan;
  private final Timeline timeline;
  private final ScheduledExecutorService supervisor;
  private final Map<Part, ChildProcess> parts = new EnumMap<>(Part.class);
  private final Map<Part, Integer> httpPorts = new EnumMap<>(Part.class);
  private final int brokerPort;
  private final int controllerPort;
  private final int registryPort;
  private final int modelPort;
  /** One workspace snapshot key for every start of the sandbox: a restarted sandbox must restore what it wrote before. */
  private final String snapshotKey = java.util.HexFormat.of().formatHex(new java.security.SecureRandom().generateSeed(32));
  private Admin admin;

  /**
   * @param dir       where logs, broker data, runner state and sandbox workspaces go
   * @param classPath the class path of every part (this JVM's, when the harness runs from a test)
   */
  public Fleet(Path dir, ChaosPlan plan, String classPath, Timeline timeline) {
    this.dir = dir;
    this.plan = plan;
    this.timeline = timeline;
    this.supervisor = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon(true).name("chaos-supervisor").unstarted(r));
    Set<Integer> taken = new HashSet<>();
    brokerPort = freePort(taken);
    controllerPort = freePort(taken);
    registryPort = freePort(taken);
    modelPort = freePort(taken);
    for (Part p : List.of(Part.TOOL_WORKER, Part.SANDBOX, Part.GUARDRAIL, Part.MEMORY, Part.RUNNER_1, Part.RUNNER_2)) {
      httpPorts.put(p, freePort(taken));
    }
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // The sandbox runs a session's commands as another uid (when it runs as root): its workspaces must be
    // reachable through this directory, which a temporary directory (0700) is not.
    mkdirs(dir);
    try {
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    } catch (IOException | UnsupportedOperationException e) {
      throw new IllegalStateException("cannot open " + dir + " to the sandbox's session users: " + e, e);
    }
    Path logback = writeLogbackConfig();
    for (Part part : Part.values()) {
      ProcessSpec spec = spec(part, logback);
      parts.put(part, new ChildProcess(spec, dir.resolve("logs").resolve(part.label() + ".log"), java, classPath,
          timeline, supervisor));
    }
  }

  public String bootstrapServers() {
    return "127.0.0.1:" + brokerPort;
  }

  public String registryUrl() {
    return "http://127.0.0.1:" + registryPort;
  }

  public String modelBaseUrl() {
    return "http://127.0.0.1:" + modelPort + "/v1";
  }

  public Path dir() {
    return dir;
  }

  public ChildProcess part(Part part) {
    return parts.get(part);
  }

  public Path runnerStateDir(Part runner) {
    return dir.resolve("state").resolve(runner.label());
  }

  /** Starts the broker and the registry, one after the other, each ready before the next. */
  public void startPlatform(Duration timeout) {
    part(Part.BROKER).start();
    part(Part.BROKER).awaitReadyOrFail(timeout);
    part(Part.REGISTRY).start();
    part(Part.REGISTRY).awaitReadyOrFail(timeout);
  }

  /** Starts every other part at once (they only need the broker and the registry) and waits until all are ready. */
  public void startServices(Duration timeout) {
    List<Part> services = List.of(Part.MODEL, Part.TOOL_WORKER, Part.SANDBOX, Part.GUARDRAIL, Part.MEMORY,
        Part.RUNNER_1, Part.RUNNER_2);
    services.forEach(p -> part(p).start());
    List<CompletableFuture<Void>> ready = new ArrayList<>();
    for (Part p : services) {
      ready.add(CompletableFuture.runAsync(() -> part(p).awaitReadyOrFail(timeout)));
    }
    try {
      CompletableFuture.allOf(ready.toArray(CompletableFuture[]::new)).join();
    } catch (java.util.concurrent.CompletionException e) {
      throw e.getCause() instanceof RuntimeException r ? r : e;
    }
  }

  /** Parts whose exit nobody asked for are started again from now on. */
  public void supervise(boolean on) {
    parts.values().forEach(p -> p.supervise(on));
  }

  /**
   * The Kafka Streams process id of a runner: it is kept in the runner's state directory, so it stays
   * the same across restarts, and the runner's group members are named after it
   * ({@code turnpike-runner-<processId>-StreamThread-1-consumer}).
   */
  public Optional<String> runnerProcessId(Part runner) {
    Path file = runnerStateDir(runner).resolve(RUNNER_APPLICATION_ID).resolve("kafka-streams-process-metadata");
    try {
      if (!Files.exists(file)) {
        return Optional.empty();
      }
      Matcher m = UUID.matcher(Files.readString(file, StandardCharsets.ISO_8859_1));
      return m.find() ? Optional.of(m.group()) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /**
   * Per part, the distinct ERROR lines of its log (ids and numbers blanked so that repeats group) with
   * the exception line that follows each, and how often each came: what a part went through, in short.
   */
  public Map<Part, Map<String, Integer>> errorLines() {
    Map<Part, Map<String, Integer>> out = new EnumMap<>(Part.class);
    for (Part part : Part.values()) {
      Map<String, Integer> counts = new LinkedHashMap<>();
      try {
        List<String> lines = Files.exists(part(part).log()) ? Files.readAllLines(part(part).log(), StandardCharsets.UTF_8) : List.of();
        for (int i = 0; i < lines.size(); i++) {
          String line = lines.get(i);
          String message;
          if (ERROR_LINE.matcher(line).find()) {
            int dash = line.indexOf(" - ");
            message = dash < 0 ? line.substring(13) : line.substring(dash + 3);
            if (i + 1 < lines.size() && EXCEPTION_LINE.matcher(lines.get(i + 1)).find()) {
              message += " / " + lines.get(i + 1);
            }
          } else if (line.startsWith("Exception in thread")) {
            message = line;
          } else {
            continue;
          }
          message = BLANKS.matcher(message).replaceAll("#");
          counts.merge(message.length() > 240 ? message.substring(0, 240) + "..." : message, 1, Integer::sum);
        }
      } catch (IOException | UncheckedIOException e) {
        counts.put("(cannot read " + part(part).log() + ": " + e + ")", 1);
      }
      out.put(part, counts);
    }
    return out;
  }

  /** Stops every part with SIGTERM (services first, the broker last). */
  @Override
  public void close() {
    supervise(false);
    List<Part> order = List.of(Part.RUNNER_1, Part.RUNNER_2, Part.TOOL_WORKER, Part.SANDBOX, Part.GUARDRAIL,
        Part.MEMORY, Part.MODEL, Part.REGISTRY, Part.BROKER);
    List<CompletableFuture<Void>> services = new ArrayList<>();
    for (Part p : order.subList(0, 7)) {
      services.add(CompletableFuture.runAsync(part(p)::close));
    }
    CompletableFuture.allOf(services.toArray(CompletableFuture[]::new)).join();
    synchronized (this) {
      if (admin != null) {
        admin.close(Duration.ofSeconds(2));
      }
    }
    part(Part.REGISTRY).close();
    part(Part.BROKER).close();
    supervisor.shutdownNow();
  }

  // -------------------------------------------------------------------------------------------

  private ProcessSpec spec(Part part, Path logback) {
    List<String> jvm = new ArrayList<>(plan.childJvmOptions());
    jvm.add(switch (part) {
      case BROKER -> "-Xmx512m";
      case RUNNER_1, RUNNER_2 -> "-Xmx384m";
      default -> "-Xmx256m";
    });
    jvm.add("-Dlogback.configurationFile=" + logback);
    jvm.add("-Djava.io.tmpdir=" + mkdirs(dir.resolve("tmp").resolve(part.label())));
    Map<String, String> env = new LinkedHashMap<>();
    if (part != Part.BROKER) {
      env.put(envName("turnpike.bootstrap.servers"), bootstrapServers());
    }
    return switch (part) {
      case BROKER -> new ProcessSpec(part, EmbeddedKafkaMain.class.getName(), jvm,
          List.of("--port", String.valueOf(brokerPort), "--controller-port", String.valueOf(controllerPort),
              "--data-dir", dir.resolve("kafka-data").toString()),
          env, Readiness.printed(EmbeddedKafkaMain.READY));
      case REGISTRY -> new ProcessSpec(part, DevSchemaRegistryMain.class.getName(), jvm,
          List.of("--port", String.valueOf(registryPort), "--bootstrap", bootstrapServers()),
          env, Readiness.printed(DevSchemaRegistryMain.READY));
      case MODEL -> new ProcessSpec(part, ChaosModelMain.class.getName(), jvm,
          List.of("--port", String.valueOf(modelPort), "--delay-ms", String.valueOf(plan.modelDelay().toMillis())),
          env, Readiness.printed(ChaosModelMain.READY));
      case TOOL_WORKER -> service(part, WeatherToolMain.class.getName(), jvm, env, Map.of(),
          List.of("--latency-ms", String.valueOf(plan.toolLatency().toMillis())));
      case SANDBOX -> service(part, SandboxService.class.getName(), jvm, env, Map.of(
          "turnpike.sandbox.backend", "local",
          "turnpike.sandbox.root", mkdirs(dir.resolve("sandbox")).toString(),
          "turnpike.sandbox.snapshot-key", snapshotKey), List.of());
      case GUARDRAIL -> service(part, GuardrailService.class.getName(), jvm, env, Map.of(), List.of());
      case MEMORY -> service(part, MemoryService.class.getName(), jvm, env, Map.of(), List.of());
      case RUNNER_1, RUNNER_2 -> {
        ProcessSpec runner = service(part, RunnerMain.class.getName(), jvm, env, Map.of(
            "turnpike.runner.application-id", RUNNER_APPLICATION_ID,
            "turnpike.runner.state-dir", mkdirs(runnerStateDir(part)).toString(),
            "turnpike.model.base-url", modelBaseUrl(),
            "turnpike.model.api-key", MODEL_API_KEY,
            // the guardrail service is one of the parts killed: its checks must go to it, not be judged in the runner
            "turnpike.runner.local-guardrails", "false"), List.of());
        // A runner's /health/ready can say UP while only its model invoker has started (seen on the code of
        // 2026-12-03: the orchestrator did not exist yet), so a runner is ready when its stream thread is
        // also a member of a stable runner group.
        Readiness http = runner.readiness();
        yield new ProcessSpec(part, runner.mainClass(), runner.jvmOptions(), runner.args(), runner.env(),
            log -> http.ready(log) && inStableRunnerGroup(part));
      }
    };
  }

  /** Whether the runner's stream thread is a member of the runner group and the group is stable. */
  private boolean inStableRunnerGroup(Part runner) throws Exception {
    Optional<String> processId = runnerProcessId(runner);
    if (processId.isEmpty()) {
      return false;
    }
    ConsumerGroupDescription group = admin().describeConsumerGroups(List.of(RUNNER_APPLICATION_ID))
        .describedGroups().get(RUNNER_APPLICATION_ID).get(3, TimeUnit.SECONDS);
    String prefix = RUNNER_APPLICATION_ID + "-" + processId.get();
    return group.groupState() == GroupState.STABLE && group.members().stream().anyMatch(m -> m.clientId().startsWith(prefix));
  }

  private synchronized Admin admin() {
    if (admin == null) {
      admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
          AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 3000));
    }
    return admin;
  }

  private ProcessSpec service(Part part, String main, List<String> jvm, Map<String, String> env,
      Map<String, String> own, List<String> args) {
    Map<String, String> e = new LinkedHashMap<>(env);
    e.put(envName("turnpike.schema.registry.url"), registryUrl());
    e.put(envName("turnpike.kafka.session-timeout"), plan.sessionTimeout().toMillis() + "ms");
    e.put(envName("turnpike.http.port"), String.valueOf(httpPorts.get(part)));
    own.forEach((k, v) -> e.put(envName(k), v));
    return new ProcessSpec(part, main, jvm, args, e,
        Readiness.http("http://127.0.0.1:" + httpPorts.get(part) + "/health/ready"));
  }

  private static String envName(String key) {
    return Settings.envName(key);
  }

  private Path writeLogbackConfig() {
    Path file = dir.resolve("logback-parts.xml");
    String xml = """
        <configuration>
          <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
            <encoder><pattern>%d{HH:mm:ss.SSS} %-5level [%thread] %logger{36} - %msg%n</pattern></encoder>
          </appender>
          <logger name="org.apache.kafka" level="WARN"/>
          <logger name="kafka" level="WARN"/>
          <logger name="state.change.logger" level="WARN"/>
          <!-- what a rebalance does, seen from the broker (joins, expirations) and from the runners -->
          <logger name="org.apache.kafka.coordinator.group" level="INFO"/>
          <logger name="org.apache.kafka.streams.KafkaStreams" level="INFO"/>
          <logger name="org.apache.kafka.clients.consumer.internals.ConsumerCoordinator" level="INFO"/>
          <logger name="io.turnpike" level="INFO"/>
          <root level="INFO"><appender-ref ref="OUT"/></root>
        </configuration>
        """;
    try {
      Files.createDirectories(dir);
      Files.writeString(file, xml);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path mkdirs(Path p) {
    try {
      return Files.createDirectories(p);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static int freePort(Set<Integer> taken) {
    for (int attempt = 0; attempt < 50; attempt++) {
      try (ServerSocket s = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
        int port = s.getLocalPort();
        if (taken.add(port)) {
          return port;
        }
      } catch (IOException e) {
        throw new UncheckedIOException("no free port on 127.0.0.1", e);
      }
    }
    throw new IllegalStateException("no free port found");
  }
}
