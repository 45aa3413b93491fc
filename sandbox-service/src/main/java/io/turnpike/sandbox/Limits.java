package io.turnpike.sandbox;

import io.turnpike.avro.ResourceLimits;

/**
 * Resource bounds of one session.
 *
 * @param cpus           CPU cores of a container (docker)
 * @param cpuSeconds     CPU time of one command (local: RLIMIT_CPU; docker: ulimit -t)
 * @param memoryMb       memory of a command (local: cgroup, else address space) or of the container
 * @param pids           processes (local: per-session user or cgroup; docker: pids limit)
 * @param commandTimeoutMs wall clock of one command
 * @param outputBytes    stdout and stderr kept per command (each), the rest replaced by a marker
 * @param diskMb         the workspace quota: bytes of all its files together (so also the largest file)
 * @param workspaceFiles the workspace quota: files, folders and links together
 */
public record Limits(double cpus, long cpuSeconds, int memoryMb, int pids, long commandTimeoutMs, int outputBytes,
    int diskMb, int workspaceFiles) {

  /** The default file count of a workspace, where none is given. */
  public static final int DEFAULT_WORKSPACE_FILES = 20_000;

  /** Limits with the default file count. */
  public Limits(double cpus, long cpuSeconds, int memoryMb, int pids, long commandTimeoutMs, int outputBytes, int diskMb) {
    this(cpus, cpuSeconds, memoryMb, pids, commandTimeoutMs, outputBytes, diskMb, DEFAULT_WORKSPACE_FILES);
  }

  public long diskBytes() {
    return (long) diskMb * 1024 * 1024;
  }

  /**
   * The manifest's limits where it sets them, else the defaults, each capped at the maxima. For the
   * local backend {@code ResourceLimits.cpus} means CPU seconds per command (see its doc).
   */
  public static Limits resolve(ResourceLimits m, Limits defaults, Limits maxima, boolean local) {
    if (m == null) {
      return defaults.cap(maxima);
    }
    double cpus = !local && m.getCpus() != null ? m.getCpus() : defaults.cpus();
    long cpuSeconds = local && m.getCpus() != null ? (long) Math.ceil(m.getCpus()) : defaults.cpuSeconds();
    return new Limits(
        cpus,
        cpuSeconds,
        m.getMemoryMb() != null ? m.getMemoryMb() : defaults.memoryMb(),
        m.getPids() != null ? m.getPids() : defaults.pids(),
        m.getCommandTimeoutMs() != null ? m.getCommandTimeoutMs() : defaults.commandTimeoutMs(),
        m.getOutputBytes() != null ? m.getOutputBytes() : defaults.outputBytes(),
        m.getDiskMb() != null ? m.getDiskMb() : defaults.diskMb(),
        m.getWorkspaceFiles() != null ? m.getWorkspaceFiles() : defaults.workspaceFiles()).cap(maxima);
  }

  /**
   * These limits within what this host or engine offers: at most {@code hostCpus} cores and
   * {@code hostMemoryMb} of memory (0: unknown, not clamped). What was lowered is said in
   * {@code notes}, for the model and the log.
   */
  public Limits clampToHost(double hostCpus, long hostMemoryMb, java.util.List<String> notes) {
    double c = cpus;
    int mem = memoryMb;
    if (hostCpus > 0 && c > hostCpus) {
      notes.add("the manifest asks for " + fmt(cpus) + " CPUs; this host offers " + fmt(hostCpus) + ", so commands get "
          + fmt(hostCpus));
      c = hostCpus;
    }
    if (hostMemoryMb > 0 && mem > hostMemoryMb) {
      notes.add("the manifest asks for " + memoryMb + " MB of memory; this host has " + hostMemoryMb + " MB, so commands get "
          + hostMemoryMb + " MB");
      mem = (int) hostMemoryMb;
    }
    return new Limits(c, cpuSeconds, mem, pids, commandTimeoutMs, outputBytes, diskMb, workspaceFiles);
  }

  private static String fmt(double d) {
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }

  Limits cap(Limits max) {
    return new Limits(
        clamp(cpus, 0.01, max.cpus),
        Math.max(1, Math.min(cpuSeconds, max.cpuSeconds)),
        Math.max(16, Math.min(memoryMb, max.memoryMb)),
        Math.max(8, Math.min(pids, max.pids)),
        Math.max(100, Math.min(commandTimeoutMs, max.commandTimeoutMs)),
        Math.max(256, Math.min(outputBytes, max.outputBytes)),
        Math.max(1, Math.min(diskMb, max.diskMb)),
        Math.max(16, Math.min(workspaceFiles, max.workspaceFiles)));
  }

  private static double clamp(double v, double lo, double hi) {
    return Math.max(lo, Math.min(v, hi));
  }
}
