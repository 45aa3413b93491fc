package io.turnpike.runner.model;

import static io.turnpike.runner.model.MappingSupport.InvalidCallException;

import com.openai.models.Reasoning;
import com.openai.models.ReasoningEffort;
import com.openai.models.responses.EasyInputMessage;
import com.openai.models.responses.FunctionTool;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseFormatTextJsonSchemaConfig;
import com.openai.models.responses.ResponseFunctionCallOutputItem;
import com.openai.models.responses.ResponseFunctionToolCall;
import com.openai.models.responses.ResponseIncludable;
import com.openai.models.responses.ResponseInputImageContent;
import com.openai.models.responses.ResponseInputItem;
import com.openai.models.responses.ResponseInputTextContent;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseOutputMessage;
import com.openai.models.responses.ResponseReasoningItem;
import com.openai.models.responses.ResponseStatus;
import com.openai.models.responses.ResponseTextConfig;
import com.openai.models.responses.Tool;
import com.openai.models.responses.ToolChoiceFunction;
import com.openai.models.responses.ToolChoiceOptions;
import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.ModelSettings;
import io.turnpike.avro.OutputType;
import io.turnpike.avro.ReasoningItem;
import io.turnpike.avro.ReasoningSettings;
import io.turnpike.avro.ToolSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ModelCall to Responses API request, and Responses API response to ModelResult. Stateless: the whole
 * conversation is replayed as input and {@code store} is false.
 */
final class ResponsesMapping {
  private ResponsesMapping() {}

  private static final Logger log = LoggerFactory.getLogger(ResponsesMapping.class);

  private static final Set<String> RETRYABLE_RESPONSE_ERRORS = Set.of("server_error", "rate_limit_exceeded");

  static ResponseCreateParams toParams(ModelCall call, String modelOverride) {
    ResponseCreateParams.Builder b = ResponseCreateParams.builder()
        .model(MappingSupport.model(call, modelOverride))
        .store(false)
        .input(ResponseCreateParams.Input.ofResponse(inputItems(call)));
    if (call.getInstructions() != null && !call.getInstructions().isBlank()) {
      b.instructions(call.getInstructions());
    }
    List<Tool> tools = tools(call);
    if (!tools.isEmpty()) {
      b.tools(tools);
    }
    ModelSettings s = MappingSupport.settings(call);
    if (s.getTemperature() != null) {
      b.temperature(s.getTemperature());
    }
    if (s.getTopP() != null) {
      b.topP(s.getTopP());
    }
    if (s.getMaxOutputTokens() != null) {
      b.maxOutputTokens(s.getMaxOutputTokens());
    }
    if (!tools.isEmpty()) {
      if (s.getParallelToolCalls() != null) {
        b.parallelToolCalls(s.getParallelToolCalls());
      }
      String choice = s.getToolChoice();
      if (choice != null && !choice.isBlank()) {
        String c = choice.trim();
        if (MappingSupport.TOOL_CHOICE_OPTIONS.contains(c.toLowerCase(Locale.ROOT))) {
          b.toolChoice(ToolChoiceOptions.of(c.toLowerCase(Locale.ROOT)));
        } else {
          // A hosted tool is chosen by its type (hosted MCP: by server label), a function by its name.
          b.toolChoice(HostedItems.toolChoice(call.getTools(), c)
              .orElseGet(() -> ResponseCreateParams.ToolChoice.ofFunction(ToolChoiceFunction.builder().name(c).build())));
        }
      }
    }
    ReasoningSettings reasoning = s.getReasoning();
    if (reasoning != null) {
      Reasoning.Builder r = Reasoning.builder();
      if (reasoning.getEffort() != null) {
        r.effort(ReasoningEffort.of(reasoning.getEffort()));
      }
      if (reasoning.getSummary() != null) {
        r.summary(Reasoning.Summary.of(reasoning.getSummary()));
      }
      b.reasoning(r.build());
      // store=false keeps nothing on the server: the chain of thought survives a turn only if its
      // encrypted form comes back with the answer and is replayed with the next input.
      b.addInclude(ResponseIncludable.REASONING_ENCRYPTED_CONTENT);
    }
    if (s.getTruncation() != null) {
      b.truncation(ResponseCreateParams.Truncation.of(s.getTruncation()));
    }
    if (!s.getMetadata().isEmpty()) {
      ResponseCreateParams.Metadata.Builder m = ResponseCreateParams.Metadata.builder();
      s.getMetadata().forEach(m::putProperty);
      b.metadata(m.build());
    }
    if (s.getFrequencyPenalty() != null || s.getPresencePenalty() != null) {
      log.debug("call {}: the Responses API has no frequency or presence penalty; not sent", call.getCallId());
    }
    ResponseTextConfig text = text(call.getOutputType(), s.getVerbosity());
    if (text != null) {
      b.text(text);
    }
    return b.build();
  }

