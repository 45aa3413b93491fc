package io.turnpike.cli;

import io.turnpike.schema.SchemaRegistration;
import io.turnpike.schema.registry.SchemaRegistries;
import io.turnpike.schema.registry.SchemaRegistryException;
import java.io.PrintWriter;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "schemas", description = "Manage Turnpike's value schemas in the schema registry.",
    subcommands = SchemasCommand.Register.class, mixinStandardHelpOptions = true)
final class SchemasCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  @Command(name = "register", mixinStandardHelpOptions = true,
      description = "Register every topic's value schema under <topic>-value with compatibility BACKWARD "
          + "(idempotent; a breaking schema change is refused by the registry).")
  static final class Register implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    KafkaOptions kafka;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      String url = kafka.registry();
      KafkaOptions.requireRegistry(url);
      Map<String, Integer> ids;
      try {
        ids = SchemaRegistration.registerAll(SchemaRegistries.forUrl(url));
      } catch (SchemaRegistryException | IllegalArgumentException e) {
        throw new CliException(e.getMessage());
      }
      ids.forEach((subject, id) -> out.printf("%-36s id %d%n", subject, id));
      out.println(ids.size() + " subjects registered at " + url + " (compatibility " + SchemaRegistration.COMPATIBILITY + ")");
      out.flush();
      return 0;
    }
  }
}
