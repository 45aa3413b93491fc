package io.turnpike.sandbox.workspace;

import io.turnpike.schema.Settings;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The secret that sandbox services share to tag the snapshot manifests they write on
 * {@code turnpike.workspaces} (HMAC-SHA256 over the manifest's canonical content), so that a manifest
 * written by anyone else (anyone who can produce to the topic) is refused instead of restored.
 *
 * <p>From {@code turnpike.sandbox.snapshot-key} (at least 32 bytes, taken as UTF-8) or
 * {@code turnpike.sandbox.snapshot-key-file} (its content, trailing newline dropped; created with a
 * random key, mode 0600, when the file does not exist). Neither: a random key for this process, with a
 * warning, so that snapshots are restorable by this process only. The key is never logged and never
 * written into a record; {@link #toString} says only where it came from.
 */
public final class SnapshotKey {
  private static final Logger log = LoggerFactory.getLogger(SnapshotKey.class);
  public static final String KEY = "turnpike.sandbox.snapshot-key";
  public static final String KEY_FILE = "turnpike.sandbox.snapshot-key-file";
  public static final int MIN_BYTES = 32;
  private static final String ALGORITHM = "HmacSHA256";
  /** Changes whenever the canonical form below changes, so an old tag can never match a new form. */
  private static final String FORM = "turnpike.workspaces manifest v1";

  private final SecretKeySpec key;
  private final String source;

  private SnapshotKey(byte[] key, String source) {
    if (key.length < MIN_BYTES) {
      throw new IllegalArgumentException("the snapshot key from " + source + " has " + key.length + " bytes; at least "
          + MIN_BYTES + " are needed (e.g. openssl rand -hex 32)");
    }
    this.key = new SecretKeySpec(key, ALGORITHM);
    this.source = source;
  }

  /** The configured key (see the class comment). */
  public static SnapshotKey from(Settings s) {
    String value = s.get(KEY, null);
    String file = s.get(KEY_FILE, null);
    if (value != null && file != null) {
      throw new IllegalArgumentException("set " + KEY + " or " + KEY_FILE + ", not both");
    }
    if (value != null) {
      return new SnapshotKey(value.getBytes(StandardCharsets.UTF_8), KEY);
    }
    if (file != null) {
      return fromFile(Path.of(file));
    }
    log.warn("neither {} nor {} is set: workspace snapshots are tagged with a random key of this process and can be "
        + "restored by this process only (another instance, or this one restarted, starts such sessions from their "
        + "agent's manifest). Give every sandbox service the same key.", KEY, KEY_FILE);
    return random();
  }

  /** A random key (tests, benchmarks, and services that were given none). */
  public static SnapshotKey random() {
    byte[] b = new byte[32];
    new SecureRandom().nextBytes(b);
    return new SnapshotKey(HexFormat.of().formatHex(b).getBytes(StandardCharsets.US_ASCII), "a random key of this process");
  }

  /** A key given as text (tests). */
  public static SnapshotKey of(String secret) {
    return new SnapshotKey(secret.getBytes(StandardCharsets.UTF_8), "a given key");
  }

  static SnapshotKey fromFile(Path file) {
    try {
      if (!Files.exists(file)) {
        byte[] b = new byte[32];
        new SecureRandom().nextBytes(b);
        try {
          Files.createDirectories(file.toAbsolutePath().getParent());
          Files.writeString(file, HexFormat.of().formatHex(b) + "\n", StandardCharsets.US_ASCII,
              StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
          Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
          log.info("created a new workspace snapshot key in {} (give the same file to every sandbox service)", file);
        } catch (FileAlreadyExistsException e) {
          // another process made it first: use theirs
        }
      }
      String text = Files.readString(file, StandardCharsets.UTF_8);
      if (text.endsWith("\n")) {
        text = text.substring(0, text.length() - (text.endsWith("\r\n") ? 2 : 1));
      }
      return new SnapshotKey(text.getBytes(StandardCharsets.UTF_8), KEY_FILE + " " + file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the snapshot key file " + file + " (" + KEY_FILE + ")", e);
    }
  }

  /** The tag of a manifest: HMAC-SHA256 of its canonical content, as hex. */
  public String tag(SnapshotManifest m) {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(key);
      return HexFormat.of().formatHex(mac.doFinal(canonical(m)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is not available", e);
    }
  }

  /** Whether the manifest carries the tag this key gives it (compared in constant time). */
  public boolean verifies(SnapshotManifest m) {
    if (m.tag() == null) {
      return false;
    }
    byte[] given;
    try {
      given = HexFormat.of().parseHex(m.tag());
    } catch (IllegalArgumentException e) {
      return false;
    }
    return MessageDigest.isEqual(HexFormat.of().parseHex(tag(m)), given);
  }

  /**
   * Every field of the manifest but its tag, each length-prefixed (no two manifests share a form):
   * session, seq, snapshot id, time, backend, entries with their chunk references, recorded results.
   */
  static byte[] canonical(SnapshotManifest m) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      DataOutputStream out = new DataOutputStream(bytes);
      text(out, FORM);
      text(out, m.sessionId());
      out.writeLong(m.seq());
      text(out, m.snapshotId());
      out.writeLong(m.createdAt() == null ? Long.MIN_VALUE : m.createdAt().toEpochMilli());
      text(out, m.backend());
      out.writeInt(m.entries().size());
      for (SnapshotManifest.Entry e : m.entries()) {
        text(out, e.path());
        text(out, e.type());
        out.writeLong(e.size());
        out.writeBoolean(e.executable());
        text(out, e.target());
        if (e.chunks() == null) {
          out.writeInt(-1);
        } else {
          out.writeInt(e.chunks().size());
          for (SnapshotManifest.ChunkRef c : e.chunks()) {
            text(out, c.sha256());
            out.writeInt(c.size());
            out.writeInt(c.partition());
            out.writeLong(c.offset());
          }
        }
      }
      out.writeInt(m.results().size());
      for (SnapshotManifest.RecordedResult r : m.results()) {
        text(out, r.callId());
        text(out, r.tool());
        text(out, r.output());
        out.writeBoolean(r.isError());
        out.writeBoolean(r.exitCode() != null);
        out.writeInt(r.exitCode() == null ? 0 : r.exitCode());
        text(out, r.snapshotId());
        out.writeLong(r.durationMs());
      }
      out.flush();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void text(DataOutputStream out, String s) throws IOException {
    if (s == null) {
      out.writeInt(-1);
      return;
    }
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(b.length);
    out.write(b);
  }

  @Override
  public String toString() {
    return "SnapshotKey[" + source + "]";
  }
}
