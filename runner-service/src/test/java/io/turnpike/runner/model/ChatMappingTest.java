package io.turnpike.runner.model;

import static io.turnpike.runner.model.TestCalls.call;
import static io.turnpike.runner.model.TestCalls.functionCall;
import static io.turnpike.runner.model.TestCalls.output;
import static io.turnpike.runner.model.TestCalls.tool;
import static io.turnpike.runner.model.TestCalls.user;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.core.ObjectMappers;
import com.openai.models.chat.completions.ChatCompletion;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.Role;
import io.turnpike.avro.ToolKind;
import java.util.List;
import org.junit.jupiter.api.Test;

class ChatMappingTest {

  @Test
  void mapsTheWholeCallOntoMessagesAndTools() throws Exception {
    ModelCall rich = ResponsesMappingTest.richCall();
    rich.setTools(rich.getTools().stream().filter(MappingSupport::isFunctionTool).toList());
    JsonNode body = ResponsesMappingTest.json(ChatMapping.toParams(rich, null)._body());

    assertThat(body.path("model").asText()).isEqualTo("gpt-test");
    assertThat(body.path("temperature").asDouble()).isEqualTo(0.2);
    assertThat(body.path("top_p").asDouble()).isEqualTo(0.9);
    assertThat(body.path("max_completion_tokens").asLong()).isEqualTo(256);
    assertThat(body.path("tool_choice").asText()).isEqualTo("required");
    assertThat(body.path("parallel_tool_calls").asBoolean()).isTrue();

    JsonNode msgs = body.path("messages");
    assertThat(msgs).hasSize(7);
    assertThat(msgs.get(0).path("role").asText()).isEqualTo("system");
    assertThat(msgs.get(0).path("content").asText()).isEqualTo("Be brief.");
    assertThat(msgs.get(1).path("role").asText()).isEqualTo("user");
    assertThat(msgs.get(1).path("content").asText()).isEqualTo("Weather in Paris and Rome?");
    JsonNode assistant = msgs.get(2);
    assertThat(assistant.path("role").asText()).isEqualTo("assistant");
    assertThat(assistant.path("content").asText()).isEqualTo("Let me check.");
    assertThat(assistant.path("tool_calls")).hasSize(2);
    assertThat(assistant.path("tool_calls").get(0).path("id").asText()).isEqualTo("call_a");
    assertThat(assistant.path("tool_calls").get(0).path("type").asText()).isEqualTo("function");
    assertThat(assistant.path("tool_calls").get(0).path("function").path("name").asText()).isEqualTo("get_weather");
    assertThat(assistant.path("tool_calls").get(0).path("function").path("arguments").asText())
        .isEqualTo("{\"city\":\"Paris\"}");
    assertThat(assistant.path("tool_calls").get(1).path("id").asText()).isEqualTo("call_b");
    assertThat(msgs.get(3).path("role").asText()).isEqualTo("tool");
    assertThat(msgs.get(3).path("tool_call_id").asText()).isEqualTo("call_a");
    assertThat(msgs.get(3).path("content").asText()).isEqualTo("sunny");
    assertThat(msgs.get(4).path("tool_call_id").asText()).isEqualTo("call_b");
    assertThat(msgs.get(5).path("role").asText()).as("developer is sent as system").isEqualTo("system");
    assertThat(msgs.get(5).path("content").asText()).isEqualTo("Answer in French.");
    assertThat(msgs.get(6).path("content").asText()).isEqualTo("Stay polite.");

    JsonNode tools = body.path("tools");
    assertThat(tools).hasSize(3);
    assertThat(tools.get(0).path("type").asText()).isEqualTo("function");
    assertThat(tools.get(0).path("function").path("name").asText()).isEqualTo("get_weather");
    assertThat(tools.get(0).path("function").path("description").asText()).isEqualTo("the get_weather tool");
    assertThat(tools.get(0).path("function").path("strict").asBoolean()).isTrue();
    assertThat(tools.get(0).path("function").path("parameters"))
        .isEqualTo(ObjectMappers.jsonMapper().readTree(TestCalls.WEATHER_SCHEMA));
    assertThat(tools.get(1).path("function").path("name").asText()).isEqualTo("shell");
    assertThat(tools.get(2).path("function").path("name").asText()).isEqualTo("search_docs");
  }

