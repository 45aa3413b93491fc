package io.turnpike.client.agent;

/** An agent file that cannot be used; the message names the file and the field. */
public class AgentYamlException extends IllegalArgumentException {
  private final String source;
  private final String field;

  public AgentYamlException(String source, String field, String problem) {
    super(source + (field == null || field.isEmpty() ? "" : ": " + field) + ": " + problem);
    this.source = source;
    this.field = field;
  }

  /** The file (or other source) the agent came from. */
  public String source() {
    return source;
  }

  /** The offending field as a path such as {@code tools[1].name}, or null for the whole file. */
  public String field() {
    return field;
  }
}
