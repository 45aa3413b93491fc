package io.turnpike.console;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.http.sse.SseEvent;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.helidon.webserver.sse.SseSink;
import io.helidon.webserver.staticcontent.ClasspathHandlerConfig;
import io.helidon.webserver.staticcontent.StaticContentFeature;
import io.turnpike.avro.RunState;
import io.turnpike.schema.RunStateJson;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The console's HTTP surface: the REST API under {@code /api} (docs/console.md has the contract) and the web UI
 * (static files from the class path, {@code /console/}). Every API answer is JSON; a mistake is a 4xx with
 * {@code {"error": "..."}}, never a stack trace.
 */
final class ConsoleApi {
  private static final Logger LOG = LoggerFactory.getLogger(ConsoleApi.class);
  private static final Set<String> STATUSES = Set.of("RUNNING", "INTERRUPTED", "COMPLETED", "FAILED", "CANCELLED",
      "GUARDRAIL_TRIPPED");
  /** An SSE connection sends a comment this often, so a closed browser is noticed and proxies keep it open. */
  static final long HEARTBEAT_MILLIS = 10_000;
  private static final io.helidon.http.HeaderName LAST_EVENT_ID = HeaderNames.create("Last-Event-ID");

  private final RunQuery query;
  private final ApprovalDesk desk;
  private final LiveSteps live;
  private final byte[] token;

  ConsoleApi(RunQuery query, ApprovalDesk desk, LiveSteps live, String token) {
    this.query = query;
    this.desk = desk;
    this.live = live;
    this.token = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
  }

  void routing(HttpRouting.Builder r) {
    r.get("/api/runs", api(this::list))
        .any("/api/runs/*", api(this::oneRun))
        .get("/api/approvals", api(this::approvals))
        .any("/api/*", api((req, res) -> error(res, Status.NOT_FOUND_404, "no such API: " + req.prologue().method()
            + " " + req.path().path())))
        .get("/", (req, res) -> {
          res.status(Status.MOVED_PERMANENTLY_301).header(HeaderNames.LOCATION, "/console/").send();
        })
        .register("/console", StaticContentFeature.createService(ClasspathHandlerConfig.builder()
            .location("console").welcome("index.html").build()));
  }

  // ------------------------------------------------------------------------------------------------ handlers

  private void list(ServerRequest req, ServerResponse res) {
    Set<String> statuses = new LinkedHashSet<>();
    for (String s : req.query().first("status").orElse("").split(",")) {
      String up = s.trim().toUpperCase(java.util.Locale.ROOT);
      if (up.isEmpty()) {
        continue;
      }
      if (!STATUSES.contains(up)) {
        throw new BadRequest("unknown status '" + s.trim() + "' (one or more of " + String.join(", ", STATUSES.stream().sorted().toList()) + ")");
      }
      statuses.add(up);
    }
    String agent = blankToNull(req.query().first("agent").orElse(null));
    int limit = intParam(req, "limit", 50, 1, RunQuery.MAX_LIMIT);
    String after = blankToNull(req.query().first("after").orElse(null));
    RunQuery.Page page = query.list(statuses, agent, limit, after);
    ObjectNode out = RunSummary.JSON.createObjectNode();
    out.set("runs", RunSummary.JSON.valueToTree(page.runs().stream().map(ConsoleApi::summaryJson).toList()));
    out.put("next", page.next());
    json(res, Status.OK_200, out);
  }

