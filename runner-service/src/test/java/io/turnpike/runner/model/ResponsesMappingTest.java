package io.turnpike.runner.model;

import static io.turnpike.runner.model.TestCalls.call;
import static io.turnpike.runner.model.TestCalls.functionCall;
import static io.turnpike.runner.model.TestCalls.message;
import static io.turnpike.runner.model.TestCalls.output;
import static io.turnpike.runner.model.TestCalls.tool;
import static io.turnpike.runner.model.TestCalls.user;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.core.ObjectMappers;
import com.openai.models.responses.Response;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ReasoningItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.ToolKind;
import java.util.List;
import org.junit.jupiter.api.Test;

class ResponsesMappingTest {

  static ModelCall richCall() {
    return call("run-1", "call-1", List.of(
        user("Weather in Paris and Rome?"),
        message(Role.ASSISTANT, "Let me check."),
        functionCall("call_a", "get_weather", "{\"city\":\"Paris\"}"),
        functionCall("call_b", "get_weather", "{\"city\":\"Rome\"}"),
        output("call_a", "get_weather", "sunny"),
        output("call_b", "get_weather", "rain"),
        message(Role.DEVELOPER, "Answer in French."),
        message(Role.SYSTEM, "Stay polite.")))
        .setTools(List.of(
            tool("get_weather", ToolKind.FUNCTION),
            tool("shell", ToolKind.SANDBOX),
            tool("search_docs", ToolKind.MCP),
            tool("web_search", ToolKind.HOSTED),
            tool("teleport", ToolKind.HOSTED)))
        .setSettings(TestCalls.settings().setTemperature(0.2).setTopP(0.9).setMaxOutputTokens(256L)
            .setToolChoice("required").setParallelToolCalls(true).build())
        .build();
  }

  static JsonNode json(Object body) throws Exception {
    return ObjectMappers.jsonMapper().valueToTree(body);
  }

  @Test
  void mapsTheWholeCallOntoARequest() throws Exception {
    JsonNode body = json(ResponsesMapping.toParams(richCall(), null)._body());

    assertThat(body.path("model").asText()).isEqualTo("gpt-test");
    assertThat(body.path("store").asBoolean(true)).isFalse();
    assertThat(body.path("instructions").asText()).isEqualTo("Be brief.");
    assertThat(body.path("temperature").asDouble()).isEqualTo(0.2);
    assertThat(body.path("top_p").asDouble()).isEqualTo(0.9);
    assertThat(body.path("max_output_tokens").asLong()).isEqualTo(256);
    assertThat(body.path("tool_choice").asText()).isEqualTo("required");
    assertThat(body.path("parallel_tool_calls").asBoolean()).isTrue();

    JsonNode input = body.path("input");
    assertThat(input).hasSize(8);
    assertThat(input.get(0).path("role").asText()).isEqualTo("user");
    assertThat(input.get(0).path("content").asText()).isEqualTo("Weather in Paris and Rome?");
    assertThat(input.get(1).path("role").asText()).isEqualTo("assistant");
    assertThat(input.get(1).path("content").asText()).isEqualTo("Let me check.");
    assertThat(input.get(2).path("type").asText()).isEqualTo("function_call");
    assertThat(input.get(2).path("call_id").asText()).isEqualTo("call_a");
    assertThat(input.get(2).path("name").asText()).isEqualTo("get_weather");
    assertThat(input.get(2).path("arguments").asText()).isEqualTo("{\"city\":\"Paris\"}");
    assertThat(input.get(2).has("id")).as("item ids are not replayed with store=false").isFalse();
    assertThat(input.get(3).path("call_id").asText()).isEqualTo("call_b");
    assertThat(input.get(4).path("type").asText()).isEqualTo("function_call_output");
    assertThat(input.get(4).path("call_id").asText()).isEqualTo("call_a");
    assertThat(input.get(4).path("output").asText()).isEqualTo("sunny");
    assertThat(input.get(5).path("output").asText()).isEqualTo("rain");
    assertThat(input.get(6).path("role").asText()).isEqualTo("developer");
    assertThat(input.get(7).path("role").asText()).isEqualTo("system");

    JsonNode tools = body.path("tools");
    assertThat(tools).hasSize(4);
    for (int i = 0; i < 3; i++) {
      assertThat(tools.get(i).path("type").asText()).isEqualTo("function");
      assertThat(tools.get(i).path("parameters"))
          .isEqualTo(ObjectMappers.jsonMapper().readTree(TestCalls.WEATHER_SCHEMA));
    }
    assertThat(tools.get(0).path("name").asText()).isEqualTo("get_weather");
    assertThat(tools.get(0).path("description").asText()).isEqualTo("the get_weather tool");
    assertThat(tools.get(0).path("strict").asBoolean()).isTrue();
    assertThat(tools.get(1).path("name").asText()).isEqualTo("shell");
    assertThat(tools.get(1).path("strict").asBoolean(true)).isFalse();
    assertThat(tools.get(2).path("name").asText()).isEqualTo("search_docs");
    assertThat(tools.get(3).path("type").asText()).isEqualTo("web_search");
  }

