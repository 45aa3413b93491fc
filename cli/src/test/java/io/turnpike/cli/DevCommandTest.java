package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.cli.example.OfflineTravelScript;
import org.junit.jupiter.api.Test;

/**
 * The main job end to end: {@code turnpike dev} starts a KRaft broker, the four services (the real
 * RunnerService: orchestrator + model invoker), the example tool worker and the offline scripted
 * model in this JVM, runs the travel assistant and prints its steps and result.
 *
 * <p>NEEDS THE RUNNER: this test can only pass while {@code io.turnpike.runner.RunnerService.start}
 * is wired (it drives the run). It is deliberately not disabled.
 */
class DevCommandTest {

  @Test
  void devRunsTheExampleAgentOfflineAndPrintsEveryStepAndTheToolBasedAnswer() {
    Cli.Result r = Cli.run("dev", "--input", "What's the weather in Tokyo and what time is it there?");

    assertThat(r.exitCode()).as(r.toString()).isZero();
    String out = r.out();
    assertThat(out).as(r.toString())
        .contains("OFFLINE SCRIPTED model")
        .contains("services  runner, sandbox, guardrail, memory")
        .contains("agent     travel-assistant v1  (from bundled agents/travel-assistant.yaml)")
        .contains("run started")
        .contains("tool call       get_weather {\"city\":\"Tokyo\"}")
        .contains("tool result     get_weather -> {\"city\":\"Tokyo\",\"condition\":\"humid\"")
        .contains("tool call       get_local_time {\"city\":\"Tokyo\"}")
        .contains("tool result     get_local_time -> {\"city\":\"Tokyo\",\"timezone\":\"Asia/Tokyo\"")
        .contains("run finished    COMPLETED")
        .contains("Result: COMPLETED after 3 turns")
        .contains("Final answer (from the OFFLINE SCRIPTED model, not a real LLM):");
    // The answer is composed from the tool outputs that came back through Kafka.
    assertThat(out).contains(OfflineTravelScript.LABEL + " In Tokyo it is humid and 27 C (humidity 78%, wind 6 km/h)."
        + " The local time there is ");
    assertThat(out).contains("(Asia/Tokyo, UTC+09:00).");
    // Steps are printed in order.
    assertThat(out.indexOf("get_weather {")).isLessThan(out.indexOf("get_local_time {"));
    assertThat(out.indexOf("get_local_time {")).isLessThan(out.indexOf("run finished"));
    // the example run streams: the scripted answer shows as it is written, before the step that records it
    int streamed = out.indexOf("streaming       " + OfflineTravelScript.LABEL + " In Tokyo it is humid");
    assertThat(streamed).as(out).isPositive().isLessThan(out.indexOf("run finished"));
    // Broker chatter stays out of stdout.
    assertThat(out).doesNotContain("INFO").doesNotContain("kafka.server");
  }

  @Test
  void devPublishesEveryAgentOfTheRepositoryAndStillRunsTheTravelAssistant() {
    Cli.Result r = Cli.run("dev", "--agents-dir", "../agents", "--input", "Weather in Madrid?");
    assertThat(r.exitCode()).as(r.toString()).isZero();
    assertThat(r.out()).as(r.toString())
        .contains("agent     billing-specialist v1  (from ../agents/)")
        .contains("agent     support-triage v1  (from ../agents/)")
        .contains("agent     travel-assistant v1  (from ../agents/)")
        .contains("agent     workspace-coder v1  (from ../agents/)")
        .contains("Run ")
        .contains("of travel-assistant")
        .contains("tool call       get_weather {\"city\":\"Madrid\"}")
        .contains("Result: COMPLETED after 3 turns");
  }

  @Test
  void devRunsTheTripPlannerOfflineToAStructuredAnswer() throws Exception {
    Cli.Result r = Cli.run("dev", "--agent", "trip-planner", "--input", "Plan my day in Paris");
    assertThat(r.exitCode()).as(r.toString()).isZero();
    assertThat(r.out()).as(r.toString())
        .contains("agent     trip-planner v1  (from bundled agents/trip-planner.yaml)")
        .contains("tool call       get_weather {\"city\":\"Paris\"}")
        .contains("tool call       get_local_time {\"city\":\"Paris\"}")
        .contains("Result: COMPLETED after 3 turns");
    // the answer follows the agent's outputType (the runner checked it), and says it is scripted
    String json = r.out().lines().filter(l -> l.trim().startsWith("{\"city\":\"Paris\"")).findFirst().orElseThrow().trim();
    com.fasterxml.jackson.databind.JsonNode plan = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
    assertThat(plan.fieldNames()).toIterable().containsExactly("city", "weather", "localTime", "advice");
    assertThat(plan.path("advice").asText()).startsWith(OfflineTravelScript.LABEL);
  }

  @Test
  void devRunsTheResearchAssistantOfflineShowingHostedCallsAndCitations() {
    Cli.Result r = Cli.run("dev", "--agent", "research-assistant", "--input", "What is there to do in Porto today?");
    assertThat(r.exitCode()).as(r.toString()).isZero();
    assertThat(r.out()).as(r.toString())
        .contains("agent     research-assistant v1  (from bundled agents/research-assistant.yaml)")
        .contains("[hosted web_search: searched \"Porto weather today\", 1 source]")
        .contains("[hosted file_search: searched files for \"what to do in Porto\": 1 result]")
        .contains("[cites weather.example, porto-guide.md]")
        .contains(OfflineTravelScript.LABEL + " In Porto expect a mild, mostly sunny day")
        .contains("Result: COMPLETED after 1 turn");
  }

