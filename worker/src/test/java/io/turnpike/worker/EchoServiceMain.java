package io.turnpike.worker;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** A minimal supervised service for {@link ServiceProcessTest}: answers {@code echo.requests} on {@code echo.results}. */
public final class EchoServiceMain {
  static final String REQUESTS = "echo.requests";
  static final String RESULTS = "echo.results";

  private EchoServiceMain() {}

  public static void main(String[] args) {
    ServiceProcess.run("echo-service", List.of(REQUESTS, RESULTS), settings -> settings, ctx -> {
      WorkerOptions options = WorkerOptions.of("echo", ctx.settings().bootstrapServers(), "echo-group", REQUESTS, RESULTS,
              "Echo")
          .withConsumer(ctx.settings().consumerTuning())
          .withOnFatal(ctx.onFatal());
      return new WorkerLoop<>(options, new Echo(), Admission.concurrent("echo", 4, job -> job.answer(job.request())),
          ctx.telemetry()).start();
    });
  }

  private static final class Echo implements Worker<String, String> {
    @Override
    public String decode(ConsumerRecord<String, byte[]> record) {
      return new String(record.value(), StandardCharsets.UTF_8);
    }

    @Override
    public String key(String request) {
      return "k";
    }

    @Override
    public String callId(String request) {
      return request;
    }

    @Override
    public byte[] encode(String request, String answer) {
      return ("echo:" + answer).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String replacement(String request, String answer, String problem) {
      return problem;
    }
  }
}
