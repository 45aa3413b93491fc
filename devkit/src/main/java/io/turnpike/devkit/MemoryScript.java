package io.turnpike.devkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The offline stand-in for the memory service's two models, around any other script: requests that ask
 * for the {@value #PHASE_ONE} JSON schema (phase 1, extraction) or {@value #PHASE_TWO} (phase 2,
 * consolidation) are answered deterministically here; every other request goes to the delegate.
 * Every memory it writes starts with {@value #LABEL}.
 *
 * <ul>
 *   <li><b>Phase 1.</b> From the first user message of the transcript ({@code [n] user: ...}): "I prefer X"
 *       (or "I like X") gives the preference "The user prefers: X"; "remember that X" gives the fact X;
 *       any other question gives the fact "The user asked about: ...". A message containing "nothing to
 *       remember" gives no candidates.
 *   <li><b>Phase 2.</b> Existing lines, then candidates (oldest first): the same text (ignoring case and
 *       punctuation) is one line; lines "&lt;who&gt; prefers: ..." with the same who contradict each other
 *       and the newest wins. Each line cites every input it rests on.
 * </ul>
 */
public final class MemoryScript implements ModelScript {
    public static final String LABEL = "[scripted]";
    public static final String PHASE_ONE = "memory_candidates";
    public static final String PHASE_TWO = "memory_document";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern USER_LINE = Pattern.compile("^\\[(\\d+)] user: (.*)$", Pattern.MULTILINE);
    private static final Pattern PREFER = Pattern.compile("\\bI (?:prefer|like) (.+?)[.!?]*$", Pattern.CASE_INSENSITIVE);
    private static final Pattern REMEMBER = Pattern.compile("\\bremember that (.+?)[.!?]*$", Pattern.CASE_INSENSITIVE);

    private final ModelScript delegate;
    private final java.time.Duration phaseTwoDelay;

    private MemoryScript(ModelScript delegate, java.time.Duration phaseTwoDelay) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
        this.phaseTwoDelay = phaseTwoDelay;
    }

    /** The same script whose phase-two answers take {@code delay} (tests of a service killed mid-consolidation). */
    public MemoryScript slowPhaseTwo(java.time.Duration delay) {
        return new MemoryScript(delegate, delay);
    }

    /** Answers memory requests, and passes every other request to {@code delegate}. */
    public static MemoryScript around(ModelScript delegate) {
        return new MemoryScript(delegate, java.time.Duration.ZERO);
    }

    @Override
    public ScriptedReply reply(ModelRequestView request) {
        String format = request.raw() == null ? null : request.raw().path("text").path("format").path("name").asText(null);
        if (PHASE_ONE.equals(format)) {
            return ScriptedReply.text(extract(Objects.requireNonNullElse(request.lastUserText(), "")));
        }
        if (PHASE_TWO.equals(format)) {
            ScriptedReply reply = ScriptedReply.text(consolidate(Objects.requireNonNullElse(request.lastUserText(), "{}")));
            return phaseTwoDelay.isZero() ? reply : reply.withDelay(phaseTwoDelay);
        }
        return delegate.reply(request);
    }

    static String extract(String transcript) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode out = root.putArray("candidates");
        Matcher m = USER_LINE.matcher(transcript);
        if (!m.find()) {
            return root.toString();
        }
        int item = Integer.parseInt(m.group(1));
        String said = m.group(2).trim();
        if (said.toLowerCase(Locale.ROOT).contains("nothing to remember")) {
            return root.toString();
        }
        Matcher p = PREFER.matcher(said);
        Matcher r = REMEMBER.matcher(said);
        ObjectNode c = out.addObject();
        if (p.find()) {
            c.put("kind", "preference").put("text", LABEL + " The user prefers: " + p.group(1).trim());
        } else if (r.find()) {
            c.put("kind", "fact").put("text", LABEL + " " + capitalise(r.group(1).trim()));
        } else {
            c.put("kind", "fact").put("text", LABEL + " The user asked about: " + cut(said, 160));
        }
        c.put("confidence", 0.8);
        c.putArray("items").add(item);
        return root.toString();
    }

    static String consolidate(String input) {
        JsonNode in;
        try {
            in = JSON.readTree(input);
        } catch (Exception e) {
            in = JSON.createObjectNode();
        }
        // key -> [kind, text, sources]; insertion order = first seen, the text = the newest seen
        Map<String, Object[]> lines = new LinkedHashMap<>();
        List<JsonNode> all = new ArrayList<>();
        in.path("existing").forEach(all::add);
        in.path("candidates").forEach(all::add);
        for (JsonNode n : all) {
            String text = n.path("text").asText("");
            if (text.isBlank()) {
                continue;
            }
            String key = key(text);
            Object[] line = lines.get(key);
            if (line == null) {
                List<String> sources = new ArrayList<>();
                sources.add(n.path("id").asText());
                lines.put(key, new Object[] {n.path("kind").asText("fact"), text, sources});
            } else {
                line[0] = n.path("kind").asText("fact");
                line[1] = text; // the newer statement wins
                @SuppressWarnings("unchecked")
                List<String> sources = (List<String>) line[2];
                sources.add(n.path("id").asText());
            }
        }
        ObjectNode root = JSON.createObjectNode();
        ArrayNode out = root.putArray("lines");
        for (Object[] l : lines.values()) {
            ObjectNode o = out.addObject().put("kind", (String) l[0]).put("text", (String) l[1]);
            ArrayNode s = o.putArray("sources");
            @SuppressWarnings("unchecked")
            List<String> sources = (List<String>) l[2];
            sources.forEach(s::add);
        }
        return root.toString();
    }

    /** Same text, or the same "who prefers:" (a contradiction: the newest wins). */
    private static String key(String text) {
        String norm = text.toLowerCase(Locale.ROOT).replace(LABEL, "").replaceAll("[^\\p{L}\\p{N}: ]", "").trim()
            .replaceAll("\\s+", " ");
        int prefers = norm.indexOf(" prefers:");
        return prefers >= 0 ? norm.substring(0, prefers) + " prefers:" : norm;
    }

    private static String capitalise(String s) {
        return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }

    private static String cut(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "...";
    }
}
