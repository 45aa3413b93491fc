package io.turnpike.schema;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.RunRequest;
import io.turnpike.schema.registry.InMemorySchemaRegistry;
import io.turnpike.schema.registry.SchemaRegistryException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

class WireFormatTest {
  private final InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
  private final TurnpikeSerdes serdes = TurnpikeSerdes.using(registry);

  private static RunRequest request() {
    return RunRequest.newBuilder().setRunId("run-1").setAgent("helper").setInput("hello")
        .setMetadata(Map.of("k", "v")).setRequestedAt(Instant.now().truncatedTo(ChronoUnit.MILLIS)).build();
  }

  @Test
  void roundTripsInTheConfluentWireFormat() {
    RunRequest req = request();
    byte[] bytes = serdes.runRequest().serialize(Topics.RUN_REQUESTS.name(), req);

    assertThat(bytes[0]).as("magic byte").isZero();
    int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
    assertThat(registry.schemaById(id)).isEqualTo(RunRequest.getClassSchema());
    assertThat(serdes.runRequest().deserialize(Topics.RUN_REQUESTS.name(), bytes)).isEqualTo(req);
  }

  @Test
  void theSameSchemaHasOneIdInEverySubject() {
    int home = serdes.runRequest().schemaId(null);
    int other = serdes.runRequest().schemaId("some-other-topic");
    assertThat(other).isEqualTo(home);
  }

  @Test
  void decodesRecordsWrittenWithAnOlderSchemaVersionByItsRegistryId() throws Exception {
    // an older RunRequest without agentVersion and metadata (both have defaults today)
    Schema older = SchemaBuilder.record("RunRequest").namespace("io.turnpike.avro").fields()
        .requiredString("runId").requiredString("agent").requiredString("input")
        .name("requestedAt").type(org.apache.avro.LogicalTypes.timestampMillis().addToSchema(Schema.create(Schema.Type.LONG)))
        .noDefault().endRecord();
    InMemorySchemaRegistry loose = new InMemorySchemaRegistry("mock://older");
    loose.setCompatibility("x-value", "NONE");
    int olderId = loose.register("x-value", older);
    GenericRecord rec = new GenericData.Record(older);
    rec.put("runId", "r-old");
    rec.put("agent", "helper");
    rec.put("input", "from the past");
    rec.put("requestedAt", 1_700_000_000_000L);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.write(ByteBuffer.allocate(4).putInt(olderId).array());
    BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(older).write(rec, enc);
    enc.flush();

    RunRequest decoded = TurnpikeSerdes.using(loose).runRequest().decode(out.toByteArray());
    assertThat(decoded.getRunId()).isEqualTo("r-old");
    assertThat(decoded.getInput()).isEqualTo("from the past");
    assertThat(decoded.getMetadata()).isEmpty();
    assertThat(decoded.getAgentVersion()).isNull();
  }

  @Test
  void stillDecodesTheSingleObjectEncodingWrittenBeforeTheWireFormat() throws Exception {
    RunRequest req = request();
    ByteBuffer legacy = new BinaryMessageEncoder<RunRequest>(
        org.apache.avro.specific.SpecificData.get(), RunRequest.getClassSchema()).encode(req);
    byte[] bytes = new byte[legacy.remaining()];
    legacy.get(bytes);
    assertThat(serdes.runRequest().decode(bytes)).isEqualTo(req);
  }

  @Test
  void aBreakingSchemaChangeIsRefusedUnderBackwardCompatibility() {
    SchemaRegistration.registerAll(registry);
    // a new required field without a default: today's readers could not read yesterday's records
    Schema breaking = SchemaBuilder.record("RunRequest").namespace("io.turnpike.avro").fields()
        .requiredString("runId").requiredString("agent").requiredString("input").requiredString("tenant")
        .endRecord();
    assertThat(registry.isCompatible(Topics.RUN_REQUESTS.name() + "-value", breaking)).isFalse();
    assertThatThrownBy(() -> registry.register(Topics.RUN_REQUESTS.name() + "-value", breaking))
        .isInstanceOf(SchemaRegistryException.class)
        .satisfies(e -> assertThat(((SchemaRegistryException) e).isIncompatible()).isTrue());
  }

  @Test
  void garbageIsAClearSerializationError() {
    assertThatThrownBy(() -> serdes.runRequest().deserialize("t", new byte[] {'{', '"', 'a'}))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("not the Confluent wire format");
    assertThatThrownBy(() -> serdes.runRequest().deserialize("t", new byte[] {0, 0, 0, 0x7f, 1, 2}))
        .isInstanceOf(SerializationException.class)
        .hasMessageContaining("RunRequest");
  }
}
