package io.turnpike.cli;

import io.turnpike.avro.MemoryCommand;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryLine;
import io.turnpike.client.internal.TopicReader;
import io.turnpike.memory.Commands;
import io.turnpike.memory.Scopes;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code turnpike memory}: what an agent remembers, where each line comes from, and forgetting. */
@Command(name = "memory", description = "Show agents' memory with each line's sources, or forget a run or a user.",
    subcommands = {MemoryCli.Show.class, MemoryCli.ListScopes.class, MemoryCli.Forget.class}, mixinStandardHelpOptions = true)
final class MemoryCli implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  static Map<String, MemoryDocument> documents(String bootstrap, String registry, java.util.function.Predicate<String> keys) {
    MemorySerdes serdes = MemorySerdes.forUrl(registry);
    return TopicReader.latestByKey(bootstrap, Topics.MEMORY.name(), serdes.document(), keys, Duration.ofSeconds(60));
  }

  /** The document for {@code -o json}: every line with its kind, text and source runs. */
  static Map<String, Object> json(MemoryDocument d) {
    Map<String, Object> m = new java.util.LinkedHashMap<>();
    m.put("scope", d.getScope());
    m.put("version", d.getVersion());
    m.put("updatedAt", String.valueOf(d.getUpdatedAt()));
    m.put("change", d.getChange());
    m.put("pendingCandidates", d.getPendingCandidates());
    m.put("consolidations", d.getConsolidations());
    m.put("lines", d.getLines().stream().map(l -> {
      Map<String, Object> line = new java.util.LinkedHashMap<>();
      line.put("id", l.getId());
      line.put("kind", l.getKind().name().toLowerCase(Locale.ROOT));
      line.put("text", l.getText());
      line.put("sources", l.getSources());
      line.put("editReason", l.getEditReason());
      return line;
    }).toList());
    return m;
  }

  /** The document as text: a header, then one line per memory line with its id, kind, text and sources. */
  static String format(MemoryDocument d) {
    StringBuilder sb = new StringBuilder();
    sb.append("memory ").append(d.getScope()).append("  version ").append(d.getVersion()).append("  (")
        .append(d.getLines().size()).append(d.getLines().size() == 1 ? " line" : " lines").append(", ")
        .append(d.getPendingCandidates()).append(" pending candidate(s), ").append(d.getConsolidations())
        .append(" consolidation(s))\n");
    sb.append("updated ").append(d.getUpdatedAt()).append(d.getChange() == null ? "" : ": " + d.getChange()).append('\n');
    for (MemoryLine l : d.getLines()) {
      sb.append(String.format("[%s] %-10s %s%n", l.getId(), l.getKind().name().toLowerCase(Locale.ROOT), l.getText()));
      sb.append("      sources: ").append(String.join(", ", l.getSources()));
      if (l.getEditReason() != null) {
        sb.append("  (edited: ").append(l.getEditReason()).append(')');
      }
      sb.append('\n');
    }
    return sb.toString();
  }

  /**
   * After a run of an agent with memory.write ({@code turnpike dev}): waits up to {@code wait} for the memory
   * service to have built its scope's memory from that run, and prints it; says so when it has not yet.
   */
  static void printBuilt(io.turnpike.client.run.TurnpikeClient client, String runId, String bootstrap, String registry,
      Duration wait, java.util.function.Consumer<String> println) {
    io.turnpike.avro.RunState state = client.runState(runId).orElse(null);
    if (state == null || !Scopes.writes(state.getAgent())) {
      return;
    }
    String scope = Scopes.of(state.getAgent(), state.getUser());
    if (scope == null) {
      return;
    }
    long deadline = System.nanoTime() + wait.toNanos();
    MemoryDocument built = null;
    while (built == null && System.nanoTime() < deadline) {
      MemoryDocument d = documents(bootstrap, registry, scope::equals).get(scope);
      if (d != null && d.getLines().stream().anyMatch(l -> l.getSources().contains(runId))) {
        built = d;
      } else {
        java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(300).toNanos()); // the service works on its own time
      }
    }
    println.accept("");
    if (built == null) {
      println.accept("Memory of " + scope + ": nothing consolidated from this run yet (it may wait for more runs:"
          + " memory.generate.consolidateAfter); see `turnpike memory show " + scope + "` later.");
      return;
    }
    println.accept("Memory of " + scope + ", built by the memory service from this run (phase 1: extraction,"
        + " phase 2: consolidation):");
    format(built).lines().forEach(l -> println.accept("  " + l));
  }

  @Command(name = "show", description = "Print a scope's memory (latest version on turnpike.memory) with each line's source runs.",
      mixinStandardHelpOptions = true)
  static final class Show implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @Mixin
    OutputOptions output;

    @Parameters(index = "0", paramLabel = "SCOPE", description = "An agent name (memory scope: agent), or <agent>/<user>.")
    String scope;

    @Option(names = "--user", description = "With an agent name: that user's memory (memory scope: user).")
    String user;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      String key = user == null ? scope : Scopes.of(scope, user);
      String bootstrap = kafka.requireKafka(List.of(Topics.MEMORY.name()));
      MemoryDocument d = documents(bootstrap, kafka.registry(), key::equals).get(key);
      if (d == null) {
        throw new CliException("no memory for " + key + " on " + Topics.MEMORY.name()
            + " (no consolidation yet: see `turnpike memory list`; an agent needs memory.write to build one)");
      }
      if (output.json()) {
        OutputOptions.print(out, json(d));
        return 0;
      }
      out.print(format(d));
      out.flush();
      return 0;
    }
  }

  @Command(name = "list", description = "Every scope with memory: version, lines, pending candidates.", mixinStandardHelpOptions = true)
  static final class ListScopes implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;
    @Mixin
    OutputOptions output;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      String bootstrap = kafka.requireKafka(List.of(Topics.MEMORY.name()));
      Map<String, MemoryDocument> all = documents(bootstrap, kafka.registry(), k -> true);
      if (output.json()) {
        OutputOptions.print(out, Map.of("scopes", new java.util.TreeMap<>(all).values().stream().map(d -> {
          Map<String, Object> m = new java.util.LinkedHashMap<>();
          m.put("scope", d.getScope());
          m.put("version", d.getVersion());
          m.put("lines", d.getLines().size());
          m.put("pendingCandidates", d.getPendingCandidates());
          return m;
        }).toList()));
        return 0;
      }
      if (all.isEmpty()) {
        out.println("no memory yet");
      }
      new java.util.TreeMap<>(all).forEach((scope, d) -> out.printf("%-40s version %-4d %3d line(s) %3d pending%n", scope,
          d.getVersion(), d.getLines().size(), d.getPendingCandidates()));
      out.flush();
      return 0;
    }
  }

  @Command(name = "forget", description = "Forget a run or a user everywhere: every line resting only on it goes, its pending"
      + " candidates are dropped, and later ones are refused. Applied once by the memory service.", mixinStandardHelpOptions = true)
  static final class Forget implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Subject subject;

    static final class Subject {
      @Option(names = "--run", paramLabel = "RUN_ID", required = true, description = "Forget one run.")
      String run;
      @Option(names = "--user", paramLabel = "USER", required = true, description = "Forget every run of a user (RunRequest.user).")
      String user;
    }

    @Override
    public Integer call() throws Exception {
      PrintWriter out = spec.commandLine().getOut();
      String bootstrap = kafka.requireKafka(List.of(Topics.MEMORY_COMMANDS.name()));
      java.time.Instant now = TurnpikeCli.root(spec).clock().instant();
      MemoryCommand c = subject.run != null ? Commands.forgetRun(subject.run, now) : Commands.forgetUser(subject.user, now);
      MemorySerdes serdes = MemorySerdes.forUrl(kafka.registry());
      Properties p = new Properties();
      p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
        ProducerRecord<String, byte[]> rec = new ProducerRecord<>(Topics.MEMORY_COMMANDS.name(), Commands.key(c),
            serdes.command().encode(c));
        rec.headers().add(TurnpikeHeaders.TYPE, "MemoryCommand".getBytes(StandardCharsets.UTF_8));
        producer.send(rec).get(30, TimeUnit.SECONDS);
      }
      out.println("forget " + (subject.run != null ? "run " + subject.run : "user " + subject.user) + " requested (command "
          + c.getCommandId() + "); the memory service applies it to every scope, once");
      out.flush();
      return 0;
    }
  }
}
