package io.turnpike.guardrail.builtin;

import static io.turnpike.guardrail.TestSpecs.context;
import static io.turnpike.guardrail.TestSpecs.output;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.GuardrailResult;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class PiiGuardrailTest {

  private static GuardrailResult scan(String config, String content) {
    GuardrailSpec spec = output("pii", "pii", GuardrailAction.REDACT, config);
    return PiiGuardrail.create(spec).evaluate(context(spec, content));
  }

  private static GuardrailResult scan(String content) {
    return scan("{}", content);
  }

  /** The content with the hit's spans replaced, as the engine does it. */
  private static String redacted(String content, GuardrailResult r) {
    StringBuilder sb = new StringBuilder();
    int pos = 0;
    for (GuardrailResult.Span s : r.spans()) {
      sb.append(content, pos, s.start()).append(s.replacement());
      pos = s.end();
    }
    return sb.append(content.substring(pos)).toString();
  }

  @Test
  void cleanTextPasses() {
    assertThat(scan("The meeting is on 2024-05-17 at 10:30 in room 4111. Order #12345678 shipped.").isHit()).isFalse();
  }

  @Test
  void creditCardsNeedLuhnAndAKnownPrefix() {
    GuardrailResult r = scan("pay with 4111 1111 1111 1111 please");
    assertThat(r.isHit()).isTrue();
    assertThat(r.reason()).isEqualTo("credit card number (Luhn-valid) at 1 place");
    assertThat(r.evidence()).isEqualTo("****-****-****-1111");
    assertThat(r.reason() + r.evidence()).doesNotContain("4111 1111");
    assertThat(redacted("pay with 4111 1111 1111 1111 please", r)).isEqualTo("pay with [REDACTED:credit_card] please");

    assertThat(scan("pay with 4111 1111 1111 1112 please").isHit()).isFalse(); // Luhn fails
    assertThat(scan("id 1234567812345670").isHit()).isFalse();               // Luhn-valid, no issuer prefix
    assertThat(scan("{\"cardRequiresKnownPrefix\": false}", "id 1234567812345670").isHit()).isTrue();
    assertThat(scan("amex 3782-822463-10005").evidence()).isEqualTo("****-****-***-0005");
  }

  @Test
  void cardSplitAcrossLinesOrHiddenWithLookAlikes() {
    assertThat(scan("card:\n4111 1111\n1111 1111\nthanks").reason()).startsWith("credit card number");
    assertThat(scan("card 4111-1111-\r\n1111-1111").isHit()).isTrue();
    // fullwidth and Arabic-Indic digits, zero-width spaces between them, NBSP separators
    assertThat(scan("card ４１１１\u00A0１１１１\u00A0１１１１\u00A0１１１１").isHit()).isTrue();
    assertThat(scan("card ٤١١١١١١١١١١١١١١١").isHit()).isTrue();
    String hidden = "card 4\u200B1\u200B1\u200B1 1111 1111 1111 end";
    GuardrailResult r = scan(hidden);
    assertThat(r.isHit()).isTrue();
    assertThat(redacted(hidden, r)).isEqualTo("card [REDACTED:credit_card] end");
  }

  @Test
  void twoCardsInARowAreTwoFindings() {
    GuardrailResult r = scan("4111 1111 1111 1111 5500 0000 0000 0004");
    assertThat(r.reason()).isEqualTo("credit card number (Luhn-valid) at 2 places");
  }

  @Test
  void hexDigestsAreNotCards() {
    assertThat(scan("sha deadbeef4111111111111111cafe").isHit()).isFalse();
  }

  @Test
  void emails() {
    String s = "write to John.Doe+tag@Example.co.uk or jane @ example.org.";
    GuardrailResult r = scan(s);
    assertThat(r.reason()).isEqualTo("e-mail address at 2 places");
    assertThat(r.evidence()).contains("J***@E***.uk").doesNotContain("John");
    assertThat(redacted(s, r)).isEqualTo("write to [REDACTED:email] or [REDACTED:email].");
    assertThat(scan("user@localhost and a@b.c and @handle").isHit()).isFalse();
    String split = "write to john.doe@\nexample.com today";
    GuardrailResult r2 = scan(split);
    assertThat(r2.reason()).as("split across lines").isEqualTo("e-mail address at 1 place");
    assertThat(redacted(split, r2)).isEqualTo("write to [REDACTED:email] today");
    // look-alike: fullwidth at sign, Cyrillic letters
    assertThat(scan("mail jоhn＠exаmple.com").reason()).isEqualTo("e-mail address at 1 place");
  }

  @Test
  void ibans() {
    assertThat(scan("IBAN DE89 3704 0044 0532 0130 00 thanks").reason()).isEqualTo("IBAN (checksum-valid) at 1 place");
    assertThat(scan("IBAN DE89 3704 0044 0532 0130 00").evidence()).isEqualTo("DE** **** **** **** **30 00");
    assertThat(scan("IBAN GB82WEST12345698765432").isHit()).isTrue();
    assertThat(scan("iban: gb82 west 1234 5698 7654 32").isHit()).isTrue();
    assertThat(scan("IBAN DE89 3704\n0044 0532\n0130 00").isHit()).isTrue(); // split across lines
    assertThat(scan("IBAN DE88 3704 0044 0532 0130 00").isHit()).isFalse();  // bad checksum
    assertThat(scan("IBAN DE89 3704 0044 0532 0130 001").isHit()).isFalse(); // too long for DE
  }

  @Test
  void phones() {
    assertThat(scan("call +1 (415) 555-2671 now").reason()).isEqualTo("phone number at 1 place");
    assertThat(scan("call +44 20 7946 0958").isHit()).isTrue();
    assertThat(scan("call 415-555-2671").isHit()).isTrue();
    assertThat(scan("call (415) 555 2671").isHit()).isTrue();
    assertThat(scan("bel 06 12 34 56 78").isHit()).isTrue();
    assertThat(scan("bel 0612345678").isHit()).isTrue();
    assertThat(scan("call 0049 30 901820").isHit()).isTrue();
    assertThat(scan("call +49 30\n9018 20").isHit()).isTrue(); // split across lines
    GuardrailResult r = scan("call +1 415 555 2671");
    assertThat(r.evidence()).endsWith("71").doesNotContain("555");
    assertThat(redacted("call +1 415 555 2671", r)).isEqualTo("call [REDACTED:phone]");
    // dates, times, versions, amounts are not phones
    assertThat(scan("on 2024-05-17 10:30, version 1.2.3, total 1,234.56, ip 192.168.100.100").isHit()).isFalse();
  }

  @Test
  void nationalIds() {
    assertThat(scan("ssn 123-45-6789").reason()).isEqualTo("US social security number at 1 place");
    assertThat(scan("ssn 123-45-6789").evidence()).isEqualTo("***-**-6789");
    assertThat(scan("ssn 000-45-6789").isHit()).isFalse();
    assertThat(scan("ssn 666-45-6789").isHit()).isFalse();
    assertThat(scan("nino AB 12 34 56 C").reason()).isEqualTo("UK National Insurance number at 1 place");
    assertThat(scan("nino GB123456A").isHit()).isFalse(); // invalid prefix
    assertThat(scan("dni 12345678Z").reason()).isEqualTo("Spanish DNI at 1 place");
    assertThat(scan("dni 12345678A").isHit()).isFalse(); // wrong check letter
    assertThat(scan("nie X1234567L").reason()).isEqualTo("Spanish NIE at 1 place");
    // BSN is opt-in
    assertThat(scan("bsn 111222333").isHit()).isFalse();
    assertThat(scan("{\"nationalIds\": [\"nl_bsn\"]}", "bsn 111222333").reason())
        .isEqualTo("Dutch BSN (eleven-test) at 1 place");
    assertThat(scan("{\"nationalIds\": [\"nl_bsn\"]}", "bsn 111222334").isHit()).isFalse();
    // only what is asked for
    assertThat(scan("{\"nationalIds\": []}", "ssn 123-45-6789").isHit()).isFalse();
  }

  @Test
  void customIdsAndKinds() {
    GuardrailResult r = scan("{\"customIds\": [{\"name\": \"employee id\", \"pattern\": \"EMP-\\\\d{6}\"}]}",
        "ask EMP-123456 or EMP-654321");
    assertThat(r.reason()).isEqualTo("employee id at 2 places");
    assertThat(r.evidence()).doesNotContain("123456");
    assertThat(scan("{\"kinds\": [\"email\"]}", "4111 1111 1111 1111").isHit()).isFalse();
    assertThatThrownBy(() -> scan("{\"kinds\": [\"dna\"]}", "x")).hasMessageContaining("unknown PII kind");
    assertThatThrownBy(() -> scan("{\"nationalIds\": [\"xx_id\"]}", "x")).hasMessageContaining("unknown national ID");
  }

  @Test
  void severalKindsInOneReason() {
    GuardrailResult r = scan("mail a.b@example.com, card 5500 0000 0000 0004, mail c@example.org");
    assertThat(r.reason()).isEqualTo("e-mail address at 2 places, credit card number (Luhn-valid) at 1 place");
    assertThat(r.spans()).hasSize(3);
  }

  @Test
  void hugeInputWithPiiAtTheEndIsFoundQuickly() {
    StringBuilder sb = new StringBuilder();
    String filler = "Lorem ipsum dolor sit amet, 12 consectetur 3.14 adipiscing elit @ 2024-01-01; ";
    while (sb.length() < 5_000_000) {
      sb.append(filler);
    }
    sb.append("\ncard 4111 1111 1111 1111, mail someone@example.com");
    String big = sb.toString();
    long t0 = System.nanoTime();
    GuardrailResult r = scan(big);
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(r.reason()).isEqualTo("credit card number (Luhn-valid) at 1 place, e-mail address at 1 place");
    assertThat(took).isLessThan(Duration.ofSeconds(30));
  }

  @Test
  void pathologicalInputsStayFast() {
    List<String> inputs = List.of("@".repeat(1_000_000), "a@".repeat(500_000), "1 ".repeat(500_000),
        "1".repeat(1_000_000), "DE89".repeat(250_000), "a.".repeat(500_000) + "@x");
    for (String in : inputs) {
      long t0 = System.nanoTime();
      scan(in);
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("input starting %s", in.substring(0, 10))
          .isLessThan(Duration.ofSeconds(20));
    }
  }

  @Test
  void redactAllScrubsText() {
    assertThat(PiiGuardrail.redactAll("contains card 4111111111111111 of bob@example.com"))
        .isEqualTo("contains card [REDACTED:credit_card] of [REDACTED:email]");
  }
}
