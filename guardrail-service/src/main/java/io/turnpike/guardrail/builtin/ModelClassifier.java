package io.turnpike.guardrail.builtin;

import com.openai.client.OpenAIClientAsync;
import com.openai.client.okhttp.OpenAIOkHttpClientAsync;
import com.openai.core.JsonValue;
import com.openai.core.RequestOptions;
import com.openai.core.Timeout;
import com.openai.models.ResponseFormatJsonSchema;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseFormatTextJsonSchemaConfig;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseOutputMessage;
import com.openai.models.responses.ResponseTextConfig;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Asks a model (openai-java, Responses or Chat Completions) for a guardrail verdict, bounded in time. The
 * HTTP client is built on first use, so a service with no model configured starts and runs rule
 * guardrails without ever touching the network. Thread-safe.
 */
public final class ModelClassifier implements AutoCloseable {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ModelClassifier.class);

  /** The JSON the model must answer with. */
  static final Map<String, Object> VERDICT_SCHEMA = Map.of(
      "type", "object",
      "properties", Map.of(
          "verdict", Map.of("type", "string", "enum", List.of("allow", "block")),
          "reason", Map.of("type", "string")),
      "required", List.of("verdict", "reason"),
      "additionalProperties", false);

  /** Why a classification did not produce an answer. */
  public static final class ClassifierException extends Exception {
    private final boolean timeout;

    ClassifierException(String message, boolean timeout) {
      super(message, null, false, false);
      this.timeout = timeout;
    }

    public boolean isTimeout() {
      return timeout;
    }
  }

  private static final java.util.concurrent.Executor ASYNC =
      r -> Thread.ofVirtual().name("turnpike-guardrail-model").start(r);

  private final LlmSettings settings;
  private volatile OpenAIClientAsync client;

  public ModelClassifier(LlmSettings settings) {
    this.settings = settings;
  }

  public LlmSettings settings() {
    return settings;
  }

  private OpenAIClientAsync client() {
    OpenAIClientAsync c = client;
    if (c == null) {
      synchronized (this) {
        c = client;
        if (c == null) {
          c = OpenAIOkHttpClientAsync.builder()
              .baseUrl(settings.baseUrl())
              .apiKey(settings.apiKey() == null ? "none" : settings.apiKey())
              .maxRetries(settings.maxRetries())
              .timeout(timeoutOf(settings.timeout()))
              .build();
          client = c;
        }
      }
    }
    return c;
  }

  /**
   * Builds the HTTP client and runs openai-java's request and response mapping once, without any network
   * call: in a fresh JVM that is seconds of class loading the first guardrail would otherwise pay.
   */
  public void warmUp() {
    long t0 = System.nanoTime();
    try {
      client();
      var mapper = com.openai.core.ObjectMappers.jsonMapper();
      mapper.writeValueAsString(ChatCompletionCreateParams.builder().model("m").addSystemMessage("s")
          .addUserMessage("u").build()._body());
      mapper.writeValueAsString(ResponseCreateParams.builder().model("m").instructions("s").input("u")
          .text(ResponseTextConfig.builder().format(ResponseFormatTextJsonSchemaConfig.builder().name("w").strict(true)
              .schema(ResponseFormatTextJsonSchemaConfig.Schema.builder().additionalProperties(toJson(VERDICT_SCHEMA))
                  .build()).build()).build()).build()._body());
      mapper.readValue("{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\",\"choices\":"
          + "[{\"index\":0,\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":\"{}\"}}]}",
          ChatCompletion.class).choices();
      mapper.readValue("{\"id\":\"r\",\"object\":\"response\",\"created_at\":1,\"model\":\"m\",\"output\":[{\"type\":"
          + "\"message\",\"id\":\"m\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":[{\"type\":"
          + "\"output_text\",\"text\":\"{}\",\"annotations\":[]}]}]}", Response.class).id();
      log.debug("model classifier warmed up in {} ms", (System.nanoTime() - t0) / 1_000_000);
    } catch (Exception | LinkageError e) {
      log.debug("model classifier warm-up incomplete: {}", e.toString());
    }
  }

  static Timeout timeoutOf(Duration t) {
    Duration connect = t.compareTo(Duration.ofSeconds(5)) < 0 ? t : Duration.ofSeconds(5);
    return Timeout.builder().connect(connect).request(t).build();
  }

  /**
   * The model's text answer to {@code input} under {@code instructions}, within {@code timeout}.
   *
   * @param structured ask for the verdict JSON schema (structured outputs); off for servers without it
   */
  public String complete(String model, boolean chat, String instructions, String input, boolean structured,
      Duration timeout) throws ClassifierException, InterruptedException {
    String m = settings.modelOverride() != null ? settings.modelOverride() : model;
    RequestOptions options = RequestOptions.builder().timeout(timeoutOf(timeout)).build();
    // Everything, building the client included (seconds of class loading in a fresh JVM), is inside the bound.
    java.util.concurrent.atomic.AtomicReference<CompletableFuture<String>> inner =
        new java.util.concurrent.atomic.AtomicReference<>();
    CompletableFuture<String> answer = CompletableFuture
        .supplyAsync(() -> {
          CompletableFuture<String> f = call(m, chat, instructions, input, structured, options);
          inner.set(f);
          return f;
        }, ASYNC)
        .thenCompose(f -> f);
    try {
      return answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      answer.cancel(true);
      CompletableFuture<String> f = inner.get();
      if (f != null) {
        f.cancel(true); // stops openai-java's retries of the abandoned call
      }
      throw new ClassifierException("the model did not answer within " + timeout.toMillis() + " ms", true);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      while (cause instanceof java.util.concurrent.CompletionException && cause.getCause() != null) {
        cause = cause.getCause();
      }
      boolean timedOut = hasCause(cause, java.io.InterruptedIOException.class);
      throw new ClassifierException((timedOut ? "the model did not answer in time: " : "the model call failed: ")
          + describe(cause), timedOut);
    } catch (InterruptedException e) {
      answer.cancel(true);
      CompletableFuture<String> f = inner.get();
      if (f != null) {
        f.cancel(true);
      }
      throw e;
    }
  }

  private CompletableFuture<String> call(String m, boolean chat, String instructions, String input, boolean structured,
      RequestOptions options) {
    if (chat) {
      ChatCompletionCreateParams.Builder b = ChatCompletionCreateParams.builder().model(m)
          .addSystemMessage(instructions).addUserMessage(input);
      if (structured) {
        b.responseFormat(ResponseFormatJsonSchema.builder().jsonSchema(ResponseFormatJsonSchema.JsonSchema.builder()
            .name("guardrail_verdict").strict(true)
            .schema(ResponseFormatJsonSchema.JsonSchema.Schema.builder()
                .additionalProperties(toJson(VERDICT_SCHEMA)).build())
            .build()).build());
      }
      return client().chat().completions().create(b.build(), options).thenApply(ModelClassifier::text);
    }
    ResponseCreateParams.Builder b = ResponseCreateParams.builder().model(m).instructions(instructions)
        .input(input).store(false);
    if (structured) {
      b.text(ResponseTextConfig.builder().format(ResponseFormatTextJsonSchemaConfig.builder()
          .name("guardrail_verdict").strict(true)
          .schema(ResponseFormatTextJsonSchemaConfig.Schema.builder()
              .additionalProperties(toJson(VERDICT_SCHEMA)).build())
          .build()).build());
    }
    return client().responses().create(b.build(), options).thenApply(ModelClassifier::text);
  }

  private static Map<String, JsonValue> toJson(Map<String, Object> m) {
    java.util.LinkedHashMap<String, JsonValue> out = new java.util.LinkedHashMap<>();
    m.forEach((k, v) -> out.put(k, JsonValue.from(v)));
    return out;
  }

  static String text(Response response) {
    StringBuilder sb = new StringBuilder();
    for (ResponseOutputItem item : response.output()) {
      if (item.isMessage()) {
        for (ResponseOutputMessage.Content c : item.asMessage().content()) {
          c.outputText().ifPresent(t -> sb.append(t.text()));
        }
      }
    }
    return sb.toString();
  }

  static String text(ChatCompletion completion) {
    if (completion.choices().isEmpty()) {
      return "";
    }
    return completion.choices().get(0).message().content().orElse("");
  }

  private static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (type.isInstance(c)) {
        return true;
      }
    }
    return false;
  }

  /** A short description with the API key scrubbed. */
  String describe(Throwable t) {
    StringBuilder sb = new StringBuilder();
    Throwable c = t;
    for (int depth = 0; c != null && depth < 3; depth++, c = c.getCause()) {
      String m = c.getMessage();
      String part = m == null || m.isBlank() ? c.getClass().getSimpleName() : m;
      if (sb.indexOf(part) >= 0) {
        continue;
      }
      if (sb.length() > 0) {
        sb.append(": ");
      }
      sb.append(part);
    }
    String s = sb.toString();
    if (settings.apiKey() != null) {
      s = s.replace(settings.apiKey(), "***");
    }
    return Texts.truncate(s, 300);
  }

  @Override
  public void close() {
    OpenAIClientAsync c = client;
    if (c != null) {
      c.close();
    }
  }
}
