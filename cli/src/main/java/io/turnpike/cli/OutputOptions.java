package io.turnpike.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine.Option;

/** {@code -o/--output text|json}, shared by every read command; JSON goes to stdout as one document. */
final class OutputOptions {
  enum Format { text, json }

  static final ObjectMapper JSON = new ObjectMapper().disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

  @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", defaultValue = "text",
      description = "text (default) or json: one JSON document on stdout, for scripts (errors stay on stderr as text,"
          + " the exit code says what happened).")
  Format format = Format.text;

  boolean json() {
    return format == Format.json;
  }

  /** Prints {@code value} as one line of JSON. */
  static void print(PrintWriter out, Object value) {
    try {
      out.println(JSON.writeValueAsString(value));
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
    out.flush();
  }
}