  /** text.format (strict JSON schema, for an outputType) and text.verbosity, or null when neither is asked for. */
  private static ResponseTextConfig text(OutputType type, String verbosity) {
    if (type == null && verbosity == null) {
      return null;
    }
    ResponseTextConfig.Builder t = ResponseTextConfig.builder();
    if (type != null) {
      ResponseFormatTextJsonSchemaConfig.Schema.Builder schema = ResponseFormatTextJsonSchemaConfig.Schema.builder();
      MappingSupport.schema(type).forEach(schema::putAdditionalProperty);
      t.format(ResponseFormatTextJsonSchemaConfig.builder()
          .name(type.getName())
          .schema(schema.build())
          .strict(type.getStrict())
          .build());
    }
    if (verbosity != null) {
      t.verbosity(ResponseTextConfig.Verbosity.of(verbosity));
    }
    return t.build();
  }

  static List<ResponseInputItem> inputItems(ModelCall call) {
    List<ResponseInputItem> items = new ArrayList<>();
    for (Object item : MappingSupport.input(call)) {
      switch (item) {
        case MessageItem m -> items.add(ResponseInputItem.ofEasyInputMessage(EasyInputMessage.builder()
            .role(role(m))
            .content(m.getText())
            .build()));
        case FunctionCallItem f -> items.add(ResponseInputItem.ofFunctionCall(ResponseFunctionToolCall.builder()
            .callId(f.getToolCallId())
            .name(f.getName())
            .arguments(f.getArguments())
            .build()));
        case FunctionCallOutputItem o -> items.add(ResponseInputItem.ofFunctionCallOutput(functionCallOutput(o)));
        case ReasoningItem r -> {
          // Without its encrypted content a reasoning item can only be looked up on the server,
          // which keeps nothing with store=false: the API would refuse the whole request.
          if (r.getEncryptedContent() != null) {
            ResponseReasoningItem.Builder reasoning = ResponseReasoningItem.builder()
                .id(r.getItemId())
                .encryptedContent(r.getEncryptedContent())
                .summary(r.getSummary().stream()
                    .map(t -> ResponseReasoningItem.Summary.builder().text(t).build()).toList());
            items.add(ResponseInputItem.ofReasoning(reasoning.build()));
          }
        }
        case HostedToolCallItem h -> HostedItems.toInput(h).ifPresent(items::add);
        default -> throw new InvalidCallException("unsupported input item " + MappingSupport.typeOf(item));
      }
    }
    return items;
  }

  /**
   * A tool's output; with images, a list of an input_text and an input_image (data URL) per image,
   * which function_call_output takes in place of a string, so the model sees the picture itself.
   */
  private static ResponseInputItem.FunctionCallOutput functionCallOutput(FunctionCallOutputItem o) {
    ResponseInputItem.FunctionCallOutput.Builder out = ResponseInputItem.FunctionCallOutput.builder().callId(o.getToolCallId());
    List<ImageContent> images = MappingSupport.shown(o);
    if (images.isEmpty()) {
      return out.output(o.getOutput()).build();
    }
    List<ResponseFunctionCallOutputItem> parts = new ArrayList<>();
    parts.add(ResponseFunctionCallOutputItem.ofInputText(ResponseInputTextContent.builder().text(o.getOutput()).build()));
    for (ImageContent image : images) {
      parts.add(ResponseFunctionCallOutputItem.ofInputImage(ResponseInputImageContent.builder()
          .imageUrl(MappingSupport.dataUrl(image))
          .detail(ResponseInputImageContent.Detail.AUTO)
          .build()));
    }
    return out.outputOfResponseFunctionCallOutputItemList(parts).build();
  }

  private static EasyInputMessage.Role role(MessageItem m) {
    return switch (m.getRole()) {
      case USER -> EasyInputMessage.Role.USER;
      case ASSISTANT -> EasyInputMessage.Role.ASSISTANT;
      case SYSTEM -> EasyInputMessage.Role.SYSTEM;
      case DEVELOPER -> EasyInputMessage.Role.DEVELOPER;
    };
  }

