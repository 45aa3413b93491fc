package io.turnpike.guardrail.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.spi.GuardrailSpecs;
import io.turnpike.guardrail.text.BoundedCharSequence;
import io.turnpike.guardrail.text.KeywordMatcher;
import io.turnpike.guardrail.text.NormalizedText;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * {@code type: prompt_injection} — heuristics for instructions smuggled into content the model will
 * read, meant for tool outputs (web pages, documents, e-mails). Each signal found adds its weight; the
 * guardrail hits when the score reaches the threshold. Matching runs on the normalised, lower-cased
 * text, so look-alike letters and zero-width characters do not hide a phrase; text hidden in Unicode
 * tag characters is decoded and counted as a signal of its own.
 *
 * <p>Signals (weight): ignore-previous-instructions (1), role-override (1), system-prompt-request (1),
 * chat-template-markers (1), conceal-from-user (1), hidden-tag-characters (1), new-instructions (0.5),
 * role-prefix-lines (0.5), exfiltration (0.5), tool-coercion (0.5), html-comment-instructions (0.5),
 * invisible-characters (0.5, ten or more).
 *
 * <pre>
 * configJson: {"threshold": 1.0, "disabled": ["role-prefix-lines"],
 *              "extraPatterns": [{"name": "acme-override", "pattern": "acme override code", "weight": 1}]}
 * </pre>
 * With {@code action: REDACT} the whole content is withheld (replaced by a marker).
 */
public final class PromptInjectionGuardrail implements Guardrail {

  /**
   * A signal: a pattern and the words its matches start with. Where there are such words, the pattern is
   * only tried where one of them occurs (found for all signals at once, in one linear pass), which keeps
   * megabytes of benign text cheap; a signal without them is searched for everywhere.
   */
  record Signal(String name, double weight, List<String> triggers, Pattern pattern) {}

  private static Signal signal(String name, double weight, String triggers, String regex) {
    return new Signal(name, weight, triggers.isEmpty() ? List.of() : List.of(triggers.split(",")),
        Pattern.compile(regex));
  }

