package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.CallKind;
import io.turnpike.avro.CompactionMode;
import io.turnpike.avro.CompactionPolicy;
import io.turnpike.avro.ContextState;
import io.turnpike.avro.ConversationCompacted;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.MessageItem;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.ReasoningItem;
import io.turnpike.avro.Role;
import io.turnpike.avro.ToolSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * Compaction phase (the agent's {@code compaction} policy, the SDK's {@code compaction()}): before a
 * model call whose input would reach the policy's threshold of the model's context window, the run's
 * oldest items go to the model first with a summarize instruction (callId {@code <runId>:m<turn>:compact},
 * an ordinary model call through {@code turnpike.model.requests}), and its answer replaces them in the
 * conversation as one user message. Then the turn's own call goes out.
 *
 * <p>Rules: the latest {@code keepRecentItems} items stay, and the cut is moved earlier until it parts
 * no tool call from its output and no reasoning from the item it precedes; the items replaced stay in
 * {@code turnpike.turn-events} (their ModelResponded and ToolCallCompleted events) and a
 * {@code ConversationCompacted} event records the summary. An earlier summary is compacted with the
 * rest, so a run holds one summary however long it runs.
 */
final class Compaction {
  static final String CALL_SUFFIX = ":compact";
  /** The summary's first line: how the model (and a reader of the RunState) knows what it is. */
  static final String SUMMARY_PREFIX = "[Summary of the earlier conversation, written when it was compacted]\n";
  static final String DEFAULT_INSTRUCTIONS = "You compact an agent's conversation so it can go on within its context window."
      + " Summarize the conversation you are given for the agent that will continue it: the user's goal and every"
      + " requirement they stated, decisions made, what each tool call found (names, numbers, paths, identifiers, errors),"
      + " what is done and what is left to do. Be complete but brief; write the summary only.";
  /** Bytes per token of the size estimate (OpenAI's rule of thumb for English text and JSON). */
  static final int BYTES_PER_TOKEN = 4;
  /** What an image is counted as: roughly a 768x768 image at high detail. */
  static final int IMAGE_TOKENS = 1_000;
  private static final int ITEM_OVERHEAD_TOKENS = 4;

  private Compaction() {}

  static boolean isCall(String callId) {
    return callId.endsWith(CALL_SUFFIX);
  }

  /**
   * Sends the compaction call instead of the turn's model call when the input has reached the
   * threshold and there is something to compact; false: send the model call as usual.
   */
  static boolean startIfDue(Step step, String turnCallId) {
    AgentDefinition agent = step.agent();
    CompactionPolicy policy = agent.getCompaction();
    if (policy == null) {
      return false;
    }
    long window = ContextWindows.of(agent.getModel(), policy);
    long tokens = inputTokens(step, policy);
    if (tokens < policy.getThreshold() * window) {
      return false;
    }
    int cut = cut(step.items(), policy.getKeepRecentItems());
    if (cut < 2) {
      return false; // what must stay is all there is: nothing to gain
    }
    PendingCall pc = PendingCall.newBuilder()
        .setCallId(turnCallId + CALL_SUFFIX)
        .setKind(CallKind.MODEL)
        .setDeadline(step.now.plus(AgentView.modelTimeout(agent)))
        .setFirstSentAt(step.now)
        .build();
    step.b.setContext(ContextState.newBuilder(context(step)).setCompacting(cut).build());
    step.pending().add(pc);
    send(step, pc);
    return true;
  }

  /** Sends (or re-sends) the compaction call: the items to compact and the summarize instruction, no tools. */
  static void send(Step step, PendingCall pc) {
    AgentDefinition agent = step.agent();
    CompactionPolicy policy = agent.getCompaction();
    int cut = Math.min(context(step).getCompacting(), step.items().size());
    List<Object> older = new ArrayList<>(step.items().subList(0, cut));
    older.add(new MessageItem(Role.USER, "Summarize the conversation above, as instructed.", null, List.of()));
    String instructions = policy != null && policy.getInstructions() != null ? policy.getInstructions() : DEFAULT_INSTRUCTIONS;
    Turns.send(step, pc, Turns.modelCall(step, pc)
        .setInstructions(instructions)
        .setInput(Images.inline(step.b.getImages(), older))
        .setTools(List.of()));
  }