  @Test
  void devRunsTheTripConciergeWhichCallsTheTravelAssistantAsAChildRun() {
    Cli.Result r = Cli.run("dev", "--agent", "trip-concierge", "--input", "What should I do in Tokyo now?");
    assertThat(r.exitCode()).as(r.toString()).isZero();
    String out = r.out();
    String child = out.lines().filter(l -> l.contains("child run       travel-assistant started as run ")).findFirst()
        .orElseThrow(() -> new AssertionError(r.toString())).replaceAll(".* started as run (\\S+) .*", "$1");
    assertThat(child).endsWith(":t1.1/travel-assistant");
    assertThat(out).as(r.toString())
        .contains("agent     trip-concierge v1  (from bundled agents/trip-concierge.yaml)")
        .contains("scripted model  -> ask_travel_assistant {\"input\":\"What's the weather like in Tokyo")
        // the child's own steps, indented under the parent's, with its own tool calls
        .contains("    child run " + child + ":")
        .contains("      #1   turn 0 run started     travel-assistant v1  input: \"What's the weather like in Tokyo")
        .contains("      #4   turn 1 tool call       get_weather {\"city\":\"Tokyo\"}")
        .contains("child finished  run " + child + " COMPLETED")
        .contains("tool result     ask_travel_assistant -> " + OfflineTravelScript.LABEL + " In Tokyo it is humid and 27 C")
        .contains("Result: COMPLETED after 2 turns")
        .contains(OfflineTravelScript.LABEL + " The travel assistant told me: In Tokyo it is humid and 27 C");
    assertThat(out.indexOf("get_local_time {")).isLessThan(out.indexOf("child finished"));
  }

  @Test
  void devRunsSupportTriageOfflineThroughAHandoffToARefundThatWaitsForAHuman() {
    Cli.Result r = Cli.run("dev", "--agent", "support-triage");
    assertThat(r.exitCode()).as(r.toString()).isEqualTo(RunReport.EXIT_INTERRUPTED);
    String out = r.out();
    assertThat(out).as(r.toString())
        .contains("agent     support-triage v1  (from bundled agents/support-triage.yaml)")
        .contains("input: \"I was charged twice for invoice INV-1042")
        .contains("guardrail ok    input")
        .contains("scripted model  -> transfer_to_billing-specialist {}")
        .contains("handoff         support-triage -> billing-specialist v1")
        // the example tool worker serves the billing tools: the invoice comes back through Kafka
        .contains("tool result     lookup_invoice -> {\"invoice\":\"INV-1042\",\"total_eur\":49.0")
        .contains("guardrail ok    tool_input")
        .contains("needs approval  issue_refund {\"invoice\":\"INV-1042\",\"amount_eur\":49.0")
        .contains("Result: INTERRUPTED after 3 turns")
        .contains("The run is INTERRUPTED: it waits for a human decision on 1 tool call.");
    assertThat(out.indexOf("handoff ")).isLessThan(out.indexOf("lookup_invoice {"));
    assertThat(out).doesNotContain("tool result     issue_refund"); // nothing is refunded before a human says so
  }

  @Test
  void devRunsTheWorkspaceCoderOfflineWithRealSandboxTools() {
    org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isExecutable(java.nio.file.Path.of("/usr/bin/bwrap")),
        "the local sandbox backend needs bubblewrap (.ci/run installs it)");
    Cli.Result r = Cli.run("dev", "--agents-dir", "../agents", "--agent", "workspace-coder");
    assertThat(r.exitCode()).as(r.toString()).isZero();
    assertThat(r.out()).as(r.toString())
        .contains("agent     workspace-coder v1  (from ../agents/)")
        .contains("tool result     read_file -> \"\"\"A tiny program for the workspace-coder example.\"\"\"")
        .contains("tool result     load_skill -> Skill 'python-tests' is in skills/python-tests/.")
        .contains("tool result     apply_patch -> Done. A tests/__init__.py A tests/test_hello.py M hello.py")
        .contains("Result: COMPLETED after 5 turns")
        .contains(OfflineTravelScript.LABEL + " I added farewell(name) next to greet(name) in hello.py");
    // the tests ran in the sandbox when it has python3, and the answer reports their last line either way
    assertThat(r.out()).containsAnyOf("Test run: OK", "Test run: 2");
  }

  @Test
  void devOnAnUnreachableExternalKafkaFailsWithOneLine() {
    Cli.Result r = Cli.run("dev", "--bootstrap-server", "127.0.0.1:1");
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: cannot reach Kafka at 127.0.0.1:1 within 10s");
    assertThat(r.err().lines().count()).isEqualTo(1);
  }

  @Test
  void devFailsFastOnAnUnknownAgent() {
    Cli.Result r = Cli.run("dev", "--agent", "nobody");
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: agent 'nobody' is not defined in the bundled agents (found: travel-assistant,"
        + " trip-planner, trip-concierge, research-assistant, support-triage, billing-specialist)");
    assertThat(r.out()).doesNotContain("kafka");
  }
}