  static final List<Signal> SIGNALS = List.of(
      signal("ignore-previous-instructions", 1.0, "ignore,disregard,forget,override,bypass,neglect",
          "\\b(?:ignore|disregard|forget|override|bypass|neglect)\\b[^.\\n!?]{0,30}?"
              + "\\b(?:previous|prior|above|earlier|preceding|all|any|your|system|original|developer)\\b[^.\\n!?]{0,30}?"
              + "\\b(?:instructions?|prompts?|rules|directives|guidelines|guardrails|messages?)\\b"),
      signal("role-override", 1.0, "you are now,developer mode,jailbreak,do anything now",
          "\\byou\\s{1,3}are\\s{1,3}now\\s{1,3}(?:an?\\s{1,3})?(?:unrestricted|unfiltered|uncensored|jailbroken|dan\\b|evil|"
              + "in\\s{1,3}developer\\s{1,3}mode)|\\bdeveloper\\s{1,3}mode\\s{1,3}(?:enabled|activated|on)\\b"
              + "|\\bjailbreak(?:ed|ing)?\\b|\\bdo\\s{1,3}anything\\s{1,3}now\\b"),
      signal("system-prompt-request", 1.0, "reveal,print,show,repeat,output,leak,disclose,display,dump",
          "\\b(?:reveal|print|show|repeat|output|leak|disclose|display|dump)\\b[^.\\n]{0,30}?"
              + "\\b(?:system\\s{1,3}prompt|system\\s{1,3}message|hidden\\s{1,3}instructions|initial\\s{1,3}instructions"
              + "|developer\\s{1,3}message)"),
      signal("chat-template-markers", 1.0, "<|,[inst],[/inst],<<,<system,</system,< system,</ system",
          "<\\|(?:im_start|im_end|system|assistant|user|endoftext)\\|>|\\[/?inst\\]|<<\\s{0,3}sys\\s{0,3}>>"
              + "|</?\\s{0,3}system\\s{0,3}>"),
      signal("conceal-from-user", 1.0, "do not,don't,never,without",
          "\\b(?:do\\s{1,3}not|don't|never)\\s{1,3}(?:tell|inform|notify|alert|let)\\s{1,3}(?:the\\s{1,3})?user\\b"
              + "|\\b(?:do\\s{1,3}not|don't|never)\\s{1,3}(?:mention|reveal|show)\\s{1,3}(?:this|it|that)\\s{1,3}to\\s{1,3}(?:the\\s{1,3})?user\\b"
              + "|\\bwithout\\s{1,3}(?:telling|informing|notifying|alerting|asking)\\s{1,3}the\\s{1,3}user\\b"),
      signal("new-instructions", 0.5, "new,updated,real,actual,additional,override,important,from now on",
          "\\b(?:new|updated|real|actual|additional|override|important)\\s{1,3}(?:system\\s{1,3})?instructions?\\s{0,3}:"
              + "|\\bfrom\\s{1,3}now\\s{1,3}on,?\\s{1,3}you\\s{1,3}(?:will|must|are|should)\\b"),
      signal("role-prefix-lines", 0.5, "",
          "(?m)^[ \\t#>*]{0,6}(?:system|assistant|developer)\\s{0,2}:"),
      signal("exfiltration", 0.5, "![,send,post,upload,forward,transmit,exfiltrate,leak",
          "!\\[[^\\]\\n]{0,100}\\]\\(\\s{0,3}https?://[^)\\s?]{1,300}\\?[^)\\s]{0,300}="
              + "|\\b(?:send|post|upload|forward|transmit|exfiltrate|leak)\\b[^.\\n]{0,60}?\\b(?:to|at)\\s{1,3}"
              + "(?:https?://|[a-z0-9._+-]{1,64}@)"),
      signal("tool-coercion", 0.5, "immediately,now,silently,secretly,call,invoke,run,execute",
          "\\b(?:immediately|now|silently|secretly)\\s{1,3}(?:call|invoke|run|execute)\\b"
              + "|\\b(?:call|invoke|run|execute)\\s{1,3}(?:the\\s{1,3})?[a-z_]{1,40}\\s{1,3}(?:tool|function)\\s{1,3}(?:with|now)\\b"),
      signal("html-comment-instructions", 0.5, "<!--",
          "<!--[^>]{0,500}?\\b(?:instruction|ignore|assistant|system|prompt)"));

  /** How far past its trigger word a signal's match may reach. */
  private static final int WINDOW = 1200;
  private static final int MAX_PER_SIGNAL = 1000;

  private final List<Signal> signals;
  private final KeywordMatcher triggers;
  private final int[] triggerSignal;
  private final double threshold;
  private final boolean hiddenTags;
  private final boolean invisible;
  private final String marker;

  private PromptInjectionGuardrail(List<Signal> signals, double threshold, boolean hiddenTags, boolean invisible,
      String marker) {
    this.signals = signals;
    List<String> words = new ArrayList<>();
    List<Integer> owners = new ArrayList<>();
    for (int i = 0; i < signals.size(); i++) {
      for (String t : signals.get(i).triggers()) {
        words.add(t);
        owners.add(i);
      }
    }
    this.triggers = words.isEmpty() ? null : KeywordMatcher.of(words);
    this.triggerSignal = owners.stream().mapToInt(Integer::intValue).toArray();
    this.threshold = threshold;
    this.hiddenTags = hiddenTags;
    this.invisible = invisible;
    this.marker = marker;
  }

