package io.turnpike.guardrail.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.spi.GuardrailSpecs;
import io.turnpike.guardrail.text.NormalizedText;
import io.turnpike.guardrail.text.TextNormalizer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * {@code type: pii} — personal data: e-mail addresses, phone numbers, credit card numbers (Luhn),
 * IBANs (mod 97), national IDs. Block it ({@code action: BLOCK}) or redact it ({@code action: REDACT}:
 * each finding becomes {@code [REDACTED:<type>]}). See {@link PiiScanner} for what is recognised.
 *
 * <pre>
 * configJson: {
 *   "kinds": ["email", "phone", "credit_card", "iban", "national_id"],   // default: all
 *   "nationalIds": ["us_ssn", "uk_nino", "es_dni"],                        // default; also "nl_bsn"
 *   "customIds": [{"name": "employee id", "pattern": "EMP-\\d{6}"}],
 *   "cardRequiresKnownPrefix": true,
 *   "replacement": "[REDACTED:{type}]"
 * }
 * </pre>
 */
public final class PiiGuardrail implements Guardrail {
  private final PiiScanner.Options options;
  private final String replacement;

  PiiGuardrail(PiiScanner.Options options, String replacement) {
    this.options = options;
    this.replacement = replacement;
  }

  public static PiiGuardrail create(GuardrailSpec spec) {
    ObjectNode c = GuardrailSpecs.config(spec);
    Set<PiiScanner.Kind> kinds = EnumSet.noneOf(PiiScanner.Kind.class);
    List<String> kindNames = GuardrailSpecs.strings(c, "kinds");
    if (kindNames.isEmpty()) {
      kinds = EnumSet.allOf(PiiScanner.Kind.class);
    } else {
      for (String k : kindNames) {
        kinds.add(PiiScanner.Kind.parse(k));
      }
    }
    Set<String> ids = new LinkedHashSet<>();
    if (c.has("nationalIds")) {
      for (String id : GuardrailSpecs.strings(c, "nationalIds")) {
        String v = id.trim().toLowerCase(Locale.ROOT).replace('-', '_');
        if (!PiiScanner.NATIONAL_IDS.contains(v)) {
          throw new IllegalArgumentException("unknown national ID '" + id + "' (known: us_ssn, uk_nino, es_dni, nl_bsn;"
              + " add others under customIds)");
        }
        ids.add(v);
      }
    } else {
      ids.addAll(PiiScanner.DEFAULT_NATIONAL_IDS);
    }
    List<PiiScanner.CustomId> custom = new ArrayList<>();
    JsonNode cn = c.get("customIds");
    if (cn != null && !cn.isNull()) {
      if (!cn.isArray()) {
        throw new IllegalArgumentException("'customIds' must be a list of {name, pattern}");
      }
      for (JsonNode e : cn) {
        if (!e.hasNonNull("name") || !e.hasNonNull("pattern")) {
          throw new IllegalArgumentException("each custom ID needs 'name' and 'pattern'");
        }
        try {
          custom.add(new PiiScanner.CustomId(e.get("name").asText(), Pattern.compile(e.get("pattern").asText())));
        } catch (PatternSyntaxException ex) {
          throw new IllegalArgumentException("custom ID '" + e.get("name").asText() + "' is not a valid regular expression: "
              + ex.getDescription());
        }
      }
      if (!custom.isEmpty()) {
        kinds.add(PiiScanner.Kind.NATIONAL_ID);
      }
    }
    boolean prefix = GuardrailSpecs.bool(c, "cardRequiresKnownPrefix", true);
    return new PiiGuardrail(new PiiScanner.Options(kinds, Set.copyOf(ids), List.copyOf(custom), prefix, 10_000),
        GuardrailSpecs.text(c, "replacement", "[REDACTED:{type}]"));
  }

  /** Redacts every finding of the default options in {@code text} (used to clean model-written reasons). */
  public static String redactAll(String text) {
    NormalizedText nt = TextNormalizer.normalize(text);
    List<PiiScanner.Match> matches = PiiScanner.scan(nt, PiiScanner.Options.defaults(), System.nanoTime() + 1_000_000_000L);
    StringBuilder sb = new StringBuilder();
    int pos = 0;
    for (PiiScanner.Match m : matches) {
      int s = nt.originalStart(m.start());
      int e = nt.originalEnd(m.end());
      if (s < pos) {
        continue;
      }
      sb.append(text, pos, s).append("[REDACTED:").append(m.type()).append(']');
      pos = e;
    }
    return sb.append(text, pos, text.length()).toString();
  }

  @Override
  public GuardrailResult evaluate(GuardrailContext context) {
    NormalizedText nt = context.normalized();
    List<PiiScanner.Match> matches = PiiScanner.scan(nt, options, context.deadlineNanos());
    if (matches.isEmpty()) {
      return GuardrailResult.pass();
    }
    List<String> labels = new ArrayList<>();
    List<String> evidence = new ArrayList<>();
    List<GuardrailResult.Span> spans = new ArrayList<>();
    for (PiiScanner.Match m : matches) {
      labels.add(m.label());
      evidence.add(m.evidence());
      spans.add(new GuardrailResult.Span(nt.originalStart(m.start()), nt.originalEnd(m.end()),
          Texts.fill(replacement, Map.of("type", m.type(), "kind", m.type()))));
    }
    if (matches.size() >= options.maxMatches()) {
      // Past the cap the rest of the text was not scanned: never hand it back as if clean.
      return GuardrailResult.hit(Texts.countByLabel(labels) + " and possibly more (scan stopped at "
          + options.maxMatches() + " findings)", Texts.evidence(evidence));
    }
    return GuardrailResult.hit(Texts.countByLabel(labels), Texts.evidence(evidence), spans);
  }
}
