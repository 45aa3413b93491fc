package io.turnpike.client.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.SkillRef;
import io.turnpike.schema.TurnpikeSerdes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The manifest: its fields, and the agent bundle (source files and skill folders inlined at load time). */
class AgentYamlManifestTest {
  static final TurnpikeSerdes SERDES = TurnpikeSerdes.forUrl("mock://agent-yaml");
  static final String HEAD = "name: coder\nversion: 1\nmodel: m\ncapabilities: [filesystem, shell, skills]\n";

  @TempDir
  Path root;
  Path agents;

  @BeforeEach
  void bundle() throws Exception {
    agents = Files.createDirectories(root.resolve("agents"));
    Files.createDirectories(agents.resolve("files"));
    Files.writeString(agents.resolve("files/notes.md"), "# Notes\nRemember the milk.\n");
    Path script = Files.writeString(agents.resolve("files/check.sh"), "#!/bin/sh\necho ok\n");
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path skill = Files.createDirectories(agents.resolve("skills/csv-report/scripts"));
    Files.writeString(agents.resolve("skills/csv-report/SKILL.md"), """
        ---
        name: csv-report
        description: "Summarise a CSV file: row count, columns, totals"
        ---
        # CSV report
        Run scripts/summary.py <file>.
        """);
    Files.writeString(skill.resolve("summary.py"), "print('summary')\n");
    Files.writeString(agents.resolve("skills/csv-report/.DS_Store"), "junk");
    Files.writeString(root.resolve("outside.txt"), "not part of the bundle");
  }

  private AgentDefinition load(String body) throws Exception {
    Path file = Files.writeString(agents.resolve("coder.yaml"), HEAD + body);
    return AgentYaml.load(file);
  }

  private void assertLoadError(String body, String field, String messagePart) throws Exception {
    Path file = Files.writeString(agents.resolve("coder.yaml"), HEAD + body);
    assertThatThrownBy(() -> AgentYaml.load(file))
        .isInstanceOf(AgentYamlException.class)
        .hasMessageStartingWith(file + ": " + field + ": ")
        .hasMessageContaining(messagePart)
        .satisfies(e -> assertThat(((AgentYamlException) e).field()).isEqualTo(field));
  }

  @Test
  void parsesEveryManifestFieldAndInlinesTheBundle() throws Exception {
    AgentDefinition d = load("""
        manifest:
          backend: docker
          image: python:3.12-slim
          files:
            - {path: README.md, content: "# Workspace\\n"}
            - {path: docs/notes.md, source: files/notes.md}
            - {path: bin/check.sh, source: ./files/check.sh}
            - {path: bin/plain.sh, source: files/check.sh, executable: false}
            - {path: run.sh, content: "echo hi", executable: true}
          directories: [out, ./tmp/cache/]
          env: {LANG: C.UTF-8, DEBUG: 1, VERBOSE: true}
          skills:
            - path: skills/csv-report
            - name: hello
              description: Says hello
              files: [{path: SKILL.md, content: "---\\nname: hello\\n---\\nSay hello."}]
          limits: {cpus: 1.5, memoryMb: 512, pids: 64, commandTimeout: 30s, outputBytes: 65536, diskMb: 100, workspaceFiles: 5000}
          network: true
        """);
    Manifest m = d.getManifest();
    assertThat(m.getBackend()).isEqualTo("docker");
    assertThat(m.getImage()).isEqualTo("python:3.12-slim");
    assertThat(m.getFiles()).extracting(ManifestFile::getPath)
        .containsExactly("README.md", "docs/notes.md", "bin/check.sh", "bin/plain.sh", "run.sh");
    ManifestFile inline = m.getFiles().get(0);
    assertThat(inline.getContent()).isEqualTo("# Workspace\n");
    assertThat(inline.getSource()).isNull();
    assertThat(inline.getExecutable()).isFalse();
    ManifestFile notes = m.getFiles().get(1);
    assertThat(notes.getContent()).isEqualTo("# Notes\nRemember the milk.\n");
    assertThat(notes.getSource()).isEqualTo("files/notes.md");
    assertThat(notes.getExecutable()).isFalse();
    assertThat(m.getFiles().get(2).getContent()).startsWith("#!/bin/sh");
    assertThat(m.getFiles().get(2).getExecutable()).as("taken from the source file's mode").isTrue();
    assertThat(m.getFiles().get(3).getExecutable()).as("an explicit executable wins").isFalse();
    assertThat(m.getFiles().get(4).getExecutable()).isTrue();
    assertThat(m.getDirectories()).containsExactly("out", "tmp/cache");
    assertThat(m.getEnv()).containsEntry("LANG", "C.UTF-8").containsEntry("DEBUG", "1").containsEntry("VERBOSE", "true");
    assertThat(m.getNetwork()).isTrue();
    assertThat(m.getLimits().getCpus()).isEqualTo(1.5);
    assertThat(m.getLimits().getMemoryMb()).isEqualTo(512);
    assertThat(m.getLimits().getPids()).isEqualTo(64);
    assertThat(m.getLimits().getCommandTimeoutMs()).isEqualTo(30_000L);
    assertThat(m.getLimits().getOutputBytes()).isEqualTo(65536);
    assertThat(m.getLimits().getDiskMb()).isEqualTo(100);
    assertThat(m.getLimits().getWorkspaceFiles()).isEqualTo(5000);

    assertThat(m.getSkills()).extracting(SkillRef::getName).containsExactly("csv-report", "hello");
    SkillRef csv = m.getSkills().get(0);
    assertThat(csv.getDescription()).isEqualTo("Summarise a CSV file: row count, columns, totals");
    assertThat(csv.getFiles()).extracting(ManifestFile::getPath)
        .as("the folder's files, relative to it, without dot-files").containsExactly("SKILL.md", "scripts/summary.py");
    assertThat(csv.getFiles().get(0).getContent()).contains("Run scripts/summary.py");
    assertThat(csv.getFiles().get(1).getSource()).isEqualTo("skills/csv-report/scripts/summary.py");
    SkillRef hello = m.getSkills().get(1);
    assertThat(hello.getDescription()).isEqualTo("Says hello");
    assertThat(hello.getFiles()).hasSize(1);

    // Self-contained: it survives the Kafka serde with every byte of content.
    byte[] wire = SERDES.agentDefinition().serialize("turnpike.agents", d);
    assertThat(SERDES.agentDefinition().deserialize("turnpike.agents", wire)).isEqualTo(d);
  }

