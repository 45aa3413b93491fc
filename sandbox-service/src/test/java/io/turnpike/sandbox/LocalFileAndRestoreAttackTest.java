package io.turnpike.sandbox;

/** The files-and-restore attacks on the local backend (skipped, with the reason, where it cannot run). */
class LocalFileAndRestoreAttackTest extends FileAndRestoreAttackTest {
  @Override
  String backend() {
    return "local";
  }

  @Override
  String unavailable() {
    return new LocalBackendTest().unavailable();
  }
}
