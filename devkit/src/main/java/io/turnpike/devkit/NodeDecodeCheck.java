package io.turnpike.devkit;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Runs {@code tools/decode-check/decode.js}: reads topics from the beginning with kafkajs and
 * decodes every value with {@code @kafkajs/confluent-schema-registry}, a Confluent-compatible
 * client none of Turnpike's code shares, so tests can prove the bytes on the topics are the
 * Confluent wire format and not merely something our own serde reads back.
 *
 * <pre>{@code
 * Assumptions.assumeTrue(NodeDecodeCheck.available(), "node and npm are needed for the decode check");
 * NodeDecodeCheck.Result result = NodeDecodeCheck.run(kafka.bootstrapServers(), registry.url(), List.of("demo"));
 * assertThat(result.errors()).isEmpty();
 * JsonNode value = result.records("demo").getFirst().get("value");
 * }</pre>
 *
 * <p>The tool's npm packages are installed with {@code npm ci} (from its lock file) at most once per
 * JVM, and only when {@code node_modules} is missing or older than {@code package-lock.json}; a
 * file lock keeps JVMs running side by side from installing over each other.
 */
public final class NodeDecodeCheck {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOOL = "tools/decode-check";
    private static final Duration INSTALL_TIMEOUT = Duration.ofMinutes(5);
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(20);
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    private static Boolean available;
    private static boolean installed;

    private NodeDecodeCheck() {
    }

    /**
     * What one run printed: decoded records and undecodable ones, each the tool's JSON line
     * ({@code topic, partition, offset, key, headers} and {@code value} or {@code error}), and
     * the tool's count of records read per topic.
     */
    public record Result(Map<String, List<JsonNode>> recordsByTopic, List<JsonNode> errors,
                         Map<String, Integer> summary) {

        /** The decoded records of one topic in the order read (empty if none). */
        public List<JsonNode> records(String topic) {
            return recordsByTopic.getOrDefault(topic, List.of());
        }

        /** Just the decoded values of one topic. */
        public List<JsonNode> values(String topic) {
            return records(topic).stream().map(r -> r.get("value")).toList();
        }
    }

    /** Whether {@code node} and {@code npm} both run; tests assume this so a missing Node is a visible skip. */
    public static synchronized boolean available() {
        if (available == null) {
            available = runs(List.of("node", "--version")) && runs(List.of("npm", "--version"));
        }
        return available;
    }

