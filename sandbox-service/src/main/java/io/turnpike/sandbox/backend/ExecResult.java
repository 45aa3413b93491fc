package io.turnpike.sandbox.backend;

/**
 * The outcome of one command.
 *
 * @param exitCode  the exit code (128 + signal when killed), or -1 when it never ran
 * @param stdout    stdout, truncated with a marker
 * @param stderr    stderr, truncated with a marker
 * @param timedOut  the wall clock ran out and the command was killed
 * @param note      what the sandbox has to say about how the command ended (limit hit, unisolated mode), or null
 */
public record ExecResult(int exitCode, String stdout, String stderr, boolean timedOut, String note, long durationMs) {}
