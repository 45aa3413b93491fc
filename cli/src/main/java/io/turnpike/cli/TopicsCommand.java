package io.turnpike.cli;

import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "topics", description = "Manage Turnpike's topics.", subcommands = TopicsCommand.Create.class,
    mixinStandardHelpOptions = true)
final class TopicsCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  @Command(name = "create", description = "Create Turnpike's topics where they are missing (existing ones are left as they are).",
      mixinStandardHelpOptions = true)
  static final class Create implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @Option(names = "--partitions", defaultValue = "3", description = "Partitions of each runId-keyed topic (default ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--replication-factor", defaultValue = "1", description = "Replicas per partition (default ${DEFAULT-VALUE}).")
    short replication;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      String bootstrap = kafka.requireBroker(List.of());
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
        List<String> created = TopicAdmin.ensureTopics(admin, partitions, replication);
        out.println(created.isEmpty() ? "all " + Topics.ALL.size() + " topics already exist"
            : "created " + String.join(", ", created));
      } catch (IllegalStateException e) {
        throw new CliException(e.getMessage());
      }
      out.flush();
      return 0;
    }
  }
}
