package io.turnpike.sandbox;

/** The lifetime and limits attacks on the local backend (bubblewrap + prlimit). */
class LocalLifetimeAndLimitsAttackTest extends LifetimeAndLimitsAttackTest {
  @Override
  String backend() {
    return "local";
  }

  @Override
  String unavailable() {
    return new LocalBackendTest().unavailable();
  }
}
