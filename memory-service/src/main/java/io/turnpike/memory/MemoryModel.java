package io.turnpike.memory;

/**
 * The model behind both phases: one strict-JSON completion. Called from worker threads only (never a
 * stream thread). Implementations throw {@link MemoryModelException} for anything that is not a usable
 * answer; the worker then leaves memory as it was (phase 1: the run's extraction is skipped and logged;
 * phase 2: the consolidation is asked again later).
 */
public interface MemoryModel extends AutoCloseable {

  /**
   * @param model        the model to ask
   * @param instructions the system instructions
   * @param input        the user input
   * @param schemaName   the JSON schema's name ({@code memory_candidates} or {@code memory_document})
   * @param schemaJson   the strict JSON schema the answer must follow
   * @param callId       an id for the server's logs
   * @return the answer's JSON text
   */
  String complete(String model, String instructions, String input, String schemaName, String schemaJson, String callId);

  @Override
  default void close() {}

  final class MemoryModelException extends RuntimeException {
    public MemoryModelException(String message, Throwable cause) {
      super(message, cause);
    }

    public MemoryModelException(String message) {
      super(message);
    }
  }
}
