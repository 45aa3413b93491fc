package io.turnpike.cli;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.agent.AgentCatalog;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "agents", description = "Publish and list agent definitions (topic turnpike.agents).",
    subcommands = {AgentsCommand.Apply.class, AgentsCommand.ListAgents.class}, mixinStandardHelpOptions = true)
final class AgentsCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  @Command(name = "apply", description = "Validate agent YAML and publish it (a file, or every *.yaml in a directory).",
      mixinStandardHelpOptions = true)
  static final class Apply implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @Option(names = {"-f", "--file"}, required = true, paramLabel = "FILE|DIR", description = "Agent YAML file or directory.")
    Path file;

    @Option(names = "--dry-run", description = "Only validate; publish nothing.")
    boolean dryRun;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      List<AgentDefinition> agents = AgentYaml.loadAll(file);
      if (dryRun) {
        agents.forEach(a -> out.println("valid: " + a.getName() + " v" + a.getVersion() + " (" + summary(a) + ")"));
        return 0;
      }
      String bootstrap = kafka.requireKafka(List.of(Topics.AGENTS.name()));
      try (AgentCatalog catalog = new AgentCatalog(bootstrap, kafka.registry())) {
        Map<String, AgentDefinition> before = catalog.list();
        for (AgentDefinition a : agents) {
          catalog.publish(a);
          AgentDefinition old = before.get(a.getName());
          String was = old == null ? "new" : old.equals(a) ? "unchanged, v" + old.getVersion()
              : "was v" + old.getVersion();
          out.println("applied " + a.getName() + " v" + a.getVersion() + " (" + was + ")");
          if (old != null && !old.equals(a) && old.getVersion() >= a.getVersion()) {
            out.println("  note: the definition changed but its version did not increase; bump `version` so runs"
                + " can tell the two apart");
          }
        }
      }
      out.flush();
      return 0;
    }
  }

  /** "2 tools", then whatever else the agent declares: capabilities, handoffs, guardrails, approval rules, manifest. */
  static String summary(AgentDefinition a) {
    StringBuilder b = new StringBuilder(a.getTools().size() + " tool" + (a.getTools().size() == 1 ? "" : "s"));
    if (!a.getCapabilities().isEmpty()) {
      b.append("; capabilities ").append(String.join(", ", a.getCapabilities()));
    }
    if (!a.getHandoffs().isEmpty()) {
      b.append("; hands off to ").append(String.join(", ", a.getHandoffs()));
    }
    List<String> agentTools = a.getTools().stream().filter(t -> t.getKind() == io.turnpike.avro.ToolKind.AGENT)
        .map(t -> t.getAgent() + (t.getAgentVersion() == null ? "" : " v" + t.getAgentVersion())).toList();
    if (!agentTools.isEmpty()) {
      b.append("; calls ").append(String.join(", ", agentTools)).append(" as a tool (child runs)");
    }
    if (!a.getGuardrails().isEmpty()) {
      b.append("; ").append(plural(a.getGuardrails().size(), "guardrail"));
    }
    if (!a.getApprovalRules().isEmpty()) {
      b.append("; ").append(plural(a.getApprovalRules().size(), "approval rule"));
    }
    if (a.getManifest() != null) {
      b.append("; manifest: ").append(plural(a.getManifest().getFiles().size(), "file")).append(", ")
          .append(plural(a.getManifest().getSkills().size(), "skill"));
    }
    return b.toString();
  }

  private static String plural(int n, String what) {
    return n + " " + what + (n == 1 ? "" : "s");
  }

  @Command(name = "list", description = "List the current definition of every agent.", mixinStandardHelpOptions = true)
  static final class ListAgents implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;
    @Mixin
    OutputOptions output;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      String bootstrap = kafka.requireKafka(List.of(Topics.AGENTS.name()));
      Map<String, AgentDefinition> all;
      try (AgentCatalog catalog = new AgentCatalog(bootstrap, kafka.registry())) {
        all = catalog.list();
      }
      if (output.json()) {
        OutputOptions.print(out, Map.of("agents", all.values().stream().map(JsonViews::agent).toList()));
        return 0;
      }
      if (all.isEmpty()) {
        out.println("no agents yet; publish one with `turnpike agents apply -f agents/`");
        return 0;
      }
      int w = Math.max(5, all.keySet().stream().mapToInt(String::length).max().orElse(5) + 2);
      out.println(Text.pad("NAME", w) + Text.pad("VERSION", 9) + Text.pad("MODEL", 16) + Text.pad("TOOLS", 36) + "DESCRIPTION");
      for (AgentDefinition a : all.values()) {
        List<String> names = new java.util.ArrayList<>(a.getTools().stream().map(ToolSpec::getName).toList());
        a.getCapabilities().forEach(c -> names.add("+" + c));
        a.getHandoffs().forEach(h -> names.add("->" + h));
        String tools = String.join(",", names);
        out.println(Text.pad(a.getName(), w) + Text.pad(String.valueOf(a.getVersion()), 9) + Text.pad(a.getModel(), 16)
            + Text.pad(Text.oneLine(tools.isEmpty() ? "-" : tools, 34), 36) + Text.oneLine(a.getDescription(), 60));
      }
      out.flush();
      return 0;
    }
  }
}
