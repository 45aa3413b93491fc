package io.turnpike.memory;

import io.turnpike.avro.ConsolidationInFlight;
import io.turnpike.avro.MemoryCandidate;
import io.turnpike.avro.MemoryCandidates;
import io.turnpike.avro.MemoryCommand;
import io.turnpike.avro.MemoryCommandType;
import io.turnpike.avro.MemoryConfig;
import io.turnpike.avro.MemoryConsolidation;
import io.turnpike.avro.MemoryDocument;
import io.turnpike.avro.MemoryGenerate;
import io.turnpike.avro.MemoryLine;
import io.turnpike.avro.MemoryProvenance;
import io.turnpike.avro.MemoryScopeState;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Phase 2 of one scope as a pure state machine: {@code (state, input, now) -> (state', document?, request?)}.
 * The {@link MemoryTopology} processor is the only caller and does all the I/O, so that a state change
 * and the records it causes commit in one exactly-once transaction.
 *
 * <p>Why nothing is lost or done twice:
 * <ul>
 *   <li>An extraction or a command is taken once: its id is remembered ({@code seen}).
 *   <li>A candidate leaves {@code pending} only when a consolidation that included it is applied.
 *   <li>At most one consolidation is in flight per scope; an answer is applied only if its sequence is the
 *       one in flight <em>and</em> the document is still the version it was made from. A duplicate, late
 *       or stale answer changes nothing (a stale one makes the consolidation be asked again).
 * </ul>
 */
public final class MemoryBook {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(MemoryBook.class);

  static final int SEEN_LIMIT = 1000;
  /**
   * Most candidates a scope keeps waiting. The scope's state is one record on the store's changelog, and a
   * record Kafka refuses fails the whole transaction again and again (the partition would stop), so the
   * state is bounded: past this (the phase-two model away for long) the oldest candidates are dropped, logged.
   */
  static final int MAX_PENDING = 400;
  /** Most lines a document keeps (the most recently updated); a line's text is at most 500 characters. */
  static final int MAX_LINES = 300;
  /** Most evidence a line keeps (the newest): a rebuilt line rests on what its latest inputs said. */
  static final int MAX_EVIDENCE = 32;
  /**
   * Bound of the archive (roughly, in bytes of text): with {@link #MAX_PENDING} and the lines it keeps the
   * scope's state under the changelog's 1 MB records. Past it the oldest evidence goes; a line whose
   * evidence is gone when a forget touches it is dropped rather than kept with what the forgotten run taught.
   */
  static final int MAX_ARCHIVE_BYTES = 256 * 1024;

  private MemoryBook() {}

  /**
   * What an input did. {@code state} null: nothing changed (nothing to store). {@code document}: a new
   * version to publish. {@code request}: a consolidation to ask for. {@code rejected}: why the input was
   * refused (a dead letter).
   */
  public record Outcome(MemoryScopeState state, MemoryDocument document, MemoryConsolidation request, String rejected) {
    static Outcome unchanged() {
      return new Outcome(null, null, null, null);
    }

    static Outcome rejected(String why) {
      return new Outcome(null, null, null, why);
    }
  }

  public static MemoryScopeState empty(String scope, String agent, String user) {
    return MemoryScopeState.newBuilder().setScope(scope).setAgent(agent).setUser(user).build();
  }

  // ------------------------------------------------------------------------------------------- phase 1 in

  /** A run's candidates; {@code forgotten} says which were forgotten before they arrived. */
  public static Outcome candidates(MemoryScopeState current, MemoryCandidates batch, Predicate<MemoryCandidate> forgotten,
      Instant now) {
    MemoryScopeState s = current == null ? empty(batch.getScope(), batch.getAgent(), Scopes.userOf(batch.getScope()))
        : copy(current);
    if (s.getSeen().contains(batch.getExtractionId())) {
      return Outcome.unchanged(); // delivered again
    }
    seen(s, batch.getExtractionId());
    if (batch.getConfig() != null) {
      s.setConfig(batch.getConfig());
    }
    if (!batch.getAgentModel().isEmpty()) {
      s.setModel(batch.getAgentModel());
    }
    Set<String> pendingIds = new HashSet<>();
    s.getPending().forEach(c -> pendingIds.add(c.getCandidateId()));
    for (MemoryCandidate c : batch.getCandidates()) {
      if (forgotten.test(c) || !pendingIds.add(c.getCandidateId())) {
        continue;
      }
      s.getPending().add(c);
      if (c.getProvenance().getUser() != null) {
        s.getRunUsers().put(c.getProvenance().getRunId(), c.getProvenance().getUser());
      }
    }
    if (s.getPending().size() > MAX_PENDING) {
      List<MemoryCandidate> byAge = new ArrayList<>(s.getPending());
      byAge.sort(Comparator.comparing(MemoryCandidate::getCreatedAt).thenComparing(MemoryCandidate::getCandidateId));
      Set<String> inFlight = s.getInFlight() == null ? Set.of() : new HashSet<>(s.getInFlight().getCandidateIds());
      int drop = byAge.size() - MAX_PENDING;
      Set<String> dropped = new HashSet<>();
      for (MemoryCandidate c : byAge) {
        if (dropped.size() == drop) {
          break;
        }
        if (!inFlight.contains(c.getCandidateId())) {
          dropped.add(c.getCandidateId());
        }
      }
      s.setPending(new ArrayList<>(s.getPending().stream().filter(c -> !dropped.contains(c.getCandidateId())).toList()));
      log.warn("memory {}: over {} pending candidates (no consolidation for a while?); dropped the {} oldest", s.getScope(),
          MAX_PENDING, dropped.size());
    }
    resetPendingSince(s);
    MemoryConsolidation request = due(s, now, false) ? request(s, now) : null;
    return new Outcome(s, null, request, null);
  }

  // ------------------------------------------------------------------------------------------- phase 2 in

  /** The phase-two model's answer to a consolidation request. */
  public static Outcome consolidated(MemoryScopeState current, MemoryConsolidation answer, Instant now) {
    if (current == null || current.getInFlight() == null || current.getInFlight().getSequence() != answer.getSequence()) {
      return Outcome.unchanged(); // a duplicate, or an answer to a request no longer in flight
    }
    MemoryScopeState s = copy(current);
    ConsolidationInFlight inFlight = s.getInFlight();
    s.setInFlight(null);
    if (answer.getError() != null || s.getVersion() != inFlight.getBaseVersion()) {
      // Failed, or the document changed meanwhile (an edit, a forget): ask again from today's document.
      // A failure waits for the next trigger (a candidate, or the tick), not a tight loop.
      MemoryConsolidation again = answer.getError() == null && due(s, now, true) ? request(s, now) : null;
      return new Outcome(s, null, again, null);
    }
    Map<String, MemoryLine> existing = new HashMap<>();
    s.getLines().forEach(l -> existing.put(l.getId(), l));
    Map<String, MemoryCandidate> used = new HashMap<>();
    Set<String> usedIds = new HashSet<>(inFlight.getCandidateIds());
    s.getPending().stream().filter(c -> usedIds.contains(c.getCandidateId())).forEach(c -> used.put(c.getCandidateId(), c));
    List<MemoryLine> lines = new ArrayList<>();
    Set<String> keptIds = new HashSet<>();
    for (MemoryLine proposed : answer.getLines()) {
      LinkedHashSet<String> runs = new LinkedHashSet<>();
      LinkedHashSet<String> evidence = new LinkedHashSet<>();
      String keepId = null;
      for (String src : proposed.getSources()) {
        MemoryLine old = existing.get(src);
        MemoryCandidate cand = used.get(src);
        if (old != null) {
          runs.addAll(old.getSources());
          evidence.addAll(old.getEvidence());
          if (keepId == null && !keptIds.contains(old.getId())) {
            keepId = old.getId();
          }
        } else if (cand != null) {
          if (!cand.getProvenance().getRunId().isEmpty()) {
            runs.add(cand.getProvenance().getRunId());
          }
          evidence.add(cand.getCandidateId());
        }
      }
      if (runs.isEmpty()) {
        continue; // a line that rests on nothing the model was given: not memory
      }
      MemoryLine old = keepId == null ? null : existing.get(keepId);
      String id = keepId != null ? keepId : "L" + next(s);
      keptIds.add(id);
      List<String> kept = newest(evidence);
      boolean same = old != null && old.getText().equals(proposed.getText()) && old.getKind() == proposed.getKind()
          && new LinkedHashSet<>(old.getSources()).equals(runs) && old.getEvidence().equals(kept);
      lines.add(same ? old : MemoryLine.newBuilder().setId(id).setKind(proposed.getKind()).setText(proposed.getText())
          .setSources(new ArrayList<>(runs)).setUpdatedAt(now).setEditReason(old == null ? null : old.getEditReason())
          .setEvidence(kept).build());
    }
    if (lines.size() > MAX_LINES) {
      List<MemoryLine> newest = new ArrayList<>(lines);
      newest.sort(Comparator.comparing(MemoryLine::getUpdatedAt).reversed());
      Set<String> keep = new HashSet<>();
      newest.stream().limit(MAX_LINES).forEach(l -> keep.add(l.getId()));
      log.warn("memory {}: the consolidation gave {} lines; keeping the {} most recently updated", s.getScope(), lines.size(),
          MAX_LINES);
      lines = new ArrayList<>(lines.stream().filter(l -> keep.contains(l.getId())).toList());
    }
    s.setLines(lines);
    boolean rebuilt = s.getRebuild().stream().anyMatch(usedIds::contains);
    s.setPending(new ArrayList<>(s.getPending().stream().filter(c -> !usedIds.contains(c.getCandidateId())).toList()));
    resetPendingSince(s);
    s.setVersion(s.getVersion() + 1);
    s.setConsolidations(s.getConsolidations() + 1);
    s.setConsolidatedAt(now);
    archive(s, used.values());
    pruneRunUsers(s);
    MemoryDocument doc = document(s, "consolidated " + usedIds.size() + " candidate(s) (consolidation " + answer.getSequence()
        + (answer.getScripted() ? ", scripted model" : "") + (rebuilt ? ", rebuilding after a forget" : "") + ")", now);
    MemoryConsolidation next = due(s, now, false) ? request(s, now) : null;
    return new Outcome(s, doc, next, null);
  }

  // ------------------------------------------------------------------------------------------- commands

  /** memory_update: edit or remove one line, at once, with the editing run as provenance. */
  public static Outcome edit(MemoryScopeState current, MemoryCommand c, Instant now) {
    if (current == null) {
      return Outcome.rejected("scope " + c.getScope() + " has no memory yet, so it has no line " + c.getLineId());
    }
    if (current.getSeen().contains(c.getCommandId())) {
      return Outcome.unchanged();
    }
    MemoryScopeState s = copy(current);
    seen(s, c.getCommandId());
    int at = -1;
    for (int i = 0; i < s.getLines().size(); i++) {
      if (s.getLines().get(i).getId().equals(c.getLineId())) {
        at = i;
      }
    }
    if (at < 0) {
      return Outcome.rejected("memory of scope " + s.getScope() + " (version " + s.getVersion() + ") has no line '"
          + c.getLineId() + "'");
    }
    String change;
    if (c.getType() == MemoryCommandType.REMOVE_LINE) {
      s.getLines().remove(at);
      archive(s, List.of());
      change = "line " + c.getLineId() + " removed" + by(c);
    } else {
      if (c.getText() == null || c.getText().isBlank()) {
        return Outcome.rejected("an edit of line " + c.getLineId() + " needs the new text");
      }
      MemoryLine l = s.getLines().get(at);
      List<String> sources = new ArrayList<>(l.getSources());
      if (c.getRunId() != null && !sources.contains(c.getRunId())) {
        sources.add(c.getRunId());
      }
      // The edit is evidence like a candidate: a later forget of another run rebuilds the line with it.
      MemoryCandidate edit = MemoryCandidate.newBuilder().setCandidateId("edit:" + c.getCommandId()).setScope(s.getScope())
          .setKind(l.getKind()).setText(c.getText().trim()).setConfidence(1.0)
          .setProvenance(MemoryProvenance.newBuilder().setRunId(c.getRunId() == null ? "" : c.getRunId())
              .setModel("memory_update").build())
          .setCreatedAt(now).build();
      LinkedHashSet<String> evidence = new LinkedHashSet<>(l.getEvidence());
      evidence.add(edit.getCandidateId());
      s.getLines().set(at, MemoryLine.newBuilder(l).setText(c.getText().trim()).setSources(sources).setUpdatedAt(now)
          .setEditReason(c.getReason()).setEvidence(newest(evidence)).build());
      archive(s, List.of(edit));
      change = "line " + c.getLineId() + " edited" + by(c);
    }
    s.setVersion(s.getVersion() + 1);
    return new Outcome(s, document(s, change, now), null, null);
  }

  /**
   * Forgets a run or a user in this scope: lines resting only on forgotten runs go; a line resting partly
   * on them goes too, at once (its text may say what a forgotten run taught), and its evidence from the
   * other runs is put back as pending candidates that are re-consolidated at once, whatever the threshold,
   * so the line comes back made only of what is left. Pending and archived candidates of the forgotten
   * runs are dropped; a consolidation in flight that may hold them is abandoned (its answer will not
   * match) and asked again without them.
   */
  public static Outcome forget(MemoryScopeState current, MemoryCommand c, Instant now) {
    MemoryScopeState s = copy(current);
    Set<String> runs = new HashSet<>();
    String subject;
    if (c.getType() == MemoryCommandType.FORGET_USER) {
      String user = Objects.requireNonNull(c.getUser(), "user");
      subject = "user " + user;
      s.getRunUsers().forEach((run, u) -> {
        if (u.equals(user)) {
          runs.add(run);
        }
      });
      s.getPending().stream().filter(p -> user.equals(p.getProvenance().getUser())).forEach(p -> runs.add(p.getProvenance().getRunId()));
      if (user.equals(s.getUser())) {
        s.getLines().forEach(l -> runs.addAll(l.getSources())); // the whole scope is this user's
      }
    } else {
      runs.add(Objects.requireNonNull(c.getRunId(), "runId"));
      subject = "run " + c.getRunId();
    }
    boolean changed = false;
    Map<String, MemoryCandidate> archived = new HashMap<>();
    s.getArchive().stream().filter(a -> !runs.contains(a.getProvenance().getRunId())).forEach(a -> archived.put(a.getCandidateId(), a));
    changed |= archived.size() != s.getArchive().size();
    List<MemoryCandidate> pending = new ArrayList<>(
        s.getPending().stream().filter(p -> !runs.contains(p.getProvenance().getRunId())).toList());
    changed |= pending.size() != s.getPending().size();
    Set<String> pendingIds = new HashSet<>();
    pending.forEach(p -> pendingIds.add(p.getCandidateId()));
    List<String> rebuild = new ArrayList<>(s.getRebuild());
    List<MemoryLine> kept = new ArrayList<>();
    int tainted = 0;
    int lost = 0;
    for (MemoryLine l : s.getLines()) {
      List<String> left = l.getSources().stream().filter(r -> !runs.contains(r)).toList();
      if (left.size() == l.getSources().size()) {
        kept.add(l);
        continue;
      }
      changed = true;
      if (left.isEmpty()) {
        continue;
      }
      tainted++;
      List<MemoryCandidate> back = l.getEvidence().stream().map(archived::get).filter(Objects::nonNull).toList();
      if (back.isEmpty()) {
        lost++;
      }
      for (MemoryCandidate b : back) {
        if (pendingIds.add(b.getCandidateId())) {
          pending.add(b);
          rebuild.add(b.getCandidateId());
        }
      }
    }
    changed |= s.getRunUsers().keySet().removeIf(runs::contains);
    if (!changed) {
      return Outcome.unchanged();
    }
    s.setLines(kept);
    s.setPending(pending);
    s.setRebuild(rebuild);
    s.setArchive(new ArrayList<>(s.getArchive().stream().filter(a -> archived.containsKey(a.getCandidateId())).toList()));
    archive(s, List.of());
    resetPendingSince(s);
    s.setVersion(s.getVersion() + 1);
    s.setInFlight(null); // it may rest on what was just forgotten: its answer is ignored
    if (lost > 0) {
      log.warn("memory {}: {} line(s) resting partly on {} had no evidence left to rebuild from; dropped", s.getScope(), lost,
          subject);
    }
    MemoryConsolidation again = due(s, now, true) ? request(s, now) : null;
    String change = subject + " forgotten" + (tainted == 0 ? "" : "; " + tainted + " line(s) that rested partly on it are "
        + "re-consolidated from what is left");
    return new Outcome(s, document(s, change, now), again, null);
  }

  // ------------------------------------------------------------------------------------------- time

  /** The wall-clock check: the age threshold, and a consolidation whose answer never came. */
  public static Outcome tick(MemoryScopeState current, Instant now, Duration resendAfter) {
    ConsolidationInFlight f = current.getInFlight();
    if (f != null) {
      if (f.getSentAt().plus(resendAfter).isAfter(now)) {
        return Outcome.unchanged();
      }
      MemoryScopeState s = copy(current);
      s.setInFlight(null); // a new sequence: the old answer, if it ever comes, is ignored
      return new Outcome(s, null, request(s, now), null);
    }
    if (!due(current, now, true)) {
      return Outcome.unchanged();
    }
    MemoryScopeState s = copy(current);
    return new Outcome(s, null, request(s, now), null);
  }

  // ------------------------------------------------------------------------------------------- helpers

  /** Whether pending candidates should be consolidated now: enough of them, or (with age) old enough. */
  static boolean due(MemoryScopeState s, Instant now, boolean byAge) {
    if (s.getInFlight() != null || s.getPending().isEmpty()) {
      return false;
    }
    if (s.getPending().stream().anyMatch(p -> s.getRebuild().contains(p.getCandidateId()))) {
      return true; // a forget took lines away until they are rebuilt: not a wait for the threshold
    }
    MemoryGenerate g = generate(s.getConfig());
    if (s.getPending().size() >= g.getConsolidateAfterCandidates()) {
      return true;
    }
    return byAge && g.getConsolidateAfterAgeMs() != null && s.getPendingSince() != null
        && !s.getPendingSince().plusMillis(g.getConsolidateAfterAgeMs()).isAfter(now);
  }

  /** Puts the next consolidation in flight and returns its request: the oldest candidates, at most the configured number. */
  static MemoryConsolidation request(MemoryScopeState s, Instant now) {
    MemoryGenerate g = generate(s.getConfig());
    List<MemoryCandidate> take = s.getPending().stream()
        .sorted(Comparator.comparing(MemoryCandidate::getCreatedAt).thenComparing(MemoryCandidate::getCandidateId))
        .limit(g.getMaxRawMemoriesForConsolidation()).toList();
    long seq = s.getSequence() + 1;
    s.setSequence(seq);
    s.setInFlight(ConsolidationInFlight.newBuilder().setSequence(seq).setBaseVersion(s.getVersion())
        .setCandidateIds(take.stream().map(MemoryCandidate::getCandidateId).toList()).setSentAt(now).build());
    String model = g.getPhaseTwoModel() != null ? g.getPhaseTwoModel() : s.getModel();
    return MemoryConsolidation.newBuilder().setRequestId(s.getScope() + "#" + seq).setScope(s.getScope())
        .setAgent(s.getAgent()).setSequence(seq).setBaseVersion(s.getVersion()).setModel(model)
        .setLines(new ArrayList<>(s.getLines())).setCandidates(new ArrayList<>(take)).setAnswer(false).setAt(now).build();
  }

  public static MemoryDocument document(MemoryScopeState s, String change, Instant now) {
    return MemoryDocument.newBuilder().setScope(s.getScope()).setAgent(s.getAgent()).setUser(s.getUser())
        .setVersion(s.getVersion()).setLines(new ArrayList<>(s.getLines())).setRunUsers(new HashMap<>(s.getRunUsers()))
        .setPendingCandidates(s.getPending().size()).setConsolidations(s.getConsolidations()).setUpdatedAt(now)
        .setConsolidatedAt(s.getConsolidatedAt()).setChange(change).build();
  }

  private static MemoryGenerate generate(MemoryConfig c) {
    return c == null || c.getGenerate() == null ? MemoryGenerate.newBuilder().build() : c.getGenerate();
  }

  private static long next(MemoryScopeState s) {
    long n = s.getNextLine();
    s.setNextLine(n + 1);
    return n;
  }

  private static void seen(MemoryScopeState s, String id) {
    List<String> seen = new ArrayList<>(s.getSeen());
    seen.add(id);
    while (seen.size() > SEEN_LIMIT) {
      seen.remove(0);
    }
    s.setSeen(seen);
  }

  /**
   * Adds {@code added} to the archive, then keeps only what some line's evidence names, within
   * {@link #MAX_ARCHIVE_BYTES} (the oldest go first), and only rebuild ids still pending.
   */
  private static void archive(MemoryScopeState s, java.util.Collection<MemoryCandidate> added) {
    Set<String> named = new HashSet<>();
    s.getLines().forEach(l -> named.addAll(l.getEvidence()));
    Map<String, MemoryCandidate> byId = new HashMap<>();
    s.getArchive().forEach(a -> byId.put(a.getCandidateId(), a));
    added.forEach(a -> byId.put(a.getCandidateId(), a));
    List<MemoryCandidate> archive = new ArrayList<>(byId.values().stream().filter(a -> named.contains(a.getCandidateId())).toList());
    archive.sort(Comparator.comparing(MemoryCandidate::getCreatedAt).thenComparing(MemoryCandidate::getCandidateId));
    long bytes = archive.stream().mapToLong(MemoryBook::size).sum();
    int drop = 0;
    while (bytes > MAX_ARCHIVE_BYTES && drop < archive.size()) {
      bytes -= size(archive.get(drop++));
    }
    if (drop > 0) {
      log.warn("memory {}: the archive passed {} bytes; the {} oldest pieces of evidence were dropped", s.getScope(),
          MAX_ARCHIVE_BYTES, drop);
    }
    s.setArchive(new ArrayList<>(archive.subList(drop, archive.size())));
    Set<String> pending = new HashSet<>();
    s.getPending().forEach(p -> pending.add(p.getCandidateId()));
    s.setRebuild(new ArrayList<>(s.getRebuild().stream().filter(pending::contains).distinct().toList()));
  }

  private static long size(MemoryCandidate c) {
    return c.getText().length() + c.getCandidateId().length() + c.getProvenance().getRunId().length() + 64L;
  }

  /** The last {@link #MAX_EVIDENCE} ids, in order. */
  private static List<String> newest(java.util.Collection<String> evidence) {
    List<String> all = new ArrayList<>(evidence);
    return new ArrayList<>(all.subList(Math.max(0, all.size() - MAX_EVIDENCE), all.size()));
  }

  private static void resetPendingSince(MemoryScopeState s) {
    s.setPendingSince(s.getPending().stream().map(MemoryCandidate::getCreatedAt).min(Comparator.naturalOrder()).orElse(null));
  }

  /** runUsers keeps only runs the document or a pending candidate still rests on. */
  private static void pruneRunUsers(MemoryScopeState s) {
    Set<String> live = new HashSet<>();
    s.getLines().forEach(l -> live.addAll(l.getSources()));
    s.getPending().forEach(p -> live.add(p.getProvenance().getRunId()));
    s.getRunUsers().keySet().retainAll(live);
  }

  private static String by(MemoryCommand c) {
    return (c.getRunId() == null ? "" : " by run " + c.getRunId()) + (c.getReason() == null ? "" : ": " + c.getReason());
  }

  private static MemoryScopeState copy(MemoryScopeState s) {
    MemoryScopeState c = MemoryScopeState.newBuilder(s).build();
    c.setLines(new ArrayList<>(c.getLines()));
    c.setPending(new ArrayList<>(c.getPending()));
    c.setRunUsers(new HashMap<>(c.getRunUsers()));
    c.setSeen(new ArrayList<>(c.getSeen()));
    c.setArchive(new ArrayList<>(c.getArchive()));
    c.setRebuild(new ArrayList<>(c.getRebuild()));
    return c;
  }
}
