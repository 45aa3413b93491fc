package io.turnpike.mcp;

import io.modelcontextprotocol.spec.McpSchema;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * A {@code tools/call} result as the tool output the model sees: text parts in order, a resource's text,
 * and the structured content as JSON when no text part already says it. An image (or audio, or a
 * binary resource) is named with its type and size: function tool results carry text only today (see
 * docs/mcp.md). {@code isError} stays an error, which the model sees as such.
 */
final class McpResults {
  private McpResults() {}

  record Output(String text, boolean isError) {}

  static Output of(McpSchema.CallToolResult result) {
    List<String> parts = new ArrayList<>();
    for (McpSchema.Content c : result.content() == null ? List.<McpSchema.Content>of() : result.content()) {
      parts.add(switch (c) {
        case McpSchema.TextContent t -> t.text();
        case McpSchema.ImageContent i -> "[image " + i.mimeType() + ", " + decodedSize(i.data())
            + " bytes: images from MCP tools are not shown to the model yet]";
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
    return new Output(String.join("\n", parts), Boolean.TRUE.equals(result.isError()));
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
