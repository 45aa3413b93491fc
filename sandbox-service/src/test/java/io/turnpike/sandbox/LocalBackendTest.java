package io.turnpike.sandbox;

import io.turnpike.sandbox.backend.LocalBackend;
import java.nio.file.Files;

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
}
