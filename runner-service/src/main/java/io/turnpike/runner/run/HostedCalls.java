package io.turnpike.runner.run;

import io.turnpike.avro.HostedToolCallItem;
import io.turnpike.avro.ImageContent;
import java.util.ArrayList;
import java.util.List;

/**
 * Calls of hosted tools in a model answer (web search, file search, code interpreter, image
 * generation, hosted MCP): the provider ran them inside the model call, so they are facts to record,
 * not calls to make. They join the conversation in the order the model gave them and are replayed
 * with it; none goes through guardrails, approvals or a worker. A generated image is kept once per
 * run like a {@code view_image} image ({@link Images}).
 */
final class HostedCalls {
  private HostedCalls() {}

  /** The answer's hosted calls, as the run records them. */
  static List<HostedToolCallItem> of(List<Object> output, String agent) {
    List<HostedToolCallItem> out = new ArrayList<>();
    for (Object item : output) {
      if (item instanceof HostedToolCallItem h) {
        out.add(HostedToolCallItem.newBuilder(h).setAgent(agent).build());
      }
    }
    return out;
  }

  /**
   * The answer with every generated image kept in {@code RunState.images} (within {@code maxBytes} for
   * all the run's images) and replaced by a reference. An image over the budget stays a reference the
   * run cannot resolve: it is replayed without its picture, and the item's summary says why.
   */
  static List<Object> keepImages(Step step, List<Object> output, long maxBytes) {
    if (output.stream().noneMatch(o -> o instanceof HostedToolCallItem h && h.getImage() != null && h.getImage().getData() != null)) {
      return output;
    }
    List<Object> out = new ArrayList<>(output.size());
    for (Object item : output) {
      if (item instanceof HostedToolCallItem h && h.getImage() != null && h.getImage().getData() != null) {
        Images.Kept kept = Images.keep(step, List.of(h.getImage()), maxBytes);
        HostedToolCallItem.Builder b = HostedToolCallItem.newBuilder(h);
        if (kept.references().isEmpty()) {
          ImageContent reference = Images.references(List.of(h.getImage())).get(0);
          b.setImage(reference).setSummary(h.getSummary() + kept.note().replace("\n", " "));
        } else {
          b.setImage(kept.references().get(0));
        }
        out.add(b.build());
      } else {
        out.add(item);
      }
    }
    return out;
  }
}
