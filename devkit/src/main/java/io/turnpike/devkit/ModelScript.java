package io.turnpike.devkit;

/**
 * Decides what the {@link ScriptedModelServer} answers to one model request. Called once per
 * request (after {@link ScriptedModelServer#failNext(int, int)} failures are used up), possibly
 * from several threads at once. See {@link Scripts} for ready-made scripts.
 */
@FunctionalInterface
public interface ModelScript {
    ScriptedReply reply(ModelRequestView request);
}