  @Test
  void aHostedToolOnTheChatPathFailsTheCallInsteadOfVanishing() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> ChatMapping.toParams(ResponsesMappingTest.richCall(), null))
        .isInstanceOf(MappingSupport.InvalidCallException.class)
        .hasMessageContaining("offers hosted tool 'web_search', which only the Responses API runs, and this call goes to"
            + " Chat Completions");
  }

  @Test
  void functionCallsWithoutAssistantTextBecomeAnAssistantMessageWithoutContent() throws Exception {
    ModelCall c = call("r", "c", List.of(
        user("hi"),
        functionCall("call_x", "get_weather", "{}"),
        output("call_x", "get_weather", "42")))
        .setTools(List.of(tool("get_weather", ToolKind.FUNCTION)))
        .setSettings(TestCalls.settings().setToolChoice("get_weather").build())
        .build();
    JsonNode body = ResponsesMappingTest.json(ChatMapping.toParams(c, "local-model")._body());
    assertThat(body.path("model").asText()).isEqualTo("local-model");
    JsonNode msgs = body.path("messages");
    assertThat(msgs).hasSize(4);
    assertThat(msgs.get(2).path("role").asText()).isEqualTo("assistant");
    assertThat(msgs.get(2).path("content").isMissingNode() || msgs.get(2).path("content").isNull()).isTrue();
    assertThat(msgs.get(2).path("tool_calls")).hasSize(1);
    assertThat(msgs.get(3).path("role").asText()).isEqualTo("tool");
    assertThat(body.path("tool_choice").path("type").asText()).isEqualTo("function");
    assertThat(body.path("tool_choice").path("function").path("name").asText()).isEqualTo("get_weather");
  }

  static ChatCompletion completion(String message, String finish) throws Exception {
    String json = """
        {"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-test",
         "choices":[{"index":0,"finish_reason":"%s","logprobs":null,"message":%s}],
         "usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}
        """.formatted(finish, message);
    return ObjectMappers.jsonMapper().readValue(json, ChatCompletion.class).validate();
  }

  @Test
  void mapsTextAndToolCallsBack() throws Exception {
    ModelResult r = ChatMapping.toResult(TestCalls.simple("run-2", "call-2", "hi"), completion("""
        {"role":"assistant","content":"Checking.","refusal":null,"tool_calls":[
          {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}},
          {"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Rome\\"}"}}]}
        """, "tool_calls"));
    assertThat(r.getRunId()).isEqualTo("run-2");
    assertThat(r.getCallId()).isEqualTo("call-2");
    assertThat(r.getResponseId()).isEqualTo("chatcmpl-1");
    assertThat(r.getError()).isNull();
    assertThat(r.getOutput()).hasSize(3);
    MessageItem m = (MessageItem) r.getOutput().get(0);
    assertThat(m.getRole()).isEqualTo(Role.ASSISTANT);
    assertThat(m.getText()).isEqualTo("Checking.");
    assertThat(m.getAgent()).isEqualTo("assistant");
    FunctionCallItem a = (FunctionCallItem) r.getOutput().get(1);
    assertThat(a.getToolCallId()).isEqualTo("call_a");
    assertThat(a.getName()).isEqualTo("get_weather");
    assertThat(a.getArguments()).isEqualTo("{\"city\":\"Paris\"}");
    assertThat(a.getItemId()).isNull();
    assertThat(((FunctionCallItem) r.getOutput().get(2)).getArguments()).isEqualTo("{\"city\":\"Rome\"}");
    assertThat(r.getUsage().getInputTokens()).isEqualTo(11);
    assertThat(r.getUsage().getOutputTokens()).isEqualTo(7);
    assertThat(r.getUsage().getTotalTokens()).isEqualTo(18);
    assertThat(r.getUsage().getModelCalls()).isEqualTo(1);
  }

  @Test
  void anEmptyCompletionCutShortIsAnError() throws Exception {
    ModelResult r = ChatMapping.toResult(TestCalls.simple("r", "c", "hi"),
        completion("{\"role\":\"assistant\",\"content\":null,\"refusal\":null}", "length"));
    assertThat(r.getOutput()).isEmpty();
    assertThat(r.getError().getCode()).isEqualTo("model_incomplete");
    assertThat(r.getError().getRetryable()).isFalse();
  }
}
