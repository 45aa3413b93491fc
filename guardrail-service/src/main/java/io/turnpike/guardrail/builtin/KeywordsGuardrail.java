package io.turnpike.guardrail.builtin;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.spi.GuardrailSpecs;
import io.turnpike.guardrail.text.KeywordMatcher;
import io.turnpike.guardrail.text.Masks;
import io.turnpike.guardrail.text.NormalizedText;
import io.turnpike.guardrail.text.TextNormalizer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code type: keywords} — a deny list of words and phrases, matched all at once (Aho-Corasick, linear
 * in the text) on the normalised text, so {@code pаsswоrd} with Cyrillic letters, {@code p\u200Bassword}
 * or {@code ＰＡＳＳＷＯＲＤ} match {@code password}; whitespace runs match any whitespace.
 *
 * <pre>
 * configJson: {"words": ["password", "drop table"], "ignoreCase": true, "wholeWord": true,
 *              "normalize": true, "replacement": "[REDACTED]"}
 * </pre>
 */
public final class KeywordsGuardrail implements Guardrail {
  static final int MAX_HITS = 10_000;
  private final KeywordMatcher matcher;
  private final boolean ignoreCase;
  private final boolean wholeWord;
  private final boolean normalize;
  private final String replacement;

  private KeywordsGuardrail(KeywordMatcher matcher, boolean ignoreCase, boolean wholeWord, boolean normalize,
      String replacement) {
    this.matcher = matcher;
    this.ignoreCase = ignoreCase;
    this.wholeWord = wholeWord;
    this.normalize = normalize;
    this.replacement = replacement;
  }

  public static KeywordsGuardrail create(GuardrailSpec spec) {
    ObjectNode c = GuardrailSpecs.config(spec);
    List<String> words = new ArrayList<>(GuardrailSpecs.strings(c, "words"));
    words.addAll(GuardrailSpecs.strings(c, "keywords"));
    if (words.isEmpty()) {
      throw new IllegalArgumentException("a keywords guardrail needs 'words'");
    }
    boolean ignoreCase = GuardrailSpecs.bool(c, "ignoreCase", true);
    boolean normalize = GuardrailSpecs.bool(c, "normalize", true);
    List<String> prepared = new ArrayList<>();
    for (String w : words) {
      NormalizedText nt = normalize ? TextNormalizer.normalize(w) : NormalizedText.identity(w);
      prepared.add(ignoreCase ? nt.lower() : nt.text());
    }
    return new KeywordsGuardrail(KeywordMatcher.of(prepared), ignoreCase, GuardrailSpecs.bool(c, "wholeWord", true),
        normalize, GuardrailSpecs.text(c, "replacement", "[REDACTED]"));
  }

  @Override
  public GuardrailResult evaluate(GuardrailContext context) {
    NormalizedText nt = normalize ? context.normalized() : NormalizedText.identity(context.content());
    String text = ignoreCase ? nt.lower() : nt.text();
    List<KeywordMatcher.Hit> hits = matcher.find(text, wholeWord, MAX_HITS);
    if (hits.isEmpty()) {
      return GuardrailResult.pass();
    }
    Set<String> distinct = new LinkedHashSet<>();
    List<GuardrailResult.Span> spans = new ArrayList<>();
    for (KeywordMatcher.Hit h : hits) {
      distinct.add(Masks.generic(matcher.keyword(h.keyword())));
      spans.add(new GuardrailResult.Span(nt.originalStart(h.start()), nt.originalEnd(h.end()), replacement));
    }
    String reason = "deny-listed keyword at " + Texts.places(hits.size())
        + (distinct.size() > 1 ? " (" + distinct.size() + " different)" : "");
    if (hits.size() >= MAX_HITS) {
      // Not every occurrence was found: redaction must withhold the whole content.
      return GuardrailResult.hit(reason + " and possibly more", Texts.evidence(distinct));
    }
    return GuardrailResult.hit(reason, Texts.evidence(distinct), spans);
  }
}
