package io.turnpike.memory;

import io.turnpike.avro.MemoryCommand;
import java.time.Instant;
import java.util.UUID;

/** Memory commands: how they are made and what makes one unusable. */
public final class Commands {
  static final int MAX_LINE_ID = 64;

  private Commands() {}

  /** Why the command cannot be applied, or null. */
  public static String problem(MemoryCommand c) {
    return switch (c.getType()) {
      case UPDATE_LINE, REMOVE_LINE -> {
        if (c.getLineId() == null || c.getLineId().isBlank()) {
          yield c.getType() + " needs lineId";
        }
        if (c.getScope() == null && c.getRunId() == null) {
          yield c.getType() + " needs the scope or the editing run";
        }
        if (c.getType() == io.turnpike.avro.MemoryCommandType.UPDATE_LINE && (c.getText() == null || c.getText().isBlank())) {
          yield "UPDATE_LINE needs the line's new text";
        }
        // Bounded like a consolidated line: the scope's state is one changelog record, so an unbounded
        // edit (a model told to write a novel into memory) must not be able to make it unwritable.
        if (c.getText() != null && c.getText().length() > Extraction.MAX_TEXT) {
          yield "a memory line is at most " + Extraction.MAX_TEXT + " characters; the new text has " + c.getText().length();
        }
        if (c.getLineId().length() > MAX_LINE_ID) {
          yield "lineId is at most " + MAX_LINE_ID + " characters";
        }
        if (c.getReason() != null && c.getReason().length() > Extraction.MAX_TEXT) {
          yield "the reason is at most " + Extraction.MAX_TEXT + " characters";
        }
        yield null;
      }
      case FORGET_RUN -> c.getRunId() == null || c.getRunId().isBlank() ? "FORGET_RUN needs runId" : null;
      case FORGET_USER -> c.getUser() == null || c.getUser().isBlank() ? "FORGET_USER needs user" : null;
    };
  }

  public static MemoryCommand forgetRun(String runId, Instant now) {
    return MemoryCommand.newBuilder().setCommandId("forget-run-" + UUID.randomUUID())
        .setType(io.turnpike.avro.MemoryCommandType.FORGET_RUN).setRunId(runId).setRequestedAt(now).build();
  }

  public static MemoryCommand forgetUser(String user, Instant now) {
    return MemoryCommand.newBuilder().setCommandId("forget-user-" + UUID.randomUUID())
        .setType(io.turnpike.avro.MemoryCommandType.FORGET_USER).setUser(user).setRequestedAt(now).build();
  }

  /** The record key of a command on turnpike.memory.commands. */
  public static String key(MemoryCommand c) {
    return switch (c.getType()) {
      case FORGET_RUN -> Scopes.FORGET_PREFIX + "run:" + c.getRunId();
      case FORGET_USER -> Scopes.FORGET_PREFIX + "user:" + c.getUser();
      default -> c.getRunId() != null ? c.getRunId() : c.getScope();
    };
  }
}
