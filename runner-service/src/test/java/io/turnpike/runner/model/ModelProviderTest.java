package io.turnpike.runner.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import io.turnpike.schema.Settings;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Named model providers: read from the environment's spelling of the keys, checked at start, one client each. */
class ModelProviderTest {
  ScriptedModelServer main;
  ScriptedModelServer local;
  OpenAiModelClient client;

  @AfterEach
  void tearDown() {
    for (AutoCloseable c : new AutoCloseable[] {client, main, local}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // next
      }
    }
  }

  /** Settings as a service process sees them: environment variables only. */
  static Settings env(Map<String, String> env) {
    return new Settings(Map.of(), env, new Properties());
  }

  @Test
  void providersAreReadFromTheEnvironmentWithTheirKeysFromTheVariablesTheyName() {
    ModelInvokerConfig config = ModelInvokerConfig.from(env(Map.of(
        "OPENAI_API_KEY", "sk-default",
        "TURNPIKE_MODEL_PROVIDERS", "local-llama, Azure",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_LLAMA_BASE_URL", "http://127.0.0.1:8080/v1",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_LLAMA_API", "chat",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_LLAMA_MODEL", "llama-3.1-8b",
        "TURNPIKE_MODEL_PROVIDER_AZURE_BASE_URL", "https://example.openai.azure.com/openai/v1",
        "TURNPIKE_MODEL_PROVIDER_AZURE_API_KEY_ENV", "AZURE_OPENAI_KEY",
        "AZURE_OPENAI_KEY", "az-secret-123")));

    assertThat(config.providers()).containsOnlyKeys("local-llama", "azure");
    ModelProvider llama = config.providers().get("local-llama");
    assertThat(llama.baseUrl()).isEqualTo("http://127.0.0.1:8080/v1");
    assertThat(llama.api()).isEqualTo(ModelInvokerConfig.Api.CHAT);
    assertThat(llama.apiKey()).isNull();
    assertThat(llama.modelOverride()).contains("llama-3.1-8b");
    ModelProvider azure = config.providers().get("azure");
    assertThat(azure.api()).isEqualTo(ModelInvokerConfig.Api.RESPONSES);
    assertThat(azure.apiKey()).isEqualTo("az-secret-123");
    assertThat(config.toString()).contains("azure[", "key=$AZURE_OPENAI_KEY").doesNotContain("az-secret-123", "sk-default");
  }

  @Test
  void aProviderThatCannotWorkStopsTheInvokerAtStartWithTheSettingToFix() {
    assertThatThrownBy(() -> ModelInvokerConfig.from(env(Map.of("TURNPIKE_MODEL_PROVIDERS", "local"))))
        .hasMessageContaining("model provider 'local' has no base URL")
        .hasMessageContaining("TURNPIKE_MODEL_PROVIDER_LOCAL_BASE_URL");
    assertThatThrownBy(() -> ModelInvokerConfig.from(env(Map.of("TURNPIKE_MODEL_PROVIDERS", "local",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_BASE_URL", "http://x/v1",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_API_KEY_ENV", "LOCAL_KEY"))))
        .hasMessageContaining("names the environment variable LOCAL_KEY, which is not set");
    assertThatThrownBy(() -> ModelInvokerConfig.from(env(Map.of("TURNPIKE_MODEL_PROVIDERS", "local",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_BASE_URL", "http://x/v1", "TURNPIKE_MODEL_PROVIDER_LOCAL_API", "grpc"))))
        .hasMessageContaining("turnpike.model.provider.local.api must be responses or chat, got 'grpc'");
    assertThatThrownBy(() -> ModelInvokerConfig.from(env(Map.of("TURNPIKE_MODEL_PROVIDERS", "a,b,a",
        "TURNPIKE_MODEL_PROVIDER_A_BASE_URL", "http://x/v1", "TURNPIKE_MODEL_PROVIDER_B_BASE_URL", "http://y/v1"))))
        .hasMessageContaining("names 'a' twice");
    assertThatThrownBy(() -> ModelInvokerConfig.from(env(Map.of("TURNPIKE_MODEL_PROVIDERS", "http://x"))))
        .hasMessageContaining("is not a provider name");
  }

  @Test
  void eachCallGoesToItsProvidersServerWithThatProvidersKey() {
    main = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("from main")));
    local = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("from local")));
    ModelInvokerConfig config = ModelInvokerConfig.from(env(Map.of(
        "TURNPIKE_MODEL_BASE_URL", main.baseUrl(),
        "TURNPIKE_MODEL_API_KEY", "sk-main",
        "TURNPIKE_MODEL_PROVIDERS", "local",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_BASE_URL", local.baseUrl(),
        "TURNPIKE_MODEL_PROVIDER_LOCAL_API", "chat",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_API_KEY_ENV", "LOCAL_KEY",
        "LOCAL_KEY", "sk-local")));
    client = new OpenAiModelClient(config, true);

    ModelResult fromMain = client.invoke(TestCalls.simple("r1", "r1:m1", "hi"));
    ModelResult fromLocal = client.invoke(ModelCall.newBuilder(TestCalls.simple("r1", "r1:m2", "hi")).setModelProvider("local").build());

    assertThat(fromMain.getOutput().toString()).contains("from main");
    assertThat(fromLocal.getOutput().toString()).contains("from local");
    assertThat(main.modelRequests()).singleElement().satisfies(r -> {
      assertThat(r.header("Authorization")).isEqualTo("Bearer sk-main");
      assertThat(r.api()).isEqualTo("responses");
    });
    assertThat(local.modelRequests()).singleElement().satisfies(r -> {
      assertThat(r.header("Authorization")).isEqualTo("Bearer sk-local");
      assertThat(r.api()).isEqualTo("chat"); // the provider's API
    });
  }

  @Test
  void aCallNamingAnUnknownProviderFailsForGoodAndNamesWhatIsConfigured() {
    main = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("from main")));
    client = new OpenAiModelClient(ModelInvokerConfig.of("unused:9092", "mock://x", main.baseUrl(), "sk-main")
        .withProvider(ModelProvider.of("local", main.baseUrl(), ModelInvokerConfig.Api.RESPONSES, null)), true);

    ModelResult r = client.invoke(ModelCall.newBuilder(TestCalls.simple("r1", "r1:m1", "hi")).setModelProvider("olama").build());

    assertThat(r.getOutput()).isEmpty();
    assertThat(r.getError().getCode()).isEqualTo(OpenAiModelClient.UNKNOWN_PROVIDER);
    assertThat(r.getError().getRetryable()).isFalse();
    assertThat(r.getError().getMessage()).contains("agent assistant asks for model provider 'olama'",
        "(it has: default, local)", "turnpike.model.providers");
    assertThat(main.requestCount()).isZero();
  }
}
