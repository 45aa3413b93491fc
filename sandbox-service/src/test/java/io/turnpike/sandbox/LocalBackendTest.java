package io.turnpike.sandbox;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.turnpike.sandbox.backend.LocalBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The contract on the local backend (bubblewrap + prlimit). */
class LocalBackendTest extends BackendContractTest {
  @Override
  String backend() {
    return "local";
  }

  @Override
  String unavailable() {
    try {
      LocalBackend b = new LocalBackend(false, 200_000, Files.createTempDirectory("probe"), "auto");
      return b.unavailableReason() == null ? null
          : "the local backend cannot isolate commands on this machine: " + b.unavailableReason();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /**
   * A sandbox service restarted on the same host gets other session uids; what the previous instance
   * left in the probe folder must not make the new one refuse every command (seen in the chaos test).
   */
  @Test
  void aBackendStartedAgainOnTheSameHostStillWorks() throws Exception {
    assumeTrue(unavailable() == null, "bubblewrap cannot run here");
    Path probe = Files.createTempDirectory("probe-again");
    for (int start = 1; start <= 3; start++) {
      LocalBackend b = new LocalBackend(false, 200_000, probe, "auto");
      assertThat(b.unavailableReason()).as("start " + start).isNull();
    }
  }
}
