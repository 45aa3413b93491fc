package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRule;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunCommandType;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.sandbox.SandboxService;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
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
 * The sandbox through the runner: an agent with the filesystem and shell capabilities writes a
 * script, runs it, patches it, runs it again and reads a file its manifest seeded; and a sensitive
 * shell command waits for a human. Local backend (bubblewrap); skipped, visibly, where it is missing.
 */
class SandboxEndToEndTest {
  private static Cluster cluster;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static SandboxService sandbox;
  private static TopicTail results;

  static final String PATCH = "*** Begin Patch\n*** Update File: greet.sh\n@@\n-echo hello from the sandbox\n+echo patched hello\n*** End Patch";

  static ScriptedReply script(ModelRequestView req) {
    String input = req.firstUserText() == null ? "" : req.firstUserText();
    String last = null;
    for (InputItem item : req.input()) {
      if (item instanceof InputItem.FunctionCallOutput o) {
        last = o.output();
      }
    }
    if (input.startsWith("tidy")) {
      return req.turn() == 0 ? ScriptedReply.toolCall("shell", "{\"command\":\"rm -f notes.txt && echo removed\"}")
          : ScriptedReply.text("Tidy: " + last);
    }
    return switch (req.turn()) {
      case 0 -> ScriptedReply.toolCall("write_file", "{\"path\":\"greet.sh\",\"content\":\"echo hello from the sandbox\\n\"}");
      case 1 -> ScriptedReply.toolCall("shell", "{\"command\":\"sh greet.sh\"}");
      case 2 -> ScriptedReply.toolCall("apply_patch", "{\"patch\":" + com.fasterxml.jackson.databind.node.TextNode.valueOf(PATCH) + "}");
      case 3 -> ScriptedReply.toolCall("shell", "{\"command\":\"sh greet.sh && cat notes.txt\"}");
      default -> ScriptedReply.text("Result: " + last);
    };
  }

  @BeforeAll
  static void start() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/bwrap")),
        "bubblewrap (/usr/bin/bwrap) is not installed: the local sandbox backend cannot isolate commands here");
    cluster = new Cluster();
    Manifest manifest = Manifest.newBuilder()
        .setFiles(List.of(ManifestFile.newBuilder().setPath("notes.txt").setContent("seeded by the manifest\n").build()))
        .build();
    cluster.publishAgent(AgentDefinition.newBuilder().setName("coder").setVersion(1).setModel("scripted")
        .setInstructions("You code.").setCapabilities(List.of("filesystem", "shell")).setManifest(manifest).setMaxTurns(8)
        .setApprovalRules(List.of(new ApprovalRule("shell", "rm "))).build());
    model = ScriptedModelServer.start(SandboxEndToEndTest::script);
    Settings settings = Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "k",
        "turnpike.runner.application-id", "sandbox-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("sbx-runner").toString(),
        "turnpike.sandbox.root", Files.createTempDirectory("sbx-root").toString()));
    runner = RunnerService.start(settings);
    sandbox = SandboxService.start(settings);
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
        // keep closing
      }
    }
  }

  static RunResult awaitStatus(String runId, RunStatus status) {
    await().atMost(Duration.ofSeconds(90)).until(() -> results.forKey(runId).stream()
        .map(r -> cluster.serdes().runResult().decode(r.value())).anyMatch(r -> r.getStatus() == status));
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value()))
        .filter(r -> r.getStatus() == status).findFirst().orElseThrow();
  }

  @Test
  void anAgentWritesRunsPatchesAndRunsAgain() {
    cluster.submit("sbx-1", "coder", "make a greeting script");
    RunResult r = awaitStatus("sbx-1", RunStatus.COMPLETED);
    assertThat(r.getFinalOutput()).startsWith("Result: ").contains("patched hello").contains("seeded by the manifest")
        .doesNotContain("hello from the sandbox");
    // the model saw the first run's output too
    assertThat(model.requests().stream().filter(q -> "make a greeting script".equals(q.view().firstUserText()))
        .flatMap(q -> q.view().input().stream()).filter(i -> i instanceof InputItem.FunctionCallOutput)
        .map(i -> ((InputItem.FunctionCallOutput) i).output()))
        .anySatisfy(o -> assertThat(o).contains("hello from the sandbox"));
  }

  @Test
  void aSensitiveShellCommandWaitsForApproval() {
    cluster.submit("sbx-2", "coder", "tidy the workspace");
    RunResult interrupted = awaitStatus("sbx-2", RunStatus.INTERRUPTED);
    assertThat(interrupted.getInterruptions()).singleElement().satisfies(a -> {
      assertThat(a.getTool()).isEqualTo("shell");
      assertThat(a.getArguments()).contains("rm -f notes.txt");
    });
    RunCommand approve = RunCommand.newBuilder().setRunId("sbx-2").setCommandId("c1").setType(RunCommandType.APPROVE)
        .setCallId(interrupted.getInterruptions().get(0).getCallId()).setIssuedAt(Instant.now()).build();
    cluster.send(Topics.RUN_COMMANDS.name(), "sbx-2", cluster.serdes().runCommand().encode(approve), "RunCommand");
    assertThat(awaitStatus("sbx-2", RunStatus.COMPLETED).getFinalOutput()).contains("removed");
  }
}
