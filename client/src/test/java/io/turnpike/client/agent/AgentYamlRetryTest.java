package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RetryPolicies;
import io.turnpike.avro.RetryPolicy;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code retry:}: one policy per call kind, resolved field by field, and what is refused. */
class AgentYamlRetryTest {
  static final String HEAD = "name: a\nversion: 1\nmodel: m\n";

  static List<Object> fields(RetryPolicy p) {
    return List.of(p.getAttempts(), p.getBackoffMs(), p.getMaxBackoffMs(), p.getBudgetMs());
  }

  @Test
  void withoutRetryEveryKindGetsTheDefaults() {
    RetryPolicies r = AgentYaml.parse(HEAD, "a.yaml").getRetry();
    for (RetryPolicy p : List.of(r.getModel(), r.getTool(), r.getSandbox(), r.getGuardrail())) {
      assertThat(fields(p)).containsExactly(10, 1_000L, 30_000L, 600_000L);
    }
  }

  @Test
  void aKindTakesItsOwnFieldsThenTheDefaultPolicysThenTheSchemas() {
    AgentDefinition d = AgentYaml.parse(HEAD + """
        retry:
          default:   {attempts: 6, backoff: 2s, budget: 20m}
          tool:      {attempts: 20, budget: 1h}
          guardrail: {maxBackoff: 1m}
        """, "a.yaml");
    RetryPolicies r = d.getRetry();
    assertThat(fields(r.getTool())).containsExactly(20, 2_000L, 30_000L, 3_600_000L);
    assertThat(fields(r.getModel())).containsExactly(6, 2_000L, 30_000L, 1_200_000L);
    assertThat(fields(r.getSandbox())).containsExactly(6, 2_000L, 30_000L, 1_200_000L);
    assertThat(fields(r.getGuardrail())).containsExactly(6, 2_000L, 60_000L, 1_200_000L);
    assertThat(d.getMaxAttempts()).isEqualTo(6); // what runners that predate retry policies read
  }

  @Test
  void maxAttemptsIsAShorthandForTheDefaultAttempts() {
    RetryPolicies r = AgentYaml.parse(HEAD + "maxAttempts: 4\nretry: {model: {attempts: 2}}\n", "a.yaml").getRetry();
    assertThat(r.getModel().getAttempts()).isEqualTo(2);
    assertThat(List.of(r.getTool(), r.getSandbox(), r.getGuardrail())).allSatisfy(p -> assertThat(p.getAttempts()).isEqualTo(4));
    AgentYamlGatesTest.assertError(HEAD + "maxAttempts: 4\nretry: {default: {attempts: 5}}\n", "maxAttempts",
        "is a shorthand for retry.default.attempts, which is also given; keep one");
  }

  @Test
  void unknownKeysAreRefusedWithASuggestion() {
    AgentYamlGatesTest.assertError(HEAD + "retry: {tools: {attempts: 3}}\n", "retry.tools",
        "unknown field (did you mean 'tool'?); allowed here: default, model, tool, sandbox, guardrail");
    AgentYamlGatesTest.assertError(HEAD + "retry: {model: {atempts: 3}}\n", "retry.model.atempts", "did you mean 'attempts'?");
    AgentYamlGatesTest.assertError(HEAD + "retry: {default: {max_backoff: 1m}}\n", "retry.default.max_backoff",
        "did you mean 'maxBackoff'?");
    AgentYamlGatesTest.assertError(HEAD + "retry: {approval: {attempts: 3}}\n", "retry.approval",
        "approvals are not retried: a call waits for a human until approvalTimeout");
    AgentYamlGatesTest.assertError(HEAD + "retry: 3\n", "retry", "must be a mapping");
  }

  @Test
  void valuesMustBePositive() {
    AgentYamlGatesTest.assertError(HEAD + "retry: {tool: {attempts: 0}}\n", "retry.tool.attempts", "must be at least 1, got 0");
    AgentYamlGatesTest.assertError(HEAD + "retry: {tool: {attempts: many}}\n", "retry.tool.attempts", "must be a whole number");
    AgentYamlGatesTest.assertError(HEAD + "retry: {model: {backoff: 0s}}\n", "retry.model.backoff", "must be longer than 0");
    AgentYamlGatesTest.assertError(HEAD + "retry: {default: {budget: 10}}\n", "retry.default.budget",
        "must be a duration with a unit like 500ms, 30s, 2m or 1h, got a number (10)");
    AgentYamlGatesTest.assertError(HEAD + "retry: {default: {budget: 10 minutes}}\n", "retry.default.budget",
        "'10 minutes' is not a duration like 500ms, 30s, 2m or 1h");
    AgentYamlGatesTest.assertError(HEAD + "maxAttempts: 0\n", "maxAttempts", "must be at least 1");
  }

  @Test
  void backoffMayNotStartAboveItsCap() {
    AgentYamlGatesTest.assertError(HEAD + "retry: {tool: {backoff: 1m}}\n", "retry.tool.backoff",
        "tool backoff 1m (retry.tool.backoff) is longer than its maxBackoff 30s (the default)");
    AgentYamlGatesTest.assertError(HEAD + "retry: {default: {backoff: 5s}, sandbox: {maxBackoff: 2s}}\n", "retry.default.backoff",
        "sandbox backoff 5s (retry.default.backoff) is longer than its maxBackoff 2s (retry.sandbox.maxBackoff)");
  }

  @Test
  void theBudgetMustOutlastOneAttempt() {
    AgentYamlGatesTest.assertError(HEAD + "retry: {model: {budget: 1m}}\n", "retry.model.budget",
        "model retry budget 1m (retry.model.budget) must be longer than one model attempt (2m, the default modelTimeout)");
    AgentYamlGatesTest.assertError(HEAD + "toolTimeout: 15m\n", "toolTimeout",
        "15m is not shorter than the tool retry budget (10m, the default)");
    AgentYamlGatesTest.assertError(HEAD + """
        tools:
          - {name: slow, timeout: 40m}
        retry: {tool: {budget: 30m}}
        """, "retry.tool.budget", "tool retry budget 30m (retry.tool.budget) must be longer than one tool attempt (40m, tools[0].timeout)");
    AgentYamlGatesTest.assertError(HEAD + """
        tools:
          - {name: slow, timeout: 40m}
        """, "tools[0].timeout", "40m is not shorter than the tool retry budget (10m, the default)");
    // a sandbox tool's timeout is checked against the sandbox budget, not the tool budget
    AgentDefinition d = AgentYaml.parse(HEAD + """
        tools:
          - {name: shell, kind: sandbox, timeout: 20m}
        retry: {sandbox: {budget: 1h}}
        """, "a.yaml");
    assertThat(d.getRetry().getSandbox().getBudgetMs()).isEqualTo(3_600_000L);
    // one attempt needs no budget to be re-sent in
    assertThat(AgentYaml.parse(HEAD + "retry: {guardrail: {attempts: 1, budget: 1s}}\n", "a.yaml").getRetry().getGuardrail().getAttempts())
        .isEqualTo(1);
  }
}
