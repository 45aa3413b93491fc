package io.turnpike.bench;

import io.turnpike.avro.GuardrailAction;
import io.turnpike.avro.GuardrailCheck;
import io.turnpike.avro.GuardrailMode;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.guardrail.GuardrailEngine;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Throughput of rule guardrails on 10 KB inputs, through {@link GuardrailEngine#evaluate} (normalisation,
 * every guardrail, verdict building; no Kafka). Each case runs single-threaded for a warm-up period and then a
 * measured period, over a rotation of 16 different generated inputs: "clean" ones (prose, numbers, dates, no
 * personal data) and "dirty" ones (the same with an e-mail address, a phone number and a card number, so the
 * redaction path runs too). The last case runs the three-guardrail set on every core.
 *
 * <pre>java -cp ... io.turnpike.bench.GuardrailRuleBench [seconds per case, default 3] [input KB, default 10]</pre>
 */
public final class GuardrailRuleBench {

  private static final String[] WORDS = ("the a of to and in is it that for on with as was at by this be from or an "
      + "are have not but what all were when we there can your which their said if will each about how up out them "
      + "then she many some so these would other into has more her two like him see time could no make than first "
      + "been its who now people my made over did down only way find use may water long little very after words "
      + "called just where most know get through back much before go good new write our used me man too any day same "
      + "right look think also around another came come work three word must because does part even place well such "
      + "weather Oslo Paris flight hotel booking price tomorrow forecast rain sunny itinerary museum train").split(" ");

  record Case(String name, List<GuardrailSpec> specs, boolean json) {}

  public static void main(String[] args) throws Exception {
    int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    int kb = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    int size = kb * 1024;
    Random rnd = new Random(42);
    List<String> clean = new ArrayList<>();
    List<String> dirty = new ArrayList<>();
    List<String> json = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      String prose = prose(rnd, size);
      clean.add(prose);
      dirty.add(withPii(prose, rnd));
      json.add(jsonDoc(rnd, size));
    }

    GuardrailSpec regex = spec("secrets", "regex", GuardrailAction.REDACT,
        "{\"patterns\": [\"AKIA[0-9A-Z]{16}\", \"sk-[A-Za-z0-9]{20,}\", \"-----BEGIN [A-Z ]*PRIVATE KEY-----\"]}");
    StringBuilder words = new StringBuilder("{\"words\": [");
    for (int i = 0; i < 50; i++) {
      words.append(i == 0 ? "" : ",").append("\"codename").append(i).append('"');
    }
    GuardrailSpec keywords = spec("deny", "keywords", GuardrailAction.BLOCK, words.append("]}").toString());
    GuardrailSpec pii = spec("pii", "pii", GuardrailAction.REDACT, "{}");
    GuardrailSpec maxLength = spec("len", "max_length", GuardrailAction.BLOCK, "{\"maxChars\": 100000}");
    GuardrailSpec injection = spec("inj", "prompt_injection", GuardrailAction.BLOCK, "{}");
    GuardrailSpec schema = spec("schema", "json_schema", GuardrailAction.BLOCK, "{\"schema\": {\"type\": \"object\","
        + " \"required\": [\"items\"], \"properties\": {\"items\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
        + " \"required\": [\"id\", \"name\"], \"properties\": {\"id\": {\"type\": \"integer\"}, \"name\": {\"type\": \"string\"},"
        + " \"price\": {\"type\": \"number\", \"minimum\": 0}}}}}}}");

    List<Case> cases = List.of(
        new Case("none (empty guardrail list)", List.of(), false),
        new Case("max_length", List.of(maxLength), false),
        new Case("regex (3 patterns)", List.of(regex), false),
        new Case("keywords (50 words)", List.of(keywords), false),
        new Case("pii (all kinds)", List.of(pii), false),
        new Case("prompt_injection", List.of(injection), false),
        new Case("json_schema (10 KB document)", List.of(schema), true),
        new Case("3 rule guardrails: regex + keywords + pii", List.of(regex, keywords, pii), false));

