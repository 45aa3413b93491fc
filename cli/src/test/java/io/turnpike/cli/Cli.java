package io.turnpike.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;

/** Runs the CLI in-process with a controlled environment and captures its output. */
final class Cli {
  record Result(int exitCode, String out, String err) {
    @Override
    public String toString() {
      return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
  }

  private Cli() {}

  /** The CLI runs in the JVM of the services it talks to, so an in-memory registry scope is shared. */
  static final String REGISTRY = "mock://cli-tests";

  /** No OPENAI_API_KEY and no TURNPIKE_BOOTSTRAP_SERVERS, whatever the machine has. */
  static Map<String, String> cleanEnv() {
    Map<String, String> env = new HashMap<>(System.getenv());
    env.remove("OPENAI_API_KEY");
    env.remove("OPENAI_BASE_URL");
    env.remove("TURNPIKE_BOOTSTRAP_SERVERS");
    env.keySet().removeIf(k -> k.startsWith("TURNPIKE_"));
    env.put("TURNPIKE_SCHEMA_REGISTRY_URL", REGISTRY);
    return env;
  }

  static Result run(String... args) {
    return run(cleanEnv(), args);
  }

  /** A CLI invocation running in the background; its output can be read while it runs. */
  record Running(StringWriter out, StringWriter err, java.util.concurrent.CompletableFuture<Integer> exit) {
    Result await() {
      int code = exit.join();
      return new Result(code, out.toString(), err.toString());
    }
  }

  static Running start(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    var exit = java.util.concurrent.CompletableFuture.supplyAsync(() -> TurnpikeCli.run(
        new TurnpikeCli(cleanEnv(), Clock.systemUTC()), new PrintWriter(out, true), new PrintWriter(err, true), args));
    return new Running(out, err, exit);
  }

  static Result run(Map<String, String> given, String... args) {
    Map<String, String> env = new HashMap<>(given);
    env.putIfAbsent("TURNPIKE_SCHEMA_REGISTRY_URL", REGISTRY);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = TurnpikeCli.run(new TurnpikeCli(env, Clock.systemUTC()), new PrintWriter(out, true),
        new PrintWriter(err, true), args);
    return new Result(code, out.toString(), err.toString());
  }
}
