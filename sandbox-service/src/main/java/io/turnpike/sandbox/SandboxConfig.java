package io.turnpike.sandbox;

import io.turnpike.schema.Settings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * Configuration of the sandbox service, read from {@link Settings} ({@code turnpike.sandbox.*}). Every
 * key is documented in {@code docs/sandbox.md}.
 *
 * @param bootstrapServers   Kafka
 * @param groupId            consumer group of the sandbox services ({@code turnpike.sandbox.group-id})
 * @param defaultBackend     {@code local} or {@code docker}, for manifests that name none
 * @param maxSessions        live sessions per instance; beyond that consumption pauses
 * @param idleTimeout        a session without commands for this long is stopped (its snapshot stays)
 * @param root               where session workspaces live on this host
 * @param allowUnisolated    let the local backend run commands without namespaces when bubblewrap is missing
 * @param allowNetwork       let a manifest with {@code network: true} have network access
 * @param dockerImage        image of manifests that name none
 * @param dockerUser         uid:gid commands run as in containers
 * @param defaults           limits of manifests that set none
 * @param maxima             the most a manifest may ask for
 * @param skillsDir          a folder of skill folders offered to every session, if any
 * @param bundlesDir         where agent bundles live ({@code <bundlesDir>/<agent>/<source>}), if anywhere
 * @param chunkBytes         largest chunk of a workspace snapshot record
 * @param resultsKept        results of mutating commands kept with each snapshot (redelivery answers)
 * @param maxImageBytes      largest image view_image returns
 * @param localUidBase       first uid of the per-session users of the local backend (when running as root)
 * @param closeTimeout       how long close waits for commands in flight
 * @param bwrap              bubblewrap to use: {@code auto} (found on the PATH), a path, or {@code none}
 * @param fileToolTimeout    the most one file tool call (read_file, write_file, apply_patch, ...) may take
 */
public record SandboxConfig(
    String bootstrapServers,
    String schemaRegistryUrl,
    String groupId,
    String defaultBackend,
    int maxSessions,
    Duration idleTimeout,
    Path root,
    boolean allowUnisolated,
    boolean allowNetwork,
    String dockerImage,
    String dockerUser,
    Limits defaults,
    Limits maxima,
    Optional<Path> skillsDir,
    Optional<Path> bundlesDir,
    int chunkBytes,
    int resultsKept,
    int maxImageBytes,
    int localUidBase,
    Duration closeTimeout,
    String bwrap,
    Duration fileToolTimeout) {

  public static final String DEFAULT_IMAGE = "turnpike/sandbox-busybox:latest";

  public static SandboxConfig from(Settings s) {
    Limits defaults = new Limits(
        Double.parseDouble(s.get("turnpike.sandbox.cpus", "1.0")),
        s.getLong("turnpike.sandbox.cpu-seconds", 60),
        s.getInt("turnpike.sandbox.memory-mb", 512),
        s.getInt("turnpike.sandbox.pids", 128),
        s.getDuration("turnpike.sandbox.command-timeout", Duration.ofSeconds(60)).toMillis(),
        s.getInt("turnpike.sandbox.output-bytes", 32 * 1024),
        s.getInt("turnpike.sandbox.disk-mb", 1024),
        s.getInt("turnpike.sandbox.workspace-files", Limits.DEFAULT_WORKSPACE_FILES));
    Limits maxima = new Limits(
        Double.parseDouble(s.get("turnpike.sandbox.max-cpus", "4.0")),
        s.getLong("turnpike.sandbox.max-cpu-seconds", 600),
        s.getInt("turnpike.sandbox.max-memory-mb", 4096),
        s.getInt("turnpike.sandbox.max-pids", 1024),
        s.getDuration("turnpike.sandbox.max-command-timeout", Duration.ofMinutes(10)).toMillis(),
        s.getInt("turnpike.sandbox.max-output-bytes", 1024 * 1024),
        s.getInt("turnpike.sandbox.max-disk-mb", 10 * 1024),
        s.getInt("turnpike.sandbox.max-workspace-files", 200_000));
    String backend = s.get("turnpike.sandbox.backend", "local").trim().toLowerCase();
    if (!backend.equals("local") && !backend.equals("docker")) {
      throw new IllegalArgumentException("turnpike.sandbox.backend must be local or docker, got '" + backend + "'");
    }
    int maxSessions = s.getInt("turnpike.sandbox.max-sessions", 16);
    if (maxSessions < 1) {
      throw new IllegalArgumentException("turnpike.sandbox.max-sessions must be at least 1");
    }
    return new SandboxConfig(
        s.bootstrapServers(),
        s.schemaRegistryUrl(),
        s.get("turnpike.sandbox.group-id", "turnpike-sandbox"),
        backend,
        maxSessions,
        s.getDuration("turnpike.sandbox.idle-timeout", Duration.ofMinutes(5)),
        Path.of(s.get("turnpike.sandbox.root", Path.of(System.getProperty("java.io.tmpdir"), "turnpike", "sandbox").toString()))
            .toAbsolutePath(),
        Boolean.parseBoolean(s.get("turnpike.sandbox.allow-unisolated", "false")),
        Boolean.parseBoolean(s.get("turnpike.sandbox.allow-network", "false")),
        s.get("turnpike.sandbox.docker.image", DEFAULT_IMAGE),
        s.get("turnpike.sandbox.docker.user", "1000:1000"),
        defaults,
        maxima,
        Optional.ofNullable(s.get("turnpike.sandbox.skills-dir", null)).map(Path::of),
        Optional.ofNullable(s.get("turnpike.sandbox.bundles-dir", null)).map(Path::of),
        s.getInt("turnpike.sandbox.chunk-bytes", 1024 * 1024),
        s.getInt("turnpike.sandbox.results-kept", 64),
        s.getInt("turnpike.sandbox.max-image-bytes", 768 * 1024),
        s.getInt("turnpike.sandbox.local.uid-base", 200_000),
        s.getDuration("turnpike.sandbox.close-timeout", Duration.ofSeconds(30)),
        s.get("turnpike.sandbox.local.bwrap", "auto"),
        s.getDuration("turnpike.sandbox.file-tool-timeout", Duration.ofSeconds(30)));
  }

  /**
   * The same configuration with workspaces under {@code newRoot}: where a session is opened again
   * while a tool call of its previous life could not be stopped (see {@code SessionManager}).
   */
  SandboxConfig withRoot(Path newRoot) {
    return new SandboxConfig(bootstrapServers, schemaRegistryUrl, groupId, defaultBackend, maxSessions, idleTimeout,
        newRoot, allowUnisolated, allowNetwork, dockerImage, dockerUser, defaults, maxima, skillsDir, bundlesDir, chunkBytes,
        resultsKept, maxImageBytes, localUidBase, closeTimeout, bwrap, fileToolTimeout);
  }
}
