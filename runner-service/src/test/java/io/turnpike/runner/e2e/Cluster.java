package io.turnpike.runner.e2e;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RunRequest;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.registry.DevSchemaRegistry;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** A real in-process broker with Turnpike's topics, the dev schema registry, and a producer for test input. */
final class Cluster implements AutoCloseable {
  static final int PARTITIONS = 3;

  final EmbeddedKafka kafka;
  final DevSchemaRegistry registry;
  final String registryUrl;
  final TurnpikeSerdes serdes;
  final KafkaProducer<String, byte[]> producer;

  Cluster() {
    kafka = EmbeddedKafka.start();
    // the real HTTP registry, not an in-JVM one: child-process runners must see the same ids
    registry = DevSchemaRegistry.start(kafka.bootstrapServers());
    registryUrl = registry.url();
    serdes = TurnpikeSerdes.forUrl(registryUrl);
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
      TopicAdmin.ensureTopics(admin, PARTITIONS, (short) 1);
    }
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  String bootstrap() {
    return kafka.bootstrapServers();
  }

  String registryUrl() {
    return registryUrl;
  }

  TurnpikeSerdes serdes() {
    return serdes;
  }

  void publishAgent(AgentDefinition agent) {
    send(Topics.AGENTS.name(), agent.getName(), serdes.agentDefinition().encode(agent), "AgentDefinition");
  }

  void submit(String runId, String agent, String input) {
    RunRequest req = RunRequest.newBuilder().setRunId(runId).setAgent(agent).setInput(input)
        .setMetadata(Map.of()).setRequestedAt(Instant.now()).build();
    send(Topics.RUN_REQUESTS.name(), runId, serdes.runRequest().encode(req), "RunRequest");
  }

  void send(String topic, String key, byte[] value, String type) {
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, key, value);
    rec.headers().add(TurnpikeHeaders.TYPE, type.getBytes(StandardCharsets.UTF_8));
    try {
      producer.send(rec).get();
    } catch (Exception e) {
      throw new IllegalStateException("cannot produce to " + topic, e);
    }
  }

  @Override
  public void close() {
    producer.close();
    registry.close();
    kafka.close();
  }
}
