package io.turnpike.runner.model;

import static io.turnpike.runner.model.MappingSupport.InvalidCallException;

import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.ReasoningEffort;
import com.openai.models.ResponseFormatJsonSchema;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionAssistantMessageParam;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionMessage;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionMessageToolCall;
import com.openai.models.chat.completions.ChatCompletionNamedToolChoice;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import com.openai.models.chat.completions.ChatCompletionUserMessageParam;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.ReasoningItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.ToolSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ModelCall to Chat Completions request, and ChatCompletion to ModelResult. Instructions become the
 * first system message; an assistant message and the function calls right after it become one
 * assistant message with tool_calls; each function call output becomes a tool message. DEVELOPER
 * messages are sent as system messages (local servers rarely know the developer role). Hosted tools
 * do not exist in this API and are left out with a warning.
 */
final class ChatMapping {
  private ChatMapping() {}

  private static final Logger log = LoggerFactory.getLogger(ChatMapping.class);

  static ChatCompletionCreateParams toParams(ModelCall call, String modelOverride) {
    ChatCompletionCreateParams.Builder b = ChatCompletionCreateParams.builder()
        .model(MappingSupport.model(call, modelOverride));
    if (call.getInstructions() != null && !call.getInstructions().isBlank()) {
      b.addSystemMessage(call.getInstructions());
    }
    addMessages(b, call);
    int tools = 0;
    if (call.getTools() != null) {
      for (ToolSpec t : call.getTools()) {
        if (!MappingSupport.isFunctionTool(t)) {
          // Agent YAML refuses this for api: chat; a deployment-wide turnpike.model.api=chat or a Chat model
          // provider can still route the agent here. Dropping the tool would change what the agent can do unseen.
          throw new InvalidCallException("agent " + call.getAgent() + " offers hosted tool '" + t.getName() + "', which"
              + " only the Responses API runs, and this call goes to Chat Completions (turnpike.model.api, or its model"
              + " provider); use the Responses API for this agent, or remove the tool");
        }
        FunctionParameters.Builder params = FunctionParameters.builder();
        MappingSupport.schema(t).forEach(params::putAdditionalProperty);
        FunctionDefinition.Builder fd = FunctionDefinition.builder()
            .name(t.getName())
            .parameters(params.build());
        if (t.getStrict()) {
          fd.strict(true);
        }
        if (t.getDescription() != null && !t.getDescription().isBlank()) {
          fd.description(t.getDescription());
        }
        b.addFunctionTool(fd.build());
        tools++;
      }
    }
    ModelSettings s = MappingSupport.settings(call);
    if (s.getTemperature() != null) {
      b.temperature(s.getTemperature());
    }
    if (s.getTopP() != null) {
      b.topP(s.getTopP());
    }
    if (s.getMaxOutputTokens() != null) {
      b.maxCompletionTokens(s.getMaxOutputTokens());
    }
    if (s.getReasoning() != null && s.getReasoning().getEffort() != null) {
      b.reasoningEffort(ReasoningEffort.of(s.getReasoning().getEffort())); // Chat returns no reasoning items to replay
    }
    if (s.getFrequencyPenalty() != null) {
      b.frequencyPenalty(s.getFrequencyPenalty());
    }
    if (s.getPresencePenalty() != null) {
      b.presencePenalty(s.getPresencePenalty());
    }
    if (s.getVerbosity() != null) {
      b.verbosity(ChatCompletionCreateParams.Verbosity.of(s.getVerbosity()));
    }
    if (!s.getMetadata().isEmpty()) {
      ChatCompletionCreateParams.Metadata.Builder m = ChatCompletionCreateParams.Metadata.builder();
      s.getMetadata().forEach(m::putProperty);
      b.metadata(m.build());
    }
    OutputType type = call.getOutputType();
    if (type != null) {
      ResponseFormatJsonSchema.JsonSchema.Schema.Builder schema = ResponseFormatJsonSchema.JsonSchema.Schema.builder();
      MappingSupport.schema(type).forEach(schema::putAdditionalProperty);
      b.responseFormat(ResponseFormatJsonSchema.builder()
          .jsonSchema(ResponseFormatJsonSchema.JsonSchema.builder()
              .name(type.getName())
              .schema(schema.build())
              .strict(type.getStrict())
              .build())
          .build());
    }
    if (tools > 0) {
      if (s.getParallelToolCalls() != null) {
        b.parallelToolCalls(s.getParallelToolCalls());
      }
      String choice = s.getToolChoice();
      if (choice != null && !choice.isBlank()) {
        String c = choice.trim();
        if (MappingSupport.TOOL_CHOICE_OPTIONS.contains(c.toLowerCase(Locale.ROOT))) {
          b.toolChoice(ChatCompletionToolChoiceOption.Auto.of(c.toLowerCase(Locale.ROOT)));
        } else {
          b.toolChoice(ChatCompletionNamedToolChoice.builder()
              .function(ChatCompletionNamedToolChoice.Function.builder().name(c).build())
              .build());
        }
      }
    }
    return b.build();
  }

