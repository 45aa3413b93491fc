package io.turnpike.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The build's schema-evolution gate: every value schema must read data written with the last
 * released version of itself (BACKWARD, as the schema registry enforces). Released schemas live in
 * {@code src/test/resources/released/v<N>/}; a release copies the current ones into a new folder.
 */
class SchemaCompatibilityTest {
  static final List<String> RELEASES = List.of("v1", "v2", "v3", "v4");

  static List<TopicSpec> topics() {
    return Topics.ALL.stream().filter(t -> t.valueSchema() != null).toList();
  }

  static Schema released(String release, String name) throws IOException {
    try (InputStream in = SchemaCompatibilityTest.class.getResourceAsStream("/released/" + release + "/" + name + ".avsc")) {
      return in == null ? null : new Schema.Parser().parse(in);
    }
  }

  @ParameterizedTest
  @MethodSource("topics")
  void currentSchemaReadsEveryReleasedVersion(TopicSpec topic) throws IOException {
    for (String release : RELEASES) {
      Schema old = released(release, topic.valueSchema().getName());
      if (old == null) {
        continue; // the type is newer than this release
      }
      var result = SchemaCompatibility.checkReaderWriterCompatibility(topic.valueSchema(), old);
      assertThat(result.getType())
          .as("%s (current) reading %s written with %s: %s", topic.valueName(), topic.name(), release, result.getResult())
          .isEqualTo(SchemaCompatibilityType.COMPATIBLE);
    }
  }

  @Test
  void aBreakingChangeIsCaught() throws IOException {
    Schema old = released("v1", "RunRequest");
    List<Schema.Field> fields = new java.util.ArrayList<>();
    for (Schema.Field f : old.getFields()) {
      fields.add(new Schema.Field(f, f.schema()));
    }
    // A new required field: data written before it cannot be read.
    fields.add(new Schema.Field("priority", Schema.create(Schema.Type.INT), "no default", (Object) null));
    Schema reader = Schema.createRecord(old.getName(), old.getDoc(), old.getNamespace(), false, fields);
    assertThat(SchemaCompatibility.checkReaderWriterCompatibility(reader, old).getType())
        .isEqualTo(SchemaCompatibilityType.INCOMPATIBLE);
  }
}
