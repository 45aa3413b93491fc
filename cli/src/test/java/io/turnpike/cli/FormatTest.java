package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.ApprovalRequested;
import io.turnpike.avro.ApprovalResolved;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.GuardrailCheckRequested;
import io.turnpike.avro.GuardrailChecked;
import io.turnpike.avro.GuardrailRecord;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.HandoffOccurred;
import io.turnpike.avro.HandoffRecord;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelOutputHeld;
import io.turnpike.avro.PendingApproval;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.Role;
import io.turnpike.avro.RunState;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolPhase;
import io.turnpike.avro.TurnEvent;
import io.turnpike.avro.Usage;
import io.turnpike.avro.UserMessageAdded;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The live view's lines for the steps no end-to-end test here produces (guardrails need the guardrail service). */
class FormatTest {
  static final String RUN = "r-1";
  static final Instant NOW = Instant.parse("2026-01-02T10:00:00Z");

  static String line(Object step) {
    return new EventFormat(false).format(TurnEvent.newBuilder().setRunId(RUN).setSeq(7).setTurn(2).setAgent("a")
        .setAt(NOW).setStep(step).build());
  }

  @Test
  void newStepsReadWell() {
    assertThat(line(new GuardrailCheckRequested(RUN + ":m2:out", GuardrailStage.OUTPUT, List.of("pii-out", "size"), 1)))
        .isEqualTo("  #7   turn 2 guardrail check output: pii-out, size  (call m2:out)");
    assertThat(line(new GuardrailChecked(RUN + ":in", GuardrailStage.INPUT, "ALLOW", null, null, List.of())))
        .isEqualTo("  #7   turn 2 guardrail ok    input");
    assertThat(line(new GuardrailChecked(RUN + ":m2:out", GuardrailStage.OUTPUT, "REDACT", "pii-out", "2 e-mail addresses",
        List.of("pii-out: REDACT: email (a***@x.com)"))))
        .isEqualTo("  #7   turn 2 guardrail redact output [pii-out]: 2 e-mail addresses"
            + "  findings: pii-out: REDACT: email (a***@x.com)");
    assertThat(line(new GuardrailChecked(RUN + ":t2.1:in", GuardrailStage.TOOL_INPUT, "TRIP", "no-rm", "matched rm -rf",
        List.of()))).isEqualTo("  #7   turn 2 guardrail trip  tool_input [no-rm]: matched rm -rf");
    assertThat(line(new GuardrailChecked(RUN + ":in", GuardrailStage.INPUT, "TRIP", "no-secrets", "deny-listed keyword at 1 place",
        List.of("no-secrets: TRIP: deny-listed keyword at 1 place (p********)"))))
        .as("a single finding adds only its evidence to the reason")
        .isEqualTo("  #7   turn 2 guardrail trip  input [no-secrets]: deny-listed keyword at 1 place  (p********)");
    assertThat(line(new ModelOutputHeld(RUN + ":m1", "input guardrails have not answered yet")))
        .isEqualTo("  #7   turn 2 output held     input guardrails have not answered yet");
    assertThat(line(new ApprovalRequested(RUN + ":t2.1", "shell", "{\"command\": \"rm -rf /tmp/x\"}", "tool shell needs approval")))
        .isEqualTo("  #7   turn 2 needs approval  shell {\"command\": \"rm -rf /tmp/x\"}  (tool shell needs approval)"
            + "  call r-1:t2.1");
    assertThat(line(new ApprovalResolved(RUN + ":t2.1", true, true, null)))
        .isEqualTo("  #7   turn 2 approved        call r-1:t2.1 (and every later call of this tool in this run)");
    assertThat(line(new ApprovalResolved(RUN + ":t2.1", false, false, "too risky")))
        .isEqualTo("  #7   turn 2 rejected        call r-1:t2.1: \"too risky\"");
    assertThat(line(new HandoffOccurred("support-triage", "billing-specialist", 3)))
        .isEqualTo("  #7   turn 2 handoff         support-triage -> billing-specialist v3");
    assertThat(line(new UserMessageAdded("and   tomorrow?\n")))
        .isEqualTo("  #7   turn 2 user message    \"and tomorrow?\"");
  }

  @Test
  void hostedCallsAndCitationsAreShownReadably() {
    io.turnpike.avro.HostedToolCallItem search = io.turnpike.avro.HostedToolCallItem.newBuilder().setItemId("ws_1")
        .setType("web_search_call").setStatus("completed").setJson("{}").setSummary("searched \"oslo weather\", 1 source").build();
    io.turnpike.avro.HostedToolCallItem drawn = io.turnpike.avro.HostedToolCallItem.newBuilder().setItemId("ig_1")
        .setType("image_generation_call").setStatus("generating").setJson("{}").setSummary("generated an image").build();
    MessageItem answer = MessageItem.newBuilder().setRole(Role.ASSISTANT).setText("Mild in Oslo. Walk the fjord.")
        .setAnnotations(List.of(
            io.turnpike.avro.Annotation.newBuilder().setType("url_citation").setUrl("https://www.yr.no/oslo").setTitle("Oslo")
                .setStartIndex(0).setEndIndex(13).build(),
            io.turnpike.avro.Annotation.newBuilder().setType("file_citation").setFileId("file-1").setFilename("guide.md")
                .setIndex(14).build())).build();
    assertThat(line(new io.turnpike.avro.ModelResponded(RUN + ":m1", List.of(search, drawn, answer), null)))
        .endsWith("[hosted web_search: searched \"oslo weather\", 1 source], [hosted image_generation: generated an image"
            + " (generating)], \"Mild in Oslo. Walk the fjord.\"  [cites yr.no, guide.md]");
    RunState s = RunState.newBuilder().setRunId(RUN).setStatus(RunStatus.COMPLETED)
        .setAgent(AgentDefinition.newBuilder().setName("researcher").setVersion(1).setModel("m").build()).setInput("hi")
        .setItems(List.of(search, answer)).setUsage(Usage.newBuilder().build()).setCreatedAt(NOW).setUpdatedAt(NOW).build();
    assertThat(RunStateFormat.format(s, false, NOW))
        .contains("  hosted    web_search: searched \"oslo weather\", 1 source   [ws_1]\n"
            + "  assistant Mild in Oslo. Walk the fjord.\n"
            + "            [1] url https://www.yr.no/oslo \"Oslo\" (chars 0-13)\n"
            + "            [2] file guide.md (file-1) at 14\n");
  }

