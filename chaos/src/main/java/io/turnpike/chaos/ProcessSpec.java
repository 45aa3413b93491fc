package io.turnpike.chaos;

import java.util.List;
import java.util.Map;

/**
 * How to start one part: a {@code java} command line and its environment. A restart uses the very same
 * spec, so a part comes back with the configuration it died with (ports, state directory, group ids).
 */
public record ProcessSpec(Part part, String mainClass, List<String> jvmOptions, List<String> args,
    Map<String, String> env, Readiness readiness) {
  public ProcessSpec {
    jvmOptions = List.copyOf(jvmOptions);
    args = List.copyOf(args);
    env = Map.copyOf(env);
  }
}
