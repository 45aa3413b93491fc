package io.turnpike.client.run;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRequested;
import io.turnpike.avro.ApprovalResolved;
import io.turnpike.avro.ModelCallRequested;
import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunFinished;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStarted;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.Usage;
import io.turnpike.client.TurnpikeException;
import io.turnpike.client.agent.AgentCatalog;
import io.turnpike.client.internal.TopicReader;
import io.turnpike.client.testing.KafkaTestSupport;
import io.turnpike.client.testing.KafkaTestSupport.Collector;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class TurnpikeClientTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl(KafkaTestSupport.REGISTRY);
  static EmbeddedKafka kafka;
  static String bootstrap;
  static KafkaProducer<String, byte[]> producer;
  static TurnpikeClient client;

  @BeforeAll
  static void start() {
    kafka = EmbeddedKafka.start();
    bootstrap = kafka.bootstrapServers();
    KafkaTestSupport.createTopics(bootstrap);
    producer = KafkaTestSupport.producer(bootstrap);
    client = new TurnpikeClient(bootstrap, KafkaTestSupport.REGISTRY);
  }

  @AfterAll
  static void stop() {
    client.close();
    producer.close();
    kafka.close();
  }

  @Test
  void submitProducesARunRequestWithTypeAndTraceHeaders() {
    client.checkConnection(Duration.ofSeconds(10));
    try (Collector requests = new Collector(bootstrap, Topics.RUN_REQUESTS.name())) {
      String runId = client.submit("travel-assistant", 2, "Weather in Lisbon?", Map.of("user", "ana"));
      assertThat(UUID.fromString(runId)).isNotNull();
      ConsumerRecord<String, byte[]> r = await().atMost(Duration.ofSeconds(20))
          .until(() -> requests.matching(x -> runId.equals(x.key())), l -> !l.isEmpty()).get(0);
      RunRequest req = SERDES.runRequest().deserialize(r.topic(), r.value());
      assertThat(req.getRunId()).isEqualTo(runId);
      assertThat(req.getAgent()).isEqualTo("travel-assistant");
      assertThat(req.getAgentVersion()).isEqualTo(2);
      assertThat(req.getInput()).isEqualTo("Weather in Lisbon?");
      assertThat(req.getMetadata()).containsEntry("user", "ana");
      assertThat(req.getRequestedAt()).isBefore(Instant.now().plusSeconds(1));
      assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TYPE)).isEqualTo("RunRequest");
      assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TRACE_ID)).matches("[0-9a-f]{32}");
    }
  }

  @Test
  void awaitResultReturnsTheFinalResultForItsRunOnly() throws Exception {
    String runId = client.submit("travel-assistant", "hi");
    CompletableFuture<RunResult> waiting = CompletableFuture.supplyAsync(() -> client.awaitResult(runId, Duration.ofSeconds(30)));
    produce(Topics.RUN_RESULTS.name(), "someone-else", result("someone-else", RunStatus.COMPLETED, "not yours"),
        SERDES.runResult());
    produce(Topics.RUN_RESULTS.name(), runId, result(runId, RunStatus.RUNNING, null), SERDES.runResult());
    produce(Topics.RUN_RESULTS.name(), runId, result(runId, RunStatus.COMPLETED, "It is sunny."), SERDES.runResult());
    RunResult r = waiting.get();
    assertThat(r.getRunId()).isEqualTo(runId);
    assertThat(r.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(r.getFinalOutput()).isEqualTo("It is sunny.");

    // A fresh client (knows nothing of the submission) reads from the beginning and finds it too.
    try (TurnpikeClient other = new TurnpikeClient(bootstrap, KafkaTestSupport.REGISTRY)) {
      assertThat(other.awaitResult(runId, Duration.ofSeconds(20)).getFinalOutput()).isEqualTo("It is sunny.");
    }
  }

  @Test
  void awaitResultReturnsAnInterruptedRunWhenThatIsItsNewestResult() {
    String runId = UUID.randomUUID().toString();
    produce(Topics.RUN_RESULTS.name(), runId, result(runId, RunStatus.INTERRUPTED, null), SERDES.runResult());
    assertThat(client.awaitResult(runId, Duration.ofSeconds(20)).getStatus()).isEqualTo(RunStatus.INTERRUPTED);
    produce(Topics.RUN_RESULTS.name(), runId, result(runId, RunStatus.FAILED, null), SERDES.runResult());
    assertThat(client.awaitResult(runId, Duration.ofSeconds(20)).getStatus()).isEqualTo(RunStatus.FAILED);
  }

  @Test
  void awaitResultTimesOutWithARunTimeoutException() {
    String runId = client.submit("travel-assistant", "nobody answers");
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> client.awaitResult(runId, Duration.ofSeconds(1)))
        .isInstanceOf(RunTimeoutException.class)
        .hasMessageContaining("run " + runId + " has no result after 1s");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
  }

  @Test
  void followDeliversTheRunsEventsInOrderUntilItFinishes() throws Exception {
    String runId = client.submit("travel-assistant", "follow me");
    List<TurnEvent> seen = new CopyOnWriteArrayList<>();
    CompletableFuture<TurnEvent> last = CompletableFuture.supplyAsync(() -> client.follow(runId, seen::add, Duration.ofSeconds(30)));
    produce(Topics.TURN_EVENTS.name(), runId, event(runId, 1, new RunStarted(1, "follow me")), SERDES.turnEvent());
    produce(Topics.TURN_EVENTS.name(), "other", event("other", 1, new RunStarted(1, "x")), SERDES.turnEvent());
    produce(Topics.TURN_EVENTS.name(), runId, event(runId, 2, new ModelCallRequested("c1", 1, "gpt")), SERDES.turnEvent());
    produce(Topics.TURN_EVENTS.name(), runId, event(runId, 2, new ModelCallRequested("c1", 1, "gpt")), SERDES.turnEvent());
    produce(Topics.TURN_EVENTS.name(), runId, event(runId, 3, new RunFinished(RunStatus.COMPLETED, "done", null)),
        SERDES.turnEvent());
    produce(Topics.TURN_EVENTS.name(), runId, event(runId, 4, new RunStarted(1, "after the end")), SERDES.turnEvent());

    TurnEvent end = last.get();
    assertThat(end.getStep()).isInstanceOf(RunFinished.class);
    assertThat(seen).extracting(TurnEvent::getSeq).containsExactly(1L, 2L, 3L);
    assertThat(seen).allMatch(e -> e.getRunId().equals(runId));
  }

  @Test
  void followUntilSettledStopsWhenTheRunWaitsForAHumanAndGoesOnFromASnapshot() throws Exception {
    String runId = UUID.randomUUID().toString();
    String topic = Topics.TURN_EVENTS.name();
    produce(topic, runId, event(runId, 1, new RunStarted(1, "clean up")), SERDES.turnEvent());
    produce(topic, runId, event(runId, 2, new ApprovalRequested(runId + ":t1.1", "shell", "{}", "rule")), SERDES.turnEvent());
    produce(topic, runId, event(runId, 3, new ApprovalRequested(runId + ":t1.2", "shell", "{}", "rule")), SERDES.turnEvent());
    List<TurnEvent> seen = new CopyOnWriteArrayList<>();
    FollowOutcome first = client.followUntilSettled(runId, null, seen::add, Duration.ofSeconds(30));
    assertThat(first.kind()).isEqualTo(FollowOutcome.Kind.INTERRUPTED);
    assertThat(first.waitingFor()).containsExactly(runId + ":t1.1", runId + ":t1.2");
    assertThat(seen).extracting(TurnEvent::getSeq).containsExactly(1L, 2L, 3L);
    assertThat(first.last().getSeq()).isEqualTo(3L);

    // From the snapshot: only later steps; one approval resolved, the other still waits.
    RunState snapshot = RunState.newBuilder(state(runId, RunStatus.INTERRUPTED, 3))
        .setApprovals(List.of(approval(runId + ":t1.1"), approval(runId + ":t1.2"))).build();
    List<TurnEvent> later = new CopyOnWriteArrayList<>();
    CompletableFuture<FollowOutcome> second = CompletableFuture.supplyAsync(
        () -> client.followUntilSettled(runId, snapshot, later::add, Duration.ofSeconds(30)));
    produce(topic, runId, event(runId, 4, new ApprovalResolved(runId + ":t1.1", true, false, null)), SERDES.turnEvent());
    FollowOutcome stillWaiting = second.get();
    assertThat(stillWaiting.kind()).isEqualTo(FollowOutcome.Kind.INTERRUPTED);
    assertThat(stillWaiting.waitingFor()).containsExactly(runId + ":t1.2");
    assertThat(later).extracting(TurnEvent::getSeq).containsExactly(4L);

    RunState snapshot2 = RunState.newBuilder(state(runId, RunStatus.INTERRUPTED, 4))
        .setApprovals(List.of(approval(runId + ":t1.2"))).build();
    List<TurnEvent> rest = new CopyOnWriteArrayList<>();
    CompletableFuture<FollowOutcome> third = CompletableFuture.supplyAsync(
        () -> client.followUntilSettled(runId, snapshot2, rest::add, Duration.ofSeconds(30)));
    produce(topic, runId, event(runId, 5, new ApprovalResolved(runId + ":t1.2", false, false, "no")), SERDES.turnEvent());
    produce(topic, runId, event(runId, 6, new ModelCallRequested(runId + ":m2", 1, "gpt")), SERDES.turnEvent());
    produce(topic, runId, event(runId, 7, new RunFinished(RunStatus.COMPLETED, "done", null)), SERDES.turnEvent());
    FollowOutcome done = third.get();
    assertThat(done.kind()).isEqualTo(FollowOutcome.Kind.FINISHED);
    assertThat(done.waitingFor()).isEmpty();
    assertThat(rest).extracting(TurnEvent::getSeq).containsExactly(5L, 6L, 7L);
  }

  @Test
  void followUntilSettledTimesOutWhileTheRunIsBusy() {
    String runId = UUID.randomUUID().toString();
    produce(Topics.TURN_EVENTS.name(), runId, event(runId, 1, new RunStarted(1, "x")), SERDES.turnEvent());
    assertThatThrownBy(() -> client.followUntilSettled(runId, null, e -> { }, Duration.ofSeconds(2)))
        .isInstanceOf(RunTimeoutException.class).hasMessageContaining("did not finish within 2s");
  }

  @Test
  void aReaderStartingAtATimeMissesNothingWrittenRightAfterItOpened() {
    // Every partition is "past the time", so each starts at its end: the end it had when the reader
    // opened, not the end at the first poll (which would skip this record: a fast run's result).
    String runId = UUID.randomUUID().toString();
    List<String> keys = new CopyOnWriteArrayList<>();
    try (TopicReader<RunResult> reader = TopicReader.open(bootstrap, Topics.RUN_RESULTS.name(), SERDES.runResult(),
        Duration.ofSeconds(15)).fromTime(Instant.now().plusSeconds(3600))) {
      produce(Topics.RUN_RESULTS.name(), runId, result(runId, RunStatus.COMPLETED, "fast"), SERDES.runResult());
      await().atMost(Duration.ofSeconds(20)).until(() -> {
        reader.poll(Duration.ofMillis(200)).forEach(e -> keys.add(e.key()));
        return keys.contains(runId);
      });
    }
  }

  @Test
  void runStatesListsTheLatestSnapshotOfEveryRun() {
    String a = UUID.randomUUID().toString();
    String b = UUID.randomUUID().toString();
    produce(Topics.RUN_STATE.name(), a, state(a, RunStatus.RUNNING, 1), SERDES.runState());
    produce(Topics.RUN_STATE.name(), b, state(b, RunStatus.INTERRUPTED, 4), SERDES.runState());
    produce(Topics.RUN_STATE.name(), a, state(a, RunStatus.COMPLETED, 3), SERDES.runState());
    Map<String, RunState> all = client.runStates();
    assertThat(all.get(a).getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(all.get(b).getVersion()).isEqualTo(4);
  }

  @Test
  void approveRejectAndMessageSendTheirCommands() {
    try (Collector commands = new Collector(bootstrap, Topics.RUN_COMMANDS.name())) {
      String runId = UUID.randomUUID().toString();
      client.approve(runId, runId + ":t1.1", true);
      client.reject(runId, runId + ":t1.2", "too risky", true);
      client.sendMessage(runId, "and also Porto");
      List<RunCommand> cmds = await().atMost(Duration.ofSeconds(20))
          .until(() -> commands.matching(x -> runId.equals(x.key())), l -> l.size() == 3).stream()
          .map(r -> SERDES.runCommand().deserialize(r.topic(), r.value())).toList();
      assertThat(cmds).extracting(RunCommand::getType)
          .containsExactly(RunCommandType.APPROVE, RunCommandType.REJECT, RunCommandType.USER_MESSAGE);
      assertThat(cmds.get(0).getCallId()).isEqualTo(runId + ":t1.1");
      assertThat(cmds.get(0).getAlways()).isTrue();
      assertThat(cmds.get(1).getMessage()).isEqualTo("too risky");
      assertThat(cmds.get(1).getAlways()).isTrue();
      assertThat(cmds.get(2).getMessage()).isEqualTo("and also Porto");
      assertThat(cmds.get(2).getCallId()).isNull();
    }
  }

  @Test
  void runStateIsTheLatestSnapshotOfTheRun() {
    String runId = UUID.randomUUID().toString();
    assertThat(client.runState(runId)).isEmpty();
    produce(Topics.RUN_STATE.name(), runId, state(runId, RunStatus.RUNNING, 1), SERDES.runState());
    produce(Topics.RUN_STATE.name(), "another", state("another", RunStatus.FAILED, 9), SERDES.runState());
    produce(Topics.RUN_STATE.name(), runId, state(runId, RunStatus.COMPLETED, 5), SERDES.runState());
    RunState s = client.runState(runId).orElseThrow();
    assertThat(s.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(s.getVersion()).isEqualTo(5);
  }

  @Test
  void cancelSendsACancelCommand() {
    try (Collector commands = new Collector(bootstrap, Topics.RUN_COMMANDS.name())) {
      String runId = UUID.randomUUID().toString();
      String commandId = client.cancel(runId, "changed my mind");
      ConsumerRecord<String, byte[]> r = await().atMost(Duration.ofSeconds(20))
          .until(() -> commands.matching(x -> runId.equals(x.key())), l -> !l.isEmpty()).get(0);
      RunCommand cmd = SERDES.runCommand().deserialize(r.topic(), r.value());
      assertThat(cmd.getType()).isEqualTo(RunCommandType.CANCEL);
      assertThat(cmd.getCommandId()).isEqualTo(commandId);
      assertThat(cmd.getMessage()).isEqualTo("changed my mind");
      assertThat(TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.TYPE)).isEqualTo("RunCommand");
    }
  }

  @Test
  void agentCatalogKeepsTheLatestDefinitionPerAgent() {
    try (AgentCatalog catalog = new AgentCatalog(bootstrap, KafkaTestSupport.REGISTRY)) {
      catalog.publish(agent("cat-a", 1));
      catalog.publish(agent("cat-b", 1));
      catalog.publish(agent("cat-a", 2));
      Map<String, AgentDefinition> all = catalog.list();
      assertThat(all.get("cat-a").getVersion()).isEqualTo(2);
      assertThat(all.get("cat-b").getVersion()).isEqualTo(1);
      assertThat(catalog.get("cat-a")).get().extracting(AgentDefinition::getVersion).isEqualTo(2);
      assertThat(catalog.get("nope")).isEmpty();
    }
  }

  @Test
  void anUnreachableBrokerFailsFastWithAReadableMessage() {
    long t0 = System.nanoTime();
    try (TurnpikeClient nowhere = new TurnpikeClient("127.0.0.1:1", KafkaTestSupport.REGISTRY)) {
      assertThatThrownBy(() -> nowhere.checkConnection(Duration.ofSeconds(2)))
          .isInstanceOf(TurnpikeException.class)
          .hasMessageStartingWith("cannot reach Kafka at 127.0.0.1:1 within 2s");
    }
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
  }

  // ------------------------------------------------------------------------------------------

  private static <T extends SpecificRecord> void produce(String topic, String key, T value, Serializer<T> ser) {
    KafkaTestSupport.send(producer, new ProducerRecord<>(topic, key, ser.serialize(topic, value)));
  }

  static RunResult result(String runId, RunStatus status, String output) {
    return RunResult.newBuilder().setRunId(runId).setStatus(status).setFinalOutput(output).setAgent("travel-assistant")
        .setAgentVersion(1).setTurns(3).setFinishedAt(Instant.now()).build();
  }

  static TurnEvent event(String runId, long seq, Object step) {
    return TurnEvent.newBuilder().setRunId(runId).setSeq(seq).setTurn(0).setAgent("travel-assistant").setAt(Instant.now())
        .setStep(step).build();
  }

  static AgentDefinition agent(String name, int version) {
    return AgentDefinition.newBuilder().setName(name).setVersion(version).setModel("gpt-4.1-mini").build();
  }

  static PendingApproval approval(String callId) {
    return new PendingApproval(callId, "call_1", "shell", "{}", "rule", Instant.now());
  }

  static RunState state(String runId, RunStatus status, long version) {
    return RunState.newBuilder()
        .setRunId(runId)
        .setStatus(status)
        .setAgent(agent("travel-assistant", 1))
        .setInput("hi")
        .setUsage(Usage.newBuilder().build())
        .setCreatedAt(Instant.now())
        .setUpdatedAt(Instant.now())
        .setVersion(version)
        .build();
  }
}
