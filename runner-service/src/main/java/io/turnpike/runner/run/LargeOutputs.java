package io.turnpike.runner.run;

import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.OutputRef;
import io.turnpike.avro.RunState;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Tool outputs kept out of line. The RunState is written on every step (the store, its changelog and
 * {@code turnpike.run-state}), so an output kept in its items would be written again with every step
 * for the rest of the run: instead an output over {@code turnpike.runner.inline-output-bytes} is written
 * once to the {@code run-blobs} store (key {@code <runId>|<sha256>}, changelogged, in the same
 * exactly-once transaction as the state that refers to it), and the stored item keeps only an
 * {@link OutputRef}. {@link Images} does the same for images, inside the RunState; this generalizes it
 * to a store of its own, so the state stays small whatever the outputs weigh.
 *
 * <p>The state machine never sees a reference without its output: the orchestrator puts the outputs
 * back when it loads a state ({@link #withOutputs}) and takes them out when it stores one
 * ({@link #split}), leaving a preview ({@link #PREVIEW_CHARS}). Both are pure; the store is the orchestrator's.
 */
final class LargeOutputs {
  /** The default of {@code turnpike.runner.inline-output-bytes}: larger outputs are kept out of line. */
  static final int DEFAULT_INLINE_BYTES = 2048;
  /**
   * What the stored item keeps of an output kept out of line: its beginning, so that readers of
   * {@code turnpike.run-state} (runs show, the console, the memory service's transcripts) still see what
   * it was about. Bounded, so a state holds a fixed amount per item whatever the outputs weigh.
   */
  static final int PREVIEW_CHARS = 500;

  private LargeOutputs() {}

  /** A state as stored (outputs as references) and the outputs it refers to that are new: sha256 to bytes. */
  record Split(RunState stored, Map<String, byte[]> added) {}

  /** The blob store's key of an output of a run. */
  static String key(String runId, String sha256) {
    return runId + "|" + sha256;
  }

  /**
   * The state to store: every output over {@code inlineBytes} (or already kept) as a reference and a
   * preview, and the outputs not kept yet. An output loaded from the store keeps its reference, so it
   * is not hashed or written again.
   */
  static Split split(RunState state, int inlineBytes) {
    Map<String, byte[]> added = new LinkedHashMap<>();
    List<Object> items = null;
    List<Object> source = state.getItems();
    for (int i = 0; i < source.size(); i++) {
      Object item = source.get(i);
      Object stored = item;
      if (item instanceof FunctionCallOutputItem o) {
        if (o.getOutputRef() != null) {
          String preview = preview(o.getOutput(), o.getOutputRef());
          stored = o.getOutput().equals(preview) ? o : FunctionCallOutputItem.newBuilder(o).setOutput(preview).build();
        } else {
          byte[] bytes = o.getOutput().getBytes(StandardCharsets.UTF_8);
          if (bytes.length > inlineBytes) {
            String sha = Images.sha256(bytes);
            added.putIfAbsent(sha, bytes);
            OutputRef ref = new OutputRef(sha, bytes.length);
            stored = FunctionCallOutputItem.newBuilder(o).setOutput(preview(o.getOutput(), ref)).setOutputRef(ref).build();
          }
        }
      }
      if (stored != item && items == null) {
        items = new ArrayList<>(source.subList(0, i));
      }
      if (items != null) {
        items.add(stored);
      }
    }
    return new Split(items == null ? state : RunState.newBuilder(state).setItems(items).build(), added);
  }

  /** The state as the state machine works on it: every referenced output read back from {@code blobs} (by sha256). */
  static RunState withOutputs(RunState stored, Function<String, byte[]> blobs) {
    List<Object> items = null;
    List<Object> source = stored.getItems();
    for (int i = 0; i < source.size(); i++) {
      Object item = source.get(i);
      Object full = item;
      if (item instanceof FunctionCallOutputItem o && o.getOutputRef() != null) {
        byte[] bytes = blobs.apply(o.getOutputRef().getSha256());
        String output = bytes != null ? new String(bytes, StandardCharsets.UTF_8)
            : o.getOutput() + "\n[the rest of the output of " + o.getName() + " (" + AnswerLimit.bytes(o.getOutputRef().getSize())
                + ", sha256 " + o.getOutputRef().getSha256() + ") is missing from the runner's run-blobs store]";
        full = output.equals(o.getOutput()) ? o : FunctionCallOutputItem.newBuilder(o).setOutput(output).build();
      }
      if (full != item && items == null) {
        items = new ArrayList<>(source.subList(0, i));
      }
      if (items != null) {
        items.add(full);
      }
    }
    return items == null ? stored : RunState.newBuilder(stored).setItems(items).build();
  }

  /** The beginning of an output kept out of line, and where the rest is. */
  static String preview(String output, OutputRef ref) {
    String marker = "\n[... " + ref.getSize() + " bytes in all; the rest is kept out of the RunState (turnpike.turn-events has it whole)]";
    if (output.endsWith(marker)) {
      return output; // a preview already
    }
    int cut = Math.min(output.length(), PREVIEW_CHARS);
    if (cut > 0 && Character.isHighSurrogate(output.charAt(cut - 1))) {
      cut--; // never half a character
    }
    return output.substring(0, cut) + marker;
  }

  /** The outputs a state refers to (sha256), in order. */
  static Set<String> references(RunState state) {
    Set<String> refs = new LinkedHashSet<>();
    if (state != null) {
      for (Object item : state.getItems()) {
        if (item instanceof FunctionCallOutputItem o && o.getOutputRef() != null) {
          refs.add(o.getOutputRef().getSha256());
        }
      }
    }
    return refs;
  }
}
