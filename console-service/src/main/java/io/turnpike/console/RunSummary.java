package io.turnpike.console;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.RunResult;
import io.turnpike.avro.RunState;
import java.io.UncheckedIOException;
import java.time.Instant;

/**
 * One line of the run list: what {@code GET /api/runs} answers per run, and what the console keeps per run.
 *
 * @param fromState true when built from the run's RunState; false for a run known only by its RunResult
 *                  (a request refused at submission never gets a RunState)
 */
public record RunSummary(String runId, String agent, String status, int turn, String createdAt, String updatedAt,
    String error, int pendingApprovals, String parentRunId, boolean fromState) {

  static final ObjectMapper JSON = new ObjectMapper();

  static RunSummary of(RunState s) {
    return new RunSummary(s.getRunId(), s.getAgent() == null ? null : s.getAgent().getName(), s.getStatus().name(),
        s.getTurn(), s.getCreatedAt().toString(), s.getUpdatedAt().toString(), s.getError(), s.getApprovals().size(),
        s.getParent() == null ? null : s.getParent().getRunId(), true);
  }

  static RunSummary of(RunResult r) {
    String at = r.getFinishedAt().toString();
    return new RunSummary(r.getRunId(), r.getAgent(), r.getStatus().name(), r.getTurns(), at, at, r.getError(),
        r.getInterruptions().size(), null, false);
  }

  @JsonIgnore
  Instant created() {
    return Instant.parse(createdAt);
  }

  String toJson() {
    try {
      return JSON.writeValueAsString(this);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  static RunSummary fromJson(String json) {
    try {
      return JSON.readValue(json, RunSummary.class);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }
}
