package io.stellane.recovery.testing;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A small tmpfs mounted for one test: a disk that can be filled to the last byte with a ballast file and
 * freed again. Mounting needs root; without it the test is skipped with an assumption that says so (CI
 * runs as root). {@link #close} unmounts, and fails the test if something (a file left open, a mapping
 * not released) still holds the filesystem, after detaching it so nothing is left behind.
 *
 * <p>Not thread-safe: one test thread fills, frees and closes it.
 */
public final class Tmpfs implements AutoCloseable {
    private final Path dir;
    private final Path ballast;

    private Tmpfs(Path dir) {
        this.dir = dir;
        this.ballast = dir.resolve("ballast");
    }

    /** Mounts a tmpfs of {@code mib} MiB on {@code dir} (created if missing). */
    public static Tmpfs mount(Path dir, int mib) {
        Assumptions.assumeTrue(isRoot(), "the disk-full tests mount a tmpfs, which needs root: skipped as "
                + System.getProperty("user.name"));
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String out = run("mount", "-t", "tmpfs", "-o", "size=" + mib + "m,mode=0700", "tmpfs", dir.toString());
        if (out != null) {
            throw new AssertionError("cannot mount a tmpfs on " + dir + " as root: " + out);
        }
        return new Tmpfs(dir);
    }

    public Path path() {
        return dir;
    }

    /** Writes a ballast file until the filesystem has no byte left; returns its size. */
    public long fill() {
        byte[] chunk = new byte[64 * 1024];
        long written = 0;
        try (OutputStream out = Files.newOutputStream(ballast)) {
            while (true) {
                out.write(chunk);
                written += chunk.length;
            }
        } catch (IOException full) {
            if (!String.valueOf(full.getMessage()).contains("No space left on device")) {
                throw new UncheckedIOException(full);
            }
        }
        if (usable() >= 4096) {
            throw new AssertionError("the tmpfs still has " + usable() + " bytes free after the ballast");
        }
        return written;
    }

    /** Deletes the ballast: the space is back. */
    public void free() {
        try {
            Files.deleteIfExists(ballast);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Bytes free for the test now. */
    public long usable() {
        try {
            return Files.getFileStore(dir).getUsableSpace();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        String busy = run("umount", dir.toString());
        if (busy != null) {
            run("umount", "-l", dir.toString()); // detach anyway: never leave a mount behind
            throw new AssertionError("the tmpfs on " + dir + " was still in use at the end of the test"
                    + " (an open file or a mapping not released): " + busy);
        }
    }

    private static boolean isRoot() {
        try {
            return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** Runs a command; null when it exits 0, else its output. */
    private static String run(String... command) {
        try {
            Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return String.join(" ", command) + " did not finish within 30 s";
            }
            return p.exitValue() == 0 ? null : String.join(" ", command) + " exited " + p.exitValue() + ": " + out;
        } catch (IOException e) {
            return e.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return e.toString();
        }
    }
}
