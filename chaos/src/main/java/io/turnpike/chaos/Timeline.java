package io.turnpike.chaos;

import java.util.ArrayList;
import java.util.List;

/** What happened to the fleet, in order: starts, kills, readiness, exits nobody asked for, injected records. */
public final class Timeline {
  public enum Kind { STARTED, READY, NOT_READY, KILLED, EXITED, HOSTILE, NOTE }

  /** @param at epoch millis */
  public record Incident(long at, Part part, Kind kind, String detail) {}

  private final List<Incident> incidents = new ArrayList<>();

  public void add(Part part, Kind kind, String detail) {
    synchronized (incidents) {
      incidents.add(new Incident(System.currentTimeMillis(), part, kind, detail));
    }
  }

  public List<Incident> incidents() {
    synchronized (incidents) {
      return List.copyOf(incidents);
    }
  }
}
