package io.turnpike.cli;

import io.turnpike.avro.Annotation;
import io.turnpike.avro.HostedToolCallItem;
import java.util.List;

/** Hosted tool calls and citations as the CLI prints them, in turn events and in a RunState. */
final class HostedFormat {
  private HostedFormat() {}

  /** {@code web_search: searched "oslo weather", 2 sources}: the tool (its call type without _call) and what it did. */
  static String call(HostedToolCallItem h) {
    String tool = h.getType().endsWith("_call") ? h.getType().substring(0, h.getType().length() - "_call".length()) : h.getType();
    String status = h.getStatus() == null || h.getStatus().equals("completed") ? "" : " (" + h.getStatus() + ")";
    return tool + ": " + (h.getSummary().isEmpty() ? h.getItemId() : h.getSummary()) + status;
  }

  /** {@code url https://yr.no "Oslo forecast" (chars 0-34)} or {@code file oslo-guide.md (file-1) at 35}. */
  static String citation(Annotation a) {
    String where = a.getStartIndex() != null ? " (chars " + a.getStartIndex() + "-" + a.getEndIndex() + ")"
        : a.getIndex() != null ? " at " + a.getIndex() : "";
    return switch (a.getType()) {
      case "url_citation" -> "url " + a.getUrl() + (a.getTitle() == null ? "" : " \"" + a.getTitle() + "\"") + where;
      case "file_citation", "container_file_citation", "file_path" -> "file " + (a.getFilename() == null ? a.getFileId()
          : a.getFilename() + " (" + a.getFileId() + ")") + where;
      default -> a.getType() + where;
    };
  }

  /** {@code  [cites yr.no, oslo-guide.md]}, or nothing without citations. */
  static String cites(List<Annotation> annotations) {
    if (annotations.isEmpty()) {
      return "";
    }
    List<String> sources = annotations.stream().map(a -> a.getUrl() != null ? host(a.getUrl())
        : a.getFilename() != null ? a.getFilename() : String.valueOf(a.getFileId())).distinct().toList();
    return "  [cites " + String.join(", ", sources) + "]";
  }

  private static String host(String url) {
    try {
      String host = java.net.URI.create(url).getHost();
      return host == null ? url : host.startsWith("www.") ? host.substring(4) : host;
    } catch (IllegalArgumentException e) {
      return url;
    }
  }
}
