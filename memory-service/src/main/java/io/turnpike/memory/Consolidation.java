package io.turnpike.memory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.avro.MemoryCandidate;
import io.turnpike.avro.MemoryConsolidation;
import io.turnpike.avro.MemoryLine;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Phase 2's model exchange, without I/O: the request as the phase-two model reads it (a JSON document
 * of the current lines and the new candidates, oldest first) and its answer as lines citing the inputs
 * they rest on. Which runs a line rests on is worked out from those citations by {@link MemoryBook},
 * never taken from the model.
 */
public final class Consolidation {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static final String SCHEMA_NAME = "memory_document";
  public static final String SCHEMA = """
      {"type":"object","properties":{"lines":{"type":"array","items":{"type":"object","properties":{\
      "kind":{"type":"string","enum":["fact","preference","procedure","pitfall"]},\
      "text":{"type":"string"},\
      "sources":{"type":"array","items":{"type":"string"}}},\
      "required":["kind","text","sources"],"additionalProperties":false}}},\
      "required":["lines"],"additionalProperties":false}""";

  public static final String INSTRUCTIONS = """
      You maintain the long-term memory of an AI agent. You get its current memory lines ("existing", \
      each with an id) and new candidate memories ("candidates", each with an id, oldest first). Produce \
      the new memory: merge duplicates into one line, keep lines that are still valid, and when two \
      statements contradict each other keep the newer one (candidates are newer than existing lines, \
      and later candidates newer than earlier ones). Drop what is stale or trivial. Each line is one \
      short sentence; for each, list in "sources" the ids of every existing line and candidate it rests \
      on. Do not invent lines without sources.""";

  private Consolidation() {}

  public static String input(MemoryConsolidation request) {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode existing = root.putArray("existing");
    for (MemoryLine l : request.getLines()) {
      existing.addObject().put("id", l.getId()).put("kind", l.getKind().name().toLowerCase(Locale.ROOT)).put("text", l.getText());
    }
    ArrayNode candidates = root.putArray("candidates");
    for (MemoryCandidate c : request.getCandidates()) {
      candidates.addObject().put("id", c.getCandidateId()).put("kind", c.getKind().name().toLowerCase(Locale.ROOT))
          .put("text", c.getText()).put("at", c.getCreatedAt().toString());
    }
    return root.toString();
  }

  /**
   * The answer to {@code request}: its lines with {@code id} empty and {@code sources} the cited input ids.
   *
   * @throws IllegalArgumentException when the answer does not follow the schema
   */
  public static MemoryConsolidation answer(MemoryConsolidation request, String answer, boolean scripted, Instant now) {
    JsonNode root;
    try {
      root = JSON.readTree(answer);
    } catch (Exception e) {
      throw new IllegalArgumentException("the phase-two answer is not JSON: " + e.getMessage());
    }
    JsonNode arr = root == null ? null : root.get("lines");
    if (arr == null || !arr.isArray()) {
      throw new IllegalArgumentException("the phase-two answer has no lines array");
    }
    List<MemoryLine> lines = new ArrayList<>();
    for (JsonNode n : arr) {
      String text = n.path("text").asText("").trim();
      if (text.isEmpty()) {
        continue;
      }
      List<String> sources = new ArrayList<>();
      for (JsonNode s : n.path("sources")) {
        if (s.isTextual() && !sources.contains(s.asText())) {
          sources.add(s.asText());
        }
      }
      lines.add(MemoryLine.newBuilder().setId("").setKind(Extraction.kind(n.path("kind").asText("")))
          .setText(text.length() > Extraction.MAX_TEXT ? text.substring(0, Extraction.MAX_TEXT) : text)
          .setSources(sources).setUpdatedAt(now).build());
    }
    return MemoryConsolidation.newBuilder(request).setLines(lines).setCandidates(List.of()).setAnswer(true)
        .setScripted(scripted).setError(null).setAt(now).build();
  }

  /** An answer that says the consolidation failed: the scope keeps its candidates and asks again later. */
  public static MemoryConsolidation failed(MemoryConsolidation request, String error, Instant now) {
    return MemoryConsolidation.newBuilder(request).setLines(List.of()).setCandidates(List.of()).setAnswer(true)
        .setError(error).setAt(now).build();
  }
}
