package io.turnpike.runner.run;

import io.turnpike.avro.CallKind;
import io.turnpike.avro.FunctionCallItem;
import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.PendingCall;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolCallProgress;
import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolPhase;
import java.util.ArrayList;
import java.util.List;

/**
 * Brings a RunState written by an older layout to the current one, so a run that was waiting when
 * the runner was upgraded resumes. Avro schema resolution fills new fields with their defaults; this
 * fills in what the defaults cannot know.
 */
final class RunStateUpgrade {
  private RunStateUpgrade() {}

  static RunState upgrade(RunState state) {
    if (state.getSchemaVersion() >= RunStateMachine.SCHEMA_VERSION) {
      return state;
    }
    RunState.Builder b = RunState.newBuilder(state);
    if (state.getSchemaVersion() < 2) {
      // v1 kept tool calls only as pending calls; v2 tracks each call's phase.
      List<ToolCallProgress> calls = new ArrayList<>(state.getToolCalls());
      for (PendingCall p : state.getPending()) {
        if (p.getKind() == CallKind.TOOL && calls.stream().noneMatch(c -> c.getCallId().equals(p.getCallId()))) {
          calls.add(ToolCallProgress.newBuilder()
              .setCallId(p.getCallId())
              .setToolCallId(p.getToolCallId())
              .setName(p.getName())
              .setArguments(arguments(state, p.getToolCallId()))
              .setKind(ToolKind.FUNCTION)
              .setPhase(ToolPhase.RUNNING)
              .build());
        }
      }
      b.setToolCalls(calls);
    }
    if (state.getSchemaVersion() < 3) {
      // v2 did not record when a call was first sent; its current attempt's send time is the best
      // known, so the retry budget counts from there (an upgraded call gets at least a full budget).
      List<PendingCall> pending = new ArrayList<>();
      for (PendingCall p : state.getPending()) {
        pending.add(p.getKind() == CallKind.APPROVAL || p.getFirstSentAt() != null ? p
            : PendingCall.newBuilder(p).setFirstSentAt(p.getDeadline().minus(AgentView.timeout(state.getAgent(), p))).build());
      }
      b.setPending(pending);
    }
    if (state.getSchemaVersion() < 4) {
      upgradeImages(b);
      b.setToolUsers(toolUsers(state));
    }
    return b.setSchemaVersion(RunStateMachine.SCHEMA_VERSION).build();
  }

  /**
   * v3 kept each image inline where it was used (an output item, a call under an output check): v4
   * keeps the bytes once in {@code images} and refers to them by hash. Nothing is dropped: what v3
   * kept, however large, stays kept.
   */
  private static void upgradeImages(RunState.Builder b) {
    List<ImageContent> store = new ArrayList<>(b.getImages());
    List<Object> items = new ArrayList<>();
    for (Object item : b.getItems()) {
      items.add(item instanceof FunctionCallOutputItem o && !o.getImages().isEmpty()
          ? FunctionCallOutputItem.newBuilder(o).setImages(stored(store, o.getImages())).build() : item);
    }
    List<ToolCallProgress> calls = new ArrayList<>();
    for (ToolCallProgress t : b.getToolCalls()) {
      calls.add(t.getResultImages().isEmpty() ? t
          : ToolCallProgress.newBuilder(t).setResultImages(stored(store, t.getResultImages())).build());
    }
    b.setItems(items).setToolCalls(calls).setImages(store);
  }

  private static List<ImageContent> stored(List<ImageContent> store, List<ImageContent> images) {
    List<ImageContent> references = Images.references(images);
    for (int i = 0; i < images.size(); i++) {
      ImageContent ref = references.get(i);
      if (images.get(i).getData() != null && Images.stored(store, ref.getSha256()) == null) {
        store.add(ImageContent.newBuilder(ref).setData(images.get(i).getData()).build());
      }
    }
    return new ArrayList<>(references);
  }

  /**
   * Who has called a tool, as well as a v3 state tells: every agent that handed off (the transfer is a
   * tool call), and the current agent when the conversation holds a call that is not a transfer.
   */
  private static List<String> toolUsers(RunState state) {
    List<String> users = new ArrayList<>();
    state.getHandoffs().forEach(h -> {
      if (!users.contains(h.getFromAgent())) {
        users.add(h.getFromAgent());
      }
    });
    boolean called = state.getItems().stream()
        .anyMatch(i -> i instanceof FunctionCallItem f && !f.getName().startsWith(AgentView.HANDOFF_PREFIX));
    if (called && !users.contains(state.getAgent().getName())) {
      users.add(state.getAgent().getName());
    }
    return users;
  }

  private static String arguments(RunState state, String toolCallId) {
    for (int i = state.getItems().size() - 1; i >= 0; i--) {
      if (state.getItems().get(i) instanceof FunctionCallItem f && f.getToolCallId().equals(toolCallId)) {
        return f.getArguments();
      }
    }
    return "{}";
  }
}
