package io.turnpike.sandbox;

import static io.turnpike.sandbox.SandboxHarness.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.SandboxResult;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The service around the sessions: per-session order with sessions in parallel, backpressure at the
 * session limit, idle stop and restore, answers by callId, dead letters, a result too large for its
 * topic, close letting a running command answer, and the refusal to run unisolated. Each test has its own service (own consumer group) on one broker. The local backend
 * runs unisolated where this machine has no bubblewrap (the tests here are not about isolation).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ServiceBehaviourTest {
  SandboxHarness h;
  private final AtomicInteger groups = new AtomicInteger();

  @BeforeAll
  void start() {
    h = new SandboxHarness();
  }

  @AfterAll
  void stop() {
    h.close();
  }

  private SandboxService service(Map<String, String> extra) throws Exception {
    Map<String, String> s = new HashMap<>(Map.of(
        "turnpike.sandbox.group-id", "sandbox-behaviour-" + groups.incrementAndGet(),
        "turnpike.sandbox.allow-unisolated", "true"));
    s.putAll(extra);
    return h.startService("local", s);
  }

  /** Stops a test's service so the next test's service gets every partition. */
  private void done(SandboxService s) {
    s.close();
    h.services.remove(s);
  }

  @Test
  void commandsOfASessionRunInOrderWhileSessionsRunInParallel() throws Exception {
    SandboxService s = service(Map.of("turnpike.sandbox.max-sessions", "4"));
    List<String> calls = new ArrayList<>();
    for (int i = 1; i <= 8; i++) {
      for (String session : List.of("order-a", "order-b", "order-c")) {
        calls.add(h.send(session, "shell", json("command", "echo " + i + " >> log.txt")));
      }
    }
    calls.forEach(c -> h.await(c, Duration.ofSeconds(60)));
    for (String session : List.of("order-a", "order-b", "order-c")) {
      assertThat(h.call(session, "read_file", json("path", "log.txt")).getOutput()).isEqualTo("1\n2\n3\n4\n5\n6\n7\n8\n");
    }
    done(s);
  }

  @Test
  void moreSessionsThanSlotsPausesConsumptionButAnswersEveryone() throws Exception {
    SandboxService s = service(Map.of("turnpike.sandbox.max-sessions", "1"));
    String slow = h.send("bp-a", "shell", json("command", "sleep 1; echo a"));
    String b = h.send("bp-b", "shell", json("command", "echo b"));
    String c = h.send("bp-c", "write_file", json("path", "c.txt", "content", "c"));
    await().atMost(Duration.ofSeconds(30)).until(() -> s.worker().liveSessions() <= 1 && !h.results.getOrDefault(slow, List.of()).isEmpty());
    assertThat(h.await(b, Duration.ofSeconds(60)).getOutput()).contains("b");
    assertThat(h.await(c, Duration.ofSeconds(60)).getIsError()).isFalse();
    assertThat(h.await(slow, Duration.ofSeconds(60)).getOutput()).contains("a");
    assertThat(s.worker().pauses()).isPositive();
    assertThat(s.worker().liveSessions()).isLessThanOrEqualTo(1);
    // the evicted session comes back with its workspace
    assertThat(h.call("bp-c", "read_file", json("path", "c.txt")).getOutput()).isEqualTo("c");
    done(s);
  }

  @Test
  void idleSessionsStopAndAreRestoredOnDemand() throws Exception {
    SandboxService s = service(Map.of("turnpike.sandbox.idle-timeout", "1s"));
    assertThat(h.call("idle-a", "shell", json("command", "mkdir -p d && echo kept > d/f && ln -s d/f link && chmod +x d/f"))
        .getExitCode()).isZero();
    Path local = s.config().root().resolve("sessions").resolve(SandboxSession.dirName("idle-a"));
    assertThat(local).exists();
    await().atMost(Duration.ofSeconds(20)).until(() -> !s.worker().liveSessionIds().contains("idle-a") && !Files.exists(local));
    SandboxResult r = h.call("idle-a", "shell", json("command", "cat link; test -x d/f && echo exec-bit-kept"));
    assertThat(r.getOutput()).contains("kept", "exec-bit-kept");
    done(s);
  }

  @Test
  void aRepeatedCallIdIsAnsweredFromTheRecordNotRunAgain() throws Exception {
    SandboxService s = service(Map.of());
    String cmd = json("command", "echo x >> counter && wc -l < counter");
    SandboxResult first = h.await(h.send("idem-a", "shell", cmd, "idem-a:t1.1"), Duration.ofSeconds(30));
    h.results.remove("idem-a:t1.1");
    SandboxResult again = h.await(h.send("idem-a", "shell", cmd, "idem-a:t1.1"), Duration.ofSeconds(30));
    assertThat(again.getOutput()).isEqualTo(first.getOutput()).contains("1");
    assertThat(again.getSnapshotId()).isEqualTo(first.getSnapshotId()).isNotNull();
    assertThat(h.call("idem-a", "read_file", json("path", "counter")).getOutput()).isEqualTo("x\n");
    // close_session drops the live session; the record survives in the snapshot
    assertThat(h.call("idem-a", "close_session", "{}").getOutput()).contains("session closed");
    h.results.remove("idem-a:t1.1");
    SandboxResult third = h.await(h.send("idem-a", "shell", cmd, "idem-a:t1.1"), Duration.ofSeconds(30));
    assertThat(third.getOutput()).isEqualTo(first.getOutput());
    assertThat(h.call("idem-a", "read_file", json("path", "counter")).getOutput()).isEqualTo("x\n");
    done(s);
  }

  @Test
  void undecodableRecordsAreDeadLetteredAndServiceGoesOn() throws Exception {
    SandboxService s = service(Map.of());
    h.sendRaw("bad-run", new byte[] {1, 2, 3});
    assertThat(h.call("after-bad", "write_file", json("path", "x", "content", "y")).getIsError()).isFalse();
    await().atMost(Duration.ofSeconds(20)).until(() -> s.worker().deadLettered() == 1);
    Properties cp = new Properties();
    cp.put("bootstrap.servers", h.bootstrap());
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = c.partitionsFor(Topics.DEAD_LETTERS.name()).stream()
          .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
      c.assign(tps);
      c.seekToBeginning(tps);
      List<ConsumerRecord<String, byte[]>> got = new ArrayList<>();
      await().atMost(Duration.ofSeconds(10)).until(() -> {
        c.poll(Duration.ofMillis(100)).forEach(got::add);
        return got.stream().anyMatch(r -> "bad-run".equals(r.key()));
      });
      ConsumerRecord<String, byte[]> dl = got.stream().filter(r -> "bad-run".equals(r.key())).findFirst().orElseThrow();
      assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.SANDBOX_REQUESTS.name());
      assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_REASON)).contains("cannot decode the record", "sandbox-worker");
      assertThat(TurnpikeHeaders.get(dl.headers(), TurnpikeHeaders.DLQ_ORIGINAL_SIZE)).isEqualTo("3");
    }
    done(s);
  }

  @Test
  void aResultTooLargeForTheResultsTopicBecomesAnErrorThatAsksForLess() throws Exception {
    // view_image may return more here than turnpike.sandbox.results takes (the broker's 1 MB default)
    SandboxService s = service(Map.of("turnpike.sandbox.max-image-bytes", String.valueOf(3 * 1024 * 1024)));
    SandboxResult made = h.call("big-a", "shell",
        json("command", "printf '\\211PNG\\r\\n\\032\\n' > big.png && head -c 2000000 /dev/urandom >> big.png && echo made"));
    assertThat(made.getOutput()).as(made.getOutput()).contains("made");
    SandboxResult r = h.call("big-a", "view_image", json("path", "big.png"));
    assertThat(r.getIsError()).isTrue();
    assertThat(r.getImages()).isEmpty();
    assertThat(r.getOutput()).contains("is larger than " + Topics.SANDBOX_RESULTS.name(), "ask for less");
    assertThat(h.call("big-a", "shell", json("command", "echo still-here")).getOutput()).contains("still-here");
    done(s);
  }

  @Test
  void closeLetsARunningCommandAnswerAndCommitsIt() throws Exception {
    Map<String, String> group = Map.of("turnpike.sandbox.group-id", "sandbox-behaviour-drain");
    startAtTheEnd("sandbox-behaviour-drain"); // other tests' commands would be ahead of this one
    SandboxService s = service(group);
    String running = h.send("drain-a", "shell", json("command", "touch started; sleep 2; echo x >> ran; wc -l < ran"));
    Path started = s.config().root().resolve("sessions").resolve(SandboxSession.dirName("drain-a")).resolve("workspace/started");
    await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(started));
    done(s);
    assertThat(h.await(running, Duration.ofSeconds(5)).getOutput()).contains("--- stdout ---\n1\n");

    // The next instance of the group starts after the committed command: it neither runs nor answers it again
    // (a redelivery would be answered, from the record, before the command sent after it).
    SandboxService next = service(group);
    assertThat(h.call("drain-a", "read_file", json("path", "ran")).getOutput()).isEqualTo("x\n");
    assertThat(h.results.get(running)).hasSize(1);
    done(next);
  }

  /** Commits {@code group}'s offsets at the end of the requests topic, so that it reads only what comes next. */
  private void startAtTheEnd(String group) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", h.bootstrap()))) {
      Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
      admin.describeTopics(List.of(Topics.SANDBOX_REQUESTS.name())).allTopicNames().get()
          .get(Topics.SANDBOX_REQUESTS.name()).partitions()
          .forEach(p -> latest.put(new TopicPartition(Topics.SANDBOX_REQUESTS.name(), p.partition()), OffsetSpec.latest()));
      Map<TopicPartition, OffsetAndMetadata> ends = new HashMap<>();
      admin.listOffsets(latest).all().get().forEach((tp, o) -> ends.put(tp, new OffsetAndMetadata(o.offset())));
      admin.alterConsumerGroupOffsets(group, ends).all().get();
    }
  }

  @Test
  void withoutBubblewrapCommandsAreRefusedUnlessUnisolatedIsAllowed() throws Exception {
    SandboxService strict = service(Map.of("turnpike.sandbox.local.bwrap", "none", "turnpike.sandbox.allow-unisolated", "false"));
    SandboxResult refused = h.call("strict-a", "shell", json("command", "echo hi"));
    assertThat(refused.getIsError()).isTrue();
    assertThat(refused.getOutput()).contains("refuses to run commands", "bubblewrap", "turnpike.sandbox.allow-unisolated=true");
    // file tools do not run anything, so they still work
    assertThat(h.call("strict-a", "write_file", json("path", "a.txt", "content", "a")).getIsError()).isFalse();
    done(strict);

    SandboxService lax = service(Map.of("turnpike.sandbox.local.bwrap", "none", "turnpike.sandbox.allow-unisolated", "true"));
    SandboxResult ran = h.call("lax-a", "shell", json("command", "echo hi; env"));
    assertThat(ran.getExitCode()).isZero();
    assertThat(ran.getOutput()).contains("hi", "unisolated").doesNotContain("JAVA_HOME", "TURNPIKE_");
    done(lax);
  }
}
