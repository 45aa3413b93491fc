package io.turnpike.sandbox;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The bound of every file tool call, on real threads and a real FIFO: a call that waits is
 * interrupted, one blocked in a native open of a FIFO is released, one that computes on regardless is
 * reported {@link FileToolDeadline.Stuck} (its session is replaced), and an Error is an answer.
 */
class FileToolDeadlineTest {
  static final Duration DEADLINE = Duration.ofMillis(500);
  /** Deadline, the grace after the interrupt and the grace after the FIFOs were opened, and some slack. */
  static final long BOUND_MS = DEADLINE.toMillis() + 2 * FileToolDeadline.GRACE.toMillis() + 1500;

  @Test
  void aCallWithinItsDeadlineAnswers() throws Exception {
    assertThat(FileToolDeadline.run("read_file", DEADLINE, Files.createTempDirectory("ws"), 100, () -> "fine"))
        .isEqualTo("fine");
  }

  @Test
  void aWaitingCallIsInterruptedAtItsDeadline() throws Exception {
    Path ws = Files.createTempDirectory("ws");
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> FileToolDeadline.run("write_file", DEADLINE, ws, 100, () -> {
      Thread.sleep(60_000); // stands for any wait that an interrupt ends
      return "never";
    })).isInstanceOf(ToolException.class).hasMessageContaining("write_file did not finish within 500 ms and was stopped");
    assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(DEADLINE.toMillis() + FileToolDeadline.GRACE.toMillis() + 1000);
  }

  /** An open of a FIFO with no reader blocks in the kernel, where no interrupt reaches it. */
  @Test
  void aCallBlockedOpeningAFifoIsReleased() throws Exception {
    Path ws = Files.createTempDirectory("ws");
    Path deep = Files.createDirectories(ws.resolve("a/b"));
    Process mkfifo = new ProcessBuilder("mkfifo", deep.resolve("ff").toString()).start();
    assertThat(mkfifo.waitFor()).isZero();
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> FileToolDeadline.run("write_file", DEADLINE, ws, 100, () -> {
      try (FileChannel c = FileChannel.open(deep.resolve("ff"), StandardOpenOption.WRITE)) {
        return "opened";
      }
    })).isInstanceOf(ToolException.class).hasMessageContaining("did not finish within 500 ms");
    assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(BOUND_MS);
  }

  @Test
  void aCallThatCannotBeStoppedIsReportedStuck() throws Exception {
    Path ws = Files.createTempDirectory("ws");
    AtomicBoolean stop = new AtomicBoolean();
    long t0 = System.nanoTime();
    FileToolDeadline.Stuck stuck = null;
    try {
      FileToolDeadline.run("apply_patch", DEADLINE, ws, 100, () -> {
        while (!stop.get()) {
          Thread.onSpinWait(); // computes on, deaf to interrupts
        }
        return "late";
      });
    } catch (FileToolDeadline.Stuck e) {
      stuck = e;
    }
    assertThat(stuck).isNotNull();
    assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(BOUND_MS);
    assertThat(stuck.getMessage()).contains("apply_patch did not finish within 500 ms", "set up again from its last saved workspace");
    assertThat(stuck.thread().isAlive()).isTrue();
    stop.set(true);
    Thread t = stuck.thread();
    await().atMost(Duration.ofSeconds(5)).until(() -> !t.isAlive());
  }

  @Test
  void anErrorOfTheCallIsAnAnswer() {
    assertThatThrownBy(() -> FileToolDeadline.run("read_file", DEADLINE, Files.createTempDirectory("ws"), 100, () -> {
      throw new OutOfMemoryError("Required array size too large");
    })).isInstanceOf(ToolException.class).hasMessageContaining("read_file failed", "too large for this tool");
  }
}
