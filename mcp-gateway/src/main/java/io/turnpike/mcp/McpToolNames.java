package io.turnpike.mcp;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The one naming rule of MCP tools as the model sees them: {@code <server>__<tool>}. Model APIs take
 * {@code ^[a-zA-Z0-9_-]{1,64}$}; MCP tool names may hold dots, slashes or more characters, so a name the
 * rule had to change (a character replaced by {@code _}, or cut) ends with {@code _} and 8 hex digits of
 * the SHA-256 of the tool's real name, which keeps it unique and the same on every gateway instance. The
 * gateway publishes both names ({@code McpToolInfo}); the runner uses the published one and needs no copy
 * of this rule.
 */
public final class McpToolNames {
  private McpToolNames() {}

  public static final String SEPARATOR = "__";
  /** Server names of the gateway's configuration (agent YAML checks the same pattern). */
  public static final Pattern SERVER = Pattern.compile("^[a-z0-9][a-z0-9-]{0,30}$");
  private static final Pattern UNSAFE = Pattern.compile("[^a-zA-Z0-9_-]");
  private static final int MAX = 64;

  public static String modelName(String server, String tool) {
    String plain = server + SEPARATOR + UNSAFE.matcher(tool).replaceAll("_");
    if (plain.length() <= MAX && plain.equals(server + SEPARATOR + tool)) {
      return plain;
    }
    String suffix = "_" + HexFormat.of().formatHex(sha256(tool), 0, 4);
    return plain.substring(0, Math.min(plain.length(), MAX - suffix.length())) + suffix;
  }

  /** Whether a tool call's name is one of this server's (a call for another tool worker's tool is not). */
  public static boolean belongsTo(String modelName, String server) {
    return modelName.startsWith(server + SEPARATOR);
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
