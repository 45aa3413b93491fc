package io.turnpike.mcp;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The reference MCP servers of {@code tools/mcp-servers} (pinned in its package-lock.json), installed with
 * {@code npm ci} at most once per JVM when {@code node_modules} is missing or older than the lock file.
 */
final class McpTestServers {
  private McpTestServers() {}

  private static Boolean available;

  /** Whether node and npm run: the tests skip, saying so, when they do not. */
  static synchronized boolean available() {
    if (available == null) {
      available = runs(List.of("node", "--version")) && runs(List.of("npm", "--version"));
    }
    return available;
  }

  static Path dir() {
    for (Path d = Path.of(System.getProperty("user.dir")).toAbsolutePath(); d != null; d = d.getParent()) {
      if (Files.isRegularFile(d.resolve("tools/mcp-servers/package-lock.json"))) {
        return d.resolve("tools/mcp-servers");
      }
    }
    throw new IllegalStateException("no tools/mcp-servers/package-lock.json above " + System.getProperty("user.dir"));
  }

  static synchronized Path install() throws IOException, InterruptedException {
    Path dir = dir();
    Path modules = dir.resolve("node_modules");
    Path lock = dir.resolve("package-lock.json");
    if (!Files.isDirectory(modules.resolve("@modelcontextprotocol"))
        || Files.getLastModifiedTime(modules).compareTo(Files.getLastModifiedTime(lock)) < 0) {
      Process p = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund").directory(dir.toFile())
          .redirectErrorStream(true).redirectOutput(Files.createTempFile("npm-ci", ".log").toFile()).start();
      if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
        throw new IllegalStateException("npm ci failed in " + dir);
      }
    }
    return dir;
  }

  static Path serverJs(String pkg) throws IOException, InterruptedException {
    return install().resolve("node_modules/@modelcontextprotocol/" + pkg + "/dist/index.js");
  }

  private static boolean runs(List<String> command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      return p.waitFor(Duration.ofSeconds(20).toSeconds(), TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
