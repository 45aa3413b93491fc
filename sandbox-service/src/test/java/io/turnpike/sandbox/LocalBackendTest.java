package io.turnpike.sandbox;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.turnpike.sandbox.backend.LocalBackend;
import java.nio.file.Files;

/** The contract on the local backend (bubblewrap + prlimit). */
class LocalBackendTest extends BackendContractTest {
  @Override
  String backend() {
    return "local";
  }

  @Override
  void assumeAvailable() {
    try {
      LocalBackend b = new LocalBackend(false, 200_000, Files.createTempDirectory("probe"), "auto");
      assumeTrue(b.unavailableReason() == null, "SKIPPED: the local backend cannot isolate commands on this machine: "
          + b.unavailableReason());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
