package io.turnpike.cli;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.cli.example.ExampleTools;
import io.turnpike.cli.example.OfflineTravelScript;
import io.turnpike.client.agent.AgentCatalog;
import io.turnpike.client.TurnpikeException;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.client.internal.KafkaSupport;
import io.turnpike.client.run.RunTimeoutException;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.console.ConsoleService;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.sandbox.workspace.SnapshotKey;
import io.turnpike.devkit.registry.DevSchemaRegistry;
import io.turnpike.schema.SchemaRegistration;
import io.turnpike.schema.registry.SchemaRegistries;
import io.turnpike.devkit.MemoryScript;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.guardrail.GuardrailService;
import io.turnpike.mcp.McpGatewayConfig;
import io.turnpike.mcp.ToolGateway;
import io.turnpike.memory.MemoryService;
import io.turnpike.runner.RunnerService;
import io.turnpike.sandbox.SandboxService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.telemetry.Telemetry;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code turnpike dev}: an in-process KRaft broker, the topics, the four services, the example tool
 * worker, the agents from {@code agents/*.yaml}; then one run of the example agent, streamed live.
 */
@Command(name = "dev", mixinStandardHelpOptions = true,
    description = "Run everything in this JVM: an embedded Kafka broker, the runner, sandbox, guardrail and memory"
        + " services, the operator console (web UI) and the example tool worker; publish the agents in agents/*.yaml, run one and stream its steps."
        + " Uses the real model when OPENAI_API_KEY is set (OPENAI_BASE_URL for another endpoint), else a bundled"
        + " OFFLINE SCRIPTED model.")
final class DevCommand implements Callable<Integer> {
  static final String DEFAULT_INPUT = "What's the weather like in Lisbon right now, and what time is it there?";
  /** Example agents bundled in the jar (copied from the repository's agents/ folder at build time). */
  static final List<String> BUNDLED_AGENTS = List.of("travel-assistant.yaml", "trip-planner.yaml", "trip-concierge.yaml",
      "research-assistant.yaml", "support-triage.yaml", "billing-specialist.yaml");
  /** What the example run asks the agents that are not about travel, when --input is not given. */
  static final Map<String, String> DEFAULT_INPUTS = Map.of(
      "support-triage", "I was charged twice for invoice INV-1042 this month. Can I get my money back?",
      "billing-specialist", "I was charged twice for invoice INV-1042 this month. Can I get my money back?",
      "workspace-coder", "Add a farewell(name) function next to greet(name) in hello.py, with tests for both.");

  @Spec
  CommandSpec spec;

  @Option(names = "--input", paramLabel = "TEXT",
      description = "The user's message for the run (default: a question that suits the agent; a travel question for the travel agents).")
  String input;

  @Option(names = "--agent", paramLabel = "NAME", defaultValue = "travel-assistant",
      description = "Agent to run (default ${DEFAULT-VALUE}).")
  String agent;

  @Option(names = "--agents-dir", paramLabel = "DIR",
      description = "Agent YAML to publish (default: ./agents when present, else the bundled example).")
  Path agentsDir;

  @Option(names = "--data-dir", paramLabel = "DIR",
      description = "Keep the broker's data and the runner's state here across restarts (default: a temporary folder).")
  Path dataDir;

  @Option(names = "--keep-running", description = "After the run, keep everything up (Ctrl-C stops) for other turnpike commands.")
  boolean keepRunning;

  @Option(names = "--no-run", description = "Start everything but submit no run (use with --keep-running).")
  boolean noRun;

  @Option(names = {"-b", "--bootstrap-server"}, paramLabel = "HOST:PORT",
      description = "Use this Kafka instead of an embedded broker (its topics are created if missing; the services"
          + " join their groups there like any other instance).")
  String externalBootstrap;

  @Option(names = "--schema-registry", paramLabel = "URL",
      description = "Use this Confluent-compatible schema registry instead of starting the embedded dev registry.")
  String externalRegistry;

  @Option(names = "--registry-port", paramLabel = "PORT", defaultValue = "8081",
      description = "Port of the embedded dev schema registry (default ${DEFAULT-VALUE}; a free one if taken).")
  int registryPort;

  @Option(names = "--port", paramLabel = "PORT", defaultValue = "0", description = "Embedded broker port (default: a free one).")
  int port;

  @Option(names = "--console-port", paramLabel = "PORT", defaultValue = "8088",
      description = "Port of the operator console, web UI and REST API (default ${DEFAULT-VALUE}; a free one if taken).")
  int consolePort;

  @Option(names = "--no-console", description = "Do not start the operator console.")
  boolean noConsole;

  @Option(names = "--partitions", paramLabel = "N", defaultValue = "3", description = "Partitions per runId-keyed topic (default ${DEFAULT-VALUE}).")
  int partitions;

  @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "3m", description = "How long the run may take (default ${DEFAULT-VALUE}).")
  String timeout;

  private final Deque<AutoCloseable> resources = new ArrayDeque<>();
  private String consoleUrl;
  private PrintWriter out;

  @Override
  public Integer call() throws Exception {
    out = spec.commandLine().getOut();
    TurnpikeCli root = TurnpikeCli.root(spec);
    Map<String, String> env = root.env();
    Duration runTimeout = RunCommand.duration(timeout, "--timeout");

    // Validate the agents before starting anything, so a bad file fails in milliseconds.
    List<Loaded> agents = loadAgents();
    if (!noRun && agents.stream().noneMatch(a -> a.def().getName().equals(agent))) {
      throw new CliException("agent '" + agent + "' is not defined in " + agentSource() + " (found: "
          + String.join(", ", agents.stream().map(a -> a.def().getName()).toList()) + ")");
    }

    Thread hook = new Thread(this::closeAll, "turnpike-dev-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      println("Turnpike dev: everything in one JVM");

      // 1. Broker and topics.
      String bootstrap;
      String where;
      if (externalBootstrap != null) {
        bootstrap = externalBootstrap;
        try {
          KafkaSupport.requireReachable(bootstrap, KafkaOptions.CONNECT_TIMEOUT);
        } catch (TurnpikeException e) {
          throw new CliException(e.getMessage());
        }
        where = "external Kafka";
      } else {
        EmbeddedKafka kafka = start("Kafka broker", () -> EmbeddedKafka.builder()
            .dataDir(dataDir == null ? null : dataDir.resolve("kafka"))
            .port(port)
            .build()
            .start());
        bootstrap = kafka.bootstrapServers();
        where = "in-process KRaft broker, data in " + kafka.dataDir();
      }
      int created;
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
        created = TopicAdmin.ensureTopics(admin, partitions, (short) 1).size();
      } catch (IllegalStateException e) {
        throw new CliException(e.getMessage());
      }
      row("kafka", bootstrap + "  (" + where + (created > 0 ? ", " + created + " topics created" : ", topics already there")
          + ")");

      // 1b. Schema registry: values are Avro in the Confluent wire format, so something must hand out ids.
      String registry;
      if (externalRegistry != null) {
        registry = KafkaOptions.registryUrl(externalRegistry.trim(), "--schema-registry");
        row("registry", registry + "  (external)");
      } else {
        DevSchemaRegistry dev = start("schema registry", () -> startRegistry(bootstrap));
        registry = dev.url();
        row("registry", registry + "  (embedded dev registry, schemas in the _schemas topic)");
      }
      try {
        int subjects = SchemaRegistration.registerAll(SchemaRegistries.forUrl(registry)).size();
        row("", subjects + " value schemas registered, compatibility " + SchemaRegistration.COMPATIBILITY);
      } catch (RuntimeException e) {
        throw new CliException("cannot register the schemas at " + registry + ": " + KafkaSupport.rootMessage(e));
      }

      // 1c. Agents, before any service starts: the runner loads the agents topic into a global store before
      // it takes its first request, so the example run can never meet an agent its runner has not read yet
      // (published afterwards, a loaded machine could lose that race and dead-letter "unknown agent").
      try (AgentCatalog catalog = new AgentCatalog(bootstrap, registry)) {
        for (Loaded a : agents) {
          catalog.publish(a.def());
          row("agent", a.def().getName() + " v" + a.def().getVersion() + "  (from " + a.source() + ")");
        }
      }

      // 2. Model: the real one when a key is set, else the bundled scripted one.
      String apiKey = env.get("OPENAI_API_KEY");
      boolean scripted = apiKey == null || apiKey.isBlank();
      String baseUrl;
      if (scripted) {
        ScriptedModelServer model = start("scripted model", () -> ScriptedModelServer.start(MemoryScript.around(new OfflineTravelScript())));
        baseUrl = model.baseUrl();
        apiKey = "offline";
        row("model", "OFFLINE SCRIPTED model at " + baseUrl);
        row("", "(no OPENAI_API_KEY set: model answers below are scripted, not from a real LLM)");
      } else {
        String fromEnv = env.get("OPENAI_BASE_URL");
        baseUrl = fromEnv == null || fromEnv.isBlank() ? "https://api.openai.com/v1" : fromEnv;
        row("model", "real model API at " + baseUrl + " (OPENAI_API_KEY is set)");
      }

      // 3. The four services, configured like separate processes would be.
      Map<String, String> conf = new HashMap<>();
      conf.put("turnpike.bootstrap.servers", bootstrap);
      conf.put("turnpike.schema.registry.url", registry);
      conf.put("turnpike.model.base-url", baseUrl);
      conf.put("turnpike.model.api-key", apiKey);
      conf.put("turnpike.runner.state-dir", stateDir().toString());
      conf.put("turnpike.memory.state-dir", stateDir().toString());
      conf.put("turnpike.console.state-dir", stateDir().toString());
      conf.put("turnpike.console.host", "127.0.0.1");
      conf.put("turnpike.console.port", String.valueOf(freeOr(consolePort)));
      conf.put("turnpike.memory.model.scripted", String.valueOf(scripted)); // memories the scripted model made say so
      Settings given = new Settings(Map.of(), env, new Properties());
      if (dataDir != null && given.get(SnapshotKey.KEY, null) == null && given.get(SnapshotKey.KEY_FILE, null) == null) {
        // the broker keeps workspace snapshots across restarts: so must the key that lets the sandbox restore them
        conf.put(SnapshotKey.KEY_FILE, dataDir.resolve("sandbox-snapshot.key").toString());
      }
      Settings settings = new Settings(Map.of(), env, new Properties()).with(conf);
      // One Telemetry for every service of this JVM: one /metrics, one readiness covering them all.
      Telemetry telemetry = start("telemetry", () -> Telemetry.create("turnpike-dev", settings));
      if (telemetry.httpPort() >= 0) {
        row("telemetry", "http://localhost:" + telemetry.httpPort() + "/metrics  (and /health/live, /health/ready)");
      }
      if (!telemetry.traceExport().equals("none")) {
        row("", "traces exported: " + telemetry.traceExport());
      }
      start("guardrail service", () -> GuardrailService.start(settings, telemetry));
      // The sandbox may be unavailable here (no container runtime, say): the agents that need it are still
      // published, and their sandbox calls wait for a sandbox service like any other unanswered call.
      String sandbox = null;
      try {
        start("sandbox service", () -> SandboxService.start(settings, telemetry));
      } catch (CliException e) {
        sandbox = e.getMessage();
      }
      start("memory service", () -> MemoryService.start(settings, telemetry));
      start("runner service", () -> RunnerService.start(settings, telemetry));
      row("services", sandbox == null ? "runner, sandbox, guardrail, memory" : "runner, guardrail, memory");
      if (!noConsole) {
        ConsoleService console = start("console", () -> ConsoleService.start(settings, telemetry, e -> {}));
        consoleUrl = console.url();
        row("console", consoleUrl + "  (web UI and REST API: runs, live timelines, approvals; docs/console.md)");
      }
      if (sandbox != null) {
        row("", "no sandbox: " + sandbox + " (agents with capabilities are published but their sandbox calls wait)");
      }

      // MCP tools (issue #14): the gateway runs only the servers its operator configured (turnpike.mcp.servers).
      if (!settings.get(McpGatewayConfig.SERVERS, "").isBlank()) {
        ToolGateway mcp = start("MCP gateway", () -> ToolGateway.start(settings, telemetry, e -> {}));
        row("mcp", "MCP gateway for servers " + String.join(", ", mcp.serversUp().keySet()) + "  (from "
            + settings.get(McpGatewayConfig.SERVERS, "") + "; docs/mcp.md)");
      }

      // 4. The example tool worker (user code, in a real deployment its own process).
      ToolWorker tools = start("example tool worker", () -> ExampleTools.startWorker(bootstrap, registry, root.clock(), telemetry));
      row("tools", String.join(", ", tools.tools()) + "  (example tool worker, group " + tools.groupId() + ")");

      int exit = 0;
      if (!noRun) {
        exit = runExample(bootstrap, registry, scripted, runTimeout);
      }
      if (keepRunning) {
        println("");
        println("Everything keeps running; press Ctrl-C to stop. In another terminal:");
        println("  export TURNPIKE_BOOTSTRAP_SERVERS=" + bootstrap);
        println("  export TURNPIKE_SCHEMA_REGISTRY_URL=" + registry);
        println("  ./turnpike run " + agent + " \"What time is it in Tokyo?\" --follow");
        println("  ./turnpike agents list");
        if (consoleUrl != null) {
          println("  open " + consoleUrl + " in a browser");
        }
        new CountDownLatch(1).await();
      }
      return exit;
    } finally {
      closeAll();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running or has run
      }
    }
  }

  /** {@code port} when nothing listens on it (so bookmarks keep working), else 0: any free port. */
  private static int freeOr(int port) {
    if (port == 0) {
      return 0;
    }
    try (java.net.ServerSocket probe = new java.net.ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
      return port;
    } catch (IOException taken) {
      return 0;
    }
  }

  /** The usual registry port when it is free (so other terminals need no setting), else any free port. */
  private DevSchemaRegistry startRegistry(String bootstrap) {
    try {
      return DevSchemaRegistry.start(bootstrap, registryPort);
    } catch (RuntimeException e) {
      if (registryPort == 0) {
        throw e;
      }
      return DevSchemaRegistry.start(bootstrap, 0);
    }
  }

  private int runExample(String bootstrap, String registry, boolean scripted, Duration runTimeout) {
    String input = this.input != null ? this.input : DEFAULT_INPUTS.getOrDefault(agent, DEFAULT_INPUT);
    try (TurnpikeClient client = new TurnpikeClient(bootstrap, registry)) {
      // streamed, so the model's answers show as they are written
      String runId = client.submit(io.turnpike.avro.RunRequest.newBuilder().setRunId(java.util.UUID.randomUUID().toString())
          .setAgent(agent).setInput(input).setMetadata(Map.of("source", "turnpike dev"))
          .setRequestedAt(java.time.Instant.now()).setStream(true).build());
      println("");
      println("Run " + runId + " of " + agent + ": " + Text.quoted(input, 90));
      EventFormat fmt = new EventFormat(scripted);
      long t0 = System.nanoTime();
      try {
        StreamPrinter printer = new StreamPrinter(out, fmt);
        client.followUntilSettled(runId, null, e -> ChildRunSteps.print(client, fmt, e, "", printer::line, runTimeout),
            printer::delta, runTimeout);
        RunResult r = client.awaitResult(runId, Duration.ofSeconds(30));
        RunCommand.printResult(out, r, Duration.ofNanos(System.nanoTime() - t0), scripted);
        MemoryCli.printBuilt(client, runId, bootstrap, registry, Duration.ofSeconds(20), this::println);
        if (r.getStatus() == RunStatus.INTERRUPTED) {
          RunReport.printInterruptions(out, runId, r.getInterruptions(), TurnpikeCli.root(spec).clock().instant());
          if (!keepRunning) {
            println("(Add --keep-running to keep everything up and decide it from another terminal.)");
          }
        }
        if (!keepRunning) {
          println("");
          println("(Everything stops now. Add --keep-running to keep the broker up and inspect the run with"
              + " `turnpike runs show " + runId + "`.)");
        } else {
          println("");
          println("Inspect it: ./turnpike runs show " + runId + " --bootstrap-server " + bootstrap);
        }
        return RunReport.exitCode(r.getStatus());
      } catch (RunTimeoutException e) {
        throw new CliException("the run did not finish within " + timeout + " (" + e.getMessage() + ")");
      }
    }
  }

  // ------------------------------------------------------------------------------------------

  private record Loaded(AgentDefinition def, String source) {}

  private List<Loaded> loadAgents() {
    Path dir = agentsDir != null ? agentsDir : Path.of("agents");
    if (agentsDir != null || Files.isDirectory(dir)) {
      if (agentsDir == null && !hasYaml(dir)) {
        return bundled();
      }
      List<Loaded> out = new ArrayList<>();
      for (AgentDefinition d : AgentYaml.loadAll(dir)) {
        out.add(new Loaded(d, dir + "/"));
      }
      return out;
    }
    return bundled();
  }

  private String agentSource() {
    return agentsDir != null ? agentsDir.toString()
        : Files.isDirectory(Path.of("agents")) && hasYaml(Path.of("agents")) ? "agents/" : "the bundled agents";
  }

  private static boolean hasYaml(Path dir) {
    try (var s = Files.list(dir)) {
      return s.anyMatch(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml"));
    } catch (IOException e) {
      return false;
    }
  }

  private static List<Loaded> bundled() {
    List<Loaded> out = new ArrayList<>();
    for (String name : BUNDLED_AGENTS) {
      String resource = "agents/" + name;
      try (InputStream in = DevCommand.class.getClassLoader().getResourceAsStream(resource)) {
        if (in == null) {
          throw new CliException("the bundled example agent " + resource + " is missing from this build");
        }
        String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        out.add(new Loaded(AgentYaml.parse(text, "bundled " + resource), "bundled " + resource));
      } catch (IOException e) {
        throw new CliException("cannot read the bundled agent " + resource + ": " + e.getMessage());
      }
    }
    return out;
  }

  private Path stateDir() throws IOException {
    if (dataDir != null) {
      Path p = dataDir.resolve("runner-state");
      Files.createDirectories(p);
      return p;
    }
    Path tmp = Files.createTempDirectory("turnpike-runner-state-");
    resources.push(() -> deleteTree(tmp));
    return tmp;
  }

  private <T extends AutoCloseable> T start(String what, Supplier<T> starter) {
    T t;
    try {
      t = starter.get();
    } catch (UnsupportedOperationException e) {
      throw new CliException("the " + what + " cannot start in this build: " + e.getMessage());
    } catch (CliException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new CliException("the " + what + " failed to start: " + KafkaSupport.rootMessage(e));
    }
    synchronized (resources) {
      resources.push(t);
    }
    return t;
  }

  /** Closes what was started, newest first (the broker last). Safe to call twice and from the shutdown hook. */
  private void closeAll() {
    while (true) {
      AutoCloseable c;
      synchronized (resources) {
        c = resources.poll();
      }
      if (c == null) {
        return;
      }
      try {
        c.close();
      } catch (Exception e) {
        org.slf4j.LoggerFactory.getLogger(DevCommand.class).warn("while stopping {}: {}", c.getClass().getSimpleName(), e.toString());
      }
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (var walk = Files.walk(root)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private void row(String label, String value) {
    println("  " + Text.pad(label, 10) + value);
  }

  private void println(String s) {
    out.println(s);
    out.flush();
  }
}
