package io.turnpike.sandbox;

/** The lifetime and limits attacks on the docker backend (skipped, with the reason, without an engine or the image). */
class DockerLifetimeAndLimitsAttackTest extends LifetimeAndLimitsAttackTest {
  @Override
  String backend() {
    return "docker";
  }

  @Override
  String unavailable() {
    return new DockerBackendTest().unavailable();
  }
}
