package io.turnpike.sandbox;

/** The files-and-restore attacks on the docker backend (skipped, with the reason, where it cannot run). */
class DockerFileAndRestoreAttackTest extends FileAndRestoreAttackTest {
  @Override
  String backend() {
    return "docker";
  }

  @Override
  String unavailable() {
    return new DockerBackendTest().unavailable();
  }
}
