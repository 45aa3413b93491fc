package io.turnpike.guardrail;

import static io.turnpike.guardrail.TestSpecs.check;
import static io.turnpike.guardrail.TestSpecs.output;
import static io.turnpike.guardrail.TestSpecs.spec;
import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailFinding;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import io.turnpike.guardrail.builtin.LlmSettings;
import io.turnpike.guardrail.spi.FailPolicy;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailProvider;
import io.turnpike.guardrail.spi.GuardrailResult;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The verdict semantics the orchestrator relies on. */
class GuardrailEngineTest {

  private static final String CARD = "4111 1111 1111 1111";
  private static final GuardrailSpec PII_REDACT = output("pii", "pii", GuardrailAction.REDACT, "{}");
  private static final GuardrailSpec PII_BLOCK = output("pii-block", "pii", GuardrailAction.BLOCK, "{}");
  private static final GuardrailSpec SECRET_REDACT = output("secrets", "regex", GuardrailAction.REDACT,
      "{\"pattern\": \"sk-[a-z0-9]{8,}\"}");
  private static final GuardrailSpec DENY_BLOCK = output("deny", "keywords", GuardrailAction.BLOCK,
      "{\"words\": [\"project falcon\"]}");

  private GuardrailEngine engine = GuardrailEngine.builder().build();
  private ScriptedModelServer server;

  @AfterEach
  void tearDown() {
    engine.close();
    if (server != null) {
      server.close();
    }
  }

  private GuardrailVerdict judge(GuardrailStage stage, String content, String tool, GuardrailSpec... specs)
      throws InterruptedException {
    return engine.evaluate(check(stage, content, tool, specs));
  }