  public static PromptInjectionGuardrail create(GuardrailSpec spec) {
    ObjectNode c = GuardrailSpecs.config(spec);
    Set<String> disabled = new HashSet<>();
    for (String d : GuardrailSpecs.strings(c, "disabled")) {
      disabled.add(d.trim().toLowerCase(Locale.ROOT));
    }
    List<Signal> signals = new ArrayList<>();
    for (Signal s : SIGNALS) {
      if (!disabled.contains(s.name())) {
        signals.add(s);
      }
    }
    JsonNode extra = c.get("extraPatterns");
    if (extra != null && !extra.isNull()) {
      if (!extra.isArray()) {
        throw new IllegalArgumentException("'extraPatterns' must be a list of {name, pattern, weight}");
      }
      for (JsonNode e : extra) {
        if (!e.hasNonNull("name") || !e.hasNonNull("pattern")) {
          throw new IllegalArgumentException("each extra pattern needs 'name' and 'pattern'");
        }
        try {
          signals.add(new Signal(e.get("name").asText(), e.path("weight").asDouble(1.0), List.of(),
              Pattern.compile(e.get("pattern").asText(), Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE)));
        } catch (PatternSyntaxException ex) {
          throw new IllegalArgumentException("extra pattern '" + e.get("name").asText()
              + "' is not a valid regular expression: " + ex.getDescription());
        }
      }
    }
    double threshold = GuardrailSpecs.decimal(c, "threshold", 1.0);
    if (threshold <= 0) {
      throw new IllegalArgumentException("'threshold' must be > 0");
    }
    return new PromptInjectionGuardrail(List.copyOf(signals), threshold, !disabled.contains("hidden-tag-characters"),
        !disabled.contains("invisible-characters"),
        GuardrailSpecs.text(c, "replacement", "[content withheld by guardrail '" + spec.getName()
            + "': possible prompt injection]"));
  }

  @Override
  public GuardrailResult evaluate(GuardrailContext context) {
    NormalizedText nt = context.normalized();
    String text = nt.lower();
    double score = 0;
    List<String> found = new ArrayList<>();
    if (hiddenTags && nt.tagCount() > 0) {
      score += 1.0;
      found.add("hidden-tag-characters x" + nt.tagCount());
    }
    if (invisible && nt.removedCount() >= 10) {
      score += 0.5;
      found.add("invisible-characters x" + nt.removedCount());
    }
    int[] counts = new int[signals.size()];
    BoundedCharSequence bounded =
        new BoundedCharSequence(text, BoundedCharSequence.regexBudget(text.length()), context.deadlineNanos());
    if (triggers != null) {
      int lastStart[] = new int[signals.size()];
      java.util.Arrays.fill(lastStart, -1);
      for (KeywordMatcher.Hit h : triggers.find(text, false, 500_000)) {
        int sig = triggerSignal[h.keyword()];
        if (counts[sig] >= MAX_PER_SIGNAL || h.start() == lastStart[sig]) {
          continue;
        }
        Matcher m = signals.get(sig).pattern().matcher(bounded);
        m.useTransparentBounds(true).useAnchoringBounds(false);
        m.region(h.start(), Math.min(text.length(), h.start() + WINDOW));
        if (m.lookingAt()) {
          counts[sig]++;
          lastStart[sig] = h.start();
        }
      }
    }
    for (int i = 0; i < signals.size(); i++) {
      if (signals.get(i).triggers().isEmpty()) {
        Matcher m = signals.get(i).pattern().matcher(bounded);
        while (counts[i] < MAX_PER_SIGNAL && m.find()) {
          counts[i]++;
        }
      }
      if (counts[i] > 0) {
        score += signals.get(i).weight();
        found.add(signals.get(i).name() + (counts[i] > 1 ? " x" + counts[i] : ""));
      }
    }
    if (score < threshold) {
      return GuardrailResult.pass();
    }
    String signalsSeen = String.join(", ", found);
    return GuardrailResult.hitWithRewrite("possible prompt injection (score " + score + " >= " + threshold + "): "
        + signalsSeen, signalsSeen, ignored -> marker);
  }
}