  /**
   * The summary arrived: it replaces the oldest items, and the turn's own model call goes out. An
   * empty summary compacts nothing (the turn goes on with the items as they were).
   */
  static void answered(Step step, PendingCall call, ModelResult result) {
    step.removePending(call.getCallId());
    step.addUsage(result.getUsage());
    StringBuilder text = new StringBuilder();
    for (Object item : result.getOutput()) {
      if (item instanceof MessageItem m && m.getRole() == Role.ASSISTANT && !m.getText().isBlank()) {
        text.append(text.isEmpty() ? "" : "\n").append(m.getText());
      }
    }
    ContextState ctx = context(step);
    int cut = Math.min(ctx.getCompacting(), step.items().size());
    ContextState.Builder next = ContextState.newBuilder(ctx).setCompacting(0);
    if (!text.isEmpty() && cut > 0) {
      CompactionPolicy policy = step.agent().getCompaction();
      long before = inputTokens(step, policy);
      List<Object> items = step.items();
      int kept = items.size() - cut;
      items.subList(0, cut).clear();
      items.add(0, new MessageItem(Role.USER, SUMMARY_PREFIX + text, null, List.of()));
      long after = estimate(step);
      step.emit(new ConversationCompacted(call.getCallId(), cut, kept, before, after,
          ContextWindows.of(step.agent().getModel(), policy), text.toString()));
      // the reported tokens were of the items before: the estimate speaks for the next call
      next.setCompactions(ctx.getCompactions() + 1).setCompactedItems(ctx.getCompactedItems() + cut)
          .setLastInputTokens(0).setItemsAtLastCall(0);
    }
    step.b.setContext(next.build());
    Turns.callModel(step, false);
  }

  /** What the model reported of the call it answered, for the DYNAMIC policy; {@code itemsSent}: the items it got. */
  static void reported(Step step, io.turnpike.avro.Usage usage, int itemsSent) {
    if (step.agent().getCompaction() == null || usage == null) {
      return;
    }
    step.b.setContext(ContextState.newBuilder(context(step)).setLastInputTokens(usage.getInputTokens())
        .setItemsAtLastCall(itemsSent).build());
  }

  /** The input the next call would have, in tokens, as the policy counts it. */
  static long inputTokens(Step step, CompactionPolicy policy) {
    ContextState ctx = step.b.getContext();
    if (policy != null && policy.getMode() == CompactionMode.DYNAMIC && ctx != null && ctx.getLastInputTokens() > 0
        && ctx.getItemsAtLastCall() <= step.items().size()) {
      List<Object> added = step.items().subList(ctx.getItemsAtLastCall(), step.items().size());
      return ctx.getLastInputTokens() + itemTokens(added);
    }
    return estimate(step);
  }

  /** The size estimate of the whole input: instructions, tools and items. */
  static long estimate(Step step) {
    AgentDefinition agent = step.agent();
    long bytes = AgentView.instructions(agent).length();
    for (ToolSpec t : AgentView.tools(agent)) {
      bytes += t.getName().length() + t.getDescription().length()
          + (t.getParametersJson() == null ? 0 : t.getParametersJson().length());
    }
    return bytes / BYTES_PER_TOKEN + itemTokens(step.items());
  }

  static long itemTokens(List<Object> items) {
    long bytes = 0;
    long tokens = 0;
    for (Object item : items) {
      tokens += ITEM_OVERHEAD_TOKENS;
      switch (item) {
        case MessageItem m -> bytes += m.getText().length();
        case FunctionCallItem f -> bytes += f.getName().length() + f.getArguments().length();
        case FunctionCallOutputItem o -> {
          bytes += Math.max(o.getOutput().length(), o.getOutputRef() == null ? 0 : o.getOutputRef().getSize());
          tokens += (long) o.getImages().size() * IMAGE_TOKENS;
        }
        case ReasoningItem r -> {
          bytes += r.getEncryptedContent() == null ? 0 : r.getEncryptedContent().length();
          for (String s : r.getSummary()) {
            bytes += s.length();
          }
        }
        case HostedToolCallItem h -> bytes += h.getJson().length();
        default -> { }
      }
    }
    return tokens + bytes / BYTES_PER_TOKEN;
  }

  /**
   * How many of the oldest items to compact so that at least {@code keep} stay: the cut is moved
   * earlier until the item after it is no tool output (its call would be compacted without it) and the
   * item before it is no tool call or reasoning (they belong with what follows them).
   */
  static int cut(List<Object> items, int keep) {
    int cut = items.size() - Math.max(1, keep);
    while (cut > 0 && !boundary(items.get(cut - 1), items.get(cut))) {
      cut--;
    }
    return Math.max(cut, 0);
  }

  private static boolean boundary(Object before, Object after) {
    return !(after instanceof FunctionCallOutputItem) && !(before instanceof FunctionCallItem)
        && !(before instanceof ReasoningItem);
  }

  private static ContextState context(Step step) {
    return step.b.getContext() != null ? step.b.getContext() : ContextState.newBuilder().build();
  }
}
