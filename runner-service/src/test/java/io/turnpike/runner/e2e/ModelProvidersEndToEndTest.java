package io.turnpike.runner.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.turnpike.avro.HandoffOccurred;
import io.turnpike.avro.ModelFailed;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunStatus;
import io.turnpike.avro.TurnEvent;
import io.turnpike.client.agent.AgentYaml;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.Scripts;
import io.turnpike.devkit.TopicTail;
import io.turnpike.runner.RunnerService;
import io.turnpike.runner.model.ModelInvoker;
import io.turnpike.runner.model.ModelInvokerConfig;
import io.turnpike.runner.model.OpenAiModelClient;
import io.turnpike.schema.Settings;
import io.turnpike.schema.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Per-agent model providers end to end: the invoker configured from environment variables with a
 * second, named provider (its own server, API and key, the key from a variable the configuration
 * names); one run hands off from an agent on the default provider to one on the named provider, and
 * each agent's calls reach its own server with its own key. No key is ever in an event or a state.
 */
class ModelProvidersEndToEndTest {
  static final String TRIAGE = """
      name: triage
      version: 1
      model: gpt-triage
      handoffs: [expert]
      """;
  static final String EXPERT = """
      name: expert
      version: 1
      model: expert-model
      modelProvider: local-llm
      """;
  static final String LOST = """
      name: lost
      version: 1
      model: gpt-lost
      modelProvider: nowhere
      """;

  private static Cluster cluster;
  private static ScriptedModelServer main;
  private static ScriptedModelServer local;
  private static RunnerService runner;
  private static ModelInvoker invoker;
  private static TopicTail results;
  private static TopicTail events;
  private static TopicTail states;

