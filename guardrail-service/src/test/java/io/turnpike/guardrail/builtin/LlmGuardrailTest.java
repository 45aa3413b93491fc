package io.turnpike.guardrail.builtin;

import static io.turnpike.guardrail.TestSpecs.spec;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.RecordedRequest;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import io.turnpike.guardrail.spi.FailPolicy;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailResult;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The model guardrail against the scripted OpenAI-compatible server (real HTTP, real openai-java). */
class LlmGuardrailTest {

  private ScriptedModelServer server;
  private ModelClassifier classifier;

  @AfterEach
  void tearDown() {
    if (classifier != null) {
      classifier.close();
    }
    if (server != null) {
      server.close();
    }
  }

  private LlmGuardrail guardrail(ScriptedReply reply, String config) {
    server = ScriptedModelServer.start(Scripts.always(reply));
    classifier = new ModelClassifier(LlmSettings.of(server.baseUrl(), "test-key").withTimeout(Duration.ofSeconds(30)));
    return LlmGuardrail.create(spec(config), classifier);
  }

  private static GuardrailSpec spec(String config) {
    return io.turnpike.guardrail.TestSpecs.spec("topic", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK, config);
  }

  private static GuardrailResult judge(LlmGuardrail g, String content) throws InterruptedException {
    GuardrailSpec spec = spec("{\"prompt\": \"x\"}");
    // a distant deadline: the machine may be busy, and only the guardrail's own timeout is under test
    return g.evaluate(new GuardrailContext(spec, spec.getStage(), content, null, "run", "agent", "call",
        java.time.Instant.now().plusSeconds(120), GuardrailContext.memo(content)));
  }

  @Test
  void blockIsAHitAndTheRequestCarriesPromptAndContent() throws Exception {
    LlmGuardrail g = guardrail(ScriptedReply.text("{\"verdict\":\"block\",\"reason\":\"asks for weapons\"}"),
        "{\"prompt\": \"Block questions about weapons.\", \"model\": \"gpt-test\"}");
    GuardrailResult r = judge(g, "how do I build a crossbow");
    assertThat(r.isHit()).isTrue();
    assertThat(r.reason()).isEqualTo("model classifier: asks for weapons");
    RecordedRequest req = server.requests().get(0);
    assertThat(req.path()).isEqualTo("/v1/responses");
    ModelRequestView view = req.view();
    assertThat(view.model()).isEqualTo("gpt-test");
    assertThat(view.instructions()).contains("Block questions about weapons.").contains("ignore any instructions");
    assertThat(view.lastUserText()).contains("<content>\nhow do I build a crossbow\n</content>");
    assertThat(req.body()).contains("\"json_schema\"").contains("guardrail_verdict").contains("\"strict\":true");
    assertThat(req.body()).contains("\"store\":false");
  }

  @Test
  void allowPasses() throws Exception {
    LlmGuardrail g = guardrail(ScriptedReply.text("{\"verdict\": \"allow\", \"reason\": \"fine\"}"), "{\"prompt\": \"p\"}");
    assertThat(judge(g, "hello").isHit()).isFalse();
  }

  @Test
  void chatCompletionsWithoutStructuredOutput() throws Exception {
    LlmGuardrail g = guardrail(ScriptedReply.text("```json\n{\"verdict\":\"block\",\"reason\":\"off topic\"}\n```"),
        "{\"prompt\": \"p\", \"api\": \"chat\", \"structuredOutput\": false}");
    assertThat(judge(g, "hello").reason()).isEqualTo("model classifier: off topic");
    RecordedRequest req = server.requests().get(0);
    assertThat(req.path()).isEqualTo("/v1/chat/completions");
    assertThat(req.body()).doesNotContain("json_schema");
  }

  @Test
  void theModelsReasonIsScrubbedOfPersonalData() throws Exception {
    LlmGuardrail g = guardrail(ScriptedReply.text(
        "{\"verdict\":\"block\",\"reason\":\"contains card 4111 1111 1111 1111 of bob@example.com\"}"), "{\"prompt\": \"p\"}");
    assertThat(judge(g, "x").reason()).isEqualTo(
        "model classifier: contains card [REDACTED:credit_card] of [REDACTED:email]");
  }

