package io.turnpike.devkit;

import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/** Ready-made {@link ModelScript}s. */
public final class Scripts {

    private Scripts() {
    }

    /**
     * Reply number {@code request.turn()}: the first request of a conversation gets the first
     * reply, the request after one model turn the second, and so on; past the end, the last reply.
     * Stateless, so replaying or resuming a conversation gives the same answers.
     */
    public static ModelScript byTurn(ScriptedReply... perTurn) {
        List<ScriptedReply> replies = List.of(requireSome(perTurn));
        return request -> replies.get(Math.min(request.turn(), replies.size() - 1));
    }

    /** Like {@link #byTurn(ScriptedReply...)} with replies computed from the request. */
    @SafeVarargs
    public static ModelScript byTurn(Function<ModelRequestView, ScriptedReply>... perTurn) {
        List<Function<ModelRequestView, ScriptedReply>> replies = List.of(requireSome(perTurn));
        return request -> replies.get(Math.min(request.turn(), replies.size() - 1)).apply(request);
    }

    /** The same reply to every request. */
    public static ModelScript always(ScriptedReply reply) {
        Objects.requireNonNull(reply, "reply");
        return request -> reply;
    }

    /** Answers every request with the text of its last user message ("" if none). */
    public static ModelScript echo() {
        return request -> ScriptedReply.text(Objects.requireNonNullElse(request.lastUserText(), ""));
    }

    private static <T> T[] requireSome(T[] items) {
        if (items == null || items.length == 0) {
            throw new IllegalArgumentException("at least one reply");
        }
        for (T item : items) {
            Objects.requireNonNull(item, "reply");
        }
        return items;
    }
}
