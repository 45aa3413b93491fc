package io.turnpike.chaos;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;

/**
 * Samples the consumer groups of the fleet with {@code Admin.describeConsumerGroups} (state, members,
 * assignments) for the whole run and keeps every change, so a rebalance that never ends — a group
 * stuck in PreparingRebalance — is visible with its start and its duration, and so the harness knows
 * which partitions a runner owned when it was killed.
 */
public final class GroupWatch implements AutoCloseable {
  public static final String UNREACHABLE = "Unreachable";
  private static final Set<String> REBALANCING = Set.of("PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling");

  /** A member and the partitions (of any topic) assigned to it. */
  public record Member(String memberId, String clientId, Set<Integer> partitions) {}

  /** What a group looked like at {@code at} (epoch millis), kept only when it differs from the sample before. */
  public record Sample(long at, String group, String state, List<Member> members) {
    public boolean rebalancing() {
      return REBALANCING.contains(state);
    }

    public boolean stable() {
      return "Stable".equals(state);
    }

    boolean sameAs(Sample o) {
      return o != null && state.equals(o.state) && members.equals(o.members);
    }
  }

  /** A stretch of time, in epoch millis; {@code end} is when the next change was seen (or the watch ended). */
  public record Interval(long start, long end, Sample first) {
    public long millis() {
      return end - start;
    }
  }

  private final Admin admin;
  private final List<String> groups;
  private final Map<String, List<Sample>> changes = new ConcurrentHashMap<>();
  private final ScheduledExecutorService sampler;
  private volatile long lastSampleAt;
  private volatile long stoppedAt = -1;

  public GroupWatch(String bootstrapServers, List<String> groups) {
    this.admin = Admin.create(Map.of(
        AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000,
        AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 3000,
        AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 500));
    this.groups = List.copyOf(groups);
    groups.forEach(g -> changes.put(g, new ArrayList<>()));
    this.sampler = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon(true).name("chaos-group-watch").unstarted(r));
  }

  public List<String> groups() {
    return groups;
  }

  /** Samples every group every {@code interval} until closed. */
  public GroupWatch start(Duration interval) {
    sampler.scheduleWithFixedDelay(() -> {
      try {
        describeNow();
      } catch (RuntimeException e) {
        // the next sample tries again; an unreachable broker is recorded as such
      }
    }, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    return this;
  }

  /** Describes every group now, records what changed, and returns the samples. */
  public synchronized Map<String, Sample> describeNow() {
    long at = System.currentTimeMillis();
    Map<String, Sample> now = new LinkedHashMap<>();
    Map<String, KafkaFuture<ConsumerGroupDescription>> futures;
    try {
      futures = admin.describeConsumerGroups(groups, new DescribeConsumerGroupsOptions().timeoutMs(2500)).describedGroups();
    } catch (RuntimeException e) {
      futures = Map.of();
    }
    for (String group : groups) {
      Sample s;
      try {
        ConsumerGroupDescription d = futures.get(group).get(3, TimeUnit.SECONDS);
        List<Member> members = new ArrayList<>();
        for (MemberDescription m : d.members()) {
          Set<Integer> partitions = new TreeSet<>();
          for (TopicPartition tp : m.assignment().topicPartitions()) {
            partitions.add(tp.partition());
          }
          members.add(new Member(m.consumerId(), m.clientId(), Set.copyOf(partitions)));
        }
        members.sort(java.util.Comparator.comparing(Member::memberId));
        s = new Sample(at, group, String.valueOf(d.groupState()), List.copyOf(members));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        s = new Sample(at, group, UNREACHABLE, List.of());
      } catch (Exception e) {
        // a group that does not exist (yet, or any more) is not an unreachable broker
        boolean unknown = e.getCause() instanceof org.apache.kafka.common.errors.GroupIdNotFoundException;
        s = new Sample(at, group, unknown ? "Dead" : UNREACHABLE, List.of());
      }
      record(s);
      now.put(group, s);
    }
    lastSampleAt = at;
    return now;
  }

  private void record(Sample s) {
    List<Sample> history = changes.get(s.group());
    synchronized (history) {
      Sample last = history.isEmpty() ? null : history.get(history.size() - 1);
      if (!s.sameAs(last)) {
        history.add(s);
      }
    }
  }

  /** Every change of {@code group}, in order. */
  public List<Sample> history(String group) {
    List<Sample> history = changes.getOrDefault(group, List.of());
    synchronized (history) {
      return List.copyOf(history);
    }
  }

  /** The group as it was just before {@code at}. */
  public Optional<Sample> lastBefore(String group, long at) {
    Sample found = null;
    for (Sample s : history(group)) {
      if (s.at() > at) {
        break;
      }
      found = s;
    }
    return Optional.ofNullable(found);
  }

  /** The last Stable sample of {@code group} before {@code at}: who owned what. */
  public Optional<Sample> lastStableBefore(String group, long at) {
    Sample found = null;
    for (Sample s : history(group)) {
      if (s.at() > at) {
        break;
      }
      if (s.stable()) {
        found = s;
      }
    }
    return Optional.ofNullable(found);
  }

  /** The first sample at or after {@code at} that satisfies {@code condition}. */
  public Optional<Sample> firstFrom(String group, long at, Predicate<Sample> condition) {
    return history(group).stream().filter(s -> s.at() >= at && condition.test(s)).findFirst();
  }

  /** Maximal stretches during which {@code group}'s samples satisfy {@code condition}. */
  public List<Interval> intervals(String group, Predicate<Sample> condition) {
    List<Sample> history = history(group);
    long end = stoppedAt > 0 ? stoppedAt : lastSampleAt;
    List<Interval> out = new ArrayList<>();
    Sample open = null;
    for (Sample s : history) {
      boolean holds = condition.test(s);
      if (holds && open == null) {
        open = s;
      } else if (!holds && open != null) {
        out.add(new Interval(open.at(), s.at(), open));
        open = null;
      }
    }
    if (open != null) {
      out.add(new Interval(open.at(), Math.max(open.at(), end), open));
    }
    return out;
  }

  @Override
  public void close() {
    sampler.shutdownNow();
    try {
      sampler.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    stoppedAt = lastSampleAt;
    admin.close(Duration.ofSeconds(2));
  }
}
