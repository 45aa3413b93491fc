package io.turnpike.guardrail;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailFinding;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.guardrail.builtin.Builtins;
import io.turnpike.guardrail.builtin.LlmSettings;
import io.turnpike.guardrail.builtin.ModelClassifier;
import io.turnpike.guardrail.spi.FailPolicy;
import io.turnpike.guardrail.spi.Guardrail;
import io.turnpike.guardrail.spi.GuardrailContext;
import io.turnpike.guardrail.spi.GuardrailProvider;
import io.turnpike.guardrail.spi.GuardrailResult;
import io.turnpike.guardrail.spi.GuardrailSpecs;
import io.turnpike.guardrail.text.Glob;
import io.turnpike.guardrail.text.NormalizedText;
import io.turnpike.guardrail.text.WorkLimitExceeded;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Judges a {@link GuardrailCheck}: pure apart from the calls model guardrails make, no Kafka. Every
 * guardrail of the check is evaluated; the verdict combines them:
 *
 * <ul>
 *   <li>each hit's outcome comes from its spec's action and the stage: BLOCK → TRIP; REDACT → REDACT
 *       (REJECT on TOOL_INPUT, where redacting arguments makes no sense); REJECT → REJECT on TOOL_INPUT,
 *       TRIP elsewhere;
 *   <li>the verdict's outcome is the most severe (TRIP &gt; REJECT &gt; REDACT &gt; ALLOW); its
 *       guardrail and reason are those of the first guardrail (in declaration order) with that outcome;
 *   <li>content: the original on ALLOW; on REDACT the original with every redacting guardrail's
 *       redactions applied (spans first, merged, then rewrites in declaration order); on REJECT the
 *       message for the model (the deciding guardrail's {@code message}, or a default); null on TRIP;
 *   <li>findings: one per guardrail that hit, plus ALLOW findings for guardrails let through by a
 *       fail-open policy; evidence is always redacted.
 * </ul>
 * Slow guardrails (model-based) run on virtual threads alongside the rule guardrails, which run on
 * the caller's thread; the whole check is bounded by its deadline less the configured margin. A
 * guardrail that is unknown or misconfigured trips the check (or is ignored under
 * {@code unknown-type: open}); one that throws or runs out of time follows its fail policy.
 *
 * <p>Built guardrails are cached per declaration (up to 1,024), so regexes, keyword automata and
 * schemas are compiled once. Thread-safe.
 */
public final class GuardrailEngine implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GuardrailEngine.class);

  /** Name used in verdicts for decisions of the service itself (content too large). */
  public static final String SERVICE = "guardrail-service";
  private static final int CACHE_SIZE = 1024;
  private static final Duration MIN_TIME = Duration.ofMillis(50);

  private final Map<String, GuardrailProvider> providers;
  private final FailPolicy unknownType;
  private final FailPolicy onError;
  private final int maxContentChars;
  private final Duration deadlineMargin;
  private final ModelClassifier classifier;
  private final ExecutorService slowPool =
      Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("turnpike-guardrail-slow-", 0).factory());
  private final Map<SpecKey, Resolved> cache = Collections.synchronizedMap(new LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<SpecKey, Resolved> eldest) {
      return size() > CACHE_SIZE;
    }
  });

  private record SpecKey(String name, GuardrailStage stage, String type, GuardrailAction action, List<String> tools,
      String configJson) {
    static SpecKey of(GuardrailSpec s) {
      return new SpecKey(s.getName(), s.getStage(), s.getType(), s.getAction(), List.copyOf(s.getTools()),
          s.getConfigJson());
    }
  }

  /** A declaration turned into a guardrail, or why it could not be. */
  private sealed interface Resolved permits Ready, Unusable {}

  private record Ready(Guardrail guardrail) implements Resolved {}

  private record Unusable(String reason) implements Resolved {}

  /** One guardrail's contribution to the verdict. */
  private record Finding(GuardrailSpec spec, GuardrailOutcome outcome, String reason, String evidence,
      GuardrailResult result) {}

  private GuardrailEngine(Builder b) {
    this.unknownType = b.unknownType;
    this.onError = b.onError;
    this.maxContentChars = b.maxContentChars;
    this.deadlineMargin = b.deadlineMargin;
    this.classifier = new ModelClassifier(b.llm);
    if (b.llm.warmUp()) {
      Thread.ofVirtual().name("turnpike-guardrail-warm-up").start(classifier::warmUp);
    }
    Map<String, GuardrailProvider> map = new LinkedHashMap<>();
    for (GuardrailProvider p : Builtins.providers(classifier)) {
      map.put(key(p.type()), p);
    }
    List<GuardrailProvider> extra = new ArrayList<>(b.providers);
    if (b.discover) {
      extra.addAll(discover(b.classLoader));
    }
    for (GuardrailProvider p : extra) {
      String type;
      try {
        type = key(p.type());
      } catch (RuntimeException e) {
        log.warn("ignoring guardrail provider {}: type() failed: {}", p.getClass().getName(), e.toString());
        continue;
      }
      if (type.isEmpty()) {
        log.warn("ignoring guardrail provider {}: empty type", p.getClass().getName());
      } else if (Builtins.TYPES.contains(type)) {
        log.warn("ignoring guardrail provider {}: '{}' is a built-in type", p.getClass().getName(), type);
      } else if (map.putIfAbsent(type, p) != null) {
        log.warn("ignoring guardrail provider {}: type '{}' is already provided by {}", p.getClass().getName(), type,
            map.get(type).getClass().getName());
      } else {
        log.info("custom guardrail type '{}' from {}", type, p.getClass().getName());
      }
    }
    this.providers = Map.copyOf(map);
  }

  private static List<GuardrailProvider> discover(ClassLoader loader) {
    List<GuardrailProvider> found = new ArrayList<>();
    var it = ServiceLoader.load(GuardrailProvider.class, loader).iterator();
    while (true) {
      try {
        if (!it.hasNext()) {
          break;
        }
        found.add(it.next());
      } catch (ServiceConfigurationError e) {
        log.warn("cannot load a guardrail provider: {}", e.getMessage());
      }
    }
    return found;
  }

  static String key(String type) {
    return type == null ? "" : type.trim().toLowerCase(Locale.ROOT).replace('-', '_');
  }

  public static Builder builder() {
    return new Builder();
  }

  /** An engine configured from {@code config}, with custom providers found by ServiceLoader. */
  public static GuardrailEngine create(GuardrailConfig config) {
    return builder().unknownType(config.unknownType()).onError(config.onError())
        .maxContentChars(config.maxContentChars()).deadlineMargin(config.deadlineMargin()).llm(config.model())
        .build();
  }

  /** Every type this engine knows, built-in and custom. */
  public Set<String> types() {
    return new TreeSet<>(providers.keySet());
  }

  // ------------------------------------------------------------------ evaluation

  /**
   * Whether judging {@code check} needs nothing but this thread: every guardrail that applies is one this
   * engine has and is a rule (not {@link Guardrail#slow() slow}, i.e. no model call). A guardrail it
   * cannot build (unknown type, bad configuration) makes it false, so the service that owns the check
   * decides by its own policy and providers.
   */
  public boolean inline(GuardrailCheck check) {
    for (GuardrailSpec spec : check.getGuardrails()) {
      if (!applies(spec, check.getStage(), check.getToolName())) {
        continue;
      }
      if (!(resolve(spec) instanceof Ready ready) || isSlow(ready.guardrail())) {
        return false;
      }
    }
    return true;
  }

  /** The verdict on {@code check}. Never throws for bad guardrails or content; it can be interrupted. */
  public GuardrailVerdict evaluate(GuardrailCheck check) throws InterruptedException {
    long t0 = System.nanoTime();
    GuardrailStage stage = check.getStage();
    String content = check.getContent() == null ? "" : check.getContent();
    Instant deadline = evaluationDeadline(check.getDeadline());
    long deadlineNanos = t0 + Math.max(0, Duration.between(Instant.now(), deadline).toNanos());

    List<GuardrailSpec> applicable = new ArrayList<>();
    for (GuardrailSpec spec : check.getGuardrails()) {
      if (applies(spec, stage, check.getToolName())) {
        applicable.add(spec);
      }
    }
    List<Finding> findings = new ArrayList<>();
    if (!applicable.isEmpty() && content.length() > maxContentChars) {
      findings.add(new Finding(null, GuardrailOutcome.TRIP, "content of " + content.length()
          + " characters exceeds the " + maxContentChars + " the guardrail service checks", null, null));
    } else if (!applicable.isEmpty()) {
      findings = evaluateAll(check, stage, content, applicable, deadline, deadlineNanos);
    }
    GuardrailVerdict verdict = verdict(check, stage, content, findings);
    verdict.setDurationMs(Duration.ofNanos(System.nanoTime() - t0).toMillis());
    return verdict;
  }

  private Instant evaluationDeadline(Instant checkDeadline) {
    Instant now = Instant.now();
    Instant floor = now.plus(MIN_TIME);
    if (checkDeadline == null) {
      return now.plusSeconds(60);
    }
    Instant d = checkDeadline.minus(deadlineMargin);
    if (d.isBefore(floor)) {
      d = checkDeadline.isAfter(floor) ? checkDeadline : floor;
    }
    return d;
  }

  static boolean applies(GuardrailSpec spec, GuardrailStage stage, String toolName) {
    if (spec.getStage() != stage) {
      return false;
    }
    if ((stage == GuardrailStage.TOOL_INPUT || stage == GuardrailStage.TOOL_OUTPUT) && !spec.getTools().isEmpty()) {
      return toolName != null && Glob.anyMatches(spec.getTools(), toolName);
    }
    return true;
  }

  private List<Finding> evaluateAll(GuardrailCheck check, GuardrailStage stage, String content,
      List<GuardrailSpec> specs, Instant deadline, long deadlineNanos) throws InterruptedException {
    Supplier<NormalizedText> normalized = GuardrailContext.memo(content);
    int n = specs.size();
    Finding[] out = new Finding[n];
    Guardrail[] guardrails = new Guardrail[n];
    GuardrailContext[] contexts = new GuardrailContext[n];
    @SuppressWarnings("unchecked")
    Future<GuardrailResult>[] slow = new Future[n];
    for (int i = 0; i < n; i++) {
      GuardrailSpec spec = specs.get(i);
      Resolved r = resolve(spec);
      if (r instanceof Unusable u) {
        out[i] = unusable(spec, u.reason());
        continue;
      }
      guardrails[i] = ((Ready) r).guardrail();
      contexts[i] = new GuardrailContext(spec, stage, content, check.getToolName(), check.getRunId(), check.getAgent(),
          check.getCallId(), deadline, normalized);
      if (isSlow(guardrails[i])) {
        Guardrail g = guardrails[i];
        GuardrailContext ctx = contexts[i];
        slow[i] = slowPool.submit(() -> g.evaluate(ctx));
      }
    }
    try {
      for (int i = 0; i < n; i++) {
        if (guardrails[i] != null && slow[i] == null) {
          out[i] = runInline(specs.get(i), guardrails[i], contexts[i], stage);
        }
      }
      for (int i = 0; i < n; i++) {
        if (slow[i] != null) {
          out[i] = await(specs.get(i), guardrails[i], slow[i], deadlineNanos, stage);
        }
      }
    } finally {
      for (Future<GuardrailResult> f : slow) {
        if (f != null && !f.isDone()) {
          f.cancel(true);
        }
      }
    }
    List<Finding> findings = new ArrayList<>();
    for (Finding f : out) {
      if (f != null) {
        findings.add(f);
      }
    }
    return findings;
  }

  private static boolean isSlow(Guardrail g) {
    try {
      return g.slow();
    } catch (RuntimeException e) {
      return true;
    }
  }

  private Finding runInline(GuardrailSpec spec, Guardrail g, GuardrailContext ctx, GuardrailStage stage) {
    try {
      return fromResult(spec, g.evaluate(ctx), stage);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return failure(spec, g, "interrupted", stage);
    } catch (WorkLimitExceeded e) {
      return failure(spec, g, e.getMessage(), stage);
    } catch (Exception | StackOverflowError e) {
      log.warn("guardrail '{}' ({}) failed: {}", spec.getName(), spec.getType(), e.toString());
      return failure(spec, g, describe(e), stage);
    }
  }

  private Finding await(GuardrailSpec spec, Guardrail g, Future<GuardrailResult> f, long deadlineNanos,
      GuardrailStage stage) throws InterruptedException {
    try {
      long left = Math.max(0, deadlineNanos - System.nanoTime());
      return fromResult(spec, f.get(left, TimeUnit.NANOSECONDS), stage);
    } catch (TimeoutException e) {
      f.cancel(true);
      return failure(spec, g, "no answer by the check's deadline", stage);
    } catch (ExecutionException e) {
      Throwable c = e.getCause() == null ? e : e.getCause();
      if (!(c instanceof WorkLimitExceeded)) {
        log.warn("guardrail '{}' ({}) failed: {}", spec.getName(), spec.getType(), c.toString());
      }
      return failure(spec, g, c instanceof WorkLimitExceeded ? c.getMessage() : describe(c), stage);
    } catch (CancellationException e) {
      return failure(spec, g, "cancelled", stage);
    }
  }

  private Resolved resolve(GuardrailSpec spec) {
    SpecKey k = SpecKey.of(spec);
    Resolved r = cache.get(k);
    if (r != null) {
      return r;
    }
    GuardrailProvider p = providers.get(key(spec.getType()));
    if (p == null) {
      r = new Unusable("unknown guardrail type '" + spec.getType() + "'");
    } else {
      try {
        Guardrail g = p.create(spec);
        r = g == null ? new Unusable("provider of type '" + spec.getType() + "' returned no guardrail") : new Ready(g);
      } catch (RuntimeException e) {
        String why = e instanceof IllegalArgumentException ? e.getMessage() : describe(e);
        r = new Unusable("invalid configuration: " + why);
        log.warn("guardrail '{}' of type {} is unusable: {}", spec.getName(), spec.getType(), why);
      }
    }
    cache.put(k, r);
    return r;
  }

  /** Outcome of a hit of {@code spec} at {@code stage}. */
  static GuardrailOutcome outcomeOf(GuardrailAction action, GuardrailStage stage) {
    return switch (action) {
      case BLOCK -> GuardrailOutcome.TRIP;
      case REDACT -> stage == GuardrailStage.TOOL_INPUT ? GuardrailOutcome.REJECT : GuardrailOutcome.REDACT;
      case REJECT -> stage == GuardrailStage.TOOL_INPUT ? GuardrailOutcome.REJECT : GuardrailOutcome.TRIP;
    };
  }

  private Finding fromResult(GuardrailSpec spec, GuardrailResult r, GuardrailStage stage) {
    if (r == null || r.kind() == GuardrailResult.Kind.PASS) {
      return null;
    }
    if (r.kind() == GuardrailResult.Kind.NOTE) {
      return new Finding(spec, GuardrailOutcome.ALLOW, r.reason(), r.evidence(), r);
    }
    return new Finding(spec, outcomeOf(spec.getAction(), stage), r.reason(), r.evidence(), r);
  }

  private Finding failure(GuardrailSpec spec, Guardrail g, String why, GuardrailStage stage) {
    FailPolicy policy = null;
    try {
      policy = g.failPolicy();
    } catch (RuntimeException ignored) {
      // default below
    }
    if (policy == null) {
      policy = onError;
    }
    String reason = "guardrail failed: " + why + " (" + policy.word() + ")";
    if (policy == FailPolicy.OPEN) {
      return new Finding(spec, GuardrailOutcome.ALLOW, reason, "error", null);
    }
    return new Finding(spec, outcomeOf(spec.getAction(), stage), reason, "error", null);
  }

  private Finding unusable(GuardrailSpec spec, String why) {
    if (unknownType == FailPolicy.OPEN) {
      return new Finding(spec, GuardrailOutcome.ALLOW, why + " (fail-open: ignored)", null, null);
    }
    return new Finding(spec, GuardrailOutcome.TRIP, why + " (fail-closed)", null, null);
  }

  private static String describe(Throwable t) {
    String m = t.getMessage();
    String s = t.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m);
    return s.length() > 200 ? s.substring(0, 200) + "..." : s;
  }

  // ------------------------------------------------------------------ the verdict

  private static int severity(GuardrailOutcome o) {
    return switch (o) {
      case ALLOW -> 0;
      case REDACT -> 1;
      case REJECT -> 2;
      case TRIP -> 3;
    };
  }

  private static String nameOf(Finding f) {
    return f.spec() == null ? SERVICE : f.spec().getName();
  }

  private GuardrailVerdict verdict(GuardrailCheck check, GuardrailStage stage, String content, List<Finding> findings) {
    Finding decider = null;
    for (Finding f : findings) {
      if (f.outcome() != GuardrailOutcome.ALLOW && (decider == null || severity(f.outcome()) > severity(decider.outcome()))) {
        decider = f;
      }
    }
    GuardrailOutcome outcome = decider == null ? GuardrailOutcome.ALLOW : decider.outcome();
    String out = switch (outcome) {
      case ALLOW -> content;
      case REDACT -> redact(content, findings);
      case REJECT -> rejectMessage(decider, check.getToolName());
      case TRIP -> null;
    };
    List<GuardrailFinding> list = new ArrayList<>();
    for (Finding f : findings) {
      list.add(GuardrailFinding.newBuilder().setGuardrail(nameOf(f)).setOutcome(f.outcome()).setReason(f.reason())
          .setEvidence(f.evidence()).build());
    }
    return GuardrailVerdict.newBuilder()
        .setRunId(check.getRunId())
        .setCallId(check.getCallId())
        .setStage(stage)
        .setOutcome(outcome)
        .setGuardrail(decider == null ? null : nameOf(decider))
        .setReason(decider == null ? null : decider.reason())
        .setContent(out)
        .setFindings(list)
        .setDurationMs(0)
        .build();
  }

  /** Applies every REDACT finding: spans (merged, earlier declaration wins overlaps), then rewrites in order. */
  static String redact(String content, List<Finding> findings) {
    List<Finding> redacting = findings.stream().filter(f -> f.outcome() == GuardrailOutcome.REDACT).toList();
    for (Finding f : redacting) {
      if (f.result() == null || (f.result().spans().isEmpty() && f.result().rewrite() == null)) {
        return "[content redacted by guardrail '" + nameOf(f) + "']";
      }
    }
    record Ordered(GuardrailResult.Span span, int order) {}
    List<Ordered> spans = new ArrayList<>();
    for (int i = 0; i < redacting.size(); i++) {
      for (GuardrailResult.Span s : redacting.get(i).result().spans()) {
        int start = Math.min(s.start(), content.length());
        int end = Math.min(s.end(), content.length());
        if (end > start) {
          spans.add(new Ordered(new GuardrailResult.Span(start, end, s.replacement()), i));
        }
      }
    }
    spans.sort(Comparator.comparingInt((Ordered o) -> o.span().start()).thenComparingInt(Ordered::order));
    StringBuilder sb = new StringBuilder(content.length());
    int pos = 0;
    GuardrailResult.Span cur = null;
    for (Ordered o : spans) {
      GuardrailResult.Span s = o.span();
      if (cur != null && s.start() < cur.end()) {
        cur = new GuardrailResult.Span(cur.start(), Math.max(cur.end(), s.end()), cur.replacement());
        continue;
      }
      if (cur != null) {
        sb.append(content, pos, cur.start()).append(cur.replacement());
        pos = cur.end();
      }
      cur = s;
    }
    if (cur != null) {
      sb.append(content, pos, cur.start()).append(cur.replacement());
      pos = cur.end();
    }
    String text = sb.append(content, pos, content.length()).toString();
    for (Finding f : redacting) {
      if (f.result().rewrite() != null) {
        text = f.result().rewrite().apply(text);
      }
    }
    return text;
  }

  private static String rejectMessage(Finding decider, String toolName) {
    String tool = toolName == null ? "?" : toolName;
    String template = null;
    if (decider.spec() != null) {
      try {
        template = GuardrailSpecs.text(GuardrailSpecs.config(decider.spec()), "message", null);
      } catch (IllegalArgumentException e) {
        // invalid config: default message
      }
    }
    if (template == null) {
      template = "The call to tool '{tool}' was refused by guardrail '{guardrail}': {reason}. "
          + "Do not repeat it; answer without it or try another way.";
    }
    return template.replace("{tool}", tool).replace("{guardrail}", nameOf(decider)).replace("{reason}", decider.reason());
  }

  @Override
  public void close() {
    slowPool.shutdownNow();
    classifier.close();
  }

  // ------------------------------------------------------------------ builder

  public static final class Builder {
    private FailPolicy unknownType = FailPolicy.CLOSED;
    private FailPolicy onError = FailPolicy.CLOSED;
    private int maxContentChars = GuardrailConfig.DEFAULT_MAX_CONTENT_CHARS;
    private Duration deadlineMargin = GuardrailConfig.DEFAULT_DEADLINE_MARGIN;
    private LlmSettings llm = LlmSettings.of(LlmSettings.DEFAULT_BASE_URL, null);
    private final List<GuardrailProvider> providers = new ArrayList<>();
    private boolean discover = true;
    private ClassLoader classLoader = Thread.currentThread().getContextClassLoader();

    private Builder() {}

    /** What an unknown type or an invalid configuration means (default: closed, the check trips). */
    public Builder unknownType(FailPolicy value) {
      this.unknownType = value;
      return this;
    }

    /** What a guardrail that throws or runs out of time means, unless it has its own policy (default: closed). */
    public Builder onError(FailPolicy value) {
      this.onError = value;
      return this;
    }

    public Builder maxContentChars(int value) {
      this.maxContentChars = value;
      return this;
    }

    public Builder deadlineMargin(Duration value) {
      this.deadlineMargin = value;
      return this;
    }

    /** Where model guardrails go. */
    public Builder llm(LlmSettings value) {
      this.llm = value;
      return this;
    }

    /** Adds a provider explicitly (besides those ServiceLoader finds). */
    public Builder provider(GuardrailProvider value) {
      providers.add(value);
      return this;
    }

    /** Whether to look for {@link GuardrailProvider}s with ServiceLoader (default: true). */
    public Builder discoverProviders(boolean value) {
      this.discover = value;
      return this;
    }

    public Builder classLoader(ClassLoader value) {
      this.classLoader = value;
      return this;
    }

    public GuardrailEngine build() {
      return new GuardrailEngine(this);
    }
  }
}