  @Test
  void runsShowListsApprovalsToolCallsHandoffsGuardrailsAndQueuedMessages() {
    AgentDefinition agent = AgentDefinition.newBuilder().setName("billing").setVersion(3).setModel("m")
        .setCapabilities(List.of("filesystem", "shell")).setManifest(Manifest.newBuilder().build()).build();
    RunState s = RunState.newBuilder()
        .setSchemaVersion(2)
        .setRunId(RUN)
        .setStatus(RunStatus.INTERRUPTED)
        .setAgent(agent)
        .setInput("refund me")
        .setTurn(2)
        .setItems(List.of(new MessageItem(Role.USER, "refund me", null, java.util.List.of())))
        .setUsage(Usage.newBuilder().setInputTokens(1L).setOutputTokens(2L).setTotalTokens(3L).setModelCalls(2).build())
        .setCreatedAt(NOW.minusSeconds(300))
        .setUpdatedAt(NOW.minusSeconds(90))
        .setVersion(12)
        .setApprovals(List.of(new PendingApproval(RUN + ":t2.1", "call_9", "issue_refund", "{\"amount\":20}",
            "tool issue_refund needs approval", NOW.minusSeconds(90))))
        .setToolCalls(List.of(
            new ToolCallProgress(RUN + ":t2.1", "call_9", "issue_refund", "{\"amount\":20}", ToolKind.FUNCTION,
                ToolPhase.APPROVAL, false, List.of()),
            new ToolCallProgress(RUN + ":t2.2", "call_10", "shell", "{\"command\":\"ls\"}", ToolKind.SANDBOX,
                ToolPhase.RUNNING, false, List.of())))
        .setPending(List.of(new PendingCall(RUN + ":t2.2", CallKind.SANDBOX, "call_10", "shell", 1, NOW.plusSeconds(30), null, NOW, 0L, false, null),
            new PendingCall(RUN + ":in", CallKind.GUARDRAIL, null, null, 1, NOW.plusSeconds(5), GuardrailStage.INPUT, NOW, 0L, false, null)))
        .setHandoffs(List.of(new HandoffRecord("triage", "billing", 3, 1, NOW.minusSeconds(120))))
        .setGuardrailResults(List.of(new GuardrailRecord(RUN + ":in", GuardrailStage.INPUT, "ALLOW", null, null),
            new GuardrailRecord(RUN + ":t2.1:in", GuardrailStage.TOOL_INPUT, "REJECT", "refund-cap", "over 500 EUR")))
        .setQueuedMessages(List.of("also the March invoice"))
        .setAlwaysApprove(List.of("lookup_invoice"))
        .build();
    String out = RunStateFormat.format(s, false, NOW);
    assertThat(out)
        .contains("Agent     billing@3  (model m)  started as triage\n")
        .contains("Sandbox   capabilities filesystem, shell; manifest: 0 files, 0 skills\n")
        .contains("Waiting for approval (1)\n  call r-1:t2.1  issue_refund {\"amount\":20}\n"
            + "       tool issue_refund needs approval; waiting since ")
        .contains("(1m ago)\n")
        .contains("  approve: turnpike approve r-1 <call> [--always]\n")
        .contains("Tool calls in flight\n"
            + "  awaiting approval issue_refund      function call r-1:t2.1  {\"amount\":20}\n"
            + "  running           shell             sandbox  call r-1:t2.2  {\"command\":\"ls\"}\n")
        .contains("Queued user messages (sent with the next model call)\n  also the March invoice\n")
        .contains("always approve: lookup_invoice\n")
        .contains("Handoffs\n  turn 1  triage -> billing v3   at ")
        .contains("Guardrail results\n  input       ALLOW     (call r-1:in)\n"
            + "  tool_input  REJECT  [refund-cap] over 500 EUR   (call r-1:t2.1:in)\n")
        .contains("SANDBOX shell             call r-1:t2.2")
        .contains("GUARDRAIL input             call r-1:in");
  }

  @Test
  void agoIsShortAndNeverNegative() {
    assertThat(RunStateFormat.ago(NOW.minusSeconds(5), NOW)).isEqualTo("5s ago");
    assertThat(RunStateFormat.ago(NOW.minusSeconds(3 * 3600 + 120), NOW)).isEqualTo("3h 2m ago");
    assertThat(RunStateFormat.ago(NOW.minusSeconds(2 * 86_400 + 3600), NOW)).isEqualTo("2d 1h ago");
    assertThat(RunStateFormat.ago(NOW.plusSeconds(5), NOW)).isEqualTo("0s ago");
  }
}
