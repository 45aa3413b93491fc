package io.turnpike.bench;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.GuardrailSpec;
import io.turnpike.avro.GuardrailStage;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.ToolSpec;
import io.turnpike.schema.AvroSerde;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/**
 * Cost of the Confluent wire format against Avro's single-object encoding (what Turnpike used before
 * issue #6), both measured in one JVM and one run: encode + decode of the same records, ids cached as in
 * a running service. Usage: {@code SerdeBench [iterations=200000] [rounds=7]}.
 */
public final class SerdeBench {
  private SerdeBench() {}

  public static void main(String[] args) throws java.io.IOException {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 7;
    TurnpikeSerdes serdes = TurnpikeSerdes.forUrl("mock://serde-bench");
    RunRequest request = RunRequest.newBuilder().setRunId("run-1").setAgent("travel").setInput("x".repeat(2_000))
        .setMetadata(Map.of("ticket", "T-1")).setRequestedAt(Instant.now()).build();
    List<GuardrailSpec> guards = new ArrayList<>();
    List<ToolSpec> tools = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      tools.add(ToolSpec.newBuilder().setName("tool_" + i).setParametersJson("{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}").build());
      guards.add(GuardrailSpec.newBuilder().setName("g" + i).setStage(GuardrailStage.INPUT).setType("keywords")
          .setConfigJson("{\"words\":[\"a\",\"b\"]}").build());
    }
    AgentDefinition agent = AgentDefinition.newBuilder().setName("travel").setVersion(3).setModel("gpt-4.1-mini")
        .setInstructions("You plan trips. ".repeat(50)).setTools(tools).setGuardrails(guards).build();
    System.out.printf("SerdeBench: %d encode+decode per round, %d rounds, median per operation; %s; %d cores%n",
        n, rounds, System.getProperty("java.vm.version"), Runtime.getRuntime().availableProcessors());
    compare("RunRequest (2 KB input)", request, serdes.runRequest(), n, rounds);
    compare("AgentDefinition (10 tools, 10 guardrails)", agent, serdes.agentDefinition(), n, rounds);
  }

  private static <T extends SpecificRecord> void compare(String what, T value, AvroSerde<T> wire, int n, int rounds)
      throws java.io.IOException {
    @SuppressWarnings("unchecked")
    Class<T> type = (Class<T>) value.getClass();
    BinaryMessageEncoder<T> enc = new BinaryMessageEncoder<>(SpecificData.getForClass(type), value.getSchema());
    BinaryMessageDecoder<T> dec = new BinaryMessageDecoder<>(SpecificData.getForClass(type), value.getSchema());
    Function<T, T> singleObject = v -> {
      try {
        ByteBuffer b = enc.encode(v);
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        return dec.decode(bytes);
      } catch (java.io.IOException e) {
        throw new IllegalStateException(e);
      }
    };
    Function<T, T> wireFormat = v -> wire.decode(wire.encode(v));
    if (!singleObject.apply(value).equals(value) || !wireFormat.apply(value).equals(value)) {
      throw new IllegalStateException("round trip changed the record");
    }
    double[] a = new double[rounds];
    double[] b = new double[rounds];
    for (int r = 0; r < rounds; r++) { // interleaved, so drift in the machine hits both alike
      a[r] = time(singleObject, value, n);
      b[r] = time(wireFormat, value, n);
    }
    Arrays.sort(a);
    Arrays.sort(b);
    double sa = a[rounds / 2];
    double sb = b[rounds / 2];
    System.out.printf("%-42s single-object %.2f us  wire format %.2f us  ratio %.2fx  (bytes %d vs %d)%n", what, sa, sb, sb / sa,
        enc.encode(value).remaining(), wire.encode(value).length);
  }

  private static <T> double time(Function<T, T> op, T value, int n) {
    long t0 = System.nanoTime();
    Object sink = null;
    for (int i = 0; i < n; i++) {
      sink = op.apply(value);
    }
    if (sink == null) {
      throw new IllegalStateException();
    }
    return (System.nanoTime() - t0) / 1000.0 / n;
  }
}