  @Test
  void aManifestMayBeEmptyAndDefaultsApply() throws Exception {
    Manifest m = load("manifest: {}\n").getManifest();
    assertThat(m.getBackend()).isNull();
    assertThat(m.getImage()).isNull();
    assertThat(m.getFiles()).isEmpty();
    assertThat(m.getSkills()).isEmpty();
    assertThat(m.getLimits()).isNull();
    assertThat(m.getNetwork()).isFalse();
  }

  @Test
  void inlineSkillDescriptionMayComeFromItsSkillMd() throws Exception {
    SkillRef s = load("""
        manifest:
          skills:
            - name: greet
              files:
                - {path: SKILL.md, content: "---\\nname: greet\\ndescription: Greets people\\n---\\nBody"}
        """).getManifest().getSkills().get(0);
    assertThat(s.getDescription()).isEqualTo("Greets people");
  }

  @Test
  void sourcesOutsideTheAgentsDirectoryAreRejected() throws Exception {
    assertLoadError("manifest: {files: [{path: x.txt, source: ../outside.txt}]}\n", "manifest.files[0].source",
        "'../outside.txt' is outside the agent's directory (" + agents + ")");
    assertLoadError("manifest: {files: [{path: x.txt, source: " + root.resolve("outside.txt") + "}]}\n",
        "manifest.files[0].source", "must be relative to the agent's directory");
    assertLoadError("manifest: {skills: [{path: ../}]}\n", "manifest.skills[0].path", "is outside the agent's directory");
    Files.createSymbolicLink(agents.resolve("files/link.txt"), root.resolve("outside.txt"));
    assertLoadError("manifest: {files: [{path: x.txt, source: files/link.txt}]}\n", "manifest.files[0].source",
        "leads outside the agent's directory");
  }

