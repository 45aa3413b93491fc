package io.turnpike.memory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.EventOffset;
import io.turnpike.avro.MemoryCandidate;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryKind;
import io.turnpike.avro.MemoryProvenance;
import io.turnpike.avro.RunState;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Phase 1, without I/O: the prompt for one finished run and its answer turned into candidates with
 * provenance. Candidate ids are {@code <runId>@<version>#<n>}: the same final RunState always names the
 * same candidates, and phase 2 takes an extraction ({@code <runId>@<version>}) once.
 */
public final class Extraction {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static final String SCHEMA_NAME = "memory_candidates";
  public static final String SCHEMA = """
      {"type":"object","properties":{"candidates":{"type":"array","items":{"type":"object","properties":{\
      "kind":{"type":"string","enum":["fact","preference","procedure","pitfall"]},\
      "text":{"type":"string"},\
      "confidence":{"type":"number"},\
      "items":{"type":"array","items":{"type":"integer"}}},\
      "required":["kind","text","confidence","items"],"additionalProperties":false}}},\
      "required":["candidates"],"additionalProperties":false}""";

  public static final String INSTRUCTIONS = """
      You extract durable memories from one finished run of an AI agent, for its future runs.
      Keep only what will still be true and useful later: facts about the user or the world the agent \
      relies on (fact), the user's stated preferences (preference), a way of doing a task that worked \
      (procedure), a mistake or failure to avoid (pitfall). Do not keep small talk, one-off details, \
      secrets, or anything the run itself made up. Each memory is one short self-contained sentence.
      For each, give your confidence (0..1) and the numbers [n] of the transcript items it comes from.
      If nothing is worth keeping, answer {"candidates": []}.""";

  /** Below this confidence a candidate is not kept. */
  static final double MIN_CONFIDENCE = 0.3;
  /** At most this many candidates per run. */
  static final int MAX_CANDIDATES = 20;
  static final int MAX_TEXT = 500;

  private Extraction() {}

  public static String extractionId(RunState state) {
    return state.getRunId() + "@" + state.getVersion();
  }

  public static String input(RunState state, Transcript transcript) {
    return "Agent: " + state.getAgent().getName() + "\nRun: " + state.getRunId() + " (" + state.getStatus() + ")\n"
        + "Transcript:\n" + transcript.render();
  }

  /**
   * The candidates in the model's answer, or an empty list when it found nothing.
   *
   * @throws IllegalArgumentException when the answer does not follow the schema
   */
  public static MemoryCandidates candidates(RunState state, String scope, Transcript transcript, String answer,
      EventOffset source, String model, boolean scripted, Instant now) {
    JsonNode root;
    try {
      root = JSON.readTree(answer);
    } catch (Exception e) {
      throw new IllegalArgumentException("the phase-one answer is not JSON: " + e.getMessage());
    }
    JsonNode arr = root == null ? null : root.get("candidates");
    if (arr == null || !arr.isArray()) {
      throw new IllegalArgumentException("the phase-one answer has no candidates array");
    }
    List<MemoryCandidate> out = new ArrayList<>();
    for (JsonNode c : arr) {
      if (out.size() >= MAX_CANDIDATES) {
        break;
      }
      String text = c.path("text").asText("").trim();
      double confidence = c.path("confidence").asDouble(0);
      if (text.isEmpty() || confidence < MIN_CONFIDENCE) {
        continue;
      }
      MemoryKind kind = kind(c.path("kind").asText(""));
      List<Integer> items = new ArrayList<>();
      for (JsonNode i : c.path("items")) {
        if (i.canConvertToInt() && transcript.hasItem(i.asInt()) && !items.contains(i.asInt())) {
          items.add(i.asInt());
        }
      }
      String id = extractionId(state) + "#" + out.size();
      out.add(MemoryCandidate.newBuilder()
          .setCandidateId(id)
          .setScope(scope)
          .setKind(kind)
          .setText(text.length() > MAX_TEXT ? text.substring(0, MAX_TEXT) : text)
          .setConfidence(Math.min(1.0, confidence))
          .setProvenance(MemoryProvenance.newBuilder()
              .setRunId(state.getRunId())
              .setUser(state.getUser())
              .setTurn(transcript.turnOf(items))
              .setItems(items)
              .setEvents(List.of(source))
              .setModel(model)
              .setScripted(scripted)
              .build())
          .setCreatedAt(now)
          .build());
    }
    return MemoryCandidates.newBuilder()
        .setExtractionId(extractionId(state))
        .setScope(scope)
        .setAgent(state.getAgent().getName())
        .setRunId(state.getRunId())
        .setUser(state.getUser())
        .setCandidates(out)
        .setConfig(state.getAgent().getMemory())
        .setAgentModel(state.getAgent().getModel())
        .setExtractedAt(now)
        .build();
  }

  static MemoryKind kind(String s) {
    return switch (s.toLowerCase(Locale.ROOT)) {
      case "preference" -> MemoryKind.PREFERENCE;
      case "procedure" -> MemoryKind.PROCEDURE;
      case "pitfall" -> MemoryKind.PITFALL;
      default -> MemoryKind.FACT;
    };
  }
}
