package io.turnpike.cli;

import io.turnpike.client.TurnpikeException;
import io.turnpike.client.agent.AgentYamlException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** The {@code turnpike} command line. */
@Command(name = "turnpike",
    mixinStandardHelpOptions = true,
    versionProvider = TurnpikeCli.Version.class,
    description = "Turnpike: a Kafka event-driven execution platform for AI agents.%n"
        + "Start with `turnpike dev`: a broker, the services and an example agent run, all in this JVM.",
    footer = {"", "Exit codes:",
        "  0  done (a run that was waited for COMPLETED)",
        "  1  the thing asked failed: unknown or finished run, a run that FAILED or was CANCELLED,",
        "     Kafka or the schema registry unreachable (one line on stderr says which)",
        "  2  usage error (unknown option, missing argument, bad value)",
        "  3  the run waits for a human approval (INTERRUPTED): run, runs follow, approve/reject/runs message --follow",
        "Read commands take -o json for scripts."},
    subcommands = {DevCommand.class, RunCommand.class, RunsCommand.class, ApprovalsCommand.class,
        DecisionCommand.Approve.class, DecisionCommand.Reject.class, AgentsCommand.class, TopicsCommand.class, SchemasCommand.class,
        MemoryCli.class, CommandLine.HelpCommand.class})
public final class TurnpikeCli implements Callable<Integer> {

  private final Map<String, String> env;
  private final Clock clock;

  @Spec
  CommandSpec spec;

  public TurnpikeCli() {
    this(System.getenv(), Clock.systemUTC());
  }

  /** For tests: the environment the commands see (OPENAI_API_KEY, TURNPIKE_BOOTSTRAP_SERVERS...) and the clock. */
  public TurnpikeCli(Map<String, String> env, Clock clock) {
    this.env = Map.copyOf(env);
    this.clock = clock;
  }

  public Map<String, String> env() {
    return env;
  }

  public Clock clock() {
    return clock;
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  public static void main(String[] args) {
    PrintWriter out = new PrintWriter(new java.io.OutputStreamWriter(System.out, StandardCharsets.UTF_8), true);
    PrintWriter err = new PrintWriter(new java.io.OutputStreamWriter(System.err, StandardCharsets.UTF_8), true);
    int code = run(new TurnpikeCli(), out, err, args);
    out.flush();
    err.flush();
    System.exit(code);
  }

  /** Parses and runs {@code args}; errors are printed as one line on {@code err}. Returns the exit code. */
  public static int run(TurnpikeCli root, PrintWriter out, PrintWriter err, String... args) {
    CommandLine cl = new CommandLine(root);
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    cl.setOut(out);
    cl.setErr(err);
    cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
      PrintWriter e = commandLine.getErr();
      e.println("error: " + describe(ex));
      if (root.env.containsKey("TURNPIKE_DEBUG")) {
        ex.printStackTrace(e);
      }
      e.flush();
      return ex instanceof CliException ce ? ce.exitCode() : 1;
    });
    return cl.execute(args);
  }

  static String describe(Throwable ex) {
    if (ex instanceof CliException || ex instanceof TurnpikeException || ex instanceof AgentYamlException
        || ex instanceof io.turnpike.schema.registry.SchemaRegistryException) {
      return ex.getMessage();
    }
    if (ex.getClass().getName().endsWith("EmbeddedKafkaException")) {
      return "the embedded Kafka broker failed: " + ex.getMessage();
    }
    String m = ex.getMessage();
    return (m == null ? ex.getClass().getSimpleName() : ex.getClass().getSimpleName() + ": " + m)
        + " (set TURNPIKE_DEBUG=1 for the stack trace)";
  }

  /** The root command object, from any (sub)command's spec. */
  static TurnpikeCli root(CommandSpec spec) {
    return (TurnpikeCli) spec.root().userObject();
  }

  static Map<String, String> env(CommandSpec spec) {
    return root(spec).env();
  }

  /** Version from the jar manifest (or "dev" when run from classes). */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = TurnpikeCli.class.getPackage().getImplementationVersion();
      return new String[] {"turnpike " + (v == null ? "dev" : v) + " (Java " + Runtime.version() + ")"};
    }
  }
}
