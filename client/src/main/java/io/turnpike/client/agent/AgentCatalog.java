package io.turnpike.client.agent;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.client.TraceIds;
import io.turnpike.client.internal.KafkaSupport;
import io.turnpike.client.internal.TopicReader;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import io.turnpike.schema.TurnpikeSerdes;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * The agent catalog: the compacted topic {@code turnpike.agents}, keyed by agent name. Publishing a
 * definition makes it the current version of that agent; reading returns the latest definition of
 * every agent.
 */
public final class AgentCatalog implements AutoCloseable {
  private final String bootstrap;
  private final TurnpikeSerdes serdes;
  private final Duration timeout;
  private KafkaProducer<String, byte[]> producer;

  public AgentCatalog(String bootstrapServers, String schemaRegistryUrl) {
    this(bootstrapServers, schemaRegistryUrl, Duration.ofSeconds(30));
  }

  /** {@code timeout} bounds each publish and each read. */
  public AgentCatalog(String bootstrapServers, String schemaRegistryUrl, Duration timeout) {
    this.bootstrap = bootstrapServers;
    this.serdes = TurnpikeSerdes.forUrl(schemaRegistryUrl);
    this.timeout = timeout;
  }

  /** Publishes a definition (key = its name) and waits for the broker's acknowledgement. */
  public RecordMetadata publish(AgentDefinition definition) {
    String topic = Topics.AGENTS.name();
    ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, definition.getName(),
        serdes.agentDefinition().serialize(topic, definition));
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.TYPE, "AgentDefinition");
    TurnpikeHeaders.put(rec.headers(), TurnpikeHeaders.TRACE_ID, TraceIds.newTraceId());
    return KafkaSupport.await(producer().send(rec), timeout,
        "publishing agent " + definition.getName() + " v" + definition.getVersion() + " to " + topic);
  }

  /** The current definition of every agent, by name (sorted). */
  public Map<String, AgentDefinition> list() {
    return new TreeMap<>(TopicReader.latestByKey(bootstrap, Topics.AGENTS.name(), serdes.agentDefinition(),
        k -> true, timeout));
  }

  /** The current definition of one agent. */
  public Optional<AgentDefinition> get(String name) {
    return Optional.ofNullable(TopicReader.latestByKey(bootstrap, Topics.AGENTS.name(), serdes.agentDefinition(),
        name::equals, timeout).get(name));
  }

  private synchronized KafkaProducer<String, byte[]> producer() {
    if (producer == null) {
      producer = new KafkaProducer<>(KafkaSupport.producerConfig(bootstrap, "turnpike-agent-catalog"));
    }
    return producer;
  }

  @Override
  public synchronized void close() {
    if (producer != null) {
      producer.close(Duration.ofSeconds(5));
      producer = null;
    }
  }
}
