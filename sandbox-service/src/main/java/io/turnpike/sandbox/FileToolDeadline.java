package io.turnpike.sandbox;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The time bound of one file tool call (read_file, write_file, list_dir, apply_patch, view_image,
 * load_skill): the call runs on its own thread; at its deadline the thread is interrupted; if
 * it is blocked in a native open of a FIFO, every FIFO of the workspace is opened and closed once,
 * which releases such an open; a thread that still does not end is left behind and reported as
 * {@link Stuck}, so its session is replaced instead of hanging. Either way the call's answer is an
 * error that says what happened.
 */
final class FileToolDeadline {
  private static final Logger log = LoggerFactory.getLogger(FileToolDeadline.class);
  /** How long a thread gets to end after its interrupt, and again after the FIFOs were opened. */
  static final Duration GRACE = Duration.ofSeconds(1);

  private FileToolDeadline() {}

  /** A tool call that neither finished nor could be stopped: its thread still runs. */
  static final class Stuck extends Exception {
    private final transient Thread thread;

    Stuck(String message, Thread thread) {
      super(message);
      this.thread = thread;
    }

    Thread thread() {
      return thread;
    }
  }

  /**
   * Runs {@code body} within {@code timeout}. Its result, or its own exception (a
   * {@link ToolException}, an {@link IOException}); an {@link Error} such as running out of memory on
   * a huge file becomes a ToolException, so one call cannot take its session down.
   */
  static <T> T run(String tool, Duration timeout, Path workspace, int maxEntries, Callable<T> body)
      throws IOException, InterruptedException, Stuck {
    FutureTask<T> task = new FutureTask<>(body);
    // A platform thread: a call that computes past its deadline (apply_patch on a huge file) would
    // hold a carrier of the virtual-thread scheduler, which has one per core, and stall every session.
    Thread thread = Thread.ofPlatform().daemon().name("turnpike-file-tool-" + tool).start(task);
    try {
      try {
        return task.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        thread.interrupt();
        if (!ended(task)) {
          int opened = releaseFifos(workspace, maxEntries);
          if (!ended(task)) {
            log.warn("{} did not end after its deadline of {}, an interrupt and opening {} FIFOs: its session is replaced",
                tool, timeout, opened);
            throw new Stuck(stopped(tool, timeout) + " It could not be stopped, so this session is set up again from its "
                + "last saved workspace: changes made since that save (this call's included) are gone.", thread);
          }
        }
        throw new ToolException(stopped(tool, timeout) + " What it had done by then is kept: check the files it touches "
            + "before you try again. For a large file, work on a part of it (read_file with start_line and end_line, "
            + "smaller patches) or use the shell.");
      }
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof ToolException t) {
        throw t;
      }
      if (cause instanceof IOException io) {
        throw io;
      }
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      if (cause instanceof Error err) {
        log.warn("{} failed with {}", tool, err.toString());
        throw new ToolException(tool + " failed: " + err + (err instanceof OutOfMemoryError
            ? " (the file is too large for this tool: use the shell, or a part of it)" : ""));
      }
      throw new ToolException(tool + " failed: " + cause);
    } catch (InterruptedException e) {
      thread.interrupt(); // the service is stopping: so is the call
      throw e;
    }
  }

  private static String stopped(String tool, Duration timeout) {
    return tool + " did not finish within " + seconds(timeout) + " and was stopped (every file tool call is bounded by "
        + "turnpike.sandbox.file-tool-timeout).";
  }

  static String seconds(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  private static boolean ended(FutureTask<?> task) throws InterruptedException {
    try {
      task.get(GRACE.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (ExecutionException | java.util.concurrent.CancellationException e) {
      return true;
    } catch (TimeoutException e) {
      return false;
    }
  }

  /**
   * Opens every FIFO of the workspace for reading and writing (which never blocks on Linux) and closes
   * it: an open of it blocked waiting for a partner returns, and the read or write after it ends (at
   * the end of the data, or with a broken pipe). Links are never followed; at most {@code maxEntries}
   * entries are looked at. Nothing else runs in the workspace meanwhile (no command outlives itself).
   */
  static int releaseFifos(Path workspace, int maxEntries) {
    int opened = 0;
    int seen = 0;
    Deque<Path> dirs = new ArrayDeque<>();
    dirs.push(workspace);
    while (!dirs.isEmpty() && seen <= maxEntries) {
      Path dir = dirs.pop();
      try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
        for (Path p : entries) {
          if (++seen > maxEntries) {
            break;
          }
          try {
            int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            int type = mode & 0170000;
            if (type == 0040000) {
              dirs.push(p);
            } else if (type == 0010000) {
              try (FileChannel ignored = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE,
                  LinkOption.NOFOLLOW_LINKS)) {
                opened++;
              }
            }
          } catch (IOException | RuntimeException e) {
            // gone, or not a FIFO any more
          }
        }
      } catch (IOException e) {
        // not a directory any more
      }
    }
    return opened;
  }
}
