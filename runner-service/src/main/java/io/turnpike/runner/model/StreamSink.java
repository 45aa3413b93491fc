package io.turnpike.runner.model;

import io.turnpike.avro.ModelStreamKind;

/** Where the pieces of a streamed model answer go as they arrive (see {@link ModelClient#invoke(io.turnpike.avro.ModelCall, StreamSink)}). */
@FunctionalInterface
public interface StreamSink {
  /** Takes nothing: a call that is not streamed. */
  StreamSink NONE = (kind, name, text) -> {};

  /**
   * @param kind what the piece is part of: the answer's text, a reasoning summary, a call's arguments
   * @param name for ARGUMENTS, the tool called; else null
   * @param text the piece, never empty
   */
  void delta(ModelStreamKind kind, String name, String text);
}