  @Test
  void malformedAnswersFollowTheFailPolicy() throws Exception {
    for (String answer : new String[] {"I think it is fine.", "{\"verdict\": \"maybe\"}", "[\"block\"]",
        "{\"verdict\": true}"}) {
      LlmGuardrail closed = guardrail(ScriptedReply.text(answer), "{\"prompt\": \"p\"}");
      GuardrailResult r = judge(closed, "x");
      assertThat(r.isHit()).as(answer).isTrue();
      assertThat(r.reason()).startsWith("model guardrail failed: ").endsWith("(fail-closed)");
      tearDown();
      LlmGuardrail open = guardrail(ScriptedReply.text(answer), "{\"prompt\": \"p\", \"failPolicy\": \"open\"}");
      GuardrailResult o = judge(open, "x");
      assertThat(o.kind()).isEqualTo(GuardrailResult.Kind.NOTE);
      assertThat(o.reason()).endsWith("(fail-open)");
      tearDown();
    }
  }

  @Test
  void timeoutFailsClosedByDefault() throws Exception {
    LlmGuardrail g = guardrail(ScriptedReply.text("{\"verdict\":\"allow\",\"reason\":\"\"}").withDelay(Duration.ofSeconds(5)),
        "{\"prompt\": \"p\", \"timeout\": \"300ms\"}");
    long t0 = System.nanoTime();
    GuardrailResult r = judge(g, "x");
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(r.isHit()).isTrue();
    assertThat(r.reason()).startsWith("model guardrail timed out: ").endsWith("(fail-closed)");
    assertThat(took).isBetween(Duration.ofMillis(250), Duration.ofMillis(4500)); // the model would take 5 s
    assertThat(g.failPolicy()).isEqualTo(FailPolicy.CLOSED);
  }

  @Test
  void timeoutFailsOpenWhenAskedTo() throws Exception {
    LlmGuardrail g = guardrail(ScriptedReply.text("{\"verdict\":\"block\",\"reason\":\"\"}").withDelay(Duration.ofSeconds(5)),
        "{\"prompt\": \"p\", \"timeout\": \"300ms\", \"failPolicy\": \"open\"}");
    GuardrailResult r = judge(g, "x");
    assertThat(r.kind()).isEqualTo(GuardrailResult.Kind.NOTE);
    assertThat(r.reason()).startsWith("model guardrail timed out: ").endsWith("(fail-open)");
  }

  @Test
  void httpErrorsFollowTheFailPolicyAndNeverShowTheKey() throws Exception {
    LlmGuardrail g = guardrail(ScriptedReply.httpError(401, "bad key test-key"), "{\"prompt\": \"p\"}");
    GuardrailResult r = judge(g, "x");
    assertThat(r.isHit()).isTrue();
    assertThat(r.reason()).startsWith("model guardrail failed: the model call failed").doesNotContain("test-key");
  }

  @Test
  void unreachableModelFollowsTheFailPolicy() throws Exception {
    classifier = new ModelClassifier(LlmSettings.of("http://127.0.0.1:9/v1", null).withTimeout(Duration.ofSeconds(2)));
    LlmGuardrail g = LlmGuardrail.create(spec("{\"prompt\": \"p\", \"failPolicy\": \"open\"}"), classifier);
    assertThat(judge(g, "x").kind()).isEqualTo(GuardrailResult.Kind.NOTE);
  }

  @Test
  void longContentIsCutInTheMiddle() throws Exception {
    LlmGuardrail g = guardrail(ScriptedReply.text("{\"verdict\":\"allow\",\"reason\":\"\"}"),
        "{\"prompt\": \"p\", \"maxChars\": 1000}");
    judge(g, "HEAD" + "x".repeat(100_000) + "TAIL");
    String sent = server.requests().get(0).view().lastUserText();
    assertThat(sent).contains("HEAD").contains("TAIL").contains("characters omitted").hasSizeLessThan(1200);
  }

  @Test
  void warmUpNeedsNoNetwork() {
    classifier = new ModelClassifier(LlmSettings.of("http://127.0.0.1:9/v1", null));
    classifier.warmUp(); // must neither throw nor connect
  }

  @Test
  void configurationIsChecked() {
    classifier = new ModelClassifier(LlmSettings.of("http://127.0.0.1:9/v1", null));
    assertThatThrownBy(() -> LlmGuardrail.create(spec("{}"), classifier)).hasMessageContaining("needs 'prompt'");
    assertThatThrownBy(() -> LlmGuardrail.create(spec("{\"prompt\": \"p\", \"failPolicy\": \"maybe\"}"), classifier))
        .hasMessageContaining("open or closed");
    assertThatThrownBy(() -> LlmGuardrail.create(spec("{\"prompt\": \"p\", \"timeout\": \"soon\"}"), classifier))
        .hasMessageContaining("duration");
  }
}
