package io.turnpike.schema;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/** Creates the catalog's topics where they are missing. Existing topics are left as they are. */
public final class TopicAdmin {
  private TopicAdmin() {}

  public static List<String> ensureTopics(Admin admin, int partitions, short replication) {
    try {
      Set<String> existing = admin.listTopics().names().get();
      List<NewTopic> missing = Topics.ALL.stream()
          .filter(t -> !existing.contains(t.name()))
          .map(t -> {
            Map<String, String> configs = new HashMap<>(t.extraConfigs());
            configs.put("cleanup.policy", t.cleanupPolicy());
            // Agents are few; one partition keeps their order total.
            int p = t == Topics.AGENTS ? 1 : partitions;
            return new NewTopic(t.name(), p, replication).configs(configs);
          })
          .toList();
      if (!missing.isEmpty()) {
        try {
          admin.createTopics(missing).all().get();
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw e;
          }
        }
      }
      List<String> created = missing.stream().map(NewTopic::name).toList();
      awaitLeaders(admin, created);
      return created;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot create topics: " + e.getCause().getMessage(), e.getCause());
    }
  }

  /**
   * Waits until every partition of {@code topics} has a leader. A producer that writes to a partition
   * the broker does not lead yet gets NOT_LEADER_OR_FOLLOWER, and its idempotent retry of the first
   * batch can then be refused as out of order behind later batches: records lost at the very start.
   */
  static void awaitLeaders(Admin admin, List<String> topics) throws InterruptedException, ExecutionException {
    if (topics.isEmpty()) {
      return;
    }
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
    long backoffMs = 10;
    while (true) {
      boolean ready;
      try {
        ready = admin.describeTopics(topics).allTopicNames().get().values().stream()
            .allMatch(d -> d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()));
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException)) {
          throw e;
        }
        ready = false; // created, but not yet in this broker's metadata
      }
      if (ready) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("topics " + topics + " have partitions without a leader after 30 s");
      }
      Thread.sleep(backoffMs); // polling the broker's metadata with a deadline, not a test wait
      backoffMs = Math.min(200, backoffMs * 2);
    }
  }
}
