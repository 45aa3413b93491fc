package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.ModelResponded;
import io.turnpike.avro.ModelStreamDelta;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import io.turnpike.devkit.ServiceChild;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerMain;
import io.turnpike.schema.Topics;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * kill -9 of the runner (orchestrator and model invoker) in the middle of a streamed answer: the
 * deltas already published stay on turnpike.model.stream, nothing of the half answer reaches the run,
 * and the next runner asks the model again and completes the run once, with the whole answer.
 */
class StreamCrashTest {
  static final String ANSWER = "A long answer that streams slowly: ".repeat(12) + "the end.";

  @Test
  void aRunnerKilledMidStreamLeavesNoPartialAnswerAndTheCallRunsAgain() throws Exception {
    try (Cluster cluster = new Cluster();
         ScriptedModelServer model = ScriptedModelServer.start(Scripts.always(ScriptedReply.text(ANSWER).withUsage(30, 40)));
         TopicTail results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
         TopicTail events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
         TopicTail states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
         TopicTail deltas = new TopicTail(cluster.bootstrap(), Topics.MODEL_STREAM.name())) {
      cluster.publishAgent(AgentYaml.parse("name: writer\nversion: 1\nmodel: gpt-writer\nmodelTimeout: 2m\n", "writer.yaml"));
      model.streamDelay(Duration.ofMillis(150)); // about 30 deltas: several seconds of streaming
      Map<String, String> settings = new LinkedHashMap<>(Map.of(
          "turnpike.schema.registry.url", cluster.registryUrl(),
          "turnpike.bootstrap.servers", cluster.bootstrap(),
          "turnpike.model.base-url", model.baseUrl(),
          "turnpike.model.api-key", "test-key",
          "turnpike.runner.application-id", "stream-crash-runner",
          "turnpike.kafka.session-timeout", "6s",
          "turnpike.runner.state-dir", Files.createTempDirectory("stream-crash-a").toString()));

      ServiceChild first = ServiceChild.start("runner-service", RunnerMain.class, settings);
      RunRequest req = RunRequest.newBuilder().setRunId("st-crash").setAgent("writer").setInput("Write it out")
          .setMetadata(Map.of()).setRequestedAt(Instant.now()).setStream(true).build();
      cluster.send(Topics.RUN_REQUESTS.name(), "st-crash", cluster.serdes().runRequest().encode(req), "RunRequest");
      await().atMost(Duration.ofSeconds(60)).until(() -> deltas.forKey("st-crash").size() >= 2);
      first.kill();
      model.streamDelay(Duration.ZERO);

      settings.put("turnpike.runner.state-dir", Files.createTempDirectory("stream-crash-b").toString());
      try (ServiceChild second = ServiceChild.start("runner-service", RunnerMain.class, settings)) {
        await().atMost(Duration.ofSeconds(120)).until(() -> !results.forKey("st-crash").isEmpty());
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10)).until(() -> results.forKey("st-crash").size() == 1);
        RunResult result = cluster.serdes().runResult().decode(results.forKey("st-crash").getFirst().value());
        assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
        assertThat(result.getFinalOutput()).isEqualTo(ANSWER);

        List<TurnEvent> steps = events.forKey("st-crash").stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
        assertThat(steps.stream().map(TurnEvent::getStep).filter(ModelResponded.class::isInstance)).hasSize(1);
        assertThat(steps.stream().map(TurnEvent::getStep).filter(ModelFailed.class::isInstance)).isEmpty();
        RunState last = cluster.serdes().runState().decode(states.forKey("st-crash").getLast().value());
        assertThat(last.getItems()).extracting(i -> ((MessageItem) i).getText()).containsExactly("Write it out", ANSWER);
        assertThat(last.getUsage().getModelCalls()).isEqualTo(1);

        // the model was asked twice (the call ran again); both times to stream
        assertThat(model.modelRequests()).hasSizeGreaterThanOrEqualTo(2).allSatisfy(r -> assertThat(r.stream()).isTrue());
        // the stream cut off by the kill, then a complete one under another streamId
        List<ModelStreamDelta> all = deltas.forKey("st-crash").stream()
            .map(r -> cluster.serdes().modelStreamDelta().decode(r.value())).toList();
        Map<String, String> textByStream = all.stream().collect(Collectors.groupingBy(ModelStreamDelta::getStreamId,
            LinkedHashMap::new, Collectors.mapping(ModelStreamDelta::getText, Collectors.joining())));
        assertThat(textByStream).hasSizeGreaterThanOrEqualTo(2);
        String cut = textByStream.values().iterator().next();
        assertThat(ANSWER).startsWith(cut);
        assertThat(cut).isNotEqualTo(ANSWER);
        assertThat(textByStream.values()).contains(ANSWER);
        assertThat(all).allSatisfy(d -> assertThat(d.getCallId()).isEqualTo("st-crash:m1"));
      }
    }
  }
}
