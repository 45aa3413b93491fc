package io.turnpike.runner.run;

import io.turnpike.avro.FunctionCallOutputItem;
import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.ImageContent;
import io.turnpike.avro.RunState;
import io.turnpike.avro.ToolCallProgress;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Images tools return (view_image). The conversation is replayed to the model every turn, and the
 * RunState is written on every step, so an image kept inline in the items would be rewritten with
 * each step and every later image again: instead a run keeps each image's bytes once
 * ({@code RunState.images}, by SHA-256) and its items, tool calls and turn events carry references.
 * A model call gets the bytes back ({@link #inline}), since the model invoker is stateless.
 *
 * <p>What a run keeps is bounded ({@code turnpike.runner.max-image-bytes}, all its images together):
 * an image over that is not kept, and the tool's output tells the model why.
 */
final class Images {
  /** The default of {@code turnpike.runner.max-image-bytes}: room for the rest of the run within a 1 MiB RunState. */
  static final long DEFAULT_MAX_BYTES = 512 * 1024;

  private Images() {}

  /** References to the images kept, and what the model is told about any that were not. */
  record Kept(List<ImageContent> references, String note) {}

  /**
   * Keeps the images of one tool answer within the run's budget: an image the run already keeps costs
   * nothing; one that would take the run's images over {@code maxBytes} is not kept.
   */
  static Kept keep(Step step, List<ImageContent> images, long maxBytes) {
    List<ImageContent> references = new ArrayList<>();
    StringBuilder note = new StringBuilder();
    for (ImageContent image : images) {
      if (image.getData() == null) {
        // already a reference (an answer decided before), or an image someone else did not keep
        if (image.getSha256() != null && stored(step.b.getImages(), image.getSha256()) != null) {
          references.add(image);
        }
        continue;
      }
      byte[] bytes = bytes(image.getData());
      String sha = sha256(bytes);
      ImageContent reference = ImageContent.newBuilder().setMimeType(image.getMimeType()).setData(null)
          .setSha256(sha).setSize(bytes.length).build();
      if (stored(step.b.getImages(), sha) == null) {
        long kept = keptBytes(step.b.getImages());
        if (kept + bytes.length > maxBytes) {
          note.append("\n[an image of ").append(AnswerLimit.bytes(bytes.length)).append(" was not kept and is not shown: ")
              .append("the run's images would take ").append(AnswerLimit.bytes(kept + bytes.length)).append(", over the ")
              .append(AnswerLimit.bytes(maxBytes)).append(" a run keeps (turnpike.runner.max-image-bytes)]");
          continue;
        }
        step.b.getImages().add(ImageContent.newBuilder(reference).setData(ByteBuffer.wrap(bytes)).build());
      }
      references.add(reference);
    }
    return new Kept(references, note.toString());
  }

  /** The items as a model call needs them: every image reference with its bytes. */
  static List<Object> inline(List<ImageContent> store, List<Object> items) {
    if (store.isEmpty()) {
      return new ArrayList<>(items);
    }
    Map<String, ImageContent> bySha = store.stream()
        .collect(Collectors.toMap(ImageContent::getSha256, Function.identity(), (a, b) -> a));
    List<Object> out = new ArrayList<>(items.size());
    for (Object item : items) {
      if (item instanceof FunctionCallOutputItem o && !o.getImages().isEmpty()) {
        List<ImageContent> full = new ArrayList<>();
        for (ImageContent image : o.getImages()) {
          ImageContent stored = image.getData() == null && image.getSha256() != null ? bySha.get(image.getSha256()) : null;
          full.add(stored != null ? stored : image);
        }
        out.add(FunctionCallOutputItem.newBuilder(o).setImages(full).build());
      } else if (item instanceof HostedToolCallItem h && h.getImage() != null && h.getImage().getData() == null
          && h.getImage().getSha256() != null && bySha.containsKey(h.getImage().getSha256())) {
        out.add(HostedToolCallItem.newBuilder(h).setImage(bySha.get(h.getImage().getSha256())).build()); // a generated image
      } else {
        out.add(item);
      }
    }
    return out;
  }

  /** The state without image bytes: what {@code turnpike.run-state} carries (references, sizes and hashes only). */
  static RunState withoutBytes(RunState state) {
    boolean any = state.getImages().stream().anyMatch(i -> i.getData() != null)
        || state.getToolCalls().stream().anyMatch(t -> t.getResultImages().stream().anyMatch(i -> i.getData() != null))
        || state.getHeld().stream().anyMatch(Images::generatedBytes);
    if (!any) {
      return state;
    }
    // An answer held for an input guardrail keeps its generated images' bytes until it is read into the run.
    List<Object> held = state.getHeld().stream().map(o -> generatedBytes(o)
        ? (Object) HostedToolCallItem.newBuilder((HostedToolCallItem) o)
            .setImage(references(List.of(((HostedToolCallItem) o).getImage())).get(0)).build() : o).toList();
    List<ToolCallProgress> calls = state.getToolCalls().stream()
        .map(t -> ToolCallProgress.newBuilder(t).setResultImages(references(t.getResultImages())).build())
        .toList();
    return RunState.newBuilder(state).setImages(references(state.getImages())).setToolCalls(new ArrayList<>(calls))
        .setHeld(new ArrayList<>(held)).build();
  }

  private static boolean generatedBytes(Object item) {
    return item instanceof HostedToolCallItem h && h.getImage() != null && h.getImage().getData() != null;
  }

  /** Images as references: the bytes left out, their hash and size filled in. */
  static List<ImageContent> references(List<ImageContent> images) {
    List<ImageContent> out = new ArrayList<>(images.size());
    for (ImageContent i : images) {
      if (i.getData() == null) {
        out.add(i);
      } else {
        byte[] bytes = bytes(i.getData());
        out.add(ImageContent.newBuilder(i).setData(null)
            .setSha256(i.getSha256() != null ? i.getSha256() : sha256(bytes)).setSize(bytes.length).build());
      }
    }
    return out;
  }

  static ImageContent stored(List<ImageContent> store, String sha) {
    for (ImageContent i : store) {
      if (sha.equals(i.getSha256())) {
        return i;
      }
    }
    return null;
  }

  static long keptBytes(List<ImageContent> store) {
    return store.stream().mapToLong(ImageContent::getSize).sum();
  }

  static byte[] bytes(ByteBuffer data) {
    ByteBuffer b = data.duplicate();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }
}
