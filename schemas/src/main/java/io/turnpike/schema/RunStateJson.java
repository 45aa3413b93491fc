package io.turnpike.schema;

import io.turnpike.avro.RunState;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.avro.AvroTypeException;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;

/**
 * A RunState as JSON and back (the SDK's {@code RunState.toJSON/fromJSON}): Avro's own JSON encoding of
 * the RunState schema, so an export holds every field exactly and imports into the same record (unions
 * are written as {@code {"string": "..."}}, timestamps as epoch milliseconds, as Avro specifies). One home
 * for the console's download and the CLI's {@code runs export/import}.
 */
public final class RunStateJson {
  private RunStateJson() {}

  public static String write(RunState state, boolean pretty) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      JsonEncoder encoder = EncoderFactory.get().jsonEncoder(RunState.getClassSchema(), out, pretty);
      new SpecificDatumWriter<>(RunState.class).write(state, encoder);
      encoder.flush();
      return out.toString(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * @throws IllegalArgumentException when the text is not a RunState in this form, naming what is wrong
   */
  public static RunState read(String json) {
    try {
      return new SpecificDatumReader<>(RunState.class).read(null,
          DecoderFactory.get().jsonDecoder(RunState.getClassSchema(), json));
    } catch (AvroTypeException | IOException e) {
      throw new IllegalArgumentException("not a RunState as JSON (Avro JSON encoding of the RunState schema): " + e.getMessage(), e);
    }
  }
}
