package io.turnpike.sandbox;

import io.turnpike.avro.Manifest;
import io.turnpike.avro.ManifestFile;
import io.turnpike.avro.SkillRef;
import io.turnpike.sandbox.workspace.Workspace;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Skills: folders with a {@code SKILL.md} whose front matter has {@code name} and {@code description}.
 * A session's skills are the manifest's, then those of the configured skills directory (one folder per
 * skill). {@code load_skill} copies the skill's folder to {@code skills/<name>/} in the workspace and
 * returns its SKILL.md and the list of its files.
 */
final class Skills {
  private Skills() {}

  /** Largest skill file copied. */
  static final long MAX_SKILL_FILE_BYTES = 16L * 1024 * 1024;

  record Skill(String name, String description, Map<String, byte[]> files) {}

  record FrontMatter(String name, String description, String body) {}

  /** The skills a session can load: the manifest's first, then the skills directory's. */
  static List<Skill> available(Manifest manifest, Optional<Path> skillsDir) {
    Map<String, Skill> out = new LinkedHashMap<>();
    if (manifest != null) {
      for (SkillRef s : manifest.getSkills()) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (ManifestFile f : s.getFiles()) {
          if (f.getContent() != null) {
            files.put(Workspace.normalize(f.getPath()), f.getContent().getBytes(StandardCharsets.UTF_8));
          }
        }
        String description = s.getDescription();
        if (!files.containsKey("SKILL.md")) {
          files.put("SKILL.md", ("---\nname: " + s.getName() + "\ndescription: " + description + "\n---\n")
              .getBytes(StandardCharsets.UTF_8));
        } else if (description == null || description.isBlank()) {
          description = parse(new String(files.get("SKILL.md"), StandardCharsets.UTF_8)).description();
        }
        out.put(s.getName(), new Skill(s.getName(), description, files));
      }
    }
    skillsDir.ifPresent(dir -> {
      if (!Files.isDirectory(dir)) {
        return;
      }
      try (Stream<Path> folders = Files.list(dir)) {
        for (Path folder : folders.sorted().toList()) {
          if (!Files.isDirectory(folder)) {
            continue;
          }
          // read with the workspace's rules: a link in a skill folder is followed only inside it
          Workspace skill = Workspace.existing(folder);
          if (!skill.stat("SKILL.md", true).isFile()) {
            continue;
          }
          FrontMatter fm = parse(new String(skill.readFile("SKILL.md", MAX_SKILL_FILE_BYTES), StandardCharsets.UTF_8));
          String name = fm.name() == null || fm.name().isBlank() ? folder.getFileName().toString() : fm.name();
          if (out.containsKey(name)) {
            continue;
          }
          Map<String, byte[]> files = new LinkedHashMap<>();
          skill.walk((node, content) -> {
            if (node.isFile() && node.size() <= MAX_SKILL_FILE_BYTES) {
              try (var in = content.open()) {
                files.put(node.path(), in.readNBytes((int) MAX_SKILL_FILE_BYTES));
              }
            }
          });
          out.put(name, new Skill(name, fm.description() == null ? "" : fm.description(), files));
        }
      } catch (IOException | ToolException e) {
        throw new ToolException("cannot read the skills directory: " + e.getMessage());
      }
    });
    return new ArrayList<>(out.values());
  }

  /** The front matter ({@code ---} lines around {@code key: value} lines) of a SKILL.md. */
  static FrontMatter parse(String md) {
    String name = null;
    String description = null;
    String body = md;
    String text = md.replace("\r\n", "\n");
    if (text.startsWith("---\n")) {
      int end = text.indexOf("\n---", 4);
      if (end > 0) {
        String fm = text.substring(4, end);
        int after = text.indexOf('\n', end + 4);
        body = after < 0 ? "" : text.substring(after + 1);
        for (String line : fm.split("\n")) {
          int colon = line.indexOf(':');
          if (colon <= 0 || Character.isWhitespace(line.charAt(0))) {
            continue;
          }
          String key = line.substring(0, colon).trim();
          String value = unquote(line.substring(colon + 1).trim());
          if (key.equals("name")) {
            name = value;
          } else if (key.equals("description")) {
            description = value;
          }
        }
      }
    }
    return new FrontMatter(name, description, body);
  }

  private static String unquote(String v) {
    if (v.length() >= 2 && (v.startsWith("\"") && v.endsWith("\"") || v.startsWith("'") && v.endsWith("'"))) {
      return v.substring(1, v.length() - 1);
    }
    return v;
  }

  static String listing(List<Skill> skills) {
    if (skills.isEmpty()) {
      return "No skills are available in this session.";
    }
    StringBuilder sb = new StringBuilder("Available skills:");
    skills.forEach(s -> sb.append("\n- ").append(s.name()).append(": ").append(s.description()));
    return sb.toString();
  }
}
