package io.turnpike.sandbox;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.turnpike.sandbox.backend.DockerBackend;

/**
 * The contract on the docker backend. Needs a Docker engine and the image built by
 * {@code sandbox-service/docker/build-sandbox-image.sh} ({@code .ci/run} does both); skipped with the
 * reason otherwise.
 */
class DockerBackendTest extends BackendContractTest {
  @Override
  String backend() {
    return "docker";
  }

  @Override
  void assumeAvailable() {
    try (DockerBackend b = new DockerBackend(SandboxConfig.DEFAULT_IMAGE, "1000:1000", "probe")) {
      assumeTrue(b.unavailableReason() == null, "SKIPPED: no Docker engine here: " + b.unavailableReason());
      assumeTrue(b.hasImage(SandboxConfig.DEFAULT_IMAGE), "SKIPPED: the image " + SandboxConfig.DEFAULT_IMAGE
          + " is missing; build it with sandbox-service/docker/build-sandbox-image.sh");
    }
  }
}