    System.out.printf("GuardrailRuleBench: %d KB inputs, %d s per case after %d s warm-up, single thread; %s; %d cores%n",
        kb, seconds, seconds, Runtime.version(), Runtime.getRuntime().availableProcessors());
    try (GuardrailEngine engine = GuardrailEngine.builder().discoverProviders(false).build()) {
      for (Case c : cases) {
        if (c.json()) {
          System.out.println(run(engine, c.name() + ", valid", c.specs(), json, seconds));
        } else {
          System.out.println(run(engine, c.name() + ", clean", c.specs(), clean, seconds));
          if (!c.specs().isEmpty()) {
            System.out.println(run(engine, c.name() + ", with PII", c.specs(), dirty, seconds));
          }
        }
      }
      int threads = Runtime.getRuntime().availableProcessors();
      System.out.println(parallel(engine, "3 rule guardrails, clean, " + threads + " threads",
          List.of(regex, keywords, pii), clean, seconds, threads));
    }
  }

  static GuardrailSpec spec(String name, String type, GuardrailAction action, String config) {
    return GuardrailSpec.newBuilder().setName(name).setStage(GuardrailStage.OUTPUT).setType(type)
        .setMode(GuardrailMode.PARALLEL).setAction(action).setTools(List.of()).setConfigJson(config).build();
  }

  static GuardrailCheck check(List<GuardrailSpec> specs, String content, long n) {
    return GuardrailCheck.newBuilder().setRunId("bench").setCallId("bench:" + n).setAttempt(1).setAgent("bench")
        .setStage(GuardrailStage.OUTPUT).setGuardrails(specs).setContent(content).setToolName(null)
        .setDeadline(Instant.now().plusSeconds(60)).build();
  }

  static String run(GuardrailEngine engine, String name, List<GuardrailSpec> specs, List<String> inputs, int seconds)
      throws InterruptedException {
    long n = 0;
    long bytes = 0;
    long warmEnd = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
    while (System.nanoTime() < warmEnd) {
      engine.evaluate(check(specs, inputs.get((int) (n++ % inputs.size())), n));
    }
    long[] lat = new long[1 << 22];
    int count = 0;
    GuardrailOutcome last = null;
    long start = System.nanoTime();
    long end = start + Duration.ofSeconds(seconds).toNanos();
    long now = start;
    while (now < end && count < lat.length) {
      String in = inputs.get(count % inputs.size());
      GuardrailVerdict v = engine.evaluate(check(specs, in, count));
      long t = System.nanoTime();
      lat[count++] = t - now;
      now = t;
      bytes += in.length();
      last = v.getOutcome();
    }
    double secs = (now - start) / 1e9;
    long[] sorted = Arrays.copyOf(lat, count);
    Arrays.sort(sorted);
    return String.format("%-58s %8.0f checks/s  %7.1f MB/s  p50 %7.1f us  p99 %7.1f us  (%s)", name, count / secs,
        bytes / secs / 1e6, sorted[count / 2] / 1e3, sorted[(int) (count * 0.99)] / 1e3, last);
  }

  static String parallel(GuardrailEngine engine, String name, List<GuardrailSpec> specs, List<String> inputs,
      int seconds, int threads) throws InterruptedException {
    AtomicLong checks = new AtomicLong();
    AtomicLong bytes = new AtomicLong();
    long end = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
    CountDownLatch done = new CountDownLatch(threads);
    long start = System.nanoTime();
    for (int t = 0; t < threads; t++) {
      int offset = t;
      Thread.ofPlatform().start(() -> {
        try {
          long i = offset;
          while (System.nanoTime() < end) {
            String in = inputs.get((int) (i++ % inputs.size()));
            engine.evaluate(check(specs, in, i));
            checks.incrementAndGet();
            bytes.addAndGet(in.length());
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } finally {
          done.countDown();
        }
      });
    }
    done.await();
    double secs = (System.nanoTime() - start) / 1e9;
    return String.format("%-58s %8.0f checks/s  %7.1f MB/s", name, checks.get() / secs, bytes.get() / secs / 1e6);
  }

  static String prose(Random rnd, int size) {
    StringBuilder sb = new StringBuilder(size + 100);
    int sentence = 0;
    while (sb.length() < size) {
      String w = WORDS[rnd.nextInt(WORDS.length)];
      sb.append(sentence == 0 ? Character.toUpperCase(w.charAt(0)) + w.substring(1) : w);
      sentence++;
      int r = rnd.nextInt(40);
      if (r == 0) {
        sb.append(' ').append(rnd.nextInt(10_000));
      } else if (r == 1) {
        sb.append(" on 2025-0").append(1 + rnd.nextInt(9)).append('-').append(10 + rnd.nextInt(18));
      } else if (r == 2) {
        sb.append(" at ").append(8 + rnd.nextInt(12)).append(':').append(10 + rnd.nextInt(49));
      }
      if (sentence > 8 + rnd.nextInt(10)) {
        sb.append(rnd.nextInt(5) == 0 ? ".\n" : ". ");
        sentence = 0;
      } else {
        sb.append(' ');
      }
    }
    sb.setLength(size);
    return sb.toString();
  }

  static String withPii(String prose, Random rnd) {
    StringBuilder sb = new StringBuilder(prose);
    sb.replace(1000, 1030, " mail anna.berg@example.com ok ");
    sb.replace(4000, 4030, " call +47 22 33 44 55 today ok ");
    sb.replace(7000, 7036, " card 4111 1111 1111 1111 on file ok ");
    return sb.toString();
  }

  static String jsonDoc(Random rnd, int size) {
    StringBuilder sb = new StringBuilder("{\"items\": [");
    int i = 0;
    while (sb.length() < size - 80) {
      sb.append(i == 0 ? "" : ", ").append("{\"id\": ").append(i).append(", \"name\": \"")
          .append(WORDS[rnd.nextInt(WORDS.length)]).append(' ').append(WORDS[rnd.nextInt(WORDS.length)])
          .append("\", \"price\": ").append(rnd.nextInt(1000)).append('.').append(rnd.nextInt(100)).append('}');
      i++;
    }
    return sb.append("]}").toString();
  }
}