  @Test
  void overrideReplacesTheModelAndANamedToolChoiceBecomesAFunctionChoice() throws Exception {
    ModelCall c = call("r", "c", List.of(user("hi")))
        .setTools(List.of(tool("get_weather", ToolKind.FUNCTION)))
        .setSettings(TestCalls.settings().setToolChoice("get_weather").build())
        .build();
    JsonNode body = json(ResponsesMapping.toParams(c, "llama3.2")._body());
    assertThat(body.path("model").asText()).isEqualTo("llama3.2");
    assertThat(body.path("tool_choice").path("type").asText()).isEqualTo("function");
    assertThat(body.path("tool_choice").path("name").asText()).isEqualTo("get_weather");
  }

  @Test
  void withoutToolsThereIsNoToolChoiceNorInstructionsWhenBlank() throws Exception {
    ModelCall c = call("r", "c", List.of(user("hi"))).setInstructions("")
        .setSettings(TestCalls.settings().setToolChoice("required").setParallelToolCalls(false).build())
        .build();
    JsonNode body = json(ResponsesMapping.toParams(c, null)._body());
    assertThat(body.has("tools")).isFalse();
    assertThat(body.has("tool_choice")).isFalse();
    assertThat(body.has("parallel_tool_calls")).isFalse();
    assertThat(body.has("instructions")).isFalse();
    assertThat(body.has("temperature")).isFalse();
  }

  @Test
  void aSchemaThatIsNotJsonIsAnInvalidCall() {
    ModelCall c = call("r", "c", List.of(user("hi")))
        .setTools(List.of(tool("broken", ToolKind.FUNCTION)))
        .build();
    c.getTools().getFirst().setParametersJson("{not json");
    assertThatThrownBy(() -> ResponsesMapping.toParams(c, null))
        .isInstanceOf(MappingSupport.InvalidCallException.class)
        .hasMessageContaining("broken");
  }

  static Response response(String json) throws Exception {
    return ObjectMappers.jsonMapper().readValue(json, Response.class).validate();
  }

  static String responseJson(String status, String output) {
    return """
        {"id":"resp_1","object":"response","created_at":1700000000,"status":"%s","model":"gpt-test",
         "output":[%s],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],
         "error":null,"incomplete_details":null,"instructions":null,"metadata":{},"temperature":1.0,"top_p":1.0,
         "usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},
                  "output_tokens":30,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":150}}
        """.formatted(status, output);
  }

  static final String TEXT = """
      {"type":"message","id":"msg_1","role":"assistant","status":"completed",
       "content":[{"type":"output_text","text":"Il fait beau ","annotations":[]},
                  {"type":"output_text","text":"à Paris.","annotations":[]}]}""";
  static final String CALL_A = """
      {"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}","status":"completed"}""";
  static final String CALL_B = """
      {"type":"function_call","id":"fc_2","call_id":"call_b","name":"get_weather","arguments":"{\\"city\\":\\"Rome\\"}","status":"completed"}""";
  static final String REASONING = """
      {"type":"reasoning","id":"rs_1","summary":[]}""";

