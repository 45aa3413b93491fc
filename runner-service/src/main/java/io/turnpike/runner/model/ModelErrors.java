package io.turnpike.runner.model;

import com.openai.errors.OpenAIInvalidDataException;
import com.openai.errors.OpenAIIoException;
import com.openai.errors.OpenAIRetryableException;
import com.openai.errors.OpenAIServiceException;
import io.turnpike.avro.ErrorInfo;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Turns what can go wrong while calling a model into an {@link ErrorInfo}, with secrets removed. */
final class ModelErrors {
  private ModelErrors() {}

  static final String TIMEOUT = "model_timeout";
  static final String IO = "model_io";
  static final String BAD_RESPONSE = "model_bad_response";
  static final String INVALID_CALL = "model_invalid_call";
  static final String RESPONSE_FAILED = "model_response_failed";
  static final String INCOMPLETE = "model_incomplete";
  static final String ERROR = "model_error";

  private static final int MAX_MESSAGE = 2000;

  /** The HTTP statuses openai-java retries, and that stay worth retrying after its retries ran out. */
  static boolean retryableStatus(int status) {
    return status == 408 || status == 409 || status == 429 || status >= 500;
  }

  static String httpCode(int status) {
    return "model_http_" + status;
  }

  static ErrorInfo error(String code, String message, boolean retryable, Redactor redactor) {
    String m = redactor.redact(message == null ? "" : message);
    if (m.length() > MAX_MESSAGE) {
      m = m.substring(0, MAX_MESSAGE) + "...";
    }
    return ErrorInfo.newBuilder().setCode(code).setMessage(m).setRetryable(retryable).build();
  }

  static ErrorInfo fromException(Throwable thrown, Redactor redactor) {
    Throwable t = unwrap(thrown);
    if (t instanceof OpenAIServiceException e) {
      int status = e.statusCode();
      return error(httpCode(status), e.getMessage(), retryableStatus(status), redactor);
    }
    if (t instanceof OpenAIInvalidDataException e) {
      return error(BAD_RESPONSE, describe(e), false, redactor);
    }
    if (t instanceof OpenAIIoException || t instanceof OpenAIRetryableException || t instanceof IOException
        || t instanceof UncheckedIOException) {
      if (hasCause(t, InterruptedIOException.class)) {
        return error(TIMEOUT, "model call timed out: " + describe(t), true, redactor);
      }
      return error(IO, describe(t), true, redactor);
    }
    return error(ERROR, describe(t), false, redactor);
  }

  /** The message of an exception and of its causes, e.g. "Request failed: timeout". */
  static String describe(Throwable t) {
    StringBuilder sb = new StringBuilder();
    Throwable c = t;
    for (int depth = 0; c != null && depth < 4; depth++, c = c.getCause()) {
      String m = c.getMessage();
      String part = m == null || m.isBlank() ? c.getClass().getSimpleName() : m;
      if (sb.length() > 0) {
        if (sb.indexOf(part) >= 0) {
          continue;
        }
        sb.append(": ");
      }
      sb.append(part);
    }
    return sb.toString();
  }

  private static Throwable unwrap(Throwable t) {
    Throwable c = t;
    while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
      c = c.getCause();
    }
    return c;
  }

  private static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (type.isInstance(c)) {
        return true;
      }
      if (c.getCause() == c) {
        break;
      }
    }
    return false;
  }

  /** Removes a secret (the API key) from any text that may leave the process. */
  record Redactor(String secret) {
    static final Redactor NONE = new Redactor(null);

    String redact(String text) {
      if (text == null || secret == null || secret.isEmpty()) {
        return text;
      }
      return text.replace(secret, "***");
    }
  }
}
