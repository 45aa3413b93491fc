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
      return missing.stream().map(NewTopic::name).toList();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot create topics: " + e.getCause().getMessage(), e.getCause());
    }
  }
}