    /** {@code tools/decode-check} of the repository holding the working directory. */
    public static Path toolDir() {
        Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path d = dir; d != null; d = d.getParent()) {
            if (Files.isRegularFile(d.resolve(TOOL).resolve("decode.js"))) {
                return d.resolve(TOOL);
            }
        }
        throw new IllegalStateException("No " + TOOL + "/decode.js in " + dir + " or any folder above it");
    }

    /** {@link #run(String, String, Collection, Duration)} with a 60 s deadline for reading. */
    public static Result run(String bootstrapServers, String registryUrl, Collection<String> topics) {
        return run(bootstrapServers, registryUrl, topics, DEFAULT_TIMEOUT);
    }

    /**
     * Decodes every record on {@code topics} up to the end offsets they have when the tool starts.
     *
     * @param timeout how long the tool may take to reach those offsets
     * @throws IllegalStateException if npm or the tool fails, or the deadline passes; the message
     *                               carries the tool's stderr
     */
    public static Result run(String bootstrapServers, String registryUrl, Collection<String> topics,
                             Duration timeout) {
        if (topics.isEmpty()) {
            throw new IllegalArgumentException("no topics to decode");
        }
        Path dir = toolDir();
        install(dir);
        long seconds = Math.max(1, timeout.toSeconds());
        List<String> command = List.of("node", "decode.js", "--bootstrap", bootstrapServers,
                "--registry", registryUrl, "--topics", String.join(",", topics), "--timeout", String.valueOf(seconds));
        Map<String, List<JsonNode>> byTopic = new LinkedHashMap<>();
        List<JsonNode> errors = new ArrayList<>();
        Map<String, Integer> summary = new LinkedHashMap<>();
        Path stderr = tempFile("decode-check-stderr");
        try {
            Process process = new ProcessBuilder(command).directory(dir.toFile())
                    .redirectError(stderr.toFile()).start();
            process.getOutputStream().close();
            // The tool has its own deadline; this one only catches a hung node process.
            Thread watchdog = Thread.ofVirtual().start(() -> {
                try {
                    if (!process.waitFor(seconds + 30, TimeUnit.SECONDS)) {
                        process.destroyForcibly();
                    }
                } catch (InterruptedException e) {
                    process.destroyForcibly();
                }
            });
            List<String> unparsable = new ArrayList<>();
            try (BufferedReader out = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line = out.readLine(); line != null; line = out.readLine()) {
                    JsonNode node;
                    try {
                        node = JSON.readTree(line);
                    } catch (JsonProcessingException e) {
                        unparsable.add(line);
                        continue;
                    }
                    if (node.has("summary")) {
                        node.get("summary").properties().forEach(e -> summary.put(e.getKey(), e.getValue().asInt()));
                    } else if (node.has("error")) {
                        errors.add(node);
                    } else {
                        byTopic.computeIfAbsent(node.path("topic").asText(), t -> new ArrayList<>()).add(node);
                    }
                }
            }
            int exit = process.waitFor();
            watchdog.interrupt();
            if (exit != 0 || !unparsable.isEmpty()) {
                throw new IllegalStateException("decode.js exited " + exit + " for topics " + topics
                        + (unparsable.isEmpty() ? "" : "; non-JSON output: " + unparsable)
                        + "; stderr: " + Files.readString(stderr));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot run node in " + dir, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while decoding " + topics, e);
        } finally {
            deleteQuietly(stderr);
        }
        return new Result(byTopic, errors, summary);
    }

    // ---------------------------------------------------------------------------------------------

    private static synchronized void install(Path dir) {
        if (installed && !stale(dir)) {
            return;
        }
        // Keyed on the tool's path so two work trees do not wait for each other.
        Path lockFile = Path.of(System.getProperty("java.io.tmpdir"),
                "turnpike-decode-check-" + Integer.toHexString(dir.toString().hashCode()) + ".lock");
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = channel.lock()) {
            if (stale(dir)) {
                npmCi(dir);
            }
            installed = true;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot install the npm packages of " + dir, e);
        }
    }

    /** npm writes node_modules/.package-lock.json on every install; older than the lock file means outdated. */
    private static boolean stale(Path dir) {
        Path installedLock = dir.resolve("node_modules/.package-lock.json");
        if (!Files.isRegularFile(installedLock)) {
            return true;
        }
        try {
            FileTime lock = Files.getLastModifiedTime(dir.resolve("package-lock.json"));
            return Files.getLastModifiedTime(installedLock).compareTo(lock) < 0;
        } catch (IOException e) {
            return true;
        }
    }

    private static void npmCi(Path dir) throws IOException {
        Path output = tempFile("decode-check-npm");
        try {
            Process process = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund")
                    .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(output.toFile()).start();
            process.getOutputStream().close();
            if (!process.waitFor(INSTALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException("npm ci in " + dir + " did not finish within "
                        + INSTALL_TIMEOUT.toSeconds() + " s: " + Files.readString(output));
            }
            if (process.exitValue() != 0) {
                throw new IllegalStateException("npm ci in " + dir + " exited " + process.exitValue() + ": "
                        + Files.readString(output));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted during npm ci in " + dir, e);
        } finally {
            deleteQuietly(output);
        }
    }

    private static boolean runs(List<String> command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            process.getOutputStream().close();
            if (!process.waitFor(PROBE_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return false;
            }
            return process.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static Path tempFile(String prefix) {
        try {
            return Files.createTempFile(prefix, ".log");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            // A leftover temp file is harmless.
        }
    }
}
