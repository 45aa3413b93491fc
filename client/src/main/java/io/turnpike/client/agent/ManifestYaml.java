package io.turnpike.client.agent;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.ResourceLimits;
import io.turnpike.avro.SkillRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The {@code manifest:} of an agent: the sandbox workspace it starts with.
 *
 * <pre>{@code
 * manifest:
 *   backend: docker                 # local | docker (default: the sandbox service's)
 *   image: python:3.12-slim         # docker only
 *   files:
 *     - {path: README.md, content: "# Notes"}
 *     - {path: bin/check.sh, source: files/check.sh, executable: true}   # read from the agent's directory
 *   directories: [out, tmp]
 *   env: {LANG: C.UTF-8}            # plain settings only: never secrets
 *   skills:
 *     - path: skills/csv-report     # a folder with SKILL.md (front matter name, description)
 *     - {name: hello, description: Says hello, files: [{path: SKILL.md, content: "..."}]}
 *   limits: {cpus: 1, memoryMb: 512, pids: 64, commandTimeout: 30s, outputBytes: 65536, diskMb: 100, workspaceFiles: 5000}
 *   network: false
 * }</pre>
 *
 * <p>Files given by {@code source:} and skill folders are read when the YAML is loaded and inlined as
 * {@code content} (the agent bundle): the definition on Kafka is self-contained. Sources must stay
 * inside the agent's directory (the YAML file's), be UTF-8 text and at most {@link #MAX_FILE_BYTES}.
 */
final class ManifestYaml {
  private ManifestYaml() {}

  /** Largest file a bundle may inline. */
  static final int MAX_FILE_BYTES = 1024 * 1024;
  /**
   * Largest total of inlined content. The definition is one Kafka record (1 MiB by default) and is
   * copied into every RunState version and sandbox command of a run.
   */
  static final int MAX_BUNDLE_BYTES = 512 * 1024;

  private static final YAMLMapper YAML = new YAMLMapper();
  private static final Set<String> KEYS = AgentYaml.orderedSet("backend", "image", "files", "directories", "env",
      "skills", "limits", "network");
  private static final Set<String> FILE_KEYS = AgentYaml.orderedSet("path", "content", "source", "executable");
  private static final Set<String> SKILL_KEYS = AgentYaml.orderedSet("name", "description", "files", "path");
  private static final Set<String> LIMIT_KEYS = AgentYaml.orderedSet("cpus", "memoryMb", "pids", "commandTimeout",
      "outputBytes", "diskMb", "workspaceFiles");
  private static final Pattern ENV_NAME = Pattern.compile("^[A-Za-z_][A-Za-z0-9_]*$");
  private static final List<String> SECRET_WORDS = List.of("KEY", "TOKEN", "SECRET", "PASSWORD");

  /** The agent's directory (null: no bundle files may be referenced) and the inlined total so far. */
  private static final class Bundle {
    final Path dir;
    /** {@code dir} with symbolic links resolved: what sources' real paths are checked against. */
    final Path realDir;
    long bytes;

    Bundle(Path dir) {
      this.dir = dir;
      Path real = dir;
      if (dir != null) {
        try {
          real = dir.toRealPath();
        } catch (IOException e) {
          real = dir;
        }
      }
      this.realDir = real;
    }
  }

  static Manifest parse(AgentYaml.Obj m, Path agentDir) {
    m.rejectUnknown(KEYS);
    Bundle bundle = new Bundle(agentDir == null ? null : agentDir.toAbsolutePath().normalize());
    Manifest.Builder b = Manifest.newBuilder();
    String backend = m.optString("backend", null);
    if (backend != null) {
      backend = backend.toLowerCase(Locale.ROOT);
      if (!backend.equals("local") && !backend.equals("docker")) {
        throw m.error("backend", "'" + backend + "' is not a sandbox backend (use local or docker)");
      }
    }
    b.setBackend(backend);
    String image = m.optString("image", null);
    if (image != null) {
      if (image.isBlank()) {
        throw m.error("image", "is empty");
      }
      if ("local".equals(backend)) {
        throw m.error("image", "applies to the docker backend only (backend is local)");
      }
    }
    b.setImage(image);
    b.setFiles(files(m, "files", bundle));
    b.setDirectories(directories(m));
    b.setEnv(env(m));
    b.setSkills(skills(m, bundle));
    b.setLimits(limits(m));
    Boolean network = m.optBoolean("network");
    b.setNetwork(Boolean.TRUE.equals(network));
    return b.build();
  }

  // --- files -----------------------------------------------------------------------------------

  private static List<ManifestFile> files(AgentYaml.Obj parent, String field, Bundle bundle) {
    JsonNode arr = parent.node.get(field);
    if (arr == null || arr.isNull()) {
      return new ArrayList<>();
    }
    if (!arr.isArray()) {
      throw parent.error(field, "must be a list of files such as {path: notes.md, content: ...}, got " + AgentYaml.kindOf(arr));
    }
    List<ManifestFile> out = new ArrayList<>();
    Set<String> paths = new HashSet<>();
    for (int i = 0; i < arr.size(); i++) {
      String path = parent.path(field) + "[" + i + "]";
      JsonNode n = arr.get(i);
      if (!n.isObject()) {
        throw new AgentYamlException(parent.source, path, "must be a mapping such as {path: notes.md, content: ...} or"
            + " {path: notes.md, source: files/notes.md}, got " + AgentYaml.kindOf(n));
      }
      AgentYaml.Obj f = new AgentYaml.Obj(parent.source, path, (ObjectNode) n);
      f.rejectUnknown(FILE_KEYS);
      String target = workspacePath(f, "path", f.requiredString("path"));
      if (!paths.add(target)) {
        throw f.error("path", "'" + target + "' is listed twice");
      }
      boolean hasContent = f.node.hasNonNull("content");
      boolean hasSource = f.node.hasNonNull("source");
      if (hasContent && hasSource) {
        throw f.error("source", "give either content or source, not both");
      }
      if (!hasContent && !hasSource) {
        throw new AgentYamlException(parent.source, path, "needs content (the text) or source (a file in the agent's"
            + " directory)");
      }
      Boolean executable = f.optBoolean("executable");
      ManifestFile.Builder b = ManifestFile.newBuilder().setPath(target);
      if (hasContent) {
        JsonNode c = f.node.get("content");
        if (!c.isValueNode()) {
          throw f.error("content", "must be text, got " + AgentYaml.kindOf(c));
        }
        byte[] bytes = c.asText().getBytes(StandardCharsets.UTF_8);
        if (bytes.length > MAX_FILE_BYTES) {
          throw f.error("content", "is " + bytes.length + " bytes, more than the " + size(MAX_FILE_BYTES) + " ("
              + MAX_FILE_BYTES + " bytes) a file may have");
        }
        add(bundle, f, "content", bytes.length);
        b.setContent(c.asText());
        b.setExecutable(Boolean.TRUE.equals(executable));
      } else {
        String source = f.optString("source", "");
        Path file = resolveInside(bundle, f, "source", source);
        if (!Files.isRegularFile(file)) {
          throw f.error("source", "'" + source + "' is " + (Files.isDirectory(file) ? "a directory" : "not a file")
              + " (looked for " + file + ")");
        }
        b.setContent(readText(bundle, f, "source", source, file));
        b.setSource(bundle.realDir.relativize(file).toString().replace('\\', '/'));
        b.setExecutable(executable != null ? executable : isExecutable(file));
      }
      out.add(b.build());
    }
    return out;
  }

  private static List<String> directories(AgentYaml.Obj m) {
    JsonNode arr = m.node.get("directories");
    if (arr == null || arr.isNull()) {
      return new ArrayList<>();
    }
    if (!arr.isArray()) {
      throw m.error("directories", "must be a list of workspace paths, got " + AgentYaml.kindOf(arr));
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < arr.size(); i++) {
      JsonNode n = arr.get(i);
      String field = "directories[" + i + "]";
      if (!n.isTextual() || n.asText().isBlank()) {
        throw m.error(field, "must be a workspace path, got " + AgentYaml.kindOf(n));
      }
      String p = workspacePath(m, field, n.asText());
      if (out.contains(p)) {
        throw m.error(field, "'" + p + "' is listed twice");
      }
      out.add(p);
    }
    return out;
  }

  /** A path relative to the workspace root, normalized to forward slashes; never absolute or above the root. */
  static String workspacePath(AgentYaml.Obj o, String field, String raw) {
    String p = raw.trim().replace('\\', '/');
    if (p.startsWith("/") || p.matches("^[A-Za-z]:.*")) {
      throw o.error(field, "'" + raw + "' must be relative to the workspace root");
    }
    List<String> parts = new ArrayList<>();
    for (String part : p.split("/")) {
      if (part.isEmpty() || part.equals(".")) {
        continue;
      }
      if (part.equals("..")) {
        throw o.error(field, "'" + raw + "' must stay inside the workspace (no '..')");
      }
      parts.add(part);
    }
    if (parts.isEmpty()) {
      throw o.error(field, "'" + raw + "' names the workspace root, not a file or folder in it");
    }
    return String.join("/", parts);
  }

  // --- env -------------------------------------------------------------------------------------

  private static Map<String, String> env(AgentYaml.Obj m) {
    AgentYaml.Obj e = m.optObject("env");
    if (e == null) {
      return new LinkedHashMap<>();
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = e.node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> entry = it.next();
      String key = entry.getKey();
      if (!ENV_NAME.matcher(key).matches()) {
        throw e.error(key, "is not a valid environment variable name (letters, digits and _, not starting with a digit)");
      }
      String upper = key.toUpperCase(Locale.ROOT);
      for (String word : SECRET_WORDS) {
        if (upper.contains(word)) {
          throw e.error(key, "looks like a secret (the name contains " + word + "). Secrets must not be put in events:"
              + " the agent definition is stored on the topic turnpike.agents and copied into every run's state and"
              + " sandbox command, where anyone who can read those topics sees it. Give the sandbox its secrets outside"
              + " Turnpike's records (its image or the sandbox service's own environment)");
        }
      }
      JsonNode v = entry.getValue();
      if (!v.isValueNode() || v.isNull()) {
        throw e.error(key, "must be plain text, a number or a boolean, got " + AgentYaml.kindOf(v));
      }
      out.put(key, v.asText());
    }
    return out;
  }

  // --- skills ----------------------------------------------------------------------------------

  private static List<SkillRef> skills(AgentYaml.Obj m, Bundle bundle) {
    JsonNode arr = m.node.get("skills");
    if (arr == null || arr.isNull()) {
      return new ArrayList<>();
    }
    if (!arr.isArray()) {
      throw m.error("skills", "must be a list of skills ({path: skills/name} or {name, description, files}), got "
          + AgentYaml.kindOf(arr));
    }
    List<SkillRef> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < arr.size(); i++) {
      String path = m.path("skills") + "[" + i + "]";
      JsonNode n = arr.get(i);
      if (!n.isObject()) {
        throw new AgentYamlException(m.source, path, "must be a mapping: {path: skills/name} for a folder with a SKILL.md,"
            + " or {name, description, files}, got " + AgentYaml.kindOf(n));
      }
      AgentYaml.Obj s = new AgentYaml.Obj(m.source, path, (ObjectNode) n);
      s.rejectUnknown(SKILL_KEYS);
      SkillRef skill = s.node.hasNonNull("path") ? skillFolder(s, bundle) : inlineSkill(s, bundle);
      if (!AgentYaml.NAME.matcher(skill.getName()).matches()) {
        throw s.error("name", "'" + skill.getName() + "' is not a valid skill name (must match " + AgentYaml.NAME.pattern() + ")");
      }
      if (!names.add(skill.getName())) {
        throw s.error("name", "duplicate skill name '" + skill.getName() + "'");
      }
      out.add(skill);
    }
    return out;
  }

  private static SkillRef inlineSkill(AgentYaml.Obj s, Bundle bundle) {
    String name = s.requiredString("name");
    List<ManifestFile> files = files(s, "files", bundle);
    String description = s.optString("description", null);
    if (description == null || description.isBlank()) {
      description = files.stream().filter(f -> f.getPath().equals("SKILL.md")).findFirst()
          .map(f -> frontMatter(s, "files", "SKILL.md", f.getContent()).get("description")).orElse(null);
    }
    if (description == null || description.isBlank()) {
      throw s.error("description", "is required (the model sees it when choosing a skill); give it here or in the"
          + " front matter of a SKILL.md file");
    }
    return SkillRef.newBuilder().setName(name).setDescription(description.trim()).setFiles(files).build();
  }

  private static SkillRef skillFolder(AgentYaml.Obj s, Bundle bundle) {
    for (String other : List.of("name", "description", "files")) {
      if (s.node.has(other)) {
        throw s.error(other, "a skill given by path takes its name and description from SKILL.md and its files from"
            + " the folder; remove " + other + " (or drop path and list everything inline)");
      }
    }
    String rel = s.requiredString("path");
    Path folder = resolveInside(bundle, s, "path", rel);
    if (!Files.isDirectory(folder)) {
      throw s.error("path", "'" + rel + "' is not a folder (looked for " + folder + ")");
    }
    String base = rel.replaceAll("/+$", "");
    if (!Files.isRegularFile(folder.resolve("SKILL.md"))) {
      throw s.error("path", "'" + rel + "' has no SKILL.md (a skill folder needs one, with front matter name and description)");
    }
    List<Path> all;
    try (Stream<Path> walk = Files.walk(folder)) {
      all = walk.filter(p -> !hidden(folder, p)).filter(p -> Files.isRegularFile(p)).sorted().toList();
    } catch (IOException e) {
      throw s.error("path", "cannot list '" + rel + "': " + e.getMessage());
    }
    List<ManifestFile> files = new ArrayList<>();
    String skillMd = null;
    for (Path p : all) {
      String inFolder = folder.relativize(p).toString().replace('\\', '/');
      String shown = base + "/" + inFolder;
      Path real = realInside(bundle, s, "path", shown, p);
      String content = readText(bundle, s, "path", shown, real);
      if (inFolder.equals("SKILL.md")) {
        skillMd = content;
      }
      files.add(ManifestFile.newBuilder()
          .setPath(inFolder)
          .setContent(content)
          .setSource(bundle.realDir.relativize(real).toString().replace('\\', '/'))
          .setExecutable(isExecutable(real))
          .build());
    }
    String mdName = base + "/SKILL.md";
    Map<String, String> fm = frontMatter(s, "path", mdName, skillMd == null ? "" : skillMd);
    String name = fm.get("name");
    if (name == null || name.isBlank()) {
      throw s.error("path", mdName + ": the front matter has no name");
    }
    String description = fm.get("description");
    if (description == null || description.isBlank()) {
      throw s.error("path", mdName + ": the front matter has no description (the model sees it when choosing a skill)");
    }
    return SkillRef.newBuilder().setName(name.trim()).setDescription(description.trim()).setFiles(files).build();
  }

  /** Dot-files and dot-folders of a skill folder (.DS_Store, .git) are not part of the skill. */
  private static boolean hidden(Path folder, Path p) {
    for (Path part : folder.relativize(p)) {
      if (part.toString().startsWith(".")) {
        return true;
      }
    }
    return false;
  }

  /** The {@code ---} front matter of a SKILL.md as flat text values. */
  private static Map<String, String> frontMatter(AgentYaml.Obj o, String field, String name, String md) {
    String text = md.replace("\r\n", "\n");
    if (!text.startsWith("---\n")) {
      throw o.error(field, name + ": does not start with front matter ('---', name: ..., description: ..., '---')");
    }
    int end = text.indexOf("\n---", 3);
    if (end < 0) {
      throw o.error(field, name + ": the front matter has no closing '---'");
    }
    JsonNode fm;
    try {
      fm = YAML.readTree(text.substring(4, end + 1));
    } catch (JsonProcessingException e) {
      throw o.error(field, name + ": the front matter is not valid YAML: " + firstLine(e.getOriginalMessage()));
    }
    Map<String, String> out = new LinkedHashMap<>();
    if (fm == null || fm.isNull() || fm.isMissingNode()) {
      return out;
    }
    if (!fm.isObject()) {
      throw o.error(field, name + ": the front matter must be a mapping (name: ..., description: ...)");
    }
    fm.fields().forEachRemaining(e -> {
      if (e.getValue().isValueNode() && !e.getValue().isNull()) {
        out.put(e.getKey(), e.getValue().asText());
      }
    });
    return out;
  }

  // --- bundle files ----------------------------------------------------------------------------

  /** {@code rel} resolved against the agent's directory; it must exist and stay inside it (symbolic links followed). */
  private static Path resolveInside(Bundle bundle, AgentYaml.Obj o, String field, String rel) {
    if (bundle.dir == null) {
      throw o.error(field, "'" + rel + "' cannot be read: this agent was not loaded from a file, so it has no agent"
          + " directory; load the YAML file, or give the content inline");
    }
    if (rel.isBlank()) {
      throw o.error(field, "is empty");
    }
    Path p = Path.of(rel);
    if (p.isAbsolute()) {
      throw o.error(field, "'" + rel + "' must be relative to the agent's directory (" + bundle.dir + ")");
    }
    Path resolved = bundle.dir.resolve(p).normalize();
    if (!resolved.startsWith(bundle.dir)) {
      throw o.error(field, "'" + rel + "' is outside the agent's directory (" + bundle.dir + "); the agent bundle may only"
          + " use files inside it");
    }
    if (!Files.exists(resolved)) {
      throw o.error(field, "'" + rel + "' does not exist (looked for " + resolved + ")");
    }
    return realInside(bundle, o, field, rel, resolved);
  }

  private static Path realInside(Bundle bundle, AgentYaml.Obj o, String field, String shown, Path p) {
    try {
      Path real = p.toRealPath();
      if (!real.startsWith(bundle.realDir)) {
        throw o.error(field, "'" + shown + "' leads outside the agent's directory (" + bundle.dir + ") through a symbolic"
            + " link; the agent bundle may only use files inside it");
      }
      return real;
    } catch (IOException e) {
      throw o.error(field, "cannot read '" + shown + "': " + e.getMessage());
    }
  }

  private static String readText(Bundle bundle, AgentYaml.Obj o, String field, String shown, Path file) {
    long size;
    try {
      size = Files.size(file);
    } catch (IOException e) {
      throw o.error(field, "cannot read '" + shown + "': " + e.getMessage());
    }
    if (size > MAX_FILE_BYTES) {
      throw o.error(field, "'" + shown + "' is " + size + " bytes, more than the " + size(MAX_FILE_BYTES) + " ("
          + MAX_FILE_BYTES + " bytes) a bundled file may have; put large files in the sandbox image instead");
    }
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      throw o.error(field, "cannot read '" + shown + "': " + e.getMessage());
    }
    String text = utf8(bytes);
    if (text == null) {
      throw o.error(field, "'" + shown + "' is a binary file (not UTF-8 text); the agent bundle holds text files only,"
          + " put binaries in the sandbox image instead");
    }
    add(bundle, o, field, bytes.length);
    return text;
  }

  private static void add(Bundle bundle, AgentYaml.Obj o, String field, long bytes) {
    bundle.bytes += bytes;
    if (bundle.bytes > MAX_BUNDLE_BYTES) {
      throw o.error(field, "the manifest's files come to more than " + size(MAX_BUNDLE_BYTES) + " with this one: the"
          + " agent definition is one Kafka record and is copied into every run's state and sandbox command, so keep"
          + " the bundle small and put large files in the sandbox image");
    }
  }

  /** The text, or null when the bytes are not UTF-8 text (invalid sequences, or NUL bytes). */
  private static String utf8(byte[] bytes) {
    for (byte b : bytes) {
      if (b == 0) {
        return null;
      }
    }
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  private static boolean isExecutable(Path file) {
    try {
      return Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS).contains(PosixFilePermission.OWNER_EXECUTE);
    } catch (UnsupportedOperationException | IOException e) {
      return false;
    }
  }

  // --- limits ----------------------------------------------------------------------------------

  private static ResourceLimits limits(AgentYaml.Obj m) {
    AgentYaml.Obj l = m.optObject("limits");
    if (l == null) {
      return null;
    }
    l.rejectUnknown(LIMIT_KEYS);
    Double cpus = l.optDouble("cpus", 0, 1024);
    if (cpus != null && cpus <= 0) {
      throw l.error("cpus", "must be more than 0");
    }
    return ResourceLimits.newBuilder()
        .setCpus(cpus)
        .setMemoryMb(l.optIntOrNull("memoryMb", 1))
        .setPids(l.optIntOrNull("pids", 1))
        .setCommandTimeoutMs(l.optDurationMs("commandTimeout", null))
        .setOutputBytes(l.optIntOrNull("outputBytes", 1))
        .setDiskMb(l.optIntOrNull("diskMb", 1))
        .setWorkspaceFiles(l.optIntOrNull("workspaceFiles", 1))
        .build();
  }

  private static String size(long bytes) {
    if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0) {
      return bytes / (1024 * 1024) + " MiB";
    }
    if (bytes >= 1024) {
      return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0).replace(".0 KiB", " KiB");
    }
    return bytes + " bytes";
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