  /**
   * {@code /api/runs/{runId}[/history|/stream|/export|/files|/cancel|/approvals/{callId}]}, routed here from the raw
   * path: a child run's id holds a '/' ({@code <callId>/<agent>}), sent as %2F, which the server's own path
   * parameters would have decoded before matching, splitting the id.
   */
  private void oneRun(ServerRequest req, ServerResponse res) throws Exception {
    String rest = req.path().rawPath().substring("/api/runs/".length());
    List<String> parts = new java.util.ArrayList<>();
    for (String raw : rest.split("/", -1)) {
      try {
        parts.add(java.net.URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8));
      } catch (IllegalArgumentException e) {
        throw new BadRequest("the path is not percent-encoded correctly: " + Timeline.cut(raw, 80));
      }
    }
    String method = req.prologue().method().text();
    String runId = parts.get(0);
    if (runId.isEmpty()) {
      throw new BadRequest("the path needs a run id: /api/runs/{runId}");
    }
    String what = parts.size() == 1 ? "" : parts.get(1);
    String route = method + " " + what + (parts.size() > 2 ? "/" : "");
    switch (route) {
      case "GET " -> show(res, runId);
      case "GET history" -> history(res, runId);
      case "GET stream" -> stream(req, res, runId);
      case "GET export" -> export(res, runId);
      case "GET files" -> files(res, runId);
      case "POST cancel" -> cancel(req, res, runId);
      case "POST approvals/" -> {
        if (parts.size() != 3 || parts.get(2).isEmpty()) {
          throw new BadRequest("the path needs one call id: /api/runs/{runId}/approvals/{callId}");
        }
        decide(req, res, runId, parts.get(2));
      }
      default -> error(res, Status.NOT_FOUND_404, "no such API: " + method + " " + req.path().path());
    }
  }

  private void show(ServerResponse res, String runId) throws Exception {
    Optional<RunSummary> summary = query.summary(runId);
    if (summary.isEmpty()) {
      error(res, Status.NOT_FOUND_404, "no run " + runId);
      return;
    }
    ObjectNode out = summaryJson(summary.get());
    Optional<RunState> state = query.state(runId);
    out.set("state", state.isEmpty() ? null : RunSummary.JSON.readTree(RunStateJson.write(state.get(), false)));
    json(res, Status.OK_200, out);
  }

  private void history(ServerResponse res, String runId) {
    if (query.summary(runId).isEmpty()) {
      error(res, Status.NOT_FOUND_404, "no run " + runId);
      return;
    }
    ObjectNode out = RunSummary.JSON.createObjectNode();
    out.set("events", RunSummary.JSON.valueToTree(query.history(runId, Long.MIN_VALUE)));
    json(res, Status.OK_200, out);
  }

  /** The past steps, then the new ones as they are materialized; resumes after Last-Event-ID on reconnect. */
  private void stream(ServerRequest req, ServerResponse res, String runId) throws InterruptedException {
    if (query.summary(runId).isEmpty()) {
      error(res, Status.NOT_FOUND_404, "no run " + runId);
      return;
    }
    long after = req.headers().first(LAST_EVENT_ID).map(ConsoleApi::parseSeq).orElse(Long.MIN_VALUE);
    // Follow first, then read the past: a step materialized in between arrives twice and is skipped by seq.
    try (LiveSteps.Follower follower = live.follow(runId)) {
      List<Timeline.Entry> past = query.history(runId, after);
      res.header(HeaderNames.CACHE_CONTROL, "no-cache");
      try (SseSink sink = res.sink(SseSink.TYPE)) {
        long last = after;
        for (Timeline.Entry e : past) {
          sink.emit(event(e));
          last = e.seq();
        }
        while (!follower.lagging()) {
          Timeline.Entry e = follower.next(HEARTBEAT_MILLIS);
          if (e == null) {
            sink.emit(SseEvent.builder().comment("keep-alive").build());
          } else if (e.seq() > last) {
            sink.emit(event(query.withDecider(runId, e)));
            last = e.seq();
          }
        }
      } catch (RuntimeException e) {
        // the usual end of a stream: the browser closed the tab or went to another page (the write fails)
        LOG.debug("console: SSE follower of run {} went away: {}", runId, e.toString());
      }
    }
  }

  /** The files of the run's sandbox workspace as of its latest snapshot (no snapshot yet: an empty list). */
  private void files(ServerResponse res, String runId) throws Exception {
    Optional<String> files = query.files(runId);
    if (files.isEmpty() && query.summary(runId).isEmpty()) {
      error(res, Status.NOT_FOUND_404, "no run " + runId);
      return;
    }
    ObjectNode out = files.isPresent() ? (ObjectNode) RunSummary.JSON.readTree(files.get())
        : RunSummary.JSON.createObjectNode().putNull("snapshotId");
    if (files.isEmpty()) {
      out.putArray("files");
    }
    json(res, Status.OK_200, out);
  }

  private void export(ServerResponse res, String runId) {
    Optional<RunState> state = query.state(runId);
    if (state.isEmpty()) {
      error(res, Status.NOT_FOUND_404, query.summary(runId).isPresent()
          ? "run " + runId + " has no RunState (it was refused at submission)" : "no run " + runId);
      return;
    }
    res.status(Status.OK_200)
        .header(HeaderNames.CONTENT_TYPE, "application/json")
        .header(HeaderNames.CONTENT_DISPOSITION, "attachment; filename=\"" + runId.replaceAll("[^A-Za-z0-9._-]", "_")
            + ".runstate.json\"")
        .send(RunStateJson.write(state.get(), true).getBytes(StandardCharsets.UTF_8));
  }

  private void decide(ServerRequest req, ServerResponse res, String runId, String callId) {
    JsonNode body = body(req);
    JsonNode decision = body.get("decision");
    if (decision == null || !decision.isTextual() || !Set.of("approve", "reject").contains(decision.asText())) {
      throw new BadRequest("'decision' must be \"approve\" or \"reject\"");
    }
    JsonNode message = body.get("message");
    if (message != null && !message.isNull() && !message.isTextual()) {
      throw new BadRequest("'message' must be a string");
    }
    JsonNode always = body.get("always");
    if (always != null && !always.isNull() && !always.isBoolean()) {
      throw new BadRequest("'always' must be true or false");
    }
    String text = message == null || message.isNull() ? null : message.asText();
    if (text != null && text.length() > 4000) {
      throw new BadRequest("'message' is longer than 4000 characters");
    }
    ApprovalDesk.Outcome outcome = desk.decide(runId, callId, "approve".equals(decision.asText()), text,
        always != null && always.asBoolean(), user(req));
    answer(res, outcome);
  }

  private void cancel(ServerRequest req, ServerResponse res, String runId) {
    String user = user(req);
    String reason = "cancelled from the console by " + user;
    if (req.content().hasEntity()) {
      JsonNode r = body(req).get("reason");
      if (r != null && r.isTextual() && !r.asText().isBlank()) {
        reason = Timeline.cut(r.asText(), 1000) + " (cancelled from the console by " + user + ")";
      }
    }
    answer(res, desk.cancel(runId, reason, user));
  }

  private void approvals(ServerRequest req, ServerResponse res) {
    json(res, Status.OK_200, RunSummary.JSON.valueToTree(query.approvals()));
  }

  // ------------------------------------------------------------------------------------------------- helpers

  /** Authentication, then the handler; store and input problems become JSON errors. */
  private Handler api(Handler handler) {
    return (req, res) -> {
      res.header(HeaderNames.CACHE_CONTROL, "no-store");
      if (token != null && !authorized(req)) {
        res.header(HeaderNames.WWW_AUTHENTICATE, "Bearer realm=\"turnpike-console\"");
        error(res, Status.UNAUTHORIZED_401, "this console needs 'Authorization: Bearer <token>' (turnpike.console.token)");
        return;
      }
      try {
        handler.handle(req, res);
      } catch (BadRequest e) {
        error(res, Status.BAD_REQUEST_400, e.getMessage());
      } catch (InvalidStateStoreException e) {
        error(res, Status.SERVICE_UNAVAILABLE_503, "the console's views are loading or moving (" + e.getMessage()
            + "); try again shortly");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception e) {
        LOG.warn("console: {} {} failed", req.prologue().method(), req.path().path(), e);
        if (!res.isSent()) {
          error(res, Status.INTERNAL_SERVER_ERROR_500, "the console could not answer: " + e.getClass().getSimpleName()
              + (e.getMessage() == null ? "" : ": " + Timeline.cut(e.getMessage(), 300)));
        }
      }
    };
  }

  private boolean authorized(ServerRequest req) {
    Optional<String> header = req.headers().first(HeaderNames.AUTHORIZATION);
    // EventSource cannot send headers: the UI's live timeline passes the token as ?token= instead.
    Optional<String> given = header.filter(h -> h.regionMatches(true, 0, "Bearer ", 0, 7)).map(h -> h.substring(7).trim())
        .or(() -> Optional.ofNullable(req.query().first("token").orElse(null)));
    return given.isPresent() && MessageDigest.isEqual(token, given.get().getBytes(StandardCharsets.UTF_8));
  }

  /** Who decided: the X-Turnpike-User header (set by an authenticating proxy or the UI), else "console". */
  private static String user(ServerRequest req) {
    return req.headers().first(HeaderNames.create("X-Turnpike-User")).map(String::trim).filter(s -> !s.isEmpty())
        .map(s -> Timeline.cut(s, 100)).orElse("console");
  }

  private static JsonNode body(ServerRequest req) {
    String text = req.content().hasEntity() ? req.content().as(String.class) : "";
    if (text.isBlank()) {
      throw new BadRequest("the request needs a JSON body");
    }
    try {
      JsonNode node = RunSummary.JSON.readTree(text);
      if (node == null || !node.isObject()) {
        throw new BadRequest("the body must be a JSON object");
      }
      return node;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new BadRequest("the body is not JSON: " + Timeline.cut(e.getOriginalMessage(), 200));
    }
  }

  private static void answer(ServerResponse res, ApprovalDesk.Outcome outcome) {
    switch (outcome) {
      case ApprovalDesk.Outcome.Sent s -> {
        ObjectNode out = RunSummary.JSON.createObjectNode();
        out.put("commandId", s.commandId());
        json(res, Status.ACCEPTED_202, out);
      }
      case ApprovalDesk.Outcome.NotFound n -> error(res, Status.NOT_FOUND_404, n.message());
      case ApprovalDesk.Outcome.Conflict c -> error(res, Status.CONFLICT_409, c.message());
    }
  }

  static ObjectNode summaryJson(RunSummary s) {
    ObjectNode o = RunSummary.JSON.createObjectNode();
    o.put("runId", s.runId());
    o.put("agent", s.agent());
    o.put("status", s.status());
    o.put("turn", s.turn());
    o.put("createdAt", s.createdAt());
    o.put("updatedAt", s.updatedAt());
    o.put("error", s.error());
    o.put("pendingApprovals", s.pendingApprovals());
    o.put("parentRunId", s.parentRunId());
    return o;
  }

  private static SseEvent event(Timeline.Entry e) {
    return SseEvent.builder().id(Long.toString(e.seq())).name("step").data(e.toJson()).build();
  }

  private static long parseSeq(String s) {
    try {
      return Long.parseLong(s.trim());
    } catch (NumberFormatException e) {
      return Long.MIN_VALUE;
    }
  }

  private static int intParam(ServerRequest req, String name, int fallback, int min, int max) {
    String v = req.query().first(name).orElse(null);
    if (v == null || v.isBlank()) {
      return fallback;
    }
    try {
      int i = Integer.parseInt(v.trim());
      if (i < min || i > max) {
        throw new BadRequest("'" + name + "' must be between " + min + " and " + max + ", got " + i);
      }
      return i;
    } catch (NumberFormatException e) {
      throw new BadRequest("'" + name + "' must be a number, got '" + Timeline.cut(v, 40) + "'");
    }
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s.trim();
  }

  /** Sent as bytes: the length is known, so the answer goes out with Content-Length, not chunked. */
  static void json(ServerResponse res, Status status, JsonNode body) {
    res.status(status).header(HeaderNames.CONTENT_TYPE, "application/json")
        .send(body.toString().getBytes(StandardCharsets.UTF_8));
  }

  static void error(ServerResponse res, Status status, String message) {
    ObjectNode o = RunSummary.JSON.createObjectNode();
    o.put("error", message);
    json(res, status, o);
  }
}
