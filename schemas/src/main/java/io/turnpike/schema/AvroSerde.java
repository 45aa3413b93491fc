package io.turnpike.schema;

import io.turnpike.schema.registry.SchemaRegistry;
import io.turnpike.schema.registry.SchemaRegistryException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Serde for Avro specific records in the Confluent wire format: magic byte 0, the writer schema's 4-byte
 * registry id (big-endian), then Avro binary. Subjects follow TopicNameStrategy ({@code <topic>-value});
 * the schema is registered (or found) once per topic and the id cached, so Kafka UI, kcat and any
 * Confluent-compatible client can decode every value. Readers resolve the writer schema by id, so records
 * written by an older schema version decode into today's classes.
 *
 * <p>Avro's encoders do the work; this adds five bytes. Confluent's serializer would do the same but is
 * not available from the repositories we build from (see docs/schema-registry.md).
 *
 * <p>Records written before Turnpike used the wire format are in Avro's single-object encoding
 * (marker {@code C3 01}, 64-bit fingerprint); they still decode, against this class's schema or an older
 * one added with {@link #withWriterSchema}.
 */
public final class AvroSerde<T extends SpecificRecord> implements Serde<T>, Serializer<T>, Deserializer<T> {
  static final byte MAGIC = 0;
  private static final int HEADER = 5;

  private final Class<T> type;
  private final Schema schema;
  private final SpecificData model;
  private final SchemaRegistry registry;
  private final String homeTopic;
  private final SpecificDatumWriter<T> writer;
  private final Map<String, Integer> idByTopic = new ConcurrentHashMap<>();
  private final Map<Integer, SpecificDatumReader<T>> readerById = new ConcurrentHashMap<>();
  private final BinaryMessageDecoder<T> legacy;

  private AvroSerde(Class<T> type, SchemaRegistry registry, String homeTopic) {
    this.type = type;
    this.schema = SpecificData.get().getSchema(type);
    this.model = SpecificData.getForClass(type);
    this.registry = registry;
    this.homeTopic = homeTopic;
    this.writer = new SpecificDatumWriter<>(schema, model);
    this.legacy = new BinaryMessageDecoder<>(model, schema);
  }

  /** A serde that registers under {@code <topic>-value}; {@code homeTopic} is used where no topic is given. */
  public static <T extends SpecificRecord> AvroSerde<T> of(Class<T> type, SchemaRegistry registry, String homeTopic) {
    return new AvroSerde<>(type, registry, homeTopic);
  }

  /** A registry-less decoder for records written in the single-object encoding before the wire format. */
  public static <T extends SpecificRecord> AvroSerde<T> legacy(Class<T> type) {
    return new AvroSerde<>(type, null, null);
  }

  public AvroSerde<T> withWriterSchema(Schema older) {
    legacy.addSchema(older);
    return this;
  }

  public Class<T> type() {
    return type;
  }

  public Schema schema() {
    return schema;
  }

  /** The registry id of this type's schema under {@code <topic>-value}, registering it if needed. */
  public int schemaId(String topic) {
    if (registry == null) {
      throw new IllegalStateException(type.getSimpleName() + " serde has no schema registry: it only decodes");
    }
    String t = topic == null ? homeTopic : topic;
    Integer id = idByTopic.get(t);
    if (id == null) {
      id = registry.register(t + "-value", schema);
      idByTopic.put(t, id);
    }
    return id;
  }

  @Override
  public byte[] serialize(String topic, T data) {
    if (data == null) {
      return null;
    }
    int id = schemaId(topic);
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream(256);
      out.write(MAGIC);
      out.write(ByteBuffer.allocate(4).putInt(id).array());
      // unbuffered: the stream is a byte array already
      BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
      writer.write(data, enc);
      return out.toByteArray();
    } catch (Exception e) {
      throw new SerializationException("cannot encode " + type.getSimpleName() + ": " + e.getMessage(), e);
    }
  }

  /**
   * @throws SerializationException  the bytes are not a record of this type (set the record aside)
   * @throws SchemaRegistryException with {@link SchemaRegistryException#isTransient()} when the registry
   *                                 could not be asked for the writer schema (retry the record later)
   */
  @Override
  public T deserialize(String topic, byte[] bytes) {
    if (bytes == null) {
      return null;
    }
    try {
      if (bytes.length >= HEADER && bytes[0] == MAGIC) {
        return readWireFormat(bytes);
      }
      if (bytes.length >= 10 && bytes[0] == (byte) 0xC3 && bytes[1] == 0x01) {
        return legacy.decode(bytes);
      }
      throw new SerializationException("not the Confluent wire format (magic byte " + (bytes.length == 0 ? "missing"
          : String.format("0x%02x", bytes[0])) + ")");
    } catch (SchemaRegistryException e) {
      if (e.isTransient()) {
        throw e; // not the record's fault: the caller retries it rather than setting it aside
      }
      throw new SerializationException("cannot decode " + type.getSimpleName() + " from " + bytes.length
          + " bytes" + (topic == null ? "" : " on " + topic) + ": " + e.getMessage(), e);
    } catch (SerializationException e) {
      throw new SerializationException("cannot decode " + type.getSimpleName() + " from " + bytes.length
          + " bytes" + (topic == null ? "" : " on " + topic) + ": " + e.getMessage(), e);
    } catch (Exception e) {
      throw new SerializationException("cannot decode " + type.getSimpleName() + " from " + bytes.length
          + " bytes" + (topic == null ? "" : " on " + topic) + ": " + e, e);
    }
  }

  private T readWireFormat(byte[] bytes) throws java.io.IOException {
    if (registry == null) {
      throw new SerializationException("no schema registry to resolve the writer schema");
    }
    int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
    SpecificDatumReader<T> reader = readerById.get(id);
    if (reader == null) {
      Schema written = registry.schemaById(id);
      reader = new SpecificDatumReader<>(written, schema, model);
      readerById.put(id, reader);
    }
    BinaryDecoder dec = DecoderFactory.get().binaryDecoder(bytes, HEADER, bytes.length - HEADER, null);
    return reader.read(null, dec);
  }

  /** Encodes for this type's home topic. */
  public byte[] encode(T data) {
    return serialize(null, data);
  }

  public T decode(byte[] bytes) {
    return deserialize(null, bytes);
  }

  @Override
  public Serializer<T> serializer() {
    return this;
  }

  @Override
  public Deserializer<T> deserializer() {
    return this;
  }

  @Override
  public void configure(java.util.Map<String, ?> configs, boolean isKey) {}

  @Override
  public void close() {}
}