  @Test
  void mapsTextFunctionCallsAndUsageBack() throws Exception {
    ModelCall c = TestCalls.simple("run-9", "call-9", "hi");
    ModelResult r = ResponsesMapping.toResult(c,
        response(responseJson("completed", String.join(",", REASONING, TEXT, CALL_A, CALL_B))));

    assertThat(r.getRunId()).isEqualTo("run-9");
    assertThat(r.getCallId()).isEqualTo("call-9");
    assertThat(r.getResponseId()).isEqualTo("resp_1");
    assertThat(r.getError()).isNull();
    assertThat(r.getOutput()).hasSize(4);
    assertThat(r.getOutput().get(0)).isInstanceOfSatisfying(ReasoningItem.class, reasoning -> {
      assertThat(reasoning.getItemId()).isEqualTo("rs_1");
      assertThat(reasoning.getEncryptedContent()).isNull();
      assertThat(reasoning.getSummary()).isEmpty();
    });
    r.getOutput().remove(0);
    MessageItem m = (MessageItem) r.getOutput().get(0);
    assertThat(m.getRole()).isEqualTo(Role.ASSISTANT);
    assertThat(m.getText()).isEqualTo("Il fait beau à Paris.");
    assertThat(m.getAgent()).isEqualTo("assistant");
    FunctionCallItem a = (FunctionCallItem) r.getOutput().get(1);
    assertThat(a.getToolCallId()).isEqualTo("call_a");
    assertThat(a.getName()).isEqualTo("get_weather");
    assertThat(a.getArguments()).isEqualTo("{\"city\":\"Paris\"}");
    assertThat(a.getItemId()).isEqualTo("fc_1");
    assertThat(((FunctionCallItem) r.getOutput().get(2)).getToolCallId()).isEqualTo("call_b");
    assertThat(r.getUsage().getInputTokens()).isEqualTo(120);
    assertThat(r.getUsage().getOutputTokens()).isEqualTo(30);
    assertThat(r.getUsage().getTotalTokens()).isEqualTo(150);
    assertThat(r.getUsage().getModelCalls()).isEqualTo(1);
  }

  @Test
  void aFailedResponseBecomesAnError() throws Exception {
    String json = responseJson("failed", "").replace("\"error\":null",
        "\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}");
    ModelResult r = ResponsesMapping.toResult(TestCalls.simple("r", "c", "hi"), response(json));
    assertThat(r.getError()).isNotNull();
    assertThat(r.getError().getCode()).isEqualTo("model_response_failed");
    assertThat(r.getError().getMessage()).contains("server_error").contains("boom");
    assertThat(r.getError().getRetryable()).isTrue();
    assertThat(r.getOutput()).isEmpty();
  }

  @Test
  void anIncompleteResponseWithoutOutputIsAnError() throws Exception {
    String json = responseJson("incomplete", REASONING).replace("\"incomplete_details\":null",
        "\"incomplete_details\":{\"reason\":\"max_output_tokens\"}");
    ModelResult r = ResponsesMapping.toResult(TestCalls.simple("r", "c", "hi"), response(json));
    assertThat(r.getError().getCode()).isEqualTo("model_incomplete");
    assertThat(r.getError().getMessage()).contains("max_output_tokens");
    assertThat(r.getError().getRetryable()).isFalse();
  }

  @Test
  void everyKnownHostedToolIsPassedThrough() throws Exception {
    List<io.turnpike.avro.ToolSpec> hosted = MappingSupport.HOSTED_TOOLS.keySet().stream()
        .map(n -> tool(n, ToolKind.HOSTED)).toList();
    ModelCall c = call("r", "c", List.of(user("hi"))).setTools(new java.util.ArrayList<>(hosted)).build();
    JsonNode tools = json(ResponsesMapping.toParams(c, null)._body()).path("tools");
    assertThat(tools).hasSize(MappingSupport.HOSTED_TOOLS.size());
    for (int i = 0; i < hosted.size(); i++) {
      assertThat(tools.get(i).path("type").asText()).isEqualTo(hosted.get(i).getName());
    }
  }
}
