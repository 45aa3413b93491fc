package io.turnpike.runner.model;

import io.turnpike.avro.ModelCall;
import io.turnpike.avro.ModelResult;

/**
 * Calls a model for one {@link ModelCall}. Implementations are thread-safe: the {@link ModelInvoker}
 * calls {@link #invoke} from many virtual threads at once.
 */
@FunctionalInterface
public interface ModelClient extends AutoCloseable {

  /**
   * Asks the model for the next step. Never throws for model, HTTP or I/O problems: those become
   * {@link ModelResult#getError()} ({@code ErrorInfo{code, message, retryable}}), and the result always
   * carries the call's runId and callId.
   */
  ModelResult invoke(ModelCall call);

  /**
   * As {@link #invoke(ModelCall)}, streaming the answer: each piece goes to {@code sink} as it arrives,
   * and the result is the same as without streaming (the sink's pieces are only for display). The
   * default cannot stream and answers whole.
   */
  default ModelResult invoke(ModelCall call, StreamSink sink) {
    return invoke(call);
  }

  /** Releases connections and threads. The default does nothing. */
  @Override
  default void close() {}
}
