package io.turnpike.sandbox;

import io.turnpike.sandbox.backend.DockerBackend;

/**
 * The contract on the docker backend. Needs a Docker engine and the image built by
 * {@code sandbox-service/docker/build-sandbox-image.sh} ({@code .ci/run} does both); every test is
 * reported as skipped, with the reason, otherwise.
 */
class DockerBackendTest extends BackendContractTest {
  @Override
  String backend() {
    return "docker";
  }

  @Override
  String unavailable() {
    try (DockerBackend b = new DockerBackend(SandboxConfig.DEFAULT_IMAGE, "1000:1000", "probe")) {
      if (b.unavailableReason() != null) {
        return "no Docker engine here: " + b.unavailableReason();
      }
      if (!b.hasImage(SandboxConfig.DEFAULT_IMAGE)) {
        return "the image " + SandboxConfig.DEFAULT_IMAGE + " is missing; build it with sandbox-service/docker/build-sandbox-image.sh";
      }
      return null;
    }
  }
}
