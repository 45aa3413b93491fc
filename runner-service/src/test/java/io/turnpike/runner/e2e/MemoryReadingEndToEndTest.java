package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryKind;
import io.turnpike.avro.MemoryLine;
import io.turnpike.avro.MemoryScopeKind;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.RecordedRequest;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.sandbox.SandboxService;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Reading memory (issue #13): the runner joins each new run with its scope's latest MemoryDocument
 * (a global store of turnpike.memory) and puts it into the instructions; a sandboxed run finds it as
 * files (memory/MEMORY.md, memory/notes/*.md). Documents are written straight to turnpike.memory, as the
 * memory service would; the whole pipeline is MemoryEndToEndTest's.
 */
class MemoryReadingEndToEndTest {
  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static SandboxService sandbox;
  private static TopicTail results;

  static ScriptedReply script(ModelRequestView req) {
    if (req.toolNames().contains("wait_here")) {
      // the watcher: a quick question is answered at once, anything else waits for a tool first
      return req.turn() == 0 && !req.lastUserText().contains("quick") ? ScriptedReply.toolCall("wait_here", "{}")
          : ScriptedReply.text("[scripted] done");
    }
    if (req.toolNames().contains("read_file")) {
      return req.turn() == 0 ? ScriptedReply.toolCall("read_file", "{\"path\":\"memory/MEMORY.md\"}")
          : ScriptedReply.text("[scripted] the memory file says: " + req.lastToolOutput());
    }
    return ScriptedReply.text("[scripted] ok");
  }

  static MemoryConfig reads(MemoryScopeKind scope) {
    return MemoryConfig.newBuilder().setRead(true).setWrite(false).setScope(scope).build();
  }

  static MemoryDocument doc(String scope, long version, String... texts) {
    List<MemoryLine> lines = new java.util.ArrayList<>();
    for (int i = 0; i < texts.length; i++) {
      lines.add(MemoryLine.newBuilder().setId("L" + (i + 1)).setKind(i == 0 ? MemoryKind.FACT : MemoryKind.PREFERENCE)
          .setText(texts[i]).setSources(List.of("run-old-" + i)).setUpdatedAt(Instant.now()).build());
    }
    return MemoryDocument.newBuilder().setScope(scope).setAgent(scope.split("/")[0]).setVersion(version).setLines(lines)
        .setUpdatedAt(Instant.now()).build();
  }

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    MemorySerdes memory = MemorySerdes.using(cluster.serdes().registry());
    cluster.publishAgent(AgentDefinition.newBuilder().setName("keeper").setVersion(1).setModel("scripted")
        .setInstructions("You keep notes.").setMemory(reads(MemoryScopeKind.AGENT)).build());
    cluster.publishAgent(AgentDefinition.newBuilder().setName("per-user").setVersion(1).setModel("scripted")
        .setInstructions("You help one user.").setMemory(reads(MemoryScopeKind.USER)).build());
    cluster.send(Topics.MEMORY.name(), "keeper", memory.document().encode(doc("keeper", 7, "The office is in Oslo",
        "The user prefers short answers")), "MemoryDocument");
    cluster.send(Topics.MEMORY.name(), "per-user/alice", memory.document().encode(doc("per-user/alice", 2, "Alice is vegetarian")),
        "MemoryDocument");
    cluster.publishAgent(AgentDefinition.newBuilder().setName("filer").setVersion(1).setModel("scripted")
        .setInstructions("You file.").setCapabilities(List.of("filesystem")).setMemory(reads(MemoryScopeKind.AGENT)).build());
    cluster.send(Topics.MEMORY.name(), "filer", memory.document().encode(doc("filer", 3, "Deploys happen on Tuesdays")),
        "MemoryDocument");
    cluster.publishAgent(AgentDefinition.newBuilder().setName("watcher").setVersion(1).setModel("scripted")
        .setInstructions("You watch.").setMemory(MemoryConfig.newBuilder(reads(MemoryScopeKind.AGENT)).setLiveUpdate(true).build())
        .setTools(List.of(io.turnpike.avro.ToolSpec.newBuilder().setName("wait_here").build())).build());
    cluster.send(Topics.MEMORY.name(), "watcher", memory.document().encode(doc("watcher", 1, "The build is green")),
        "MemoryDocument");
    model = ScriptedModelServer.start(MemoryReadingEndToEndTest::script);
    Settings settings = Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "k",
        "turnpike.runner.application-id", "memory-reading-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("mem-runner").toString(),
        "turnpike.sandbox.root", Files.createTempDirectory("mem-sbx").toString()));
    runner = RunnerService.start(settings);
    if (Files.isExecutable(Path.of("/usr/bin/bwrap"))) {
      sandbox = SandboxService.start(settings);
    }
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {results, sandbox, runner, model, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  private static RunResult run(String runId, String agent, String user, String input) {
    RunRequest req = RunRequest.newBuilder().setRunId(runId).setAgent(agent).setInput(input).setUser(user)
        .setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
    cluster.send(Topics.RUN_REQUESTS.name(), runId, cluster.serdes().runRequest().encode(req), "RunRequest");
    await().atMost(Duration.ofSeconds(60)).until(() -> results.forKey(runId).stream()
        .map(r -> cluster.serdes().runResult().decode(r.value())).anyMatch(r -> r.getStatus() != RunStatus.RUNNING));
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value())).reduce((a, b) -> b).orElseThrow();
  }

  private static String instructionsOf(String runId) {
    return instructionsOfEach(runId).getFirst();
  }

  private static List<String> instructionsOfEach(String runId) {
    return model.requests().stream().map(RecordedRequest::view)
        .filter(v -> v != null && runId.equals(v.header("x-turnpike-run-id")))
        .map(ModelRequestView::instructions).toList();
  }

  @Test
  void withLiveUpdateARunningRunSeesAConsolidationThatHappensWhileItWaits() throws Exception {
    MemorySerdes memory = MemorySerdes.using(cluster.serdes().registry());
    try (TopicTail toolCalls = new TopicTail(cluster.bootstrap(), Topics.TOOL_REQUESTS.name());
         TopicTail events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name())) {
      RunRequest req = RunRequest.newBuilder().setRunId("mem-live").setAgent("watcher").setInput("Watch the build")
          .setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
      cluster.send(Topics.RUN_REQUESTS.name(), "mem-live", cluster.serdes().runRequest().encode(req), "RunRequest");
      await().atMost(Duration.ofSeconds(60)).until(() -> !toolCalls.forKey("mem-live").isEmpty());
      io.turnpike.avro.ToolCall call = cluster.serdes().toolCall().decode(toolCalls.forKey("mem-live").getFirst().value());
      assertThat(instructionsOf("mem-live")).contains("## Memory (watcher, version 1)").contains("The build is green");

      // the memory service consolidates while the run waits for its tool
      cluster.send(Topics.MEMORY.name(), "watcher", memory.document().encode(doc("watcher", 2, "The build is red")),
          "MemoryDocument");
      // a run started now reads version 2: the runner's store has it
      assertThat(run("mem-live-probe", "watcher", null, "quick check").getStatus()).isEqualTo(RunStatus.COMPLETED);
      assertThat(instructionsOf("mem-live-probe")).contains("## Memory (watcher, version 2)");

      io.turnpike.avro.ToolResult answer = io.turnpike.avro.ToolResult.newBuilder().setRunId("mem-live")
          .setCallId(call.getCallId()).setName("wait_here").setOutput("waited").setIsError(false).build();
      cluster.send(Topics.TOOL_RESULTS.name(), "mem-live", cluster.serdes().toolResult().encode(answer), "ToolResult");
      await().atMost(Duration.ofSeconds(60)).until(() -> results.forKey("mem-live").stream()
          .map(r -> cluster.serdes().runResult().decode(r.value())).anyMatch(r -> r.getStatus() == RunStatus.COMPLETED));

      List<String> calls = instructionsOfEach("mem-live");
      assertThat(calls).hasSize(2);
      assertThat(calls.get(1)).contains("## Memory (watcher, version 2)").contains("The build is red")
          .doesNotContain("The build is green");
      List<Object> steps = events.forKey("mem-live").stream().map(r -> cluster.serdes().turnEvent().decode(r.value()).getStep())
          .toList();
      assertThat(steps).filteredOn(io.turnpike.avro.MemoryRefreshed.class::isInstance).singleElement().satisfies(o -> {
        io.turnpike.avro.MemoryRefreshed m = (io.turnpike.avro.MemoryRefreshed) o;
        assertThat(m.getScope()).isEqualTo("watcher");
        assertThat(m.getFromVersion()).isEqualTo(1L);
        assertThat(m.getToVersion()).isEqualTo(2L);
      });
    }
  }

  @Test
  void aNewRunGetsItsScopesMemoryInItsInstructions() {
    assertThat(run("mem-1", "keeper", null, "Where is the office?").getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(instructionsOf("mem-1")).startsWith("You keep notes.\n\n## Memory (keeper, version 7)")
        .contains("- [L1] (fact) The office is in Oslo\n- [L2] (preference) The user prefers short answers")
        .doesNotContain("memory_update"); // a read-only agent cannot edit
  }

  @Test
  void userScopedMemoryIsTheRunsUsersOnly() {
    assertThat(run("mem-alice", "per-user", "alice", "Dinner ideas?").getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(instructionsOf("mem-alice")).contains("## Memory (per-user/alice, version 2)").contains("Alice is vegetarian");
    assertThat(run("mem-bob", "per-user", "bob", "Dinner ideas?").getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(instructionsOf("mem-bob")).isEqualTo("You help one user.");
    assertThat(run("mem-nobody", "per-user", null, "Dinner ideas?").getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(instructionsOf("mem-nobody")).isEqualTo("You help one user.");
  }

  @Test
  void aSandboxedRunFindsItsMemoryAsFiles() {
    Assumptions.assumeTrue(sandbox != null, "bubblewrap (/usr/bin/bwrap) is not installed: no local sandbox here");
    RunResult r = run("mem-file", "filer", null, "What do you remember?");
    assertThat(r.getStatus()).isEqualTo(RunStatus.COMPLETED);
    assertThat(r.getFinalOutput()).contains("# Memory of filer (version 3)")
        .contains("- [L1] (fact) Deploys happen on Tuesdays  (sources: run-old-0)");
  }
}
