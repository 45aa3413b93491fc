package io.turnpike.runner.run;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RetryPolicies;
import io.turnpike.avro.RunState;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes the golden RunState fixture of the current schema version: a run waiting for a tool
 * result (since v3: whose first attempt timed out, so the call is backing off before its resend).
 * Run by hand when RunState's schema version is bumped, and commit the output next to the older
 * fixtures; never overwrite an older version's fixture.
 */
public final class GoldenFixtureWriter {
  private GoldenFixtureWriter() {}

  static RunState waitingForTool() {
    AgentDefinition agent = AgentDefinition.newBuilder(Fixtures.agent(5, "get_weather"))
        .setRetry(RetryPolicies.newBuilder().build())
        .build();
    RunState s = RunStateMachine.apply(null, new RunEvent.Started(Fixtures.request("golden-1", "Weather in Oslo?"),
        agent, "0123456789abcdef0123456789abcdef"), Fixtures.T0).state();
    s = RunStateMachine.apply(s, new RunEvent.ModelAnswered(
        Fixtures.toolCalls("golden-1", "golden-1:m1", "get_weather", "{\"city\":\"Oslo\"}")), Fixtures.T0.plusSeconds(1)).state();
    return RunStateMachine.apply(s, new RunEvent.DeadlinePassed("golden-1:t1.1"), Fixtures.T0.plusSeconds(11)).state();
  }

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args.length > 0 ? args[0] : "runner-service/src/test/resources/fixtures/run-state");
    int version = RunStateMachine.SCHEMA_VERSION;
    Files.write(dir.resolve("v" + version + "-waiting-for-tool.bin"), legacyEncoding(waitingForTool()));
    Files.writeString(dir.resolve("v" + version + "-RunState.avsc"), RunState.getClassSchema().toString());
  }

  /** Golden fixtures stay in Avro's single-object encoding: self-describing by fingerprint, no registry needed. */
  private static byte[] legacyEncoding(RunState state) throws java.io.IOException {
    java.nio.ByteBuffer buf = new org.apache.avro.message.BinaryMessageEncoder<RunState>(
        org.apache.avro.specific.SpecificData.get(), RunState.getClassSchema()).encode(state);
    byte[] out = new byte[buf.remaining()];
    buf.get(out);
    return out;
  }
}