  @Test
  void binaryOversizedAndMissingSourcesAreRejected() throws Exception {
    Files.write(agents.resolve("files/logo.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 0, 0, 13});
    assertLoadError("manifest: {files: [{path: logo.png, source: files/logo.png}]}\n", "manifest.files[0].source",
        "'files/logo.png' is a binary file (not UTF-8 text)");
    Files.write(agents.resolve("files/latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xE9});
    assertLoadError("manifest: {files: [{path: a.txt, source: files/latin1.txt}]}\n", "manifest.files[0].source",
        "is a binary file");
    Files.writeString(agents.resolve("files/big.txt"), "x".repeat(ManifestYaml.MAX_FILE_BYTES + 1));
    assertLoadError("manifest: {files: [{path: big.txt, source: files/big.txt}]}\n", "manifest.files[0].source",
        "'files/big.txt' is 1048577 bytes, more than the 1 MiB (1048576 bytes) a bundled file may have");
    assertLoadError("manifest: {files: [{path: a.txt, source: files/nope.txt}]}\n", "manifest.files[0].source",
        "'files/nope.txt' does not exist");
    assertLoadError("manifest: {files: [{path: a.txt, source: files}]}\n", "manifest.files[0].source", "is a directory");
    Files.write(agents.resolve("skills/csv-report/scripts/data.bin"), new byte[] {1, 2, 0, 3});
    assertLoadError("manifest: {skills: [{path: skills/csv-report}]}\n", "manifest.skills[0].path",
        "'skills/csv-report/scripts/data.bin' is a binary file");
  }

  @Test
  void theWholeBundleIsBounded() throws Exception {
    String chunk = "y".repeat(300 * 1024);
    Files.writeString(agents.resolve("files/a.txt"), chunk);
    Files.writeString(agents.resolve("files/b.txt"), chunk);
    assertLoadError("manifest: {files: [{path: a, source: files/a.txt}, {path: b, source: files/b.txt}]}\n",
        "manifest.files[1].source", "the manifest's files come to more than 512 KiB with this one");
  }

  @Test
  void sourceNeedsAnAgentDirectory() {
    assertThatThrownBy(() -> AgentYaml.parse(HEAD + "manifest: {files: [{path: a, source: files/notes.md}]}\n", "text"))
        .isInstanceOf(AgentYamlException.class)
        .hasMessage("text: manifest.files[0].source: 'files/notes.md' cannot be read: this agent was not loaded from a"
            + " file, so it has no agent directory; load the YAML file, or give the content inline");
    // ... which parse(text, source, dir) provides.
    AgentDefinition d = AgentYaml.parse(HEAD + "manifest: {files: [{path: a, source: files/notes.md}]}\n", "text", agents);
    assertThat(d.getManifest().getFiles().get(0).getContent()).startsWith("# Notes");
  }

  @Test
  void secretLookingEnvIsRejectedWithTheReason() throws Exception {
    for (String key : new String[] {"OPENAI_API_KEY", "github_token", "DB_PASSWORD", "ClientSecret"}) {
      assertLoadError("manifest: {env: {" + key + ": x}}\n", "manifest.env." + key,
          "looks like a secret (the name contains ");
    }
    assertLoadError("manifest: {env: {API_KEY: x}}\n", "manifest.env.API_KEY",
        "Secrets must not be put in events: the agent definition is stored on the topic turnpike.agents");
    assertLoadError("manifest: {env: {'1BAD': x}}\n", "manifest.env.1BAD", "not a valid environment variable name");
    assertLoadError("manifest: {env: {LIST: [1, 2]}}\n", "manifest.env.LIST", "must be plain text");
  }

  @Test
  void badManifestFieldsAreNamed() throws Exception {
    assertLoadError("manifest: {backend: vm}\n", "manifest.backend", "'vm' is not a sandbox backend (use local or docker)");
    assertLoadError("manifest: {backend: local, image: x}\n", "manifest.image", "applies to the docker backend only");
    assertLoadError("manifest: {imge: x}\n", "manifest.imge", "unknown field (did you mean 'image'?)");
    assertLoadError("manifest: {files: [{path: a}]}\n", "manifest.files[0]", "needs content (the text) or source");
    assertLoadError("manifest: {files: [{path: a, content: x, source: files/notes.md}]}\n", "manifest.files[0].source",
        "give either content or source, not both");
    assertLoadError("manifest: {files: [{path: /etc/passwd, content: x}]}\n", "manifest.files[0].path",
        "must be relative to the workspace root");
    assertLoadError("manifest: {files: [{path: a/../../b, content: x}]}\n", "manifest.files[0].path",
        "must stay inside the workspace");
    assertLoadError("manifest: {files: [{path: a, content: x}, {path: ./a, content: y}]}\n", "manifest.files[1].path",
        "'a' is listed twice");
    assertLoadError("manifest: {files: [{path: a, contents: x}]}\n", "manifest.files[0].contents",
        "did you mean 'content'");
    assertLoadError("manifest: {files: [{path: a, content: x, executable: yes please}]}\n", "manifest.files[0].executable",
        "true or false");
    assertLoadError("manifest: {directories: [..]}\n", "manifest.directories[0]", "must stay inside the workspace");
    assertLoadError("manifest: {limits: {memory: 512}}\n", "manifest.limits.memory", "did you mean 'memoryMb'");
    assertLoadError("manifest: {limits: {pids: 0}}\n", "manifest.limits.pids", "must be at least 1");
    assertLoadError("manifest: {limits: {cpus: 0}}\n", "manifest.limits.cpus", "must be more than 0");
    assertLoadError("manifest: {limits: {commandTimeout: 30}}\n", "manifest.limits.commandTimeout", "must be a duration");
    assertLoadError("manifest: {network: sometimes}\n", "manifest.network", "true or false");
    assertLoadError("manifest: [a]\n", "manifest", "must be a mapping");
  }

  @Test
  void badSkillsAreNamed() throws Exception {
    assertLoadError("manifest: {skills: [{path: skills/missing}]}\n", "manifest.skills[0].path", "does not exist");
    assertLoadError("manifest: {skills: [{path: files}]}\n", "manifest.skills[0].path", "'files' has no SKILL.md");
    assertLoadError("manifest: {skills: [{path: skills/csv-report, name: other}]}\n", "manifest.skills[0].name",
        "a skill given by path takes its name and description from SKILL.md");
    assertLoadError("manifest: {skills: [{path: skills/csv-report}, {path: skills/csv-report}]}\n",
        "manifest.skills[1].name", "duplicate skill name 'csv-report'");
    assertLoadError("manifest: {skills: [{name: x}]}\n", "manifest.skills[0].description", "is required");
    assertLoadError("manifest: {skills: [{name: 'a b', description: d}]}\n", "manifest.skills[0].name",
        "not a valid skill name");
    assertLoadError("manifest: {skills: [skills/csv-report]}\n", "manifest.skills[0]", "must be a mapping: {path: skills/name}");

    Path noFront = Files.createDirectories(agents.resolve("skills/no-front"));
    Files.writeString(noFront.resolve("SKILL.md"), "# Just a title\n");
    assertLoadError("manifest: {skills: [{path: skills/no-front}]}\n", "manifest.skills[0].path",
        "skills/no-front/SKILL.md: does not start with front matter");
    Files.writeString(noFront.resolve("SKILL.md"), "---\nname: no-front\n---\nbody\n");
    assertLoadError("manifest: {skills: [{path: skills/no-front/}]}\n", "manifest.skills[0].path",
        "skills/no-front/SKILL.md: the front matter has no description");
    Files.writeString(noFront.resolve("SKILL.md"), "---\ndescription: x\n---\nbody\n");
    assertLoadError("manifest: {skills: [{path: skills/no-front}]}\n", "manifest.skills[0].path",
        "skills/no-front/SKILL.md: the front matter has no name");
    Files.writeString(noFront.resolve("SKILL.md"), "---\nname: [x\n---\n");
    assertLoadError("manifest: {skills: [{path: skills/no-front}]}\n", "manifest.skills[0].path",
        "the front matter is not valid YAML");
  }

  @Test
  void theRepositorysExampleAgentsLoad() {
    Path examples = Path.of("..", "agents");
    var all = AgentYaml.loadAll(examples);
    assertThat(all).extracting(AgentDefinition::getName)
        .contains("travel-assistant", "support-triage", "billing-specialist", "workspace-coder");
    AgentDefinition coder = all.stream().filter(a -> a.getName().equals("workspace-coder")).findFirst().orElseThrow();
    assertThat(coder.getCapabilities()).contains("filesystem", "shell");
    assertThat(coder.getManifest().getSkills()).isNotEmpty();
    assertThat(coder.getManifest().getSkills().get(0).getFiles()).isNotEmpty()
        .allSatisfy(f -> assertThat(f.getContent()).isNotNull());
    assertThat(coder.getApprovalRules()).anySatisfy(r -> {
      assertThat(r.getTool()).isEqualTo("shell");
      assertThat(r.getPattern()).contains("rm ");
    });
    AgentDefinition triage = all.stream().filter(a -> a.getName().equals("support-triage")).findFirst().orElseThrow();
    assertThat(triage.getHandoffs()).contains("billing-specialist");
  }
}
