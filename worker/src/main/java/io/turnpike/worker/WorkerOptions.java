package io.turnpike.worker;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * How a {@link WorkerLoop} connects and behaves.
 *
 * @param name              the worker's name in logs, thread names, metrics and health checks
 * @param bootstrapServers  Kafka bootstrap servers
 * @param groupId           the consumer group its instances share
 * @param requestTopic      where requests come from
 * @param resultTopic       where answers go
 * @param resultType        the {@code turnpike.type} header of answers
 * @param maxPollRecords    records fetched per poll (the backlog is at most this)
 * @param closeTimeout      how long close waits for jobs in flight and their answers
 * @param consumerOverrides Kafka consumer settings that win over the loop's (session timeout, security)
 * @param producerOverrides Kafka producer settings that win over the loop's
 * @param onFatal           called once, on the loop's thread, when the loop stopped on its own
 */
public record WorkerOptions(
    String name,
    String bootstrapServers,
    String groupId,
    String requestTopic,
    String resultTopic,
    String resultType,
    int maxPollRecords,
    Duration closeTimeout,
    Map<String, Object> consumerOverrides,
    Map<String, Object> producerOverrides,
    Consumer<Throwable> onFatal) {

  public WorkerOptions {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(groupId, "groupId");
    Objects.requireNonNull(requestTopic, "requestTopic");
    Objects.requireNonNull(resultTopic, "resultTopic");
    Objects.requireNonNull(resultType, "resultType");
    if (maxPollRecords < 1) {
      throw new IllegalArgumentException("maxPollRecords must be at least 1");
    }
    Objects.requireNonNull(closeTimeout, "closeTimeout");
    consumerOverrides = Map.copyOf(consumerOverrides);
    producerOverrides = Map.copyOf(producerOverrides);
    Objects.requireNonNull(onFatal, "onFatal");
  }

  /** Options with 100 records per poll, a 30 s close timeout, no overrides, and a fatal error only logged. */
  public static WorkerOptions of(String name, String bootstrapServers, String groupId, String requestTopic,
      String resultTopic, String resultType) {
    return new WorkerOptions(name, bootstrapServers, groupId, requestTopic, resultTopic, resultType, 100,
        Duration.ofSeconds(30), Map.of(), Map.of(), e -> {});
  }

  public WorkerOptions withMaxPollRecords(int records) {
    return new WorkerOptions(name, bootstrapServers, groupId, requestTopic, resultTopic, resultType, records,
        closeTimeout, consumerOverrides, producerOverrides, onFatal);
  }

  public WorkerOptions withCloseTimeout(Duration timeout) {
    return new WorkerOptions(name, bootstrapServers, groupId, requestTopic, resultTopic, resultType, maxPollRecords,
        timeout, consumerOverrides, producerOverrides, onFatal);
  }

  /** Adds consumer settings (later ones win). */
  public WorkerOptions withConsumer(Map<String, ?> settings) {
    Map<String, Object> m = new HashMap<>(consumerOverrides);
    m.putAll(settings);
    return new WorkerOptions(name, bootstrapServers, groupId, requestTopic, resultTopic, resultType, maxPollRecords,
        closeTimeout, m, producerOverrides, onFatal);
  }

  /** Adds producer settings (later ones win). */
  public WorkerOptions withProducer(Map<String, ?> settings) {
    Map<String, Object> m = new HashMap<>(producerOverrides);
    m.putAll(settings);
    return new WorkerOptions(name, bootstrapServers, groupId, requestTopic, resultTopic, resultType, maxPollRecords,
        closeTimeout, consumerOverrides, m, onFatal);
  }

  public WorkerOptions withOnFatal(Consumer<Throwable> handler) {
    return new WorkerOptions(name, bootstrapServers, groupId, requestTopic, resultTopic, resultType, maxPollRecords,
        closeTimeout, consumerOverrides, producerOverrides, handler);
  }
}
