package io.turnpike.runner.model;

import static io.turnpike.runner.model.ResponsesMappingTest.json;
import static io.turnpike.runner.model.ResponsesMappingTest.response;
import static io.turnpike.runner.model.ResponsesMappingTest.responseJson;
import static io.turnpike.runner.model.TestCalls.call;
import static io.turnpike.runner.model.TestCalls.tool;
import static io.turnpike.runner.model.TestCalls.user;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.turnpike.avro.Annotation;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Hosted tools in the Responses mapping: offered from hostedJson, answers mapped to items and citations, items replayed. */
class HostedItemsTest {
  static final byte[] PNG = HexFormat.of().parseHex("89504e470d0a1a0a0000000d4948445200000001");

  static ToolSpec hosted(String name, String json) {
    return ToolSpec.newBuilder().setName(name).setKind(ToolKind.HOSTED).setHostedJson(json).build();
  }

  static ModelCall withTools(List<ToolSpec> tools, String toolChoice) {
    return call("r", "c", List.of(user("hi"))).setTools(new ArrayList<>(tools))
        .setSettings(TestCalls.settings().setToolChoice(toolChoice).build()).build();
  }

  @Test
  void hostedToolsAreSentAsPublishedAndChosenByType() throws Exception {
    ModelCall c = withTools(List.of(tool("get_weather", ToolKind.FUNCTION),
        hosted("guides", "{\"type\":\"file_search\",\"vector_store_ids\":[\"vs_1\"],\"max_num_results\":3}")), "guides");
    JsonNode body = json(ResponsesMapping.toParams(c, null)._body());
    assertThat(body.path("tools").get(1).toString()) // as published, the numbers' Java types aside
        .isEqualTo("{\"type\":\"file_search\",\"vector_store_ids\":[\"vs_1\"],\"max_num_results\":3}");
    assertThat(body.path("tool_choice")).isEqualTo(ObjectMapperHolder.read("{\"type\":\"file_search\"}"));
    ModelCall m = withTools(List.of(hosted("wiki", "{\"type\":\"mcp\",\"server_label\":\"wiki\",\"server_url\":\"https://a.example\","
        + "\"require_approval\":\"never\"}")), "wiki");
    assertThat(json(ResponsesMapping.toParams(m, null)._body()).path("tool_choice"))
        .isEqualTo(ObjectMapperHolder.read("{\"type\":\"mcp\",\"server_label\":\"wiki\"}"));
    ModelCall f = withTools(List.of(tool("get_weather", ToolKind.FUNCTION)), "get_weather");
    assertThat(json(ResponsesMapping.toParams(f, null)._body()).path("tool_choice"))
        .isEqualTo(ObjectMapperHolder.read("{\"type\":\"function\",\"name\":\"get_weather\"}"));
  }

  @Test
  void mcpHeadersAreResolvedFromTheEnvironmentAndNeverEchoed() throws Exception {
    ToolSpec wiki = hosted("wiki", "{\"type\":\"mcp\",\"server_label\":\"wiki\",\"server_url\":\"https://a.example\","
        + "\"require_approval\":\"never\",\"headers\":{\"Authorization\":\"Bearer ${TURNPIKE_MCP_WIKI}\"}}");
    Map<String, String> env = Map.of("TURNPIKE_MCP_WIKI", "s3cret");
    JsonNode tool = ObjectMapperHolder.JSON.valueToTree(HostedItems.tool(wiki, "a", env::get));
    assertThat(tool.path("headers").path("Authorization").asText()).isEqualTo("Bearer s3cret");
    assertThatThrownBy(() -> HostedItems.tool(wiki, "a", name -> null))
        .isInstanceOf(MappingSupport.InvalidCallException.class)
        .hasMessage("hosted tool wiki: header Authorization refers to TURNPIKE_MCP_WIKI, which is not set in the model"
            + " invoker's environment");
    ToolSpec literal = hosted("wiki", "{\"type\":\"mcp\",\"server_label\":\"wiki\",\"server_url\":\"https://a.example\","
        + "\"headers\":{\"Authorization\":\"Bearer ${OPENAI_API_KEY}\"}}");
    assertThatThrownBy(() -> HostedItems.tool(literal, "a", name -> "sk-the-invokers-key"))
        .isInstanceOf(MappingSupport.InvalidCallException.class)
        .hasMessage("hosted tool wiki: header Authorization is not a reference to a TURNPIKE_MCP_* variable of the model invoker");
  }

  @Test
  void aLegacyHostedToolWithoutHostedJsonIsItsName() throws Exception {
    ModelCall c = withTools(List.of(tool("web_search", ToolKind.HOSTED), tool("teleport", ToolKind.HOSTED)), null);
    JsonNode tools = json(ResponsesMapping.toParams(c, null)._body()).path("tools");
    assertThat(tools).hasSize(1);
    assertThat(tools.get(0).path("type").asText()).isEqualTo("web_search");
  }

