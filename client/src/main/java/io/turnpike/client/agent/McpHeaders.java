package io.turnpike.client.agent;

import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one rule for an MCP server's HTTP headers, wherever they are written (a hosted MCP tool of an
 * agent, a Streamable HTTP server of the MCP gateway's configuration): a header value is never the
 * secret itself but a reference to an environment variable named {@code TURNPIKE_MCP_*}, optionally
 * after a scheme word ({@code "Bearer ${TURNPIKE_MCP_GITHUB_TOKEN}"}), resolved by the process that
 * sends the request. So no secret is in a file, a record or a RunState, and a reference cannot name the
 * process's other secrets (its OpenAI key) to send them to a server of the author's choosing.
 */
public final class McpHeaders {
  private McpHeaders() {}

  /** A valid HTTP header name (RFC 9110 token). */
  public static final Pattern NAME = Pattern.compile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$");
  /** What a header value may be: a reference to a TURNPIKE_MCP_ variable, optionally after a scheme word. */
  public static final Pattern REFERENCE = Pattern.compile("^(?:([A-Za-z][A-Za-z0-9-]*) )?\\$\\{(TURNPIKE_MCP_[A-Z0-9_]+)\\}$");

  /** The message for a value that is not a reference; it never echoes the value (it may be the secret). */
  public static final String NOT_A_REFERENCE = "must be a reference to an environment variable, \"${TURNPIKE_MCP_NAME}\""
      + " or \"Bearer ${TURNPIKE_MCP_NAME}\", never the value itself";

  /** Whether {@code value} is a reference this rule allows. */
  public static boolean isReference(String value) {
    return value != null && REFERENCE.matcher(value.trim()).matches();
  }

  /**
   * The header's value with its variable's value in place of the reference.
   *
   * @throws IllegalArgumentException naming the variable (never a value) when it is not a reference or unset
   */
  public static String resolve(String header, String reference, Function<String, String> env) {
    Matcher m = REFERENCE.matcher(reference == null ? "" : reference.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException("header " + header + " " + NOT_A_REFERENCE);
    }
    String value = env.apply(m.group(2));
    if (value == null || value.isBlank()) {
      throw new IllegalArgumentException("header " + header + " names " + m.group(2) + ", which is not set");
    }
    return m.group(1) == null ? value : m.group(1) + " " + value;
  }
}
