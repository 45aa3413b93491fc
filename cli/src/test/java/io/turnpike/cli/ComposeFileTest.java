package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The invariants of {@code docker-compose.yml} and the Dockerfiles it builds (docs/deployment.md).
 * Read with SnakeYAML (on the class path through the client's YAML support), which resolves the
 * file's anchors and merge keys the way Compose does. Where a Compose binary is installed, it must
 * accept the file too ({@code config -q}); otherwise that one test is skipped and says so.
 */
class ComposeFileTest {
  static final List<String> TURNPIKE_SERVICES = List.of("runner-service", "sandbox-service", "guardrail-service",
      "memory-service", "console-service");
  static final List<String> ALL_SERVICES = List.of("kafka", "schema-registry", "kafka-ui", "init", "runner-service",
      "sandbox-service", "guardrail-service", "memory-service", "console-service");
  static final String REGISTRY = "http://schema-registry:8081";
  static final String BOOTSTRAP = "kafka:9092";
  /** {@code ${VAR:-default}} / {@code ${VAR-default}}: Compose's interpolation with a default. */
  static final Pattern WITH_DEFAULT = Pattern.compile("\\$\\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)}");

  static Path root;
  static Map<String, Object> compose;
  static Map<String, Object> services;

  @BeforeAll
  static void load() throws IOException {
    root = repositoryRoot();
    LoaderOptions options = new LoaderOptions();
    options.setAllowDuplicateKeys(false);
    compose = new Yaml(new SafeConstructor(options))
        .load(Files.readString(root.resolve("docker-compose.yml"), StandardCharsets.UTF_8));
    services = map(compose.get("services"), "services");
  }

  @Test
  void everyPartOfTheStackIsThere() {
    assertThat(services).containsKeys(ALL_SERVICES.toArray(String[]::new));
    assertThat(compose).doesNotContainKey("version"); // obsolete in Compose v2, which warns about it
  }

  @Test
  void turnpikeServicesAreBuiltFromTheRepositoryWithHealthChecksAndTheirSettings() {
    for (String name : TURNPIKE_SERVICES) {
      Map<String, Object> service = service(name);
      assertBuiltFrom(name, service, name + "/Dockerfile");

      Map<String, Object> health = map(service.get("healthcheck"), name + ".healthcheck");
      assertThat(String.valueOf(health.get("test"))).as(name + " health check").contains("/health/ready");

      Map<String, String> env = environment(name);
      assertThat(env).as(name + " environment")
          .containsEntry("TURNPIKE_BOOTSTRAP_SERVERS", BOOTSTRAP)
          .containsEntry("TURNPIKE_SCHEMA_REGISTRY_URL", REGISTRY)
          .containsEntry("TURNPIKE_HTTP_PORT", "8080");

      Map<String, Object> dependsOn = map(service.get("depends_on"), name + ".depends_on");
      assertThat(condition(dependsOn, "kafka")).as(name + " waits for Kafka").isEqualTo("service_healthy");
      assertThat(condition(dependsOn, "schema-registry")).as(name + " waits for the registry")
          .isEqualTo("service_healthy");
      assertThat(condition(dependsOn, "init")).as(name + " waits for topics and schemas")
          .isEqualTo("service_completed_successfully");
    }
    assertThat(environment("sandbox-service")).containsEntry("TURNPIKE_SANDBOX_BACKEND", "docker");
    assertThat(environment("runner-service")).containsKeys("OPENAI_BASE_URL", "OPENAI_API_KEY");
  }

  @Test
  void initCreatesTopicsThenRegistersSchemas() {
    Map<String, Object> init = service("init");
    assertBuiltFrom("init", init, "cli/Dockerfile");
    String command = String.valueOf(init.get("command"));
    assertThat(command).contains("topics create", "schemas register");
    assertThat(command.indexOf("topics create")).isLessThan(command.indexOf("schemas register"));
    assertThat(environment("init"))
        .containsEntry("TURNPIKE_BOOTSTRAP_SERVERS", BOOTSTRAP)
        .containsEntry("TURNPIKE_SCHEMA_REGISTRY_URL", REGISTRY);
    Map<String, Object> dependsOn = map(init.get("depends_on"), "init.depends_on");
    assertThat(condition(dependsOn, "kafka")).isEqualTo("service_healthy");
    assertThat(condition(dependsOn, "schema-registry")).isEqualTo("service_healthy");
  }

  @Test
  void kafkaIsASingleKraftNodeThatCanRunTransactions() {
    Map<String, String> env = environment("kafka");
    assertThat(env.get("KAFKA_PROCESS_ROLES")).isEqualTo("broker,controller");
    assertThat(env.get("KAFKA_ADVERTISED_LISTENERS")).contains("://" + BOOTSTRAP);
    // Exactly-once needs the transaction state topic, which a single broker can only host with these.
    assertThat(env).containsEntry("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .containsEntry("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .containsEntry("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1");
    Map<String, Object> health = map(service("kafka").get("healthcheck"), "kafka.healthcheck");
    assertThat(String.valueOf(health.get("test"))).contains("kafka-broker-api-versions.sh");
    assertThat(resolvedImage(service("kafka"))).startsWith("apache/kafka:");
  }

  @Test
  void kafkaUiKnowsTheClusterAndTheRegistry() {
    Map<String, String> env = environment("kafka-ui");
    assertThat(env).containsEntry("KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS", BOOTSTRAP)
        .containsEntry("KAFKA_CLUSTERS_0_SCHEMAREGISTRY", REGISTRY);
    assertThat(environment("schema-registry").get("SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL"))
        .isEqualToIgnoringCase("backward");
  }

  @Test
  void everyImageIsPinned() {
    for (String name : ALL_SERVICES) {
      Map<String, Object> service = service(name);
      if (!service.containsKey("image")) {
        assertThat(service).as(name + " has neither image nor build").containsKey("build");
        continue;
      }
      String image = resolvedImage(service);
      String afterSlash = image.substring(image.lastIndexOf('/') + 1);
      assertThat(afterSlash).as(name + " image " + image + " names a tag").contains(":");
      assertThat(afterSlash.substring(afterSlash.indexOf(':') + 1)).as(name + " image " + image)
          .isNotBlank().isNotEqualTo("latest");
    }
  }

  @Test
  void dockerfilesAreMultiStageNonRootAndHealthChecked() throws IOException {
    List<String> dockerfiles = new ArrayList<>();
    TURNPIKE_SERVICES.forEach(s -> dockerfiles.add(s + "/Dockerfile"));
    dockerfiles.add("cli/Dockerfile");
    for (String path : dockerfiles) {
      List<String> instructions = instructions(root.resolve(path));
      assertThat(instructions.stream().filter(i -> keyword(i).equals("FROM")).count()).as(path + " stages")
          .isEqualTo(2);
      Optional<String> lastUser = instructions.stream().filter(i -> keyword(i).equals("USER"))
          .reduce((a, b) -> b);
      assertThat(lastUser).as(path + " USER").isPresent();
      String user = arguments(lastUser.get()).split(":")[0];
      assertThat(user).as(path + " runs as").isNotIn("root", "0");
      Optional<String> health = instructions.stream().filter(i -> keyword(i).equals("HEALTHCHECK")).findFirst();
      assertThat(health).as(path + " HEALTHCHECK").isPresent();
      if (!path.startsWith("cli/")) {
        // The CLI image is a one-shot job (HEALTHCHECK NONE); the services serve /health/ready.
        assertThat(health.get()).as(path).contains("/health/ready");
        assertThat(instructions).as(path).anyMatch(i -> keyword(i).equals("EXPOSE") && arguments(i).contains("8080"));
      }
    }
    String ignore = Files.readString(root.resolve(".dockerignore"), StandardCharsets.UTF_8);
    assertThat(ignore.lines().map(String::trim)).contains(".git", "**/target", "**/target-*", "**/node_modules");
  }

  @Test
  void aComposeBinaryAcceptsTheFile() throws Exception {
    List<String> binary = composeBinary();
    assumeTrue(binary != null, "no `docker compose` or `docker-compose` on PATH: only the YAML structure was"
        + " checked (docs/deployment.md says how to install one)");
    List<String> command = new ArrayList<>(binary);
    command.addAll(List.of("-f", "docker-compose.yml", "config", "-q"));
    Run run = run(command);
    assertThat(run.exit).as(String.join(" ", command) + " said: " + run.output).isZero();
  }

  // ---- helpers ----

  static void assertBuiltFrom(String name, Map<String, Object> service, String dockerfile) {
    Map<String, Object> build = map(service.get("build"), name + ".build");
    assertThat(build.get("context")).as(name + " build context").isEqualTo(".");
    assertThat(build.get("dockerfile")).as(name + " Dockerfile").isEqualTo(dockerfile);
    assertThat(root.resolve(dockerfile)).as(name + " Dockerfile").isRegularFile();
  }

  static Map<String, Object> service(String name) {
    return map(services.get(name), "services." + name);
  }

  /** The service's environment as a map, whichever of Compose's two spellings (map or KEY=VALUE list) it uses. */
  static Map<String, String> environment(String name) {
    Object env = service(name).get("environment");
    Map<String, String> out = new LinkedHashMap<>();
    if (env instanceof Map<?, ?> m) {
      m.forEach((k, v) -> out.put(String.valueOf(k), v == null ? null : String.valueOf(v)));
    } else if (env instanceof List<?> l) {
      for (Object item : l) {
        String s = String.valueOf(item);
        int eq = s.indexOf('=');
        out.put(eq < 0 ? s : s.substring(0, eq), eq < 0 ? null : s.substring(eq + 1));
      }
    }
    return out;
  }

  static String condition(Map<String, Object> dependsOn, String on) {
    assertThat(dependsOn).containsKey(on);
    return String.valueOf(map(dependsOn.get(on), "depends_on." + on).get("condition"));
  }

  /** The image with {@code ${VAR:-default}} replaced by its default: what runs when nothing is overridden. */
  static String resolvedImage(Map<String, Object> service) {
    Matcher m = WITH_DEFAULT.matcher(String.valueOf(service.get("image")));
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(m.group(1)));
    }
    m.appendTail(out);
    assertThat(out.toString()).as("image").doesNotContain("${");
    return out.toString();
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> map(Object o, String what) {
    assertThat(o).as(what).isInstanceOf(Map.class);
    return (Map<String, Object>) o;
  }

  /** The Dockerfile's instructions: comments and blank lines dropped, continuation lines joined. */
  static List<String> instructions(Path dockerfile) throws IOException {
    List<String> out = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    for (String line : Files.readAllLines(dockerfile, StandardCharsets.UTF_8)) {
      String t = line.strip();
      if (t.startsWith("#") || t.isEmpty()) {
        continue;
      }
      if (t.endsWith("\\")) {
        current.append(t, 0, t.length() - 1).append(' ');
        continue;
      }
      current.append(t);
      out.add(current.toString());
      current.setLength(0);
    }
    if (!current.isEmpty()) {
      out.add(current.toString());
    }
    return out;
  }

  static String keyword(String instruction) {
    int space = instruction.indexOf(' ');
    return (space < 0 ? instruction : instruction.substring(0, space)).toUpperCase();
  }

  static String arguments(String instruction) {
    int space = instruction.indexOf(' ');
    return space < 0 ? "" : instruction.substring(space + 1).strip();
  }

  static Path repositoryRoot() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isRegularFile(dir.resolve("docker-compose.yml"))) {
      dir = dir.getParent();
    }
    assertThat(dir).as("a folder above " + Path.of("").toAbsolutePath() + " with docker-compose.yml").isNotNull();
    return dir;
  }

  /** {@code docker compose} (the v2 plugin) if it answers, else {@code docker-compose}, else null. */
  static List<String> composeBinary() {
    for (List<String> candidate : List.of(List.of("docker", "compose"), List.of("docker-compose"))) {
      List<String> version = new ArrayList<>(candidate);
      version.add("version");
      try {
        if (run(version).exit == 0) {
          return candidate;
        }
      } catch (IOException | InterruptedException e) {
        // not installed
      }
    }
    return null;
  }

  record Run(int exit, String output) {}

  static Run run(List<String> command) throws IOException, InterruptedException {
    Path output = Files.createTempFile("compose", ".out");
    try {
      Process p = new ProcessBuilder(command).directory(root.toFile()).redirectErrorStream(true)
          .redirectOutput(output.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
          .start();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Run(-1, "timed out after 60 s");
      }
      return new Run(p.exitValue(), Files.readString(output, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(output);
    }
  }
}