  @Test
  void hostedOutputItemsAndCitationsAreKeptAndReplayed() throws Exception {
    String png = Base64.getEncoder().encodeToString(PNG);
    String output = String.join(",",
        "{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"completed\",\"action\":{\"type\":\"search\",\"query\":\"oslo\","
            + "\"sources\":[{\"type\":\"url\",\"url\":\"https://yr.no\"}]}}",
        "{\"type\":\"image_generation_call\",\"id\":\"ig_1\",\"status\":\"completed\",\"result\":\"" + png + "\"}",
        "{\"type\":\"mcp_call\",\"id\":\"mcp_1\",\"server_label\":\"wiki\",\"name\":\"ask\",\"arguments\":\"{}\",\"output\":\"42\"}",
        "{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":["
            + "{\"type\":\"output_text\",\"text\":\"Mild. \",\"annotations\":[{\"type\":\"url_citation\",\"url\":\"https://yr.no\","
            + "\"title\":\"yr\",\"start_index\":0,\"end_index\":5}]},"
            + "{\"type\":\"output_text\",\"text\":\"See the guide.\",\"annotations\":[{\"type\":\"file_citation\","
            + "\"file_id\":\"file-1\",\"filename\":\"guide.md\",\"index\":13}]}]}");
    ModelResult r = ResponsesMapping.toResult(TestCalls.simple("r", "c", "hi"), response(responseJson("completed", output)));
    assertThat(r.getError()).isNull();
    assertThat(r.getOutput()).hasSize(4);
    HostedToolCallItem search = (HostedToolCallItem) r.getOutput().get(0);
    assertThat(search.getItemId()).isEqualTo("ws_1");
    assertThat(search.getType()).isEqualTo("web_search_call");
    assertThat(search.getStatus()).isEqualTo("completed");
    assertThat(search.getSummary()).isEqualTo("searched \"oslo\", 1 source");
    HostedToolCallItem image = (HostedToolCallItem) r.getOutput().get(1);
    assertThat(image.getImage().getMimeType()).isEqualTo("image/png");
    assertThat(image.getImage().getSize()).isEqualTo(PNG.length);
    assertThat(ObjectMapperHolder.read(image.getJson()).path("result").isNull()).isTrue();
    assertThat(((HostedToolCallItem) r.getOutput().get(2)).getSummary()).isEqualTo("wiki.ask({}): 42");
    MessageItem text = (MessageItem) r.getOutput().get(3);
    assertThat(text.getText()).isEqualTo("Mild. See the guide.");
    // the second part's index moves by the first part's length
    assertThat(text.getAnnotations()).extracting(Annotation::getType, Annotation::getStartIndex, Annotation::getIndex)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("url_citation", 0, null),
            org.assertj.core.groups.Tuple.tuple("file_citation", null, 19));

    // replayed: the same items as input, the image's bytes back in its result
    ModelCall next = call("r", "c2", new ArrayList<>(List.of(user("hi"), search, image, r.getOutput().get(2), text))).build();
    JsonNode input = json(ResponsesMapping.toParams(next, null)._body()).path("input");
    assertThat(input).hasSize(5);
    assertThat(input.get(1)).isEqualTo(ObjectMapperHolder.read(search.getJson()));
    assertThat(input.get(2).path("type").asText()).isEqualTo("image_generation_call");
    assertThat(input.get(2).path("result").asText()).isEqualTo(png);
    assertThat(input.get(3).path("output").asText()).isEqualTo("42");
    // an image the run did not keep goes back without its picture
    HostedToolCallItem unkept = HostedToolCallItem.newBuilder(image).setImage(io.turnpike.avro.ImageContent.newBuilder(image.getImage())
        .setData(null).build()).build();
    JsonNode again = json(ResponsesMapping.toParams(call("r", "c3", new ArrayList<>(List.of(user("hi"), unkept))).build(), null)._body());
    assertThat(again.path("input").get(1).path("result").isNull()).isTrue();
    // a corrupted item is left out of the request only
    HostedToolCallItem broken = HostedToolCallItem.newBuilder(search).setJson("{not json").build();
    assertThat(json(ResponsesMapping.toParams(call("r", "c4", new ArrayList<>(List.of(user("hi"), broken))).build(), null)._body())
        .path("input")).hasSize(1);
  }

  @Test
  void onlyHostedCallsInAnIncompleteResponseAreNoAnswer() throws Exception {
    String output = "{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":\"completed\",\"action\":{\"type\":\"search\",\"query\":\"q\"}}";
    String json = responseJson("incomplete", output).replace("\"incomplete_details\":null",
        "\"incomplete_details\":{\"reason\":\"max_output_tokens\"}");
    ModelResult r = ResponsesMapping.toResult(TestCalls.simple("r", "c", "hi"), response(json));
    assertThat(r.getError().getCode()).isEqualTo("model_incomplete");
  }

  /** JSON helpers of openai-java's own mapper, as the mapping uses. */
  static final class ObjectMapperHolder {
    static final com.fasterxml.jackson.databind.ObjectMapper JSON = com.openai.core.ObjectMappers.jsonMapper();

    static JsonNode read(String s) throws Exception {
      return JSON.readTree(s);
    }
  }
}
