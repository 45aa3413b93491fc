package io.turnpike.chaos;

import io.turnpike.avro.RunRequest;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Submits runs at a steady rate, whatever the fleet is going through: a request written while the
 * broker is down waits in the producer until it is back (the producer is idempotent, so a retried
 * send is not a second run).
 */
public final class RunSubmitter implements AutoCloseable {
  private static final List<String> CITIES = List.of("Oslo", "Paris", "Lima", "Tokyo", "Nairobi", "Quito", "Hanoi", "Perth");

  /**
   * A submitted run.
   *
   * @param submittedAt when the request was handed to the producer (epoch millis)
   * @param partition   the partition of its runId on every runId-keyed topic, -1 if never acknowledged
   * @param ackedAt     when the broker acknowledged the request, -1 if never
   * @param error       why the request could not be written, or null
   */
  public record Submission(String runId, long submittedAt, int partition, long ackedAt, String error) {}

  private record Ack(int partition, long at, String error) {}

  private final KafkaProducer<String, byte[]> producer;
  private final TurnpikeSerdes serdes;
  private final String agent;
  private final String prefix;
  private final Map<String, Long> sent = new ConcurrentHashMap<>();
  private final Map<String, Ack> acks = new ConcurrentHashMap<>();
  private final List<String> order = java.util.Collections.synchronizedList(new ArrayList<>());
  private final ScheduledExecutorService ticker =
      Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon(true).name("chaos-submitter").unstarted(r));

  public RunSubmitter(String bootstrapServers, TurnpikeSerdes serdes, String agent, String prefix) {
    this.producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
        ProducerConfig.LINGER_MS_CONFIG, 0,
        // outlive a broker restart: the request is sent when the broker is back
        ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 600_000,
        ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000,
        ProducerConfig.MAX_BLOCK_MS_CONFIG, 600_000),
        new StringSerializer(), new ByteArraySerializer());
    this.serdes = serdes;
    this.agent = agent;
    this.prefix = prefix;
  }

  /** The run id of the {@code n}th run (from 1). */
  public String runId(int n) {
    return prefix + String.format("%04d", n);
  }

  /** Submits one run now. */
  public String submit(String runId) {
    String city = CITIES.get(Math.floorMod(runId.hashCode(), CITIES.size()));
    RunRequest request = RunRequest.newBuilder().setRunId(runId).setAgent(agent).setInput(ChaosScript.input(city, runId))
        .setMetadata(Map.of("chaos", "true")).setRequestedAt(Instant.now()).build();
    ProducerRecord<String, byte[]> record = new ProducerRecord<>(Topics.RUN_REQUESTS.name(), runId, serdes.runRequest().encode(request));
    record.headers().add(TurnpikeHeaders.TYPE, "RunRequest".getBytes(StandardCharsets.UTF_8));
    sent.put(runId, System.currentTimeMillis());
    order.add(runId);
    producer.send(record, (metadata, error) -> acks.put(runId, error == null
        ? new Ack(metadata.partition(), System.currentTimeMillis(), null)
        : new Ack(-1, -1, error.toString())));
    return runId;
  }

  /** Submits {@code count} runs at {@code perSecond}; the future completes when the last one was handed to the producer. */
  public CompletableFuture<Void> submitAtRate(int count, double perSecond) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    AtomicInteger next = new AtomicInteger(1);
    long periodMicros = Math.max(1, Math.round(1_000_000 / perSecond));
    ScheduledFuture<?>[] task = new ScheduledFuture<?>[1];
    synchronized (task) {
      task[0] = ticker.scheduleAtFixedRate(() -> {
        int n = next.getAndIncrement();
        if (n > count) {
          return;
        }
        try {
          submit(runId(n));
        } catch (RuntimeException e) {
          acks.put(runId(n), new Ack(-1, -1, e.toString()));
        }
        if (n == count) {
          done.complete(null);
          synchronized (task) {
            task[0].cancel(false);
          }
        }
      }, 0, periodMicros, TimeUnit.MICROSECONDS);
    }
    return done;
  }

  /** The run id submitted last, or null. */
  public String lastSubmitted() {
    synchronized (order) {
      return order.isEmpty() ? null : order.get(order.size() - 1);
    }
  }

  /** Waits until every request handed to the producer was written or has failed. */
  public void flush() {
    producer.flush();
  }

  public List<Submission> submissions() {
    List<String> ids;
    synchronized (order) {
      ids = List.copyOf(order);
    }
    List<Submission> out = new ArrayList<>();
    for (String id : ids) {
      Ack a = acks.get(id);
      out.add(new Submission(id, sent.get(id), a == null ? -1 : a.partition(), a == null ? -1 : a.at(), a == null ? null : a.error()));
    }
    return out;
  }

  @Override
  public void close() {
    ticker.shutdownNow();
    producer.close(java.time.Duration.ofSeconds(5));
  }
}
