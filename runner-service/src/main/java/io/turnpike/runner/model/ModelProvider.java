package io.turnpike.runner.model;

import io.turnpike.schema.Settings;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A named model endpoint an agent can choose with {@code modelProvider: <name>}: an OpenAI-compatible
 * base URL, the API it speaks, and the environment variable that holds its key. The agent, its
 * definition and every event carry the name only; the key is read from the invoker's environment when
 * the invoker starts and is only ever handed to openai-java.
 *
 * <p>Keys, for {@code turnpike.model.providers=local-llama,openai} (each also a system property or the
 * environment variable spelled from it, e.g. {@code TURNPIKE_MODEL_PROVIDER_LOCAL_LLAMA_BASE_URL}):
 *
 * <table>
 *   <caption>keys of one provider</caption>
 *   <tr><th>key</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>turnpike.model.provider.&lt;name&gt;.base-url</td><td>required</td><td>OpenAI-compatible endpoint</td></tr>
 *   <tr><td>turnpike.model.provider.&lt;name&gt;.api</td><td>responses</td><td>responses | chat; an agent's
 *       {@code modelSettings.api: chat} still wins</td></tr>
 *   <tr><td>turnpike.model.provider.&lt;name&gt;.api-key-env</td><td>none (no key)</td><td>the name of the
 *       environment variable that holds the key; it must be set when the invoker starts</td></tr>
 *   <tr><td>turnpike.model.provider.&lt;name&gt;.model</td><td>none</td><td>model name sent instead of the
 *       agent's (a local server's own name)</td></tr>
 * </table>
 *
 * <p>{@link #toString()} shows the variable's name, never the key.
 */
public record ModelProvider(String name, String baseUrl, ModelInvokerConfig.Api api, String apiKeyEnv, String apiKey,
    Optional<String> modelOverride) {

  /** As AgentYaml checks {@code modelProvider}: the name becomes part of environment variable names. */
  public static final Pattern NAME = Pattern.compile("^[a-z0-9][a-z0-9_-]{0,62}$");

  public ModelProvider {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(baseUrl, "baseUrl");
    Objects.requireNonNull(api, "api");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(ModelInvokerConfig.PROVIDERS + ": '" + name + "' is not a provider name"
          + " (lower-case letters, digits, - and _)");
    }
    apiKey = apiKey == null || apiKey.isBlank() ? null : apiKey;
    modelOverride = modelOverride == null ? Optional.empty() : modelOverride.filter(s -> !s.isBlank());
  }

  /** A provider with its key given directly (tests, embedded use). */
  public static ModelProvider of(String name, String baseUrl, ModelInvokerConfig.Api api, String apiKey) {
    return new ModelProvider(name, baseUrl, api, null, apiKey, Optional.empty());
  }

  public static String key(String name, String setting) {
    return "turnpike.model.provider." + name + "." + setting;
  }

  /**
   * Every provider {@code turnpike.model.providers} names, read and checked now, so that a missing URL
   * or key variable stops the invoker at start rather than failing runs later.
   */
  static Map<String, ModelProvider> allFrom(Settings settings) {
    Map<String, ModelProvider> out = new LinkedHashMap<>();
    String list = settings.get(ModelInvokerConfig.PROVIDERS, null);
    if (list == null) {
      return out;
    }
    for (String raw : list.split(",")) {
      String name = raw.trim().toLowerCase(Locale.ROOT);
      if (name.isEmpty()) {
        continue;
      }
      if (out.containsKey(name)) {
        throw new IllegalArgumentException(ModelInvokerConfig.PROVIDERS + " names '" + name + "' twice");
      }
      out.put(name, from(settings, name));
    }
    return out;
  }

  private static ModelProvider from(Settings settings, String name) {
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(ModelInvokerConfig.PROVIDERS + ": '" + name + "' is not a provider name"
          + " (lower-case letters, digits, - and _)");
    }
    String urlKey = key(name, "base-url");
    String baseUrl = settings.get(urlKey, null);
    if (baseUrl == null) {
      throw new IllegalArgumentException("model provider '" + name + "' has no base URL: set " + urlKey + " (or "
          + Settings.envName(urlKey) + ")");
    }
    ModelInvokerConfig.Api api;
    try {
      api = ModelInvokerConfig.Api.parse(settings.get(key(name, "api"), "responses"));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(key(name, "api") + " must be responses or chat, got '"
          + settings.get(key(name, "api"), "") + "'");
    }
    String keyEnvKey = key(name, "api-key-env");
    String keyEnv = settings.get(keyEnvKey, null);
    String apiKey = null;
    if (keyEnv != null) {
      keyEnv = keyEnv.trim();
      apiKey = settings.get(keyEnv, null);
      if (apiKey == null) {
        throw new IllegalArgumentException("model provider '" + name + "': " + keyEnvKey + " names the environment"
            + " variable " + keyEnv + ", which is not set (the key itself never goes in a setting or an agent)");
      }
    }
    return new ModelProvider(name, baseUrl.trim(), api, keyEnv, apiKey, Optional.ofNullable(settings.get(key(name, "model"), null)));
  }

  @Override
  public String toString() {
    return name + "[baseUrl=" + baseUrl + ", api=" + api + ", key=" + (apiKey == null ? "none" : apiKeyEnv == null ? "***" : "$" + apiKeyEnv)
        + modelOverride.map(m -> ", model=" + m).orElse("") + "]";
  }
}