  static List<Tool> tools(ModelCall call) {
    List<Tool> out = new ArrayList<>();
    if (call.getTools() == null) {
      return out;
    }
    for (ToolSpec t : call.getTools()) {
      if (MappingSupport.isFunctionTool(t)) {
        FunctionTool.Parameters.Builder params = FunctionTool.Parameters.builder();
        MappingSupport.schema(t).forEach(params::putAdditionalProperty);
        FunctionTool.Builder fb = FunctionTool.builder()
            .name(t.getName())
            .parameters(params.build())
            .strict(t.getStrict());
        if (t.getDescription() != null && !t.getDescription().isBlank()) {
          fb.description(t.getDescription());
        }
        out.add(Tool.ofFunction(fb.build()));
      } else {
        Tool hosted = HostedItems.tool(t, call.getAgent(), HostedItems.ENVIRONMENT);
        if (hosted != null) {
          out.add(hosted);
        }
      }
    }
    return out;
  }

  /** Maps a response; {@code latencyMs} and error redaction are the caller's. */
  static ModelResult toResult(ModelCall call, Response response) {
    List<Object> output = new ArrayList<>();
    for (ResponseOutputItem item : response.output()) {
      Optional<HostedToolCallItem> hosted = HostedItems.fromOutput(item, call.getAgent());
      if (hosted.isPresent()) {
        output.add(hosted.get()); // run by the provider already: recorded and replayed, never executed here
      } else if (item.isMessage()) {
        String text = text(item.asMessage());
        if (!text.isEmpty()) {
          output.add(MessageItem.newBuilder(MappingSupport.assistantMessage(text, call))
              .setAnnotations(HostedItems.annotations(item.asMessage())).build());
        }
      } else if (item.isFunctionCall()) {
        ResponseFunctionToolCall fc = item.asFunctionCall();
        output.add(MappingSupport.functionCall(fc.callId(), fc.name(), fc.arguments(), fc.id().orElse(null)));
      } else if (item.isReasoning()) {
        ResponseReasoningItem r = item.asReasoning();
        output.add(ReasoningItem.newBuilder()
            .setItemId(r.id())
            .setEncryptedContent(r.encryptedContent().orElse(null))
            .setSummary(r.summary().stream().map(ResponseReasoningItem.Summary::text).toList())
            .setAgent(call.getAgent())
            .build());
      } else {
        log.debug("call {}: ignoring output item {}", call.getCallId(), item);
      }
    }
    ModelResult.Builder result = ModelResult.newBuilder()
        .setRunId(call.getRunId())
        .setCallId(call.getCallId())
        .setOutput(output)
        .setResponseId(response.id())
        .setUsage(response.usage()
            .map(u -> MappingSupport.usage(u.inputTokens(), u.outputTokens(), u.totalTokens(),
                u.inputTokensDetails().cachedTokens(), u.outputTokensDetails().reasoningTokens()))
            .orElseGet(MappingSupport::noUsage));
    ResponseStatus status = response.status().orElse(null);
    // Reasoning alone is no answer, nor are hosted calls: a response cut off while thinking or searching has
    // nothing the run can use. A completed one with only hosted calls (an image generated) is an answer.
    boolean answered = output.stream().anyMatch(o -> o instanceof MessageItem || o instanceof FunctionCallItem);
    if (ResponseStatus.FAILED.equals(status) || (status == null && response.error().isPresent())) {
      String code = response.error().map(e -> e.code().asString()).orElse("unknown");
      String message = response.error().map(e -> e.message()).orElse("the model reported a failure");
      result.setOutput(List.of()).setError(ErrorInfo.newBuilder()
          .setCode(ModelErrors.RESPONSE_FAILED)
          .setMessage(code + ": " + message)
          .setRetryable(RETRYABLE_RESPONSE_ERRORS.contains(code))
          .build());
    } else if (ResponseStatus.INCOMPLETE.equals(status) && !answered) {
      String reason = response.incompleteDetails().flatMap(d -> d.reason()).map(r -> r.asString()).orElse("unknown");
      result.setOutput(List.of()).setError(ErrorInfo.newBuilder()
          .setCode(ModelErrors.INCOMPLETE)
          .setMessage("the response is incomplete and has no output: " + reason)
          .setRetryable(false)
          .build());
    } else if (ResponseStatus.INCOMPLETE.equals(status)) {
      log.warn("call {}: response {} is incomplete ({}); passing on its partial output", call.getCallId(),
          response.id(), response.incompleteDetails().flatMap(d -> d.reason()).map(r -> r.asString()).orElse("?"));
    }
    return result.build();
  }

  private static String text(ResponseOutputMessage message) {
    StringBuilder sb = new StringBuilder();
    for (ResponseOutputMessage.Content c : message.content()) {
      if (c.isOutputText()) {
        sb.append(c.asOutputText().text());
      } else if (c.isRefusal()) {
        sb.append(c.asRefusal().refusal());
      }
    }
    return sb.toString();
  }
}
