package io.turnpike.guardrail.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.spi.GuardrailSpecs;
import io.turnpike.guardrail.text.BoundedCharSequence;
import io.turnpike.guardrail.text.Masks;
import io.turnpike.guardrail.text.NormalizedText;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * {@code type: regex} — a deny list of regular expressions.
 *
 * <pre>
 * configJson: {
 *   "patterns": ["AKIA[0-9A-Z]{16}", {"name": "private key", "pattern": "-----BEGIN [A-Z ]*PRIVATE KEY-----"}],
 *   "pattern": "...",            // one more, optional
 *   "ignoreCase": false,
 *   "normalize": true,           // match the normalised text (look-alikes, invisible characters)
 *   "replacement": "[REDACTED:{name}]"
 * }
 * </pre>
 * The input is read through a {@link BoundedCharSequence}: a pattern that backtracks without end
 * fails with a work-limit error (handled by the fail policy) instead of hanging the service.
 */
public final class RegexGuardrail implements Guardrail {
  record Rule(String name, Pattern pattern) {}

  static final int MAX_MATCHES = 10_000;

  private final List<Rule> rules;
  private final boolean normalize;
  private final String replacement;

  RegexGuardrail(List<Rule> rules, boolean normalize, String replacement) {
    this.rules = rules;
    this.normalize = normalize;
    this.replacement = replacement;
  }

  public static RegexGuardrail create(GuardrailSpec spec) {
    ObjectNode c = GuardrailSpecs.config(spec);
    boolean ignoreCase = GuardrailSpecs.bool(c, "ignoreCase", false);
    int flags = ignoreCase ? Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE : 0;
    List<Rule> rules = new ArrayList<>();
    List<JsonNode> entries = new ArrayList<>();
    if (c.hasNonNull("pattern")) {
      entries.add(c.get("pattern"));
    }
    if (c.hasNonNull("patterns")) {
      if (!c.get("patterns").isArray()) {
        throw new IllegalArgumentException("'patterns' must be a list");
      }
      c.get("patterns").forEach(entries::add);
    }
    for (JsonNode e : entries) {
      String name;
      String regex;
      if (e.isTextual()) {
        regex = e.asText();
        name = "pattern #" + (rules.size() + 1);
      } else if (e.isObject() && e.hasNonNull("pattern")) {
        regex = e.get("pattern").asText();
        name = e.hasNonNull("name") ? e.get("name").asText() : "pattern #" + (rules.size() + 1);
      } else {
        throw new IllegalArgumentException("each pattern must be a string or {name, pattern}");
      }
      if (regex.isEmpty()) {
        throw new IllegalArgumentException(name + " is empty");
      }
      try {
        rules.add(new Rule(name, Pattern.compile(regex, flags)));
      } catch (PatternSyntaxException ex) {
        throw new IllegalArgumentException(name + " is not a valid regular expression: " + ex.getDescription());
      }
    }
    if (rules.isEmpty()) {
      throw new IllegalArgumentException("a regex guardrail needs 'pattern' or 'patterns'");
    }
    return new RegexGuardrail(List.copyOf(rules), GuardrailSpecs.bool(c, "normalize", true),
        GuardrailSpecs.text(c, "replacement", "[REDACTED:{name}]"));
  }

  @Override
  public GuardrailResult evaluate(GuardrailContext context) {
    NormalizedText nt = normalize ? context.normalized() : NormalizedText.identity(context.content());
    String text = nt.text();
    List<String> labels = new ArrayList<>();
    List<String> evidence = new ArrayList<>();
    List<GuardrailResult.Span> spans = new ArrayList<>();
    for (Rule r : rules) {
      Matcher m = r.pattern().matcher(
          new BoundedCharSequence(text, BoundedCharSequence.regexBudget(text.length()), context.deadlineNanos()));
      while (spans.size() < MAX_MATCHES && m.find()) {
        if (m.end() == m.start()) {
          continue;
        }
        int s = nt.originalStart(m.start());
        int e = nt.originalEnd(m.end());
        labels.add("'" + r.name() + "'");
        if (evidence.size() < Texts.MAX_EVIDENCE_ITEMS * 4) {
          evidence.add(Masks.generic(context.content().substring(s, e)));
        }
        spans.add(new GuardrailResult.Span(s, e, Texts.fill(replacement, Map.of("name", r.name()))));
      }
    }
    if (spans.isEmpty()) {
      return GuardrailResult.pass();
    }
    String reason = "deny pattern " + Texts.countByLabel(labels);
    if (spans.size() >= MAX_MATCHES) {
      // Not every match was found: redaction must withhold the whole content.
      return GuardrailResult.hit(reason + " and possibly more", Texts.evidence(evidence));
    }
    return GuardrailResult.hit(reason, Texts.evidence(evidence), spans);
  }
}
