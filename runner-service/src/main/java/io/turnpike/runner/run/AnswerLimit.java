package io.turnpike.runner.run;

import io.turnpike.avro.ErrorInfo;
import io.turnpike.avro.GuardrailOutcome;
import io.turnpike.avro.GuardrailVerdict;
import io.turnpike.avro.ModelResult;
import io.turnpike.avro.SandboxResult;
import io.turnpike.avro.ToolResult;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Answers too large to fold into a run. A valid answer of several MB would become part of the
 * RunState, the next model call and a turn event, none of which their topics take: instead the
 * orchestrator hands the state machine the same answer with an error in place of the content, so
 * that the model (a tool's answer) or the run (a model answer, a guardrail verdict) sees why.
 */
final class AnswerLimit {
  /** Error code of a model answer that was refused for its size. */
  static final String MODEL_ERROR_CODE = "answer_too_large";
  /** Names the "guardrail" of a verdict that was refused for its size. */
  static final String GUARDRAIL = "max-answer-bytes";

  private AnswerLimit() {}

  /** Whether the orchestrator limits the size of this event (answers of workers, not requests or commands). */
  static boolean applies(RunEvent event) {
    return event instanceof RunEvent.ToolAnswered || event instanceof RunEvent.ChildAnswered || event instanceof RunEvent.SandboxAnswered
        || event instanceof RunEvent.ModelAnswered || event instanceof RunEvent.GuardrailAnswered;
  }

  /** "the answer of tool fetch_report", "the model's answer to run-1:m2", ...: what the error messages name. */
  static String what(RunEvent answer) {
    return switch (answer) {
      case RunEvent.ToolAnswered t -> "the answer of tool " + t.result().getName();
      case RunEvent.ChildAnswered c -> "the outcome of child run " + c.result().getChildRunId();
      case RunEvent.SandboxAnswered s -> "the answer of sandbox tool " + s.result().getTool();
      case RunEvent.ModelAnswered m -> "the model's answer to " + m.result().getCallId();
      case RunEvent.GuardrailAnswered g -> "the verdict of guardrail check " + g.verdict().getCallId();
      default -> "the record";
    };
  }

  /** The message when an answer is larger than the configured limit. */
  static String tooLarge(RunEvent answer, int bytes, int limit) {
    return what(answer) + " was " + bytes(bytes) + "; the limit is " + bytes(limit)
        + " (turnpike.runner.max-answer-bytes)";
  }

  /** The same answer, with {@code why} in place of its content. */
  static RunEvent refusal(RunEvent answer, String why) {
    return switch (answer) {
      case RunEvent.ToolAnswered t -> new RunEvent.ToolAnswered(ToolResult.newBuilder(t.result())
          .setOutput("error: " + why).setIsError(true).setImages(List.of()).build(), t.maxImageBytes());
      case RunEvent.ChildAnswered c -> new RunEvent.ChildAnswered(ToolResult.newBuilder(c.result())
          .setOutput("error: " + why).setIsError(true).build());
      // The command ran: its snapshot and exit code stay true, only the output is replaced.
      case RunEvent.SandboxAnswered s -> new RunEvent.SandboxAnswered(SandboxResult.newBuilder(s.result())
          .setOutput("error: " + why).setIsError(true).setImages(List.of()).build(), s.maxImageBytes());
      // Not retryable: a model that answered that much once is likely to again, and each try costs.
      case RunEvent.ModelAnswered m -> new RunEvent.ModelAnswered(ModelResult.newBuilder(m.result())
          .setOutput(List.of()).setError(new ErrorInfo(MODEL_ERROR_CODE, why, false)).build(), Map.of(), m.maxImageBytes());
      // Fails closed: content the guardrail service judged but we cannot carry is not let through.
      case RunEvent.GuardrailAnswered g -> new RunEvent.GuardrailAnswered(GuardrailVerdict.newBuilder(g.verdict())
          .setOutcome(GuardrailOutcome.REJECT).setGuardrail(GUARDRAIL).setReason(why).setContent(null)
          .setFindings(List.of()).build(), Map.of());
      default -> throw new IllegalArgumentException("not an answer: " + answer);
    };
  }

  /** "5242880 bytes (5.0 MiB)": exact for whoever compares, rounded for whoever reads. */
  static String bytes(long n) {
    if (n < 1024) {
      return n + " bytes";
    }
    double kib = n / 1024.0;
    String rounded = kib < 1024 ? String.format(Locale.ROOT, "%.1f KiB", kib) : String.format(Locale.ROOT, "%.1f MiB", kib / 1024);
    return n + " bytes (" + rounded + ")";
  }
}
