package io.turnpike.runner.run;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.SandboxCommand;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ToolCall;
import io.turnpike.avro.TurnEvent;
import io.turnpike.schema.DeadLetter;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import io.turnpike.telemetry.Telemetry;
import io.turnpike.telemetry.TurnpikeMetrics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Properties;
import java.util.Random;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class OrchestratorTopologyTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://topology-test");
  private TopologyTestDriver driver;
  private TestInputTopic<String, byte[]> agents;
  private TestInputTopic<String, byte[]> requests;
  private TestInputTopic<String, byte[]> commands;
  private TestInputTopic<String, byte[]> modelResults;
  private TestInputTopic<String, byte[]> toolResults;
  private TestInputTopic<String, byte[]> sandboxResults;
  private TestInputTopic<String, byte[]> guardrailResults;
  private TestOutputTopic<String, byte[]> sandboxRequests;
  private TestOutputTopic<String, byte[]> guardrailRequests;
  private TestOutputTopic<String, byte[]> modelRequests;
  private TestOutputTopic<String, byte[]> toolRequests;
  private TestOutputTopic<String, byte[]> turnEvents;
  private TestOutputTopic<String, byte[]> runResults;
  private TestOutputTopic<String, byte[]> runState;
  private TestOutputTopic<String, byte[]> deadLetters;

  @BeforeEach
  void setUp() {
    start(new Properties(), Telemetry.noop("orchestrator"));
  }

  /** (Re)starts the driver with {@code extra} Streams configuration, as Orchestrator.streamsProperties adds it. */
  private void start(Properties extra, Telemetry telemetry) {
    if (driver != null) {
      driver.close();
    }
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "orchestrator-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "dummy:9092");
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.putAll(extra);
    driver = new TopologyTestDriver(OrchestratorTopology.build(Duration.ofSeconds(1), SERDES, telemetry), props, Fixtures.T0);
    StringSerializer ks = new StringSerializer();
    ByteArraySerializer vs = new ByteArraySerializer();
    agents = driver.createInputTopic(Topics.AGENTS.name(), ks, vs);
    requests = driver.createInputTopic(Topics.RUN_REQUESTS.name(), ks, vs);
    commands = driver.createInputTopic(Topics.RUN_COMMANDS.name(), ks, vs);
    modelResults = driver.createInputTopic(Topics.MODEL_RESULTS.name(), ks, vs);
    toolResults = driver.createInputTopic(Topics.TOOL_RESULTS.name(), ks, vs);
    sandboxResults = driver.createInputTopic(Topics.SANDBOX_RESULTS.name(), ks, vs);
    guardrailResults = driver.createInputTopic(Topics.GUARDRAIL_RESULTS.name(), ks, vs);
    StringDeserializer kd = new StringDeserializer();
    ByteArrayDeserializer vd = new ByteArrayDeserializer();
    modelRequests = driver.createOutputTopic(Topics.MODEL_REQUESTS.name(), kd, vd);
    toolRequests = driver.createOutputTopic(Topics.TOOL_REQUESTS.name(), kd, vd);
    sandboxRequests = driver.createOutputTopic(Topics.SANDBOX_REQUESTS.name(), kd, vd);
    guardrailRequests = driver.createOutputTopic(Topics.GUARDRAIL_REQUESTS.name(), kd, vd);
    turnEvents = driver.createOutputTopic(Topics.TURN_EVENTS.name(), kd, vd);
    runResults = driver.createOutputTopic(Topics.RUN_RESULTS.name(), kd, vd);
    runState = driver.createOutputTopic(Topics.RUN_STATE.name(), kd, vd);
    deadLetters = driver.createOutputTopic(Topics.DEAD_LETTERS.name(), kd, vd);
    agents.pipeInput("weather", SERDES.agentDefinition().encode(Fixtures.agent(5, "get_weather")));
  }

  @AfterEach
  void tearDown() {
    driver.close();
  }

  private void submit(String runId) {
    requests.pipeInput(new TestRecord<>(runId, SERDES.runRequest().encode(Fixtures.request(runId, "Weather in Oslo?")),
        new RecordHeaders().add(TurnpikeHeaders.TRACE_ID, "abc123".getBytes()), Fixtures.T0));
  }

  private RunState latestState(String runId) {
    return driver.<String, RunState>getKeyValueStore(OrchestratorTopology.RUN_STORE).get(runId);
  }

  @Test
  void aRunWithOneToolTurnCompletes() {
    submit("r1");
    TestRecord<String, byte[]> modelReq = modelRequests.readRecord();
    ModelCall call = SERDES.modelCall().decode(modelReq.value());
    assertThat(call.getCallId()).isEqualTo("r1:m1");
    assertThat(TurnpikeHeaders.get(modelReq.headers(), TurnpikeHeaders.TRACE_ID)).isEqualTo("abc123");
    assertThat(TurnpikeHeaders.get(modelReq.headers(), TurnpikeHeaders.CALL_ID)).isEqualTo("r1:m1");
    assertThat(TurnpikeHeaders.get(modelReq.headers(), TurnpikeHeaders.TYPE)).isEqualTo("ModelCall");

    modelResults.pipeInput("r1", SERDES.modelResult().encode(Fixtures.toolCalls("r1", "r1:m1", "get_weather", "{\"city\":\"Oslo\"}")));
    ToolCall tool = SERDES.toolCall().decode(toolRequests.readValue());
    assertThat(tool.getName()).isEqualTo("get_weather");

    toolResults.pipeInput("r1", SERDES.toolResult().encode(Fixtures.toolResult("r1", tool.getCallId(), "get_weather", "sunny")));
    List<ModelCall> calls = modelRequests.readValuesToList().stream().map(SERDES.modelCall()::decode).toList();
    assertThat(calls).extracting(ModelCall::getCallId).containsExactly("r1:m2");

    modelResults.pipeInput("r1", SERDES.modelResult().encode(Fixtures.text("r1", "r1:m2", "Sunny in Oslo.")));
    RunResult result = SERDES.runResult().decode(runResults.readValue());
    assertThat(result.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("Sunny in Oslo.");
    assertThat(runResults.isEmpty()).isTrue();

    List<TurnEvent> events = turnEvents.readValuesToList().stream().map(SERDES.turnEvent()::decode).toList();
    assertThat(events).extracting(TurnEvent::getSeq).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);
    assertThat(events).extracting(e -> e.getStep().getClass().getSimpleName()).containsExactly(
        "RunStarted", "ModelCallRequested", "ModelResponded", "ToolCallRequested", "ToolCallCompleted",
        "ModelCallRequested", "ModelResponded", "RunFinished");

    List<RunState> states = runState.readValuesToList().stream().map(SERDES.runState()::decode).toList();
    assertThat(states).extracting(RunState::getVersion).containsExactly(2L, 4L, 6L, 8L);
    assertThat(states.get(3).getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(latestState("r1").getVersion()).isEqualTo(8L);
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void duplicateResultsEmitNoSecondCommand() {
    submit("r2");
    modelRequests.readValue();
    byte[] answer = SERDES.modelResult().encode(Fixtures.toolCalls("r2", "r2:m1", "get_weather", "{}"));
    modelResults.pipeInput("r2", answer);
    modelResults.pipeInput("r2", answer);
    assertThat(toolRequests.readValuesToList()).hasSize(1);
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void garbageRunRequestIsDeadLetteredAndTheRunFails() {
    byte[] garbage = {0x00, 0x13, 0x37, 0x42};
    requests.pipeInput("r3", garbage);
    TestRecord<String, byte[]> dlq = deadLetters.readRecord();
    assertThat(dlq.key()).isEqualTo("r3");
    assertThat(dlq.value()).isEqualTo(garbage);
    assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.RUN_REQUESTS.name());
    assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_REASON)).contains("undecodable");
    assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_OFFSET)).isEqualTo("0");
    RunResult failed = SERDES.runResult().decode(runResults.readValue());
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(failed.getError()).contains("undecodable");
    // and the stream keeps going
    submit("r4");
    assertThat(modelRequests.readValuesToList()).hasSize(1);
  }

  private void submitJson(String runId, String json) {
    requests.pipeInput(new TestRecord<>(runId, json.getBytes(java.nio.charset.StandardCharsets.UTF_8),
        new RecordHeaders().add("content-type", "application/json; charset=utf-8".getBytes()), Fixtures.T0));
  }

  @Test
  void aJsonRunRequestStartsARunLikeAnAvroOne() {
    String agent = Fixtures.request("x", "y").getAgent();
    submitJson("rj1", "{\"agent\": \"" + agent + "\", \"input\": \"Weather in Oslo?\", \"metadata\": {\"ticket\": 7}}");
    ModelCall call = SERDES.modelCall().decode(modelRequests.readValue());
    assertThat(call.getCallId()).isEqualTo("rj1:m1");
    assertThat(latestState("rj1").getStatus()).isEqualTo(RunStatus.RUNNING);
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void anInvalidJsonRunRequestIsDeadLetteredWithTheReasonAndTheRunFails() {
    submitJson("rj2", "{\"input\": \"no agent named\"}");
    TestRecord<String, byte[]> dlq = deadLetters.readRecord();
    assertThat(TurnpikeHeaders.get(dlq.headers(), TurnpikeHeaders.DLQ_REASON)).contains("missing required field 'agent'");
    assertThat(SERDES.runResult().decode(runResults.readValue()).getStatus()).isEqualTo(RunStatus.FAILED);

    submitJson("rj3", "{not json");
    assertThat(TurnpikeHeaders.get(deadLetters.readRecord().headers(), TurnpikeHeaders.DLQ_REASON)).contains("not valid JSON");
    // and the stream keeps going
    submit("rj4");
    assertThat(modelRequests.readValuesToList()).hasSize(1);
  }

  @Test
  void unknownAgentIsDeadLetteredWithAFailedResult() {
    requests.pipeInput("r5", SERDES.runRequest().encode(
        io.turnpike.avro.RunRequest.newBuilder(Fixtures.request("r5", "hi")).setAgent("ghost").build()));
    assertThat(TurnpikeHeaders.get(deadLetters.readRecord().headers(), TurnpikeHeaders.DLQ_REASON)).contains("unknown agent 'ghost'");
    RunResult failed = SERDES.runResult().decode(runResults.readValue());
    assertThat(failed.getAgent()).isEqualTo("ghost");
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(latestState("r5")).isNull();
  }

  @Test
  void unavailableAgentVersionFailsClearly() {
    requests.pipeInput("r6", SERDES.runRequest().encode(
        io.turnpike.avro.RunRequest.newBuilder(Fixtures.request("r6", "hi")).setAgentVersion(1).build()));
    assertThat(SERDES.runResult().decode(runResults.readValue()).getError())
        .contains("version 1 is not available (current version is 3)");
  }

  @Test
  void keylessAndGarbageResultsAreDeadLetteredWithoutHurtingTheRun() {
    submit("r7");
    modelRequests.readValue();
    requests.pipeInput((String) null, SERDES.runRequest().encode(Fixtures.request("x", "hi")));
    modelResults.pipeInput("r7", new byte[] {1, 2, 3});
    assertThat(deadLetters.readRecordsToList()).extracting(r -> TurnpikeHeaders.get(r.headers(), TurnpikeHeaders.DLQ_REASON))
        .satisfiesExactly(
            r -> assertThat(r).contains("missing key"),
            r -> assertThat(r).contains("undecodable record on turnpike.model.results"));
    assertThat(runResults.isEmpty()).isTrue();
    assertThat(latestState("r7").getStatus()).isEqualTo(RunStatus.RUNNING);
    modelResults.pipeInput("r7", SERDES.modelResult().encode(Fixtures.text("r7", "r7:m1", "done")));
    assertThat(SERDES.runResult().decode(runResults.readValue()).getStatus()).isEqualTo(RunStatus.COMPLETED);
  }

  @Test
  void deadlinesAreCheckedOnWallClockAndRetriedThenFail() {
    submit("r8");
    modelRequests.readValue();
    driver.advanceWallClockTime(Duration.ofSeconds(29));
    assertThat(modelRequests.isEmpty()).isTrue();
    driver.advanceWallClockTime(Duration.ofSeconds(2));
    ModelCall retry = SERDES.modelCall().decode(modelRequests.readValue());
    assertThat(retry.getCallId()).isEqualTo("r8:m1");
    assertThat(retry.getAttempt()).isEqualTo(2);
    driver.advanceWallClockTime(Duration.ofSeconds(31));
    RunResult failed = SERDES.runResult().decode(runResults.readValue());
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(failed.getError()).contains("no answer after 2 attempt(s)");
    assertThat(driver.getKeyValueStore(OrchestratorTopology.TIMER_STORE).approximateNumEntries()).isZero();
  }

  @Test
  void answeredCallsLeaveNoTimers() {
    submit("r9");
    modelResults.pipeInput("r9", SERDES.modelResult().encode(Fixtures.text("r9", "r9:m1", "ok")));
    driver.advanceWallClockTime(Duration.ofMinutes(5));
    assertThat(modelRequests.readValuesToList()).hasSize(1);
    assertThat(runResults.readValuesToList()).hasSize(1);
    assertThat(driver.getKeyValueStore(OrchestratorTopology.TIMER_STORE).approximateNumEntries()).isZero();
  }

  @Test
  void cancelCommandEndsTheRun() {
    submit("r10");
    commands.pipeInput("r10", SERDES.runCommand().encode(Fixtures.command("r10", io.turnpike.avro.RunCommandType.CANCEL)));
    assertThat(SERDES.runResult().decode(runResults.readValue()).getStatus()).isEqualTo(RunStatus.CANCELLED);
    commands.pipeInput("r10", SERDES.runCommand().encode(Fixtures.command("r10", io.turnpike.avro.RunCommandType.APPROVE)));
    assertThat(TurnpikeHeaders.get(deadLetters.readRecord().headers(), TurnpikeHeaders.DLQ_REASON)).contains("nothing to approve");
  }

  @Test
  void nowComesFromTheWallClock() {
    driver.advanceWallClockTime(Duration.ofSeconds(100));
    submit("r11");
    ModelCall call = SERDES.modelCall().decode(modelRequests.readValue());
    assertThat(call.getDeadline()).isEqualTo(Fixtures.T0.plusSeconds(130));
    assertThat(latestState("r11").getCreatedAt()).isEqualTo(Instant.parse("2026-11-25T12:01:40Z"));
  }

  // --- nothing stops a partition (issue #10) --------------------------------------------------

  private static Properties config(Object... keysAndValues) {
    Properties p = new Properties();
    for (int i = 0; i < keysAndValues.length; i += 2) {
      p.put(keysAndValues[i], keysAndValues[i + 1]);
    }
    return p;
  }

  private static String header(TestRecord<String, byte[]> r, String key) {
    return TurnpikeHeaders.get(r.headers(), key);
  }

  /** Submits {@code runId} and answers its first model call with a get_weather call; returns the tool call. */
  private ToolCall askForWeather(String runId) {
    submit(runId);
    modelRequests.readValue();
    modelResults.pipeInput(runId, SERDES.modelResult().encode(Fixtures.toolCalls(runId, runId + ":m1", "get_weather", "{\"city\":\"Oslo\"}")));
    return SERDES.toolCall().decode(toolRequests.readValue());
  }

  private FunctionCallOutputItem outputInNextModelCall() {
    ModelCall next = SERDES.modelCall().decode(modelRequests.readValue());
    return (FunctionCallOutputItem) next.getInput().stream().filter(i -> i instanceof FunctionCallOutputItem).findFirst().orElseThrow();
  }

  private static double dropped(Telemetry telemetry, String topic) {
    var counter = telemetry.registry().find(TurnpikeMetrics.DEAD_LETTERS_DROPPED).tag(TurnpikeMetrics.TAG_TOPIC, topic).counter();
    return counter == null ? 0 : counter.count();
  }

  @Test
  void aHugeUndecodableRecordBecomesACutDeadLetterWithItsSizeAndDigest() throws Exception {
    submit("r20");
    modelRequests.readValue();
    byte[] garbage = new byte[3 * 1024 * 1024];
    new Random(20).nextBytes(garbage);
    garbage[0] = 0;
    toolResults.pipeInput(new TestRecord<>("r20", garbage,
        new RecordHeaders().add(TurnpikeHeaders.TRACE_ID, "t20".getBytes(StandardCharsets.UTF_8)), Fixtures.T0));

    TestRecord<String, byte[]> dlq = deadLetters.readRecord();
    assertThat(dlq.key()).isEqualTo("r20");
    assertThat(dlq.value()).hasSize(DeadLetter.MAX_BODY_BYTES).startsWith(Arrays.copyOf(garbage, 64));
    assertThat(header(dlq, TurnpikeHeaders.DLQ_TRUNCATED)).isEqualTo("true");
    assertThat(header(dlq, TurnpikeHeaders.DLQ_ORIGINAL_SIZE)).isEqualTo(String.valueOf(garbage.length));
    assertThat(header(dlq, TurnpikeHeaders.DLQ_SHA256))
        .isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(garbage)));
    assertThat(header(dlq, TurnpikeHeaders.DLQ_TOPIC)).isEqualTo(Topics.TOOL_RESULTS.name());
    assertThat(header(dlq, TurnpikeHeaders.DLQ_OFFSET)).isEqualTo("0");
    assertThat(header(dlq, TurnpikeHeaders.DLQ_REASON)).contains("undecodable");
    assertThat(header(dlq, TurnpikeHeaders.TRACE_ID)).isEqualTo("t20");
    assertThat(latestState("r20").getStatus()).isEqualTo(RunStatus.RUNNING);
  }

  @Test
  void aToolAnswerOverTheLimitIsDeadLetteredAndTheModelSeesWhy() {
    start(config(OrchestratorConfig.MAX_ANSWER_BYTES, 4096), Telemetry.noop("orchestrator"));
    ToolCall call = askForWeather("r21");
    byte[] answer = SERDES.toolResult().encode(Fixtures.toolResult("r21", call.getCallId(), "get_weather", "x".repeat(10_000)));
    toolResults.pipeInput("r21", answer);

    TestRecord<String, byte[]> dlq = deadLetters.readRecord();
    assertThat(dlq.value()).isEqualTo(answer);
    assertThat(header(dlq, TurnpikeHeaders.DLQ_TRUNCATED)).isNull();
    assertThat(header(dlq, TurnpikeHeaders.DLQ_REASON)).startsWith("answer too large: the answer of tool get_weather was "
        + answer.length + " bytes");
    FunctionCallOutputItem out = outputInNextModelCall();
    assertThat(out.getIsError()).isTrue();
    assertThat(out.getOutput()).isEqualTo("error: the answer of tool get_weather was " + AnswerLimit.bytes(answer.length)
        + "; the limit is 4096 bytes (4.0 KiB) (turnpike.runner.max-answer-bytes)");
  }

  @Test
  void aModelAnswerOverTheLimitFailsTheRunWithTheReason() {
    start(config(OrchestratorConfig.MAX_ANSWER_BYTES, 4096), Telemetry.noop("orchestrator"));
    submit("r22");
    modelRequests.readValue();
    modelResults.pipeInput("r22", SERDES.modelResult().encode(Fixtures.text("r22", "r22:m1", "y".repeat(10_000))));

    RunResult failed = SERDES.runResult().decode(runResults.readValue());
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(failed.getError()).contains(AnswerLimit.MODEL_ERROR_CODE).contains("the model's answer to r22:m1 was ");
    assertThat(header(deadLetters.readRecord(), TurnpikeHeaders.DLQ_REASON)).startsWith("answer too large");
  }

  @Test
  void aSandboxAnswerOverTheLimitLosesItsImagesAndTheModelSeesWhy() {
    start(config(OrchestratorConfig.MAX_ANSWER_BYTES, 4096), Telemetry.noop("orchestrator"));
    agents.pipeInput("weather", SERDES.agentDefinition().encode(
        AgentDefinition.newBuilder(Fixtures.agent(5)).setCapabilities(List.of("filesystem")).build()));
    submit("r23");
    modelRequests.readValue();
    modelResults.pipeInput("r23", SERDES.modelResult().encode(Fixtures.toolCalls("r23", "r23:m1", "read_file", "{\"path\":\"a.png\"}")));
    SandboxCommand cmd = SERDES.sandboxCommand().decode(sandboxRequests.readValue());
    sandboxResults.pipeInput("r23", SERDES.sandboxResult().encode(SandboxResult.newBuilder().setRunId("r23")
        .setCallId(cmd.getCallId()).setSessionId("r23").setTool("read_file").setOutput("an image")
        .setImages(List.of(ImageContent.newBuilder().setMimeType("image/png").setData(ByteBuffer.wrap(new byte[8192])).build())).build()));

    FunctionCallOutputItem out = outputInNextModelCall();
    assertThat(out.getIsError()).isTrue();
    assertThat(out.getImages()).isEmpty();
    assertThat(out.getOutput()).startsWith("error: the answer of sandbox tool read_file was ").contains("the limit is 4096 bytes");
    assertThat(deadLetters.readValuesToList()).hasSize(1);
  }

  @Test
  void aGuardrailVerdictOverTheLimitFailsClosed() {
    start(config(OrchestratorConfig.MAX_ANSWER_BYTES, 4096), Telemetry.noop("orchestrator"));
    agents.pipeInput("weather", SERDES.agentDefinition().encode(AgentDefinition.newBuilder(Fixtures.agent(5, "get_weather"))
        .setGuardrails(List.of(GuardrailSpec.newBuilder().setName("g").setStage(GuardrailStage.INPUT).setType("regex")
            .setMode(GuardrailMode.BLOCKING).build()))
        .build()));
    submit("r24");
    GuardrailCheck check = SERDES.guardrailCheck().decode(guardrailRequests.readValue());
    guardrailResults.pipeInput("r24", SERDES.guardrailVerdict().encode(GuardrailVerdict.newBuilder().setRunId("r24")
        .setCallId(check.getCallId()).setStage(GuardrailStage.INPUT).setOutcome(GuardrailOutcome.ALLOW)
        .setContent("z".repeat(10_000)).build()));

    RunResult result = SERDES.runResult().decode(runResults.readValue());
    assertThat(result.getStatus()).isEqualTo(RunStatus.GUARDRAIL_TRIPPED);
    assertThat(result.getError()).contains(AnswerLimit.GUARDRAIL).contains("the verdict of guardrail check " + check.getCallId() + " was ");
    assertThat(modelRequests.isEmpty()).isTrue();
  }

  @Test
  void anAnswerThatWouldOutgrowATopicBecomesAnErrorTheModelSees() {
    SendFailures failures = new SendFailures();
    start(config(SendFailures.CONFIG, failures), Telemetry.noop("orchestrator"));
    ToolCall call = askForWeather("r25");
    // as if the broker had refused a 20000-byte turn event: the answer is under max-answer-bytes, its turn event is not
    failures.tooLarge(Topics.TURN_EVENTS.name(), 20_000);
    byte[] answer = SERDES.toolResult().encode(Fixtures.toolResult("r25", call.getCallId(), "get_weather", "x".repeat(30_000)));
    toolResults.pipeInput("r25", answer);

    String why = "the answer of tool get_weather was " + AnswerLimit.bytes(answer.length) + ", too large for the run: a turn event"
        + " would be ";
    assertThat(header(deadLetters.readRecord(), TurnpikeHeaders.DLQ_REASON)).startsWith("answer too large: " + why)
        .endsWith("over the " + AnswerLimit.bytes(19_999) + " that turnpike.turn-events takes");
    FunctionCallOutputItem out = outputInNextModelCall();
    assertThat(out.getIsError()).isTrue();
    assertThat(out.getOutput()).startsWith("error: " + why);
    assertThat(latestState("r25").getStatus()).isEqualTo(RunStatus.RUNNING);
  }

  @Test
  void aRunThatCannotStartWithinTheLimitsFailsWithTheReason() {
    start(config("producer.max.request.size", 64 * 1024), Telemetry.noop("orchestrator"));
    // a 50 KB input fits its topic, but the RunState holds it twice (input and first message)
    requests.pipeInput("r26", SERDES.runRequest().encode(Fixtures.request("r26", "w".repeat(50_000))));

    assertThat(header(deadLetters.readRecord(), TurnpikeHeaders.DLQ_REASON)).startsWith("run r26 cannot start: ");
    RunResult failed = SERDES.runResult().decode(runResults.readValue());
    assertThat(failed.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(failed.getError()).startsWith("run r26 cannot start: ").contains("would be").contains("that turnpike.");
    assertThat(latestState("r26")).isNull();
    assertThat(modelRequests.isEmpty()).isTrue();
  }

  @Test
  void aCommandThatWouldOutgrowTheRunIsRefusedAndTheRunGoesOn() {
    SendFailures failures = new SendFailures();
    start(config(SendFailures.CONFIG, failures), Telemetry.noop("orchestrator"));
    submit("r27");
    modelRequests.readValue();
    // as if the broker had refused a 3000-byte RunState
    failures.tooLarge(Topics.RUN_STATE.name(), 3000);
    commands.pipeInput("r27", SERDES.runCommand().encode(RunCommand.newBuilder(Fixtures.command("r27", RunCommandType.USER_MESSAGE))
        .setMessage("m".repeat(5000)).build()));

    assertThat(header(deadLetters.readRecord(), TurnpikeHeaders.DLQ_REASON))
        .startsWith("refused: the run's state would be ")
        .endsWith(", over the " + AnswerLimit.bytes(2999) + " that " + Topics.RUN_STATE.name() + " takes");
    assertThat(latestState("r27").getQueuedMessages()).isEmpty();
    assertThat(latestState("r27").getStatus()).isEqualTo(RunStatus.RUNNING);
  }

  @Test
  void aRunWhoseNextWriteNoLongerFitsIsEndedWithTheReason() {
    SendFailures failures = new SendFailures();
    start(config(SendFailures.CONFIG, failures), Telemetry.noop("orchestrator"));
    submit("r28");
    modelRequests.readValue();
    // as if the broker had refused a 100-byte model call: the resend after the deadline cannot be written
    failures.tooLarge(Topics.MODEL_REQUESTS.name(), 100);
    driver.advanceWallClockTime(Duration.ofSeconds(31));
    driver.advanceWallClockTime(Duration.ofSeconds(1));

    RunResult ended = SERDES.runResult().decode(runResults.readValue());
    assertThat(ended.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(ended.getError()).isEqualTo("stopped by the orchestrator: after the deadline of r28:m1, the model call"
        + " (the whole conversation) would be " + ended.getError().replaceAll(".* would be (.*), over .*", "$1")
        + ", over the 99 bytes that turnpike.model.requests takes");
    assertThat(modelRequests.isEmpty()).isTrue();
    assertThat(driver.getKeyValueStore(OrchestratorTopology.TIMER_STORE).approximateNumEntries()).isZero();
  }

  @Test
  void aRunWhoseStateNoLongerFitsEvenToEndItEndsFailedWithoutItsConversationAndThePartitionGoesOn() {
    SendFailures failures = new SendFailures();
    start(config(SendFailures.CONFIG, failures), Telemetry.noop("orchestrator"));
    submit("r40");
    modelRequests.readValue();
    // the model wrote 30 KB beside its tool call: the conversation, and so the state, holds it
    ModelResult wordy = ModelResult.newBuilder(Fixtures.toolCalls("r40", "r40:m1", "get_weather", "{\"city\":\"Oslo\"}"))
        .setOutput(List.of(new MessageItem(Role.ASSISTANT, "w".repeat(30_000), null, List.of()),
            new FunctionCallItem("fc_1", "get_weather", "{\"city\":\"Oslo\"}", null))).build();
    modelResults.pipeInput("r40", SERDES.modelResult().encode(wordy));
    ToolCall call = SERDES.toolCall().decode(toolRequests.readValue());
    // as if the broker had refused a 20000-byte RunState: whatever the run does next, its state is larger
    failures.tooLarge(Topics.RUN_STATE.name(), 20_000);
    toolResults.pipeInput("r40", SERDES.toolResult().encode(Fixtures.toolResult("r40", call.getCallId(), "get_weather", "sunny")));

    RunResult ended = SERDES.runResult().decode(runResults.readValue());
    assertThat(ended.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(ended.getError()).startsWith("stopped by the orchestrator: the answer of tool get_weather was ")
        .contains("the run's state would be ").contains("that turnpike.run-state takes")
        .contains("its state did not fit either").endsWith("so the conversation was left out of it (see turnpike.turn-events)");
    RunState stored = latestState("r40");
    assertThat(stored.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(stored.getItems()).isEmpty();
    assertThat(stored.getError()).isEqualTo(ended.getError());
    assertThat(SERDES.runState().decode(runState.readValuesToList().getLast()).getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(driver.getKeyValueStore(OrchestratorTopology.TIMER_STORE).approximateNumEntries()).isZero();

    // the partition goes on: the next run completes
    submit("r41");
    assertThat(SERDES.modelCall().decode(modelRequests.readValue()).getCallId()).isEqualTo("r41:m1");
    modelResults.pipeInput("r41", SERDES.modelResult().encode(Fixtures.text("r41", "r41:m1", "Sunny.")));
    RunResult next = SERDES.runResult().decode(runResults.readValue());
    assertThat(next.getRunId()).isEqualTo("r41");
    assertThat(next.getStatus()).isEqualTo(RunStatus.COMPLETED);
  }

  @Test
  void largeToolOutputsAreStoredOnceOutOfTheStateAndTheModelStillGetsThemWhole() {
    ToolCall call = askForWeather("r42");
    String big = "s".repeat(50_000);
    toolResults.pipeInput("r42", SERDES.toolResult().encode(Fixtures.toolResult("r42", call.getCallId(), "get_weather", big)));

    assertThat(outputInNextModelCall().getOutput()).isEqualTo(big);
    FunctionCallOutputItem stored = (FunctionCallOutputItem) latestState("r42").getItems().stream()
        .filter(i -> i instanceof FunctionCallOutputItem).findFirst().orElseThrow();
    assertThat(stored.getOutput()).startsWith("s".repeat(LargeOutputs.PREVIEW_CHARS) + "\n[... 50000 bytes in all");
    assertThat(stored.getOutputRef().getSize()).isEqualTo(50_000);
    byte[] blob = driver.<String, byte[]>getKeyValueStore(OrchestratorTopology.BLOB_STORE)
        .get(LargeOutputs.key("r42", stored.getOutputRef().getSha256()));
    assertThat(new String(blob, StandardCharsets.UTF_8)).isEqualTo(big);
    assertThat(runState.readValuesToList()).allSatisfy(v -> assertThat(v.length).isLessThan(4_000));

    // a later step (the model's answer) loads it back, and the run's result is as without the store
    modelResults.pipeInput("r42", SERDES.modelResult().encode(Fixtures.text("r42", "r42:m2", "Sunny.")));
    assertThat(SERDES.runResult().decode(runResults.readValue()).getStatus()).isEqualTo(RunStatus.COMPLETED);
  }

  @Test
  void anInputWhoseWritesKafkaRefusedIsDeadLetteredThenSkippedWithAMetric() {
    SendFailures failures = new SendFailures();
    Telemetry telemetry = Telemetry.builder("topology-test").jvmMetrics(false).build();
    start(config(SendFailures.CONFIG, failures), telemetry);
    submit("r29"); // run-requests offset 0
    // as DeadLetterProductionHandler records them: what processing offset 1 wrote was refused (not for its
    // size), and what offset 2 wrote was refused, its dead letter included
    failures.refused(new SendFailures.Source(Topics.RUN_REQUESTS.name(), 0, 1), false, false, "InvalidRecordException: no");
    failures.refused(new SendFailures.Source(Topics.RUN_REQUESTS.name(), 0, 2), false, true, "InvalidRecordException: no");
    submit("r30");
    submit("r31");
    submit("r32");

    TestRecord<String, byte[]> dlq = deadLetters.readRecord();
    assertThat(dlq.key()).isEqualTo("r30");
    assertThat(header(dlq, TurnpikeHeaders.DLQ_REASON)).isEqualTo("Kafka refused what processing it wrote: InvalidRecordException: no");
    assertThat(deadLetters.isEmpty()).isTrue();
    assertThat(dropped(telemetry, Topics.RUN_REQUESTS.name())).isEqualTo(1);
    assertThat(latestState("r30")).isNull();
    assertThat(latestState("r31")).isNull();
    assertThat(SERDES.modelCall().decode(modelRequests.readValuesToList().get(1)).getRunId()).isEqualTo("r32");
    telemetry.close();
  }

  @Test
  void aDeadLetterTheTopicCannotTakeIsSkippedWithAMetric() {
    SendFailures failures = new SendFailures();
    Telemetry telemetry = Telemetry.builder("topology-test").jvmMetrics(false).build();
    start(config(SendFailures.CONFIG, failures), telemetry);
    failures.tooLarge(Topics.DEAD_LETTERS.name(), 2000);
    submit("r33");
    modelResults.pipeInput("r33", new byte[5000]);
    modelResults.pipeInput("r33", new byte[500]);

    assertThat(deadLetters.readValuesToList()).singleElement().satisfies(v -> assertThat(v).hasSize(500));
    assertThat(dropped(telemetry, Topics.MODEL_RESULTS.name())).isEqualTo(1);
    modelResults.pipeInput("r33", SERDES.modelResult().encode(Fixtures.text("r33", "r33:m1", "done")));
    assertThat(SERDES.runResult().decode(runResults.readValue()).getStatus()).isEqualTo(RunStatus.COMPLETED);
    telemetry.close();
  }
}
