package io.turnpike.sandbox.backend;

import io.turnpike.sandbox.Limits;
import java.util.Map;

/**
 * One shell command to run in a session.
 *
 * @param command   given to {@code sh -c}
 * @param timeoutMs wall clock before it is killed
 * @param env       the environment of the command: the manifest's variables only
 * @param limits    the session's limits
 */
public record ExecRequest(String command, long timeoutMs, Map<String, String> env, Limits limits) {}
