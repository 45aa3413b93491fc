package io.turnpike.chaos;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.schema.Settings;
import io.turnpike.telemetry.Telemetry;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * The tool worker of a chaos run as a process of its own, serving {@code get_weather}. Configured like
 * the services, from {@code TURNPIKE_*} variables ({@code TURNPIKE_HTTP_PORT} for /health/ready), plus
 * {@code --latency-ms} to stand in for a real tool's work.
 *
 * <p>It is deliberately the few lines the README shows a user: no consumer setting is passed by hand.
 * So the session timeout that decides how long a killed worker keeps its partitions is whatever
 * {@link ToolWorker} itself takes from the environment ({@code TURNPIKE_KAFKA_SESSION_TIMEOUT}) — which
 * is what the chaos run measures.
 */
public final class WeatherToolMain {
  public static final String READY = "chaos tool worker ready: ";

  private WeatherToolMain() {}

  public static void main(String[] args) throws InterruptedException {
    long latencyMs = 0;
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].equals("--latency-ms")) {
        throw new IllegalArgumentException("unknown argument " + args[i] + " (expected --latency-ms)");
      }
      latencyMs = Long.parseLong(args[i + 1]);
    }
    Duration latency = Duration.ofMillis(latencyMs);
    Settings settings = Settings.fromEnvironment();
    Telemetry telemetry = Telemetry.create("tool-worker", settings);
    ToolWorker worker = ToolWorker.builder(settings.bootstrapServers(), settings.schemaRegistryUrl())
        .tool(ChaosScript.WEATHER_TOOL, call -> {
          if (!latency.isZero()) {
            Thread.sleep(latency); // the tool's own work, not a wait for a condition
          }
          return JsonNodeFactory.instance.objectNode()
              .put("city", call.args().path("city").asText("?"))
              .put("forecast", ChaosScript.WEATHER_OUTPUT)
              .put("temp_c", 21)
              .toString();
        })
        .telemetry(telemetry)
        .build()
        .start();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        worker.close();
      } finally {
        telemetry.close();
        stopped.countDown();
      }
    }, "chaos-tool-worker-shutdown"));
    System.out.println(READY + worker.groupId());
    System.out.flush();
    stopped.await();
  }
}