  @BeforeAll
  static void start() throws Exception {
    cluster = new Cluster();
    cluster.publishAgent(AgentYaml.parse(TRIAGE, "triage.yaml"));
    cluster.publishAgent(AgentYaml.parse(EXPERT, "expert.yaml"));
    cluster.publishAgent(AgentYaml.parse(LOST, "lost.yaml"));
    main = ScriptedModelServer.start(req -> req.turn() == 0 ? ScriptedReply.toolCall("transfer_to_expert", "{}")
        : ScriptedReply.text("the default provider should not have been asked again"));
    local = ScriptedModelServer.start(Scripts.always(ScriptedReply.text("The expert, served locally, answers.")));
    runner = RunnerService.start(Settings.of(Map.of(
        "turnpike.schema.registry.url", cluster.registryUrl(),
        "turnpike.bootstrap.servers", cluster.bootstrap(),
        "turnpike.runner.model-invoker.enabled", "false",
        "turnpike.runner.application-id", "providers-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("providers-runner").toString())));
    // as a deployment sets it: environment variables only
    Settings env = new Settings(Map.of(), Map.of(
        "TURNPIKE_BOOTSTRAP_SERVERS", cluster.bootstrap(),
        "TURNPIKE_SCHEMA_REGISTRY_URL", cluster.registryUrl(),
        "TURNPIKE_MODEL_GROUP_ID", "providers-e2e-model-invoker",
        "OPENAI_BASE_URL", main.baseUrl(),
        "OPENAI_API_KEY", "sk-main-0001",
        "TURNPIKE_MODEL_PROVIDERS", "local-llm",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_LLM_BASE_URL", local.baseUrl(),
        "TURNPIKE_MODEL_PROVIDER_LOCAL_LLM_API", "chat",
        "TURNPIKE_MODEL_PROVIDER_LOCAL_LLM_API_KEY_ENV", "LOCAL_LLM_KEY",
        "LOCAL_LLM_KEY", "sk-local-0002"), new Properties());
    ModelInvokerConfig config = ModelInvokerConfig.from(env);
    invoker = new ModelInvoker(config, new OpenAiModelClient(config, true)).start();
    results = new TopicTail(cluster.bootstrap(), Topics.RUN_RESULTS.name());
    events = new TopicTail(cluster.bootstrap(), Topics.TURN_EVENTS.name());
    states = new TopicTail(cluster.bootstrap(), Topics.RUN_STATE.name());
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {states, events, results, invoker, runner, local, main, cluster}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing the rest
      }
    }
  }

  static RunResult awaitFinal(String runId) {
    await().atMost(Duration.ofSeconds(90)).until(() -> results.forKey(runId).stream()
        .map(r -> cluster.serdes().runResult().decode(r.value())).anyMatch(r -> r.getStatus() != RunStatus.RUNNING));
    return results.forKey(runId).stream().map(r -> cluster.serdes().runResult().decode(r.value()))
        .filter(r -> r.getStatus() != RunStatus.RUNNING).findFirst().orElseThrow();
  }

  static List<TurnEvent> steps(String runId) {
    return events.forKey(runId).stream().map(r -> cluster.serdes().turnEvent().decode(r.value())).toList();
  }

  @Test
  void eachAgentOfARunCallsItsOwnProviderWithItsOwnKey() {
    cluster.submit("prov-1", "triage", "A question for the expert");
    RunResult result = awaitFinal("prov-1");
    assertThat(result.getStatus()).as(result.getError()).isEqualTo(RunStatus.COMPLETED);
    assertThat(result.getFinalOutput()).isEqualTo("The expert, served locally, answers.");
    assertThat(steps("prov-1")).extracting(TurnEvent::getStep).anySatisfy(s -> assertThat(s)
        .isInstanceOfSatisfying(HandoffOccurred.class, h -> assertThat(h.getToAgent()).isEqualTo("expert")));

    List<ModelRequestView> toMain = main.modelRequests();
    List<ModelRequestView> toLocal = local.modelRequests();
    assertThat(toMain).singleElement().satisfies(r -> {
      assertThat(r.model()).isEqualTo("gpt-triage");
      assertThat(r.api()).isEqualTo(ModelRequestView.RESPONSES);
      assertThat(r.header("Authorization")).isEqualTo("Bearer sk-main-0001");
    });
    assertThat(toLocal).singleElement().satisfies(r -> {
      assertThat(r.model()).isEqualTo("expert-model");
      assertThat(r.api()).as("the provider speaks Chat Completions").isEqualTo(ModelRequestView.CHAT);
      assertThat(r.header("Authorization")).isEqualTo("Bearer sk-local-0002");
      assertThat(r.header(OpenAiModelClient.RUN_ID_HEADER)).isEqualTo("prov-1");
    });

    // the provider's name travels with the run, its key never does
    await().atMost(Duration.ofSeconds(10)).until(() -> !states.forKey("prov-1").isEmpty());
    for (TopicTail tail : List.of(events, states, results)) {
      assertThat(tail.forKey("prov-1")).allSatisfy(r -> assertThat(new String(r.value(), StandardCharsets.ISO_8859_1))
          .doesNotContain("sk-local-0002", "sk-main-0001", "LOCAL_LLM_KEY", local.baseUrl()));
    }
    var last = cluster.serdes().runState().decode(states.forKey("prov-1").getLast().value());
    assertThat(last.getAgent().getName()).isEqualTo("expert");
    assertThat(last.getAgent().getModelProvider()).isEqualTo("local-llm");
  }

  @Test
  void anAgentNamingAProviderTheInvokerLacksFailsItsRunWithTheReason() {
    int before = main.requestCount() + local.requestCount();
    cluster.submit("prov-lost", "lost", "Anyone there?");
    RunResult result = awaitFinal("prov-lost");
    assertThat(result.getStatus()).isEqualTo(RunStatus.FAILED);
    assertThat(result.getError()).contains("model_unknown_provider",
        "agent lost asks for model provider 'nowhere', which this model invoker is not configured with",
        "(it has: default, local-llm)");
    assertThat(steps("prov-lost")).extracting(TurnEvent::getStep).filteredOn(ModelFailed.class::isInstance)
        .singleElement().satisfies(s -> assertThat(((ModelFailed) s).getError().getRetryable()).isFalse());
    assertThat(main.requestCount() + local.requestCount()).as("no model was asked").isEqualTo(before);
  }
}