  private static void addMessages(ChatCompletionCreateParams.Builder b, ModelCall call) {
    // The assistant message being built: function calls join the assistant text right before them.
    ChatCompletionAssistantMessageParam.Builder pending = null;
    // Images of the tool messages just added: a tool message holds text only, and nothing may come
    // between an assistant's tool calls and their tool messages, so they follow as one user message.
    List<ChatCompletionContentPart> images = new ArrayList<>();
    for (Object item : MappingSupport.input(call)) {
      if (item instanceof ReasoningItem || item instanceof HostedToolCallItem) {
        // Responses API items: Chat Completions has no way to replay them (an agent on the Chat path may
        // follow one on the Responses API after a handoff). Left out of this request only; the RunState keeps them.
        continue;
      }
      if (!(item instanceof FunctionCallOutputItem)) {
        flushImages(b, images);
      }
      if (item instanceof FunctionCallItem f) {
        if (pending == null) {
          pending = ChatCompletionAssistantMessageParam.builder();
        }
        pending.addToolCall(ChatCompletionMessageFunctionToolCall.builder()
            .id(f.getToolCallId())
            .function(ChatCompletionMessageFunctionToolCall.Function.builder()
                .name(f.getName())
                .arguments(f.getArguments())
                .build())
            .build());
        continue;
      }
      if (pending != null) {
        b.addMessage(pending.build());
        pending = null;
      }
      switch (item) {
        case MessageItem m when m.getRole() == Role.ASSISTANT ->
            pending = ChatCompletionAssistantMessageParam.builder().content(m.getText());
        case MessageItem m when m.getRole() == Role.USER -> b.addUserMessage(m.getText());
        case MessageItem m -> b.addSystemMessage(m.getText());
        case FunctionCallOutputItem o -> {
          b.addMessage(ChatCompletionToolMessageParam.builder()
              .toolCallId(o.getToolCallId())
              .content(o.getOutput())
              .build());
          List<ImageContent> shown = MappingSupport.shown(o);
          if (!shown.isEmpty()) {
            images.add(ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                .text("The image" + (shown.size() == 1 ? "" : "s") + " returned by " + o.getName() + " (call "
                    + o.getToolCallId() + "):")
                .build()));
            for (ImageContent image : shown) {
              images.add(ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                  .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder().url(MappingSupport.dataUrl(image)).build())
                  .build()));
            }
          }
        }
        default -> throw new InvalidCallException("unsupported input item " + MappingSupport.typeOf(item));
      }
    }
    flushImages(b, images);
    if (pending != null) {
      b.addMessage(pending.build());
    }
  }

  private static void flushImages(ChatCompletionCreateParams.Builder b, List<ChatCompletionContentPart> images) {
    if (!images.isEmpty()) {
      b.addMessage(ChatCompletionUserMessageParam.builder().contentOfArrayOfContentParts(List.copyOf(images)).build());
      images.clear();
    }
  }

  /** Maps a completion; {@code latencyMs} and error redaction are the caller's. */
  static ModelResult toResult(ModelCall call, ChatCompletion completion) {
    List<Object> output = new ArrayList<>();
    ModelResult.Builder result = ModelResult.newBuilder()
        .setRunId(call.getRunId())
        .setCallId(call.getCallId())
        .setResponseId(completion.id())
        .setUsage(completion.usage()
            .map(u -> MappingSupport.usage(u.promptTokens(), u.completionTokens(), u.totalTokens(),
                u.promptTokensDetails().flatMap(d -> d.cachedTokens()).orElse(0L),
                u.completionTokensDetails().flatMap(d -> d.reasoningTokens()).orElse(0L)))
            .orElseGet(MappingSupport::noUsage));
    if (completion.choices().isEmpty()) {
      return result.setOutput(output).setError(ErrorInfo.newBuilder()
          .setCode(ModelErrors.BAD_RESPONSE)
          .setMessage("the completion has no choices")
          .setRetryable(false)
          .build()).build();
    }
    ChatCompletion.Choice choice = completion.choices().getFirst();
    ChatCompletionMessage message = choice.message();
    String text = message.content().filter(s -> !s.isEmpty()).or(message::refusal).orElse("");
    if (!text.isEmpty()) {
      output.add(MappingSupport.assistantMessage(text, call));
    }
    for (ChatCompletionMessageToolCall tc : message.toolCalls().orElse(List.of())) {
      if (tc.isFunction()) {
        ChatCompletionMessageFunctionToolCall f = tc.asFunction();
        output.add(MappingSupport.functionCall(f.id(), f.function().name(), f.function().arguments(), null));
      } else {
        log.debug("call {}: ignoring non-function tool call {}", call.getCallId(), tc);
      }
    }
    result.setOutput(output);
    String finish = choice._finishReason().isMissing() ? "" : choice.finishReason().asString();
    if (output.isEmpty() && ("length".equals(finish) || "content_filter".equals(finish))) {
      result.setError(ErrorInfo.newBuilder()
          .setCode(ModelErrors.INCOMPLETE)
          .setMessage("the completion stopped (" + finish + ") with no output")
          .setRetryable(false)
          .build());
    }
    return result.build();
  }
}
