package io.turnpike.mcp;

import io.modelcontextprotocol.spec.McpSchema;
import io.turnpike.avro.ImageContent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;

/**
 * A {@code tools/call} result as the tool output the model sees: text parts in order, a resource's text,
 * and the structured content as JSON when no text part already says it; images (PNG, JPEG, GIF, WebP:
 * what the model APIs take) go with the answer and are shown to the model as a sandbox's are. Audio, a
 * binary resource or an image of another type is named with its type and size. {@code isError} stays an
 * error, which the model sees as such.
 */
final class McpResults {
  private McpResults() {}

  record Output(String text, boolean isError, List<ImageContent> images) {}

  private static final Set<String> IMAGE_TYPES = Set.of("image/png", "image/jpeg", "image/gif", "image/webp");

  static Output of(McpSchema.CallToolResult result) {
    List<String> parts = new ArrayList<>();
    List<ImageContent> images = new ArrayList<>();
    for (McpSchema.Content c : result.content() == null ? List.<McpSchema.Content>of() : result.content()) {
      parts.add(switch (c) {
        case McpSchema.TextContent t -> t.text();
        case McpSchema.ImageContent i -> image(i, images);
        case McpSchema.AudioContent a -> "[audio " + a.mimeType() + ", " + decodedSize(a.data()) + " bytes: not shown]";
        case McpSchema.EmbeddedResource r -> resource(r.resource());
        case McpSchema.ResourceLink l -> "[resource " + l.uri() + (l.name() == null ? "" : " (" + l.name() + ")")
            + (l.mimeType() == null ? "" : ", " + l.mimeType()) + "]";
        default -> "[" + c.type() + " content]";
      });
    }
    if (result.structuredContent() != null) {
      String json = json(result.structuredContent());
      if (parts.stream().noneMatch(p -> p.strip().equals(json))) {
        parts.add(parts.isEmpty() ? json : "structured content: " + json);
      }
    }
    return new Output(String.join("\n", parts), Boolean.TRUE.equals(result.isError()), images);
  }

  /** Adds the image to those shown to the model when it can be (then the text says where it goes), else names it. */
  private static String image(McpSchema.ImageContent i, List<ImageContent> images) {
    String type = i.mimeType() == null ? "" : i.mimeType().toLowerCase(java.util.Locale.ROOT);
    byte[] bytes;
    try {
      bytes = i.data() == null ? null : Base64.getDecoder().decode(i.data());
    } catch (IllegalArgumentException e) {
      bytes = null;
    }
    if (bytes == null || !IMAGE_TYPES.contains(type)) {
      return "[image " + i.mimeType() + ", " + decodedSize(i.data()) + " bytes: not shown (the model takes PNG, JPEG,"
          + " GIF and WebP)]";
    }
    images.add(ImageContent.newBuilder().setMimeType(type).setData(ByteBuffer.wrap(bytes)).build());
    return "[image " + images.size() + ": " + type + ", " + bytes.length + " bytes]";
  }

  private static String resource(McpSchema.ResourceContents contents) {
    return switch (contents) {
      case McpSchema.TextResourceContents t -> t.text();
      case McpSchema.BlobResourceContents b -> "[resource " + b.uri() + ", " + b.mimeType() + ", " + decodedSize(b.blob())
          + " bytes]";
      default -> "[resource " + contents.uri() + "]";
    };
  }

  static String json(Object value) {
    try {
      return McpConnection.JSON.writeValueAsString(value);
    } catch (IOException e) {
      return String.valueOf(value);
    }
  }

  private static long decodedSize(String base64) {
    if (base64 == null) {
      return 0;
    }
    try {
      return Base64.getDecoder().decode(base64).length;
    } catch (IllegalArgumentException e) {
      return base64.length() * 3L / 4;
    }
  }
}
