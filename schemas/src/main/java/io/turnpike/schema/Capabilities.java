package io.turnpike.schema;

import io.turnpike.avro.ToolKind;
import io.turnpike.avro.ToolSpec;
import java.util.List;
import java.util.Map;

/**
 * Built-in capabilities: bundles of sandbox tools plus the instructions that tell the model how to
 * use them. An agent lists capability names ({@code filesystem}, {@code shell}, {@code skills}); the
 * runner offers their tools to the model and routes calls to them to {@code turnpike.sandbox.requests},
 * where the sandbox service executes them. The tool names and argument schemas here are the contract
 * between the two.
 */
public final class Capabilities {
  private Capabilities() {}

  public static final String FILESYSTEM = "filesystem";
  public static final String SHELL = "shell";
  public static final String SKILLS = "skills";
  /**
   * Not a bundle of tools: the run's oldest items are summarized when its input nears the model's
   * context window (the agent's {@code compaction} policy, issue #14).
   */
  public static final String COMPACTION = "compaction";

  public static final ToolSpec READ_FILE = tool("read_file",
      "Read a text file in the workspace. Lines are numbered from 1; give start_line/end_line to read part of a large file.",
      "{\"type\":\"object\",\"properties\":{"
          + "\"path\":{\"type\":\"string\",\"description\":\"Path relative to the workspace root\"},"
          + "\"start_line\":{\"type\":\"integer\",\"minimum\":1},"
          + "\"end_line\":{\"type\":\"integer\",\"minimum\":1}},"
          + "\"required\":[\"path\"],\"additionalProperties\":false}");

  public static final ToolSpec WRITE_FILE = tool("write_file",
      "Create or overwrite a text file in the workspace. Parent directories are created.",
      "{\"type\":\"object\",\"properties\":{"
          + "\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"}},"
          + "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}");

  public static final ToolSpec LIST_DIR = tool("list_dir",
      "List a directory of the workspace (default: the root), with sizes; directories end with '/'.",
      "{\"type\":\"object\",\"properties\":{"
          + "\"path\":{\"type\":\"string\"},\"depth\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5}},"
          + "\"additionalProperties\":false}");

  public static final ToolSpec APPLY_PATCH = tool("apply_patch",
      "Apply a patch in the V4A format: '*** Begin Patch', then '*** Add File: p', '*** Update File: p' "
          + "(with '@@' context hunks and lines prefixed ' ', '-', '+') or '*** Delete File: p' sections, then '*** End Patch'.",
      "{\"type\":\"object\",\"properties\":{\"patch\":{\"type\":\"string\"}},"
          + "\"required\":[\"patch\"],\"additionalProperties\":false}");

  public static final ToolSpec VIEW_IMAGE = tool("view_image",
      "Look at an image file of the workspace (png, jpeg, gif, webp).",
      "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},"
          + "\"required\":[\"path\"],\"additionalProperties\":false}");

  public static final ToolSpec SHELL_TOOL = tool("shell",
      "Run a shell command (sh -c) in the workspace, without network. Returns the exit code and the "
          + "(possibly truncated) stdout and stderr.",
      "{\"type\":\"object\",\"properties\":{"
          + "\"command\":{\"type\":\"string\"},"
          + "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":1}},"
          + "\"required\":[\"command\"],\"additionalProperties\":false}");

  public static final ToolSpec LOAD_SKILL = tool("load_skill",
      "Load one of the available skills: returns its SKILL.md and the list of its files under skills/<name>/.",
      "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},"
          + "\"required\":[\"name\"],\"additionalProperties\":false}");

  /** Capability name to its tools. */
  public static final Map<String, List<ToolSpec>> TOOLS = Map.of(
      FILESYSTEM, List.of(READ_FILE, WRITE_FILE, LIST_DIR, APPLY_PATCH, VIEW_IMAGE),
      SHELL, List.of(SHELL_TOOL),
      SKILLS, List.of(LOAD_SKILL));

  /** Capability name to the instructions appended to the agent's own. */
  public static final Map<String, String> INSTRUCTIONS = Map.of(
      FILESYSTEM, "You have a private workspace. Use read_file, write_file, list_dir, apply_patch and view_image on it; paths are relative to the workspace root.",
      SHELL, "You can run shell commands in the workspace with the shell tool. There is no network access.",
      SKILLS, "Skills are packaged instructions. Load one with load_skill before using it.");

  /** Every capability an agent may list: the tool bundles and compaction. */
  public static java.util.Set<String> names() {
    java.util.Set<String> names = new java.util.TreeSet<>(TOOLS.keySet());
    names.add(COMPACTION);
    return names;
  }

  /** Names of every built-in sandbox tool. */
  public static boolean isSandboxTool(String name) {
    return TOOLS.values().stream().flatMap(List::stream).anyMatch(t -> t.getName().equals(name));
  }

  private static ToolSpec tool(String name, String description, String schema) {
    return ToolSpec.newBuilder().setName(name).setDescription(description).setParametersJson(schema)
        .setKind(ToolKind.SANDBOX).setStrict(false).build();
  }
}
