package io.turnpike.devkit.registry;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.Incompatibility;
import org.apache.avro.SchemaCompatibility.SchemaPairCompatibility;

/**
 * Confluent's compatibility levels, checked with Avro's own reader/writer resolution rules.
 *
 * <p>Backward means the new schema, as a reader, can read data written with an earlier one
 * (consumers upgrade first); forward means earlier schemas can read data written with the new one
 * (producers upgrade first); full is both. A plain level compares with the latest live version
 * only, a transitive one with every live version.
 */
enum CompatibilityLevel {
    NONE(false, false, false),
    BACKWARD(true, false, false),
    BACKWARD_TRANSITIVE(true, false, true),
    FORWARD(false, true, false),
    FORWARD_TRANSITIVE(false, true, true),
    FULL(true, true, false),
    FULL_TRANSITIVE(true, true, true);

    static final CompatibilityLevel DEFAULT = BACKWARD;

    private final boolean backward;
    private final boolean forward;
    private final boolean transitive;

    CompatibilityLevel(boolean backward, boolean forward, boolean transitive) {
        this.backward = backward;
        this.forward = forward;
        this.transitive = transitive;
    }

    /** Case-insensitive, as Confluent accepts {@code "full"} as well as {@code "FULL"}. */
    static Optional<CompatibilityLevel> parse(String name) {
        if (name == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(valueOf(name.trim().toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** A schema already registered under the subject, with its version number for messages. */
    record Previous(int version, Schema schema) {
    }

    /**
     * Checks {@code candidate} against the live versions of a subject (oldest first).
     *
     * @return one message per problem found; empty when the candidate may be registered
     */
    List<String> check(Schema candidate, List<Previous> live) {
        if (live.isEmpty() || this == NONE) {
            return List.of();
        }
        List<Previous> against = transitive ? live : List.of(live.getLast());
        List<String> problems = new ArrayList<>();
        for (Previous previous : against) {
            problems.addAll(checkPair(candidate, previous));
        }
        return problems;
    }

    /** Checks {@code candidate} against one specific version, in this level's direction(s). */
    List<String> checkPair(Schema candidate, Previous previous) {
        List<String> problems = new ArrayList<>();
        if (backward) {
            describe(SchemaCompatibility.checkReaderWriterCompatibility(candidate, previous.schema()),
                    "the new schema cannot read data written with version " + previous.version(), problems);
        }
        if (forward) {
            describe(SchemaCompatibility.checkReaderWriterCompatibility(previous.schema(), candidate),
                    "version " + previous.version() + " cannot read data written with the new schema", problems);
        }
        return problems;
    }

    private void describe(SchemaPairCompatibility pair, String direction, List<String> into) {
        if (pair.getType() != SchemaCompatibility.SchemaCompatibilityType.INCOMPATIBLE) {
            return;
        }
        for (Incompatibility i : pair.getResult().getIncompatibilities()) {
            into.add(name() + ": " + direction + ": " + i.getType() + " at '" + i.getLocation() + "': "
                    + i.getMessage());
        }
    }
}
