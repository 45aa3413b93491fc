package io.turnpike.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.sandbox.workspace.SnapshotManifest;
import io.turnpike.sandbox.workspace.Workspace;
import io.turnpike.sandbox.workspace.WorkspaceStore;
import io.turnpike.schema.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code turnpike runs files} against a workspace snapshot written to a real broker. */
class FilesCommandTest {
  private static final String REGISTRY = "mock://files-command-test";

  @TempDir
  Path tmp;

  @Test
  void listsPrintsAndDownloadsTheFilesOfARun() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String b = kafka.bootstrapServers();
      assertThat(Cli.run("topics", "create", "-b", b).exitCode()).isZero();
      Workspace ws = new Workspace(tmp.resolve("ws"), null, null);
      ws.write("report.md", "# Report\nall good\n".getBytes(StandardCharsets.UTF_8), false);
      ws.write("out/data.bin", new byte[] {0, 1, 2, 3}, false);
      ws.write("out/run.sh", "echo hi\n".getBytes(StandardCharsets.UTF_8), true);
      // a sandbox service's store (it tags what it writes); the CLI reads with none
      try (WorkspaceStore store = new WorkspaceStore(b, REGISTRY, Map.of(), 1024 * 1024,
          io.turnpike.sandbox.workspace.SnapshotKey.random())) {
        SnapshotManifest m = store.snapshot("run-files", "local", ws, null, new WorkspaceStore.FileCache(), List.of(), true);
        assertThat(m.snapshotId()).isEqualTo("run-files@1");
      }

      Cli.Result list = Cli.run("runs", "files", "run-files", "-b", b, "--schema-registry", REGISTRY);
      assertThat(list.exitCode()).as(list.toString()).isZero();
      assertThat(list.out()).contains("snapshot run-files@1", "3 files", "report.md  18", "out/", "out/data.bin  4",
          "out/run.sh  8  (executable)");

      Cli.Result print = Cli.run("runs", "files", "run-files", "report.md", "-b", b, "--schema-registry", REGISTRY);
      assertThat(print.out()).isEqualTo("# Report\nall good\n");

      Cli.Result binary = Cli.run("runs", "files", "run-files", "out/data.bin", "-b", b, "--schema-registry", REGISTRY);
      assertThat(binary.exitCode()).isNotZero();
      assertThat(binary.err()).contains("binary", "--to DIR");

      com.fasterxml.jackson.databind.JsonNode json = CliCommandsTest.json(Cli.run("runs", "files", "run-files", "-o", "json",
          "-b", b, "--schema-registry", REGISTRY));
      assertThat(json.path("snapshotId").asText()).isEqualTo("run-files@1");
      assertThat(json.path("files").toString()).contains("{\"path\":\"report.md\",\"type\":\"file\",\"size\":18,"
          + "\"executable\":false}", "{\"path\":\"out\",\"type\":\"dir\"}");

      Cli.Result download = Cli.run("runs", "files", "run-files", "--to", tmp.resolve("dl").toString(), "-b", b,
          "--schema-registry", REGISTRY);
      assertThat(download.out()).contains("wrote 3 files (30 bytes)");
      assertThat(Files.readAllBytes(tmp.resolve("dl/out/data.bin"))).containsExactly(0, 1, 2, 3);
      assertThat(tmp.resolve("dl/out/run.sh")).isExecutable();

      Cli.Result none = Cli.run("runs", "files", "no-such-run", "-b", b, "--schema-registry", REGISTRY);
      assertThat(none.exitCode()).isNotZero();
      assertThat(none.err()).contains("run no-such-run has no workspace snapshot");
      Cli.Result missing = Cli.run("runs", "files", "run-files", "nope.txt", "-b", b, "--schema-registry", REGISTRY);
      assertThat(missing.err()).contains("no nope.txt in the workspace of run run-files");

      // a manifest written before turnpike.workspaces held Avro
      try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(Map.of("bootstrap.servers", b), new StringSerializer(),
          new ByteArraySerializer());
           WorkspaceStore store = new WorkspaceStore(b, REGISTRY, Map.of(), 1024 * 1024)) {
        String key = WorkspaceStore.sessionKey("run-json");
        p.send(new ProducerRecord<>(Topics.WORKSPACES.name(), store.partitionOf(key), key,
            "{\"format\":1,\"sessionId\":\"run-json\"}".getBytes(StandardCharsets.UTF_8))).get();
      }
      Cli.Result legacy = Cli.run("runs", "files", "run-json", "-b", b, "--schema-registry", REGISTRY);
      assertThat(legacy.exitCode()).isNotZero();
      assertThat(legacy.err()).contains("cannot read the workspace of run run-json", "session:run-json",
          "not a readable WorkspaceRecord").doesNotContain("Exception");
    }
  }
}
