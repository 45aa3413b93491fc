package io.turnpike.memory;

import io.turnpike.avro.MemoryCommand;
import io.turnpike.avro.MemoryCommandType;
import io.turnpike.client.tool.ToolInvocation;
import io.turnpike.schema.MemorySerdes;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeHeaders;
import java.time.Clock;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The {@code memory_update} tool of agents with {@code memory.write}: turns the model's call into a
 * {@link MemoryCommand} (the editing run as provenance, the call id as the command id, so a redelivered
 * call is applied once) and writes it, keyed by the run, before answering. The memory topology finds the
 * run's scope and applies it to the document at once; a line that does not exist is dead-lettered there.
 */
public final class MemoryUpdateTool {
  public static final String NAME = "memory_update";

  private final Producer<String, byte[]> producer;
  private final MemorySerdes serdes;
  private final Clock clock;

  public MemoryUpdateTool(Producer<String, byte[]> producer, MemorySerdes serdes, Clock clock) {
    this.producer = producer;
    this.serdes = serdes;
    this.clock = clock;
  }

  /** The command a call asks for; an IllegalArgumentException's message is what the model is told. */
  public static MemoryCommand command(ToolInvocation call, java.time.Instant now) {
    String action = call.requireString("action").toLowerCase(Locale.ROOT);
    MemoryCommandType type = switch (action) {
      case "edit" -> MemoryCommandType.UPDATE_LINE;
      case "remove" -> MemoryCommandType.REMOVE_LINE;
      default -> throw new IllegalArgumentException("action must be edit or remove, got '" + action + "'");
    };
    String text = call.args().path("text").asText("");
    if (type == MemoryCommandType.UPDATE_LINE && text.isBlank()) {
      throw new IllegalArgumentException("an edit needs the line's new text");
    }
    MemoryCommand c = MemoryCommand.newBuilder()
        .setCommandId(call.callId())
        .setType(type)
        .setRunId(call.runId())
        .setLineId(call.requireString("lineId").trim())
        .setText(type == MemoryCommandType.UPDATE_LINE ? text.trim() : null)
        .setReason(call.requireString("reason"))
        .setRequestedAt(now)
        .build();
    String problem = Commands.problem(c);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    return c;
  }

  public String handle(ToolInvocation call) throws Exception {
    MemoryCommand c = command(call, clock.instant());
    RecordHeaders h = new RecordHeaders();
    TurnpikeHeaders.put(h, TurnpikeHeaders.TYPE, "MemoryCommand");
    if (call.traceId() != null) {
      TurnpikeHeaders.put(h, TurnpikeHeaders.TRACE_ID, call.traceId());
    }
    String topic = Topics.MEMORY_COMMANDS.name();
    producer.send(new ProducerRecord<>(topic, null, Commands.key(c), serdes.command().serialize(topic, c), h))
        .get(30, TimeUnit.SECONDS);
    return "memory line " + c.getLineId() + ": " + (c.getType() == MemoryCommandType.REMOVE_LINE ? "removal" : "edit")
        + " recorded; it applies to the memory at once (this run is its source)";
  }
}
