package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RetryPolicies;
import io.turnpike.avro.RunState;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes the golden RunState fixtures of the current schema version: a run waiting for a tool
 * result (since v3: whose first attempt timed out, so the call is backing off before its resend), and
 * since v4 one with the items v4 added ({@link #newItems()}), since v5 a parent run waiting for its
 * child ({@link #childAndHosted()}), since v6 a run whose compaction call is out ({@link #compacting()}).
 * Run by hand when RunState's schema version is bumped, and commit the output next to the older
 * fixtures; never overwrite an older version's fixture.
 */
public final class GoldenFixtureWriter {
  private GoldenFixtureWriter() {}

  static RunState waitingForTool() {
    AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5, "get_weather"))
        .setRetry(RetryPolicies.newBuilder().build())
        .build();
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request("golden-1", "Weather in Oslo?"),
        agent, "0123456789abcdef0123456789abcdef"), Fixtures.T0).state();
    s = RunStateMachine.apply(s, new RunEvent.ModelAnswered(
        Fixtures.toolCalls("golden-1", "golden-1:m1", "get_weather", "{\"city\":\"Oslo\"}")), Fixtures.T0.plusSeconds(1)).state();
    return RunStateMachine.apply(s, new RunEvent.DeadlinePassed("golden-1:t1.1"), Fixtures.T0.plusSeconds(11)).state();
  }

  /** The image a fixture's view_image returned: a 1x1 PNG. */
  static final byte[] PNG = java.util.HexFormat.of().parseHex(
      "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082");

  /**
   * Since v4: a reasoning agent with an outputType that viewed an image and waits for its second model
   * call: a reasoning item with encrypted content, an image kept once and referred to by hash, the
   * agent's tool use recorded (resetToolChoice), per-call usage with cached and reasoning tokens.
   */
  static RunState newItems() {
    AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5))
        .setName("planner")
        .setCapabilities(java.util.List.of("filesystem"))
        .setModelSettings(io.turnpike.avro.ModelSettings.newBuilder().setToolChoice("required")
            .setReasoning(new io.turnpike.avro.ReasoningSettings("high", "auto")).build())
        .setOutputType(io.turnpike.avro.OutputType.newBuilder().setName("trip_plan")
            .setSchemaJson("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
                + "\"required\":[\"city\"],\"additionalProperties\":false}")
            .setSha256("5d5b8d2b0d0e0e3d8c3e0f6c6e3b3f1b8a0f2e4d6c8b0a9e7d5c3b1a0f2e4d6c").build())
        .setToolUseBehavior(new io.turnpike.avro.ToolUseBehavior(io.turnpike.avro.ToolUseMode.RUN_LLM_AGAIN, java.util.List.of()))
        .setRetry(RetryPolicies.newBuilder().build())
        .build();
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request("golden-4", "Plan a day from the map"),
        agent, "0123456789abcdef0123456789abcdef"), Fixtures.T0).state();
    io.turnpike.avro.ModelResult viewed = io.turnpike.avro.ModelResult.newBuilder()
        .setRunId("golden-4").setCallId("golden-4:m1")
        .setOutput(new java.util.ArrayList<>(java.util.List.of(
            io.turnpike.avro.ReasoningItem.newBuilder().setItemId("rs_golden").setEncryptedContent("enc:Z29sZGVu")
                .setSummary(java.util.List.of("Look at the map first.")).build(),
            new io.turnpike.avro.FunctionCallItem("call_map", "view_image", "{\"path\":\"map.png\"}", "fc_golden"))))
        .setUsage(io.turnpike.avro.Usage.newBuilder().setInputTokens(900).setOutputTokens(120).setTotalTokens(1020)
            .setModelCalls(1).setCachedInputTokens(768).setReasoningTokens(96).build())
        .build();
    s = RunStateMachine.apply(s, new RunEvent.ModelAnswered(viewed), Fixtures.T0.plusSeconds(1)).state();
    return RunStateMachine.apply(s, new RunEvent.SandboxAnswered(io.turnpike.avro.SandboxResult.newBuilder()
        .setRunId("golden-4").setCallId("golden-4:t1.1").setSessionId("golden-4").setTool("view_image")
        .setOutput("image map.png (image/png, " + PNG.length + " bytes)")
        .setImages(java.util.List.of(io.turnpike.avro.ImageContent.newBuilder().setMimeType("image/png")
            .setData(java.nio.ByteBuffer.wrap(PNG)).build()))
        .build()), Fixtures.T0.plusSeconds(2)).state();
  }

  /**
   * Since v5: a streaming run of a user, on a named model provider, whose model ran a hosted web search
   * and called another agent as a tool: the hosted call recorded as run, the child run in flight.
   */
  static RunState childAndHosted() {
    io.turnpike.avro.ToolSpec search = io.turnpike.avro.ToolSpec.newBuilder().setName("web_search")
        .setKind(io.turnpike.avro.ToolKind.HOSTED).setHostedJson("{\"type\":\"web_search\",\"search_context_size\":\"low\"}").build();
    io.turnpike.avro.ToolSpec ask = io.turnpike.avro.ToolSpec.newBuilder().setName("ask_specialist")
        .setKind(io.turnpike.avro.ToolKind.AGENT).setAgent("specialist")
        .setParametersJson("{\"type\":\"object\",\"properties\":{\"input\":{\"type\":\"string\"}},\"required\":[\"input\"]}")
        .build();
    AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5))
        .setName("concierge")
        .setTools(java.util.List.of(search, ask))
        .setModelProvider("local-llama")
        .setRetry(RetryPolicies.newBuilder().build())
        .build();
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(io.turnpike.avro.RunRequest.newBuilder(
        Fixtures.request("golden-5", "Plan a day in Oslo")).setAgent("concierge").setUser("ada").setStream(true).build(),
        agent, "0123456789abcdef0123456789abcdef"), Fixtures.T0).state();
    io.turnpike.avro.ModelResult answered = io.turnpike.avro.ModelResult.newBuilder()
        .setRunId("golden-5").setCallId("golden-5:m1")
        .setOutput(new java.util.ArrayList<>(java.util.List.of(
            io.turnpike.avro.HostedToolCallItem.newBuilder().setItemId("ws_golden").setType("web_search_call")
                .setStatus("completed")
                .setJson("{\"type\":\"web_search_call\",\"id\":\"ws_golden\",\"status\":\"completed\","
                    + "\"action\":{\"type\":\"search\",\"query\":\"Oslo museums\"}}")
                .setSummary("searched \"Oslo museums\"").build(),
            new io.turnpike.avro.FunctionCallItem("call_ask", "ask_specialist", "{\"input\":\"Weather in Oslo tomorrow?\"}", "fc_golden5"))))
        .setUsage(io.turnpike.avro.Usage.newBuilder().setInputTokens(300).setOutputTokens(40).setTotalTokens(340)
            .setModelCalls(1).build())
        .build();
    return RunStateMachine.apply(s, new RunEvent.ModelAnswered(answered), Fixtures.T0.plusSeconds(1)).state();
  }

  /** The output of the v6 fixture's fetch of page n: 3 KB, so the store keeps it out of line. */
  static String page(int n) {
    return ("page " + n + " ").repeat(500).substring(0, 3_000);
  }

  /**
   * Since v6: a run of an agent with a compaction policy whose compaction call is out (three tool turns,
   * the oldest items about to be summarized), as the store keeps it: its 3 KB outputs out of line
   * (references only; {@link #page} rebuilds them), and what compaction keeps in {@code context}.
   */
  static RunState compacting() {
    AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(20, "fetch"))
        .setRetry(RetryPolicies.newBuilder().build())
        .setCompaction(io.turnpike.avro.CompactionPolicy.newBuilder().setContextWindow(4_096L).setThreshold(0.5)
            .setKeepRecentItems(2).build())
        .build();
    Transition t = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request("golden-6", "Fetch the pages"), agent,
        "0123456789abcdef0123456789abcdef"), Fixtures.T0);
    for (int turn = 1; t.effectsOf(Effect.SendModelCall.class).stream().noneMatch(c -> Compaction.isCall(c.call().getCallId())); turn++) {
      t = RunStateMachine.apply(t.state(), new RunEvent.ModelAnswered(Fixtures.toolCalls("golden-6", "golden-6:m" + turn, "fetch",
          "{\"page\":" + turn + "}")), Fixtures.T0.plusSeconds(turn));
      String callId = t.effectsOf(Effect.SendToolCall.class).getFirst().call().getCallId();
      t = RunStateMachine.apply(t.state(), new RunEvent.ToolAnswered(Fixtures.toolResult("golden-6", callId, "fetch", page(turn))),
          Fixtures.T0.plusSeconds(turn));
    }
    return LargeOutputs.split(t.state(), LargeOutputs.DEFAULT_INLINE_BYTES).stored();
  }

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args.length > 0 ? args[0] : "runner-service/src/test/resources/fixtures/run-state");
    int version = RunStateMachine.SCHEMA_VERSION;
    Files.write(dir.resolve("v" + version + "-waiting-for-tool.bin"), legacyEncoding(waitingForTool()));
    if (version == 4) {
      Files.write(dir.resolve("v4-new-items.bin"), legacyEncoding(newItems()));
    }
    if (version == 5) {
      Files.write(dir.resolve("v5-child-and-hosted.bin"), legacyEncoding(childAndHosted()));
    }
    if (version == 6) {
      Files.write(dir.resolve("v6-compacting.bin"), legacyEncoding(compacting()));
    }
    Files.writeString(dir.resolve("v" + version + "-RunState.avsc"), RunState.getClassSchema().toString());
  }

  /** Golden fixtures stay in Avro's single-object encoding: self-describing by fingerprint, no registry needed. */
  private static byte[] legacyEncoding(RunState state) throws java.io.IOException {
    java.nio.ByteBuffer buf = new org.apache.avro.message.BinaryMessageEncoder<RunState>(
        org.apache.avro.specific.SpecificData.get(), RunState.getClassSchema()).encode(state);
    byte[] out = new byte[buf.remaining()];
    buf.get(out);
    return out;
  }
}
