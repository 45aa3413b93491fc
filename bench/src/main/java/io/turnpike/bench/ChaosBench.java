package io.turnpike.bench;

import io.turnpike.chaos.ChaosPlan;
import io.turnpike.chaos.ChaosReport;
import io.turnpike.chaos.ChaosScenario;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Issue #10's chaos run at full size: by default 1,000 runs at 2 runs/s with the standard cycle of
 * faults repeated every 120 s (every part killed with SIGKILL and restarted, the runners as a failover
 * followed by a kill during the rebalance, the broker twice; hostile records in the first cycle), the
 * same harness as {@code ChaosTest} ({@code chaos} module). Prints the report, then the figures for
 * {@code bench/RESULTS.md} as Markdown.
 *
 * <p>Every part is started from this JVM's class path, so run it with {@code java -cp}, not
 * {@code exec:java} (whose class path is Maven's own):
 * <pre>
 * ./mvnw -q install -DskipTests
 * java -cp bench/target/classes:$(./mvnw -q -pl bench dependency:build-classpath -Dmdep.outputFile=/dev/stdout) \
 *      io.turnpike.bench.ChaosBench runs=1000 rate=2 cycle=120 drain=180 dir=/var/tmp/chaos
 * </pre>
 * Options ({@code key=value}): {@code runs}, {@code rate} (runs/s), {@code cycle} (s between two rounds of
 * faults), {@code drain} (s to wait for the last runs), {@code session-timeout} (ms, every part's
 * {@code TURNPIKE_KAFKA_SESSION_TIMEOUT}), {@code dir} (logs, broker data and the report; a new
 * temporary directory by default). Exit status: 0 when the invariants held, 1 when not, 2 when the
 * machine cannot run it (no bubblewrap).
 */
public final class ChaosBench {
  private ChaosBench() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> options = new LinkedHashMap<>(Map.of(
        "runs", "1000", "rate", "2", "cycle", "120", "drain", "180", "session-timeout", "10000"));
    for (String arg : args) {
      int eq = arg.indexOf('=');
      if (eq <= 0 || !options.containsKey(arg.substring(0, eq)) && !arg.startsWith("dir=")) {
        System.err.println("usage: ChaosBench [runs=N] [rate=R] [cycle=S] [drain=S] [session-timeout=MS] [dir=PATH]");
        System.exit(2);
      }
      options.put(arg.substring(0, eq), arg.substring(eq + 1));
    }
    // this JVM's own Kafka clients complain all through every broker outage: that is the run, not news
    ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("org.apache.kafka"))
        .setLevel(ch.qos.logback.classic.Level.ERROR);
    var missing = ChaosScenario.missingPrerequisite();
    if (missing.isPresent()) {
      System.err.println("ChaosBench cannot run here: " + missing.get());
      System.exit(2);
    }
    ChaosPlan plan = ChaosPlan.standard(Integer.parseInt(options.get("runs")), Double.parseDouble(options.get("rate")), 1,
            Duration.ofSeconds(Long.parseLong(options.get("cycle"))))
        .withDrainTimeout(Duration.ofSeconds(Long.parseLong(options.get("drain"))))
        .withSessionTimeout(Duration.ofMillis(Long.parseLong(options.get("session-timeout"))));
    Path dir = options.containsKey("dir") ? Files.createDirectories(Path.of(options.get("dir")))
        : Files.createTempDirectory("turnpike-chaos-bench-");
    System.out.printf("ChaosBench: %d runs at %s/s, %d faults, %d cores, Java %s; logs in %s%n", plan.runs(),
        options.get("rate"), plan.faults().size(), Runtime.getRuntime().availableProcessors(), Runtime.version(),
        dir.resolve("logs"));
    long t0 = System.nanoTime();
    ChaosReport report = new ChaosScenario(plan, dir, System.getProperty("java.class.path"), System.out::println).run();
    System.out.println();
    System.out.println(report.render());
    System.out.println("--- for bench/RESULTS.md ---");
    System.out.println(report.renderMarkdown());
    System.out.printf("ChaosBench took %d s; report in %s%n", Duration.ofNanos(System.nanoTime() - t0).toSeconds(),
        dir.resolve("report.txt"));
    System.exit(report.violations().isEmpty() ? 0 : 1);
  }
}
