package io.turnpike.memory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.Timeout;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseFormatTextJsonSchemaConfig;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseOutputMessage;
import com.openai.models.responses.ResponseTextConfig;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;

/**
 * {@link MemoryModel} on openai-java's Responses API, set up as the runner's model client is
 * (base URL, key, retries and timeout; {@code store(false)}), asking for a strict JSON schema
 * ({@code text.format json_schema}). The key is only handed to openai-java; errors are scrubbed of it.
 */
public final class OpenAiMemoryModel implements MemoryModel {
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String CALL_ID_HEADER = "X-Turnpike-Call-Id";

  private final OpenAIClient client;
  private final String apiKey;

  public OpenAiMemoryModel(MemoryConfigs.ModelSettings settings) {
    this.apiKey = settings.apiKey();
    Duration t = settings.timeout();
    this.client = OpenAIOkHttpClient.builder()
        .baseUrl(settings.baseUrl())
        // Local OpenAI-compatible servers need no key, but openai-java wants one.
        .apiKey(settings.apiKey() == null ? "none" : settings.apiKey())
        .maxRetries(settings.maxRetries())
        .timeout(Timeout.builder().connect(t.compareTo(Duration.ofSeconds(10)) < 0 ? t : Duration.ofSeconds(10)).request(t).build())
        .responseValidation(settings.responseValidation())
        .build();
  }

  @Override
  public String complete(String model, String instructions, String input, String schemaName, String schemaJson, String callId) {
    ResponseFormatTextJsonSchemaConfig.Schema.Builder schema = ResponseFormatTextJsonSchemaConfig.Schema.builder();
    try {
      JsonNode node = JSON.readTree(schemaJson);
      for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        schema.putAdditionalProperty(e.getKey(), JsonValue.fromJsonNode(e.getValue()));
      }
    } catch (Exception e) {
      throw new IllegalArgumentException("the " + schemaName + " schema is not JSON", e);
    }
    ResponseCreateParams params = ResponseCreateParams.builder()
        .model(model)
        .instructions(instructions)
        .input(input)
        .store(false)
        .text(ResponseTextConfig.builder().format(ResponseFormatTextJsonSchemaConfig.builder()
            .name(schemaName).schema(schema.build()).strict(true).build()).build())
        .putAdditionalHeader(CALL_ID_HEADER, callId)
        .build();
    Response response;
    try {
      response = client.responses().create(params);
    } catch (RuntimeException e) {
      throw new MemoryModelException("the model call failed: " + redact(String.valueOf(e.getMessage())), e);
    }
    StringBuilder text = new StringBuilder();
    for (ResponseOutputItem item : response.output()) {
      if (item.isMessage()) {
        for (ResponseOutputMessage.Content c : item.asMessage().content()) {
          if (c.isOutputText()) {
            text.append(c.asOutputText().text());
          } else if (c.isRefusal()) {
            throw new MemoryModelException("the model refused: " + c.asRefusal().refusal());
          }
        }
      }
    }
    if (text.isEmpty()) {
      throw new MemoryModelException("the model answered no text");
    }
    return text.toString();
  }

  private String redact(String s) {
    return apiKey == null || apiKey.isEmpty() ? s : s.replace(apiKey, "[redacted]");
  }

  @Override
  public void close() {
    client.close();
  }
}
