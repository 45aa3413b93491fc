package io.turnpike.runner.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.openai.errors.OpenAIInvalidDataException;
import com.openai.errors.OpenAIIoException;
import io.turnpike.avro.ErrorInfo;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

class ModelErrorsTest {
  static final ModelErrors.Redactor REDACTOR = new ModelErrors.Redactor("sk-abc123");

  @Test
  void classifiesFailures() {
    ErrorInfo timeout = ModelErrors.fromException(
        new OpenAIIoException("Request failed", new InterruptedIOException("timeout")), REDACTOR);
    assertThat(timeout.getCode()).isEqualTo("model_timeout");
    assertThat(timeout.getRetryable()).isTrue();

    ErrorInfo readTimeout = ModelErrors.fromException(new CompletionException(
        new OpenAIIoException("Request failed", new SocketTimeoutException("Read timed out"))), REDACTOR);
    assertThat(readTimeout.getCode()).isEqualTo("model_timeout");

    ErrorInfo io = ModelErrors.fromException(new OpenAIIoException("Request failed", new IOException("reset")), REDACTOR);
    assertThat(io.getCode()).isEqualTo("model_io");
    assertThat(io.getRetryable()).isTrue();
    assertThat(io.getMessage()).isEqualTo("Request failed: reset");

    ErrorInfo bad = ModelErrors.fromException(new OpenAIInvalidDataException("`id` is missing"), REDACTOR);
    assertThat(bad.getCode()).isEqualTo("model_bad_response");
    assertThat(bad.getRetryable()).isFalse();

    ErrorInfo other = ModelErrors.fromException(new IllegalStateException("bug with sk-abc123 inside"), REDACTOR);
    assertThat(other.getCode()).isEqualTo("model_error");
    assertThat(other.getRetryable()).isFalse();
    assertThat(other.getMessage()).isEqualTo("bug with *** inside");
  }

  @Test
  void retryableStatuses() {
    assertThat(ModelErrors.retryableStatus(408)).isTrue();
    assertThat(ModelErrors.retryableStatus(409)).isTrue();
    assertThat(ModelErrors.retryableStatus(429)).isTrue();
    assertThat(ModelErrors.retryableStatus(500)).isTrue();
    assertThat(ModelErrors.retryableStatus(503)).isTrue();
    assertThat(ModelErrors.retryableStatus(400)).isFalse();
    assertThat(ModelErrors.retryableStatus(401)).isFalse();
    assertThat(ModelErrors.retryableStatus(404)).isFalse();
    assertThat(ModelErrors.retryableStatus(422)).isFalse();
  }

  @Test
  void attemptTimeoutNeverOutlivesTheDeadlineByMoreThanASecond() {
    ModelInvokerConfig config = ModelInvokerConfig.of("unused:9092", "mock://model-tests", "http://127.0.0.1:9/v1", null);
    try (OpenAiModelClient client = new OpenAiModelClient(config)) {
      var soon = TestCalls.call("r", "c", java.util.List.of(TestCalls.user("hi")))
          .setDeadline(Instant.now().plusSeconds(5)).build();
      assertThat(client.attemptTimeout(soon)).isBetween(Duration.ofSeconds(3), Duration.ofSeconds(5));
      var late = TestCalls.call("r", "c", java.util.List.of(TestCalls.user("hi")))
          .setDeadline(Instant.now().minusSeconds(5)).build();
      assertThat(client.attemptTimeout(late)).isEqualTo(Duration.ofSeconds(1));
      var far = TestCalls.call("r", "c", java.util.List.of(TestCalls.user("hi")))
          .setDeadline(Instant.now().plusSeconds(3600)).build();
      assertThat(client.attemptTimeout(far)).isEqualTo(Duration.ofSeconds(60));
    }
  }
}