  @Test
  void noGuardrailsAllowsTheContentAsIs() throws Exception {
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "hello " + CARD, null);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
    assertThat(v.getContent()).isEqualTo("hello " + CARD);
    assertThat(v.getGuardrail()).isNull();
    assertThat(v.getReason()).isNull();
    assertThat(v.getFindings()).isEmpty();
    assertThat(v.getRunId()).isEqualTo("run-1");
    assertThat(v.getCallId()).isEqualTo("run-1:g1");
    assertThat(v.getStage()).isEqualTo(GuardrailStage.OUTPUT);
  }

  @Test
  void cleanContentIsAllowed() throws Exception {
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "The weather is fine.", null, PII_REDACT, DENY_BLOCK);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
    assertThat(v.getContent()).isEqualTo("The weather is fine.");
    assertThat(v.getFindings()).isEmpty();
  }

  @Test
  void theMostSevereOutcomeWinsAndTripCarriesNoContent() throws Exception {
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "card " + CARD + " for Project Falcon", null, PII_REDACT,
        DENY_BLOCK);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
    assertThat(v.getGuardrail()).isEqualTo("deny");
    assertThat(v.getReason()).isEqualTo("deny-listed keyword at 1 place");
    assertThat(v.getContent()).isNull();
    assertThat(v.getFindings()).extracting(GuardrailFinding::getGuardrail).containsExactly("pii", "deny");
    assertThat(v.getFindings()).extracting(GuardrailFinding::getOutcome)
        .containsExactly(GuardrailOutcome.REDACT, GuardrailOutcome.TRIP);
    assertThat(v.toString()).doesNotContain(CARD).doesNotContainIgnoringCase("falcon");
  }

  @Test
  void theFirstDeclaredGuardrailOfTheWinningOutcomeDecides() throws Exception {
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "card " + CARD + " and Project Falcon", null, PII_BLOCK,
        DENY_BLOCK);
    assertThat(v.getGuardrail()).isEqualTo("pii-block");
    assertThat(v.getReason()).isEqualTo("credit card number (Luhn-valid) at 1 place");
  }

  @Test
  void redactionAppliesEveryRedactingGuardrail() throws Exception {
    GuardrailSpec shortOutput = output("short", "max_length", GuardrailAction.REDACT, "{\"maxChars\": 60}");
    String content = "Your card " + CARD + ", key sk-abcdef123456, mail bob@example.com, and then a long tail of text";
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, content, null, PII_REDACT, SECRET_REDACT, shortOutput);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.REDACT);
    assertThat(v.getGuardrail()).isEqualTo("pii");
    assertThat(v.getContent()).isEqualTo(
        "Your card [REDACTED:credit_card], key [REDACTED:pattern #1],\n[truncated by guardrail 'short']");
    assertThat(v.getFindings()).extracting(GuardrailFinding::getGuardrail).containsExactly("pii", "secrets", "short");
    assertThat(v.getFindings().get(0).getEvidence()).isEqualTo("****-****-****-1111, b***@e***.com");
    assertThat(v.toString()).doesNotContain(CARD).doesNotContain("sk-abcdef").doesNotContain("bob@");
  }

  @Test
  void overlappingRedactionsMerge() throws Exception {
    GuardrailSpec digits = output("digits", "regex", GuardrailAction.REDACT,
        "{\"pattern\": \"1111 1111\", \"replacement\": \"<digits>\"}");
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "pay " + CARD + " now", null, PII_REDACT, digits);
    assertThat(v.getContent()).isEqualTo("pay [REDACTED:credit_card] now");
  }

  @Test
  void aRedactingGuardrailWithoutSpansReplacesEverything() throws Exception {
    GuardrailSpec schema = output("structured", "json_schema", GuardrailAction.REDACT, "{\"schema\": {\"type\": \"object\"}}");
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "not json at all", null, schema);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.REDACT);
    assertThat(v.getContent()).isEqualTo("[content redacted by guardrail 'structured']");
  }

  @Test
  void toolInputRejectsWithAMessageForTheModel() throws Exception {
    GuardrailSpec policy = spec("no-shell", GuardrailStage.TOOL_INPUT, "tool_policy", GuardrailAction.REJECT,
        "{\"deny\": [\"shell\"]}");
    GuardrailVerdict v = judge(GuardrailStage.TOOL_INPUT, "{\"command\": \"rm -rf /\"}", "shell", policy);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.REJECT);
    assertThat(v.getGuardrail()).isEqualTo("no-shell");
    assertThat(v.getContent()).isEqualTo("The call to tool 'shell' was refused by guardrail 'no-shell': tool 'shell' is"
        + " on the deny list. Do not repeat it; answer without it or try another way.");
    assertThat(judge(GuardrailStage.TOOL_INPUT, "{}", "get_weather", policy).getOutcome())
        .isEqualTo(GuardrailOutcome.ALLOW);
  }

  @Test
  void rejectMessageCanBeConfigured() throws Exception {
    GuardrailSpec rm = spec("no-rm", GuardrailStage.TOOL_INPUT, "regex", GuardrailAction.REJECT,
        "{\"pattern\": \"rm\\\\s+-rf\", \"message\": \"{guardrail}: destructive commands are not allowed in {tool}\"}");
    GuardrailVerdict v = judge(GuardrailStage.TOOL_INPUT, "{\"command\": \"rm -rf /tmp/x\"}", "shell", rm);
    assertThat(v.getContent()).isEqualTo("no-rm: destructive commands are not allowed in shell");
  }

  @Test
  void redactOnToolInputIsARejection() throws Exception {
    GuardrailSpec pii = spec("pii-args", GuardrailStage.TOOL_INPUT, "pii", GuardrailAction.REDACT, "{}");
    GuardrailVerdict v = judge(GuardrailStage.TOOL_INPUT, "{\"to\": \"bob@example.com\"}", "send_mail", pii);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.REJECT);
    assertThat(v.getContent()).contains("refused by guardrail 'pii-args'").doesNotContain("bob@");
  }

  @Test
  void rejectOutsideToolInputTrips() throws Exception {
    GuardrailSpec rejectOnOutput = output("deny", "keywords", GuardrailAction.REJECT, "{\"words\": [\"falcon\"]}");
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "falcon", null, rejectOnOutput);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
    assertThat(v.getContent()).isNull();
  }

  @Test
  void onlyGuardrailsOfTheStageAndToolApply() throws Exception {
    GuardrailSpec inputOnly = spec("input-pii", GuardrailStage.INPUT, "pii", GuardrailAction.BLOCK, "{}");
    GuardrailSpec forSearch = spec("search-pii", GuardrailStage.TOOL_OUTPUT, "pii", GuardrailAction.REDACT, "{}",
        "search_*");
    assertThat(judge(GuardrailStage.OUTPUT, CARD, null, inputOnly).getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
    assertThat(judge(GuardrailStage.TOOL_OUTPUT, CARD, "get_weather", forSearch).getOutcome())
        .isEqualTo(GuardrailOutcome.ALLOW);
    assertThat(judge(GuardrailStage.TOOL_OUTPUT, CARD, "search_web", forSearch).getOutcome())
        .isEqualTo(GuardrailOutcome.REDACT);
  }

  @Test
  void unknownTypesTripUnlessConfiguredOpen() throws Exception {
    GuardrailSpec unknown = output("mystery", "telepathy", GuardrailAction.REDACT, "{}");
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "hello", null, unknown);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
    assertThat(v.getGuardrail()).isEqualTo("mystery");
    assertThat(v.getReason()).isEqualTo("unknown guardrail type 'telepathy' (fail-closed)");

    engine.close();
    engine = GuardrailEngine.builder().unknownType(FailPolicy.OPEN).build();
    GuardrailVerdict open = judge(GuardrailStage.OUTPUT, "hello", null, unknown);
    assertThat(open.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
    assertThat(open.getContent()).isEqualTo("hello");
    assertThat(open.getFindings()).singleElement().satisfies(f -> {
      assertThat(f.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
      assertThat(f.getReason()).contains("unknown guardrail type").contains("fail-open");
    });
  }

  @Test
  void invalidConfigurationTrips() throws Exception {
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "hello", null,
        output("bad", "regex", GuardrailAction.REDACT, "{\"pattern\": \"(\"}"));
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
    assertThat(v.getReason()).startsWith("invalid configuration: pattern #1 is not a valid regular expression");
  }

  @Test
  void aFailingGuardrailFollowsTheErrorPolicy() throws Exception {
    GuardrailSpec evil = output("evil", "regex", GuardrailAction.REDACT, "{\"pattern\": \"(a+)+\\\\1b\"}");
    String content = "a".repeat(3000);
    GuardrailVerdict closed = judge(GuardrailStage.OUTPUT, content, null, evil);
    assertThat(closed.getOutcome()).isEqualTo(GuardrailOutcome.REDACT); // a hit with the guardrail's action
    assertThat(closed.getReason()).startsWith("guardrail failed: pattern matching exceeded its work budget")
        .endsWith("(fail-closed)");
    assertThat(closed.getContent()).isEqualTo("[content redacted by guardrail 'evil']");

    engine.close();
    engine = GuardrailEngine.builder().onError(FailPolicy.OPEN).build();
    GuardrailVerdict open = judge(GuardrailStage.OUTPUT, content, null, evil);
    assertThat(open.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
    assertThat(open.getFindings()).singleElement().extracting(GuardrailFinding::getOutcome)
        .isEqualTo(GuardrailOutcome.ALLOW);
  }

  @Test
  void contentTooLargeTripsWithoutBeingRead() throws Exception {
    engine.close();
    engine = GuardrailEngine.builder().maxContentChars(1000).build();
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, "x".repeat(1001), null, PII_REDACT);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
    assertThat(v.getGuardrail()).isEqualTo(GuardrailEngine.SERVICE);
    assertThat(v.getReason()).contains("1001 characters");
    assertThat(judge(GuardrailStage.OUTPUT, "x".repeat(1001), null).getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
  }

  @Test
  void hugeContentWithEveryRuleGuardrail() throws Exception {
    String big = "Some ordinary output, line after line, nothing to see. 12 34 56.\n".repeat(80_000)
        + "finally: " + CARD;
    GuardrailSpec injection = output("inj", "prompt_injection", GuardrailAction.BLOCK, "{}");
    GuardrailSpec len = output("len", "max_length", GuardrailAction.BLOCK, "{\"maxChars\": 10000000}");
    long t0 = System.nanoTime();
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, big, null, PII_REDACT, SECRET_REDACT, DENY_BLOCK, injection, len);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.REDACT);
    assertThat(v.getContent()).endsWith("finally: [REDACTED:credit_card]");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(40));
  }

  @Test
  void pastTheMatchCapTheWholeContentIsWithheld() throws Exception {
    String many = "mail a@b.io now. ".repeat(12_000) + "and last@example.com";
    GuardrailVerdict v = judge(GuardrailStage.OUTPUT, many, null, PII_REDACT);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.REDACT);
    assertThat(v.getReason()).contains("possibly more");
    assertThat(v.getContent()).isEqualTo("[content redacted by guardrail 'pii']");
    GuardrailSpec words = output("words", "keywords", GuardrailAction.REDACT, "{\"words\": [\"now\"]}");
    assertThat(judge(GuardrailStage.OUTPUT, many, null, words).getContent())
        .isEqualTo("[content redacted by guardrail 'words']");
    GuardrailSpec regex = output("re", "regex", GuardrailAction.REDACT, "{\"pattern\": \"mail\"}");
    assertThat(judge(GuardrailStage.OUTPUT, many, null, regex).getContent())
        .isEqualTo("[content redacted by guardrail 're']");
  }

  @Test
  void compiledGuardrailsAreCached() throws Exception {
    AtomicInteger created = new AtomicInteger();
    engine.close();
    engine = GuardrailEngine.builder().provider(provider("counted", created, spec -> ctx -> GuardrailResult.pass()))
        .build();
    GuardrailSpec s = output("c", "counted", GuardrailAction.BLOCK, "{}");
    for (int i = 0; i < 5; i++) {
      judge(GuardrailStage.OUTPUT, "x", null, s);
    }
    assertThat(created).hasValue(1);
  }

  @Test
  void theCheckIsBoundedByItsDeadline() throws Exception {
    CountDownLatch never = new CountDownLatch(1);
    engine.close();
    engine = GuardrailEngine.builder().deadlineMargin(Duration.ofMillis(100))
        .provider(provider("stuck", new AtomicInteger(), spec -> new Guardrail() {
          @Override
          public GuardrailResult evaluate(io.turnpike.guardrail.spi.GuardrailContext context) throws Exception {
            never.await();
            return GuardrailResult.pass();
          }

          @Override
          public boolean slow() {
            return true;
          }
        })).build();
    GuardrailCheck c = check(GuardrailStage.INPUT, "hello", null,
        spec("stuck", GuardrailStage.INPUT, "stuck", GuardrailAction.BLOCK, "{}"),
        spec("pii", GuardrailStage.INPUT, "pii", GuardrailAction.BLOCK, "{}"));
    c.setDeadline(Instant.now().plusMillis(1500));
    long t0 = System.nanoTime();
    GuardrailVerdict v = engine.evaluate(c);
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    // the guardrail never answers: the check ends at its deadline less the 100 ms margin (about 1.4 s)
    assertThat(took).isBetween(Duration.ofMillis(1300), Duration.ofMillis(3000));
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
    assertThat(v.getReason()).isEqualTo("guardrail failed: no answer by the check's deadline (fail-closed)");
  }

  @Test
  void slowGuardrailsRunConcurrentlyAndTimeOutByTheirPolicy() throws Exception {
    server = ScriptedModelServer.start(Scripts.byTurn(request -> request.instructions().contains("SLOW")
        ? ScriptedReply.text("{\"verdict\":\"allow\",\"reason\":\"\"}").withDelay(Duration.ofSeconds(10))
        : ScriptedReply.text("{\"verdict\":\"allow\",\"reason\":\"ok\"}").withDelay(Duration.ofMillis(2000))));
    engine.close();
    engine = GuardrailEngine.builder().llm(LlmSettings.of(server.baseUrl(), null).withTimeout(Duration.ofSeconds(30)))
        .build();
    GuardrailSpec a = spec("topic-a", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK, "{\"prompt\": \"A\"}");
    GuardrailSpec b = spec("topic-b", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK, "{\"prompt\": \"B\"}");
    GuardrailSpec slowOpen = spec("slow-open", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK,
        "{\"prompt\": \"SLOW\", \"timeout\": \"3s\", \"failPolicy\": \"open\"}");
    engine.evaluate(check(GuardrailStage.INPUT, "warm up", null, b)); // class loading of openai-java

    long t0 = System.nanoTime();
    GuardrailVerdict v = engine.evaluate(check(GuardrailStage.INPUT, "hello", null, a, b, slowOpen, PII_REDACT));
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(v.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
    assertThat(v.getFindings()).singleElement().satisfies(f -> {
      assertThat(f.getGuardrail()).isEqualTo("slow-open");
      assertThat(f.getOutcome()).isEqualTo(GuardrailOutcome.ALLOW);
      assertThat(f.getReason()).startsWith("model guardrail timed out").endsWith("(fail-open)");
    });
    // 2 s + 2 s + 3 s if sequential; concurrently about 3 s
    assertThat(took).isBetween(Duration.ofMillis(2900), Duration.ofMillis(6000));

    GuardrailSpec slowClosed = spec("slow-closed", GuardrailStage.INPUT, "llm", GuardrailAction.BLOCK,
        "{\"prompt\": \"SLOW\", \"timeout\": \"1s\"}");
    GuardrailVerdict closed = engine.evaluate(check(GuardrailStage.INPUT, "hello", null, slowClosed));
    assertThat(closed.getOutcome()).isEqualTo(GuardrailOutcome.TRIP);
    assertThat(closed.getGuardrail()).isEqualTo("slow-closed");
    assertThat(closed.getReason()).startsWith("model guardrail timed out").endsWith("(fail-closed)");
  }

  private static GuardrailProvider provider(String type, AtomicInteger created,
      java.util.function.Function<GuardrailSpec, Guardrail> f) {
    return new GuardrailProvider() {
      @Override
      public String type() {
        return type;
      }

      @Override
      public Guardrail create(GuardrailSpec spec) {
        created.incrementAndGet();
        return f.apply(spec);
      }
    };
  }
}
