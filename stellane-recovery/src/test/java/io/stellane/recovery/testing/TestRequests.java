package io.stellane.recovery.testing;

import io.stellane.recovery.EncryptionKey;
import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.StoredResponse;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;

/** Builders and file helpers shared by store tests. */
public final class TestRequests {
    private TestRequests() {
    }

    public static final EncryptionKey KEY = EncryptionKey.of(keyBytes(1));
    public static final EncryptionKey OTHER_KEY = EncryptionKey.of(keyBytes(2));

    private static byte[] keyBytes(int seed) {
        byte[] b = new byte[EncryptionKey.LENGTH];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (seed * 31 + i);
        }
        return b;
    }

    public static JournaledRequest request(String id) {
        return request(id, null, 16);
    }

    public static JournaledRequest request(String id, String idempotencyKey, int bodyBytes) {
        byte[] body = new byte[bodyBytes];
        for (int i = 0; i < bodyBytes; i++) {
            body[i] = (byte) (id.hashCode() + i);
        }
        return new JournaledRequest(id, Instant.ofEpochSecond(1_700_000_000L, 123_456_789),
                "POST", "/orders/" + id + "?x=1",
                List.of(new HttpHeader("Content-Type", "application/json"), new HttpHeader("X-Dup", "a"),
                        new HttpHeader("X-Dup", "b")),
                body, idempotencyKey);
    }

    /**
     * A request carrying {@code secret} where secrets travel: an {@code X-Api-Token} header and a JSON
     * password in the body.
     */
    public static JournaledRequest secretRequest(String id, String idempotencyKey, String secret) {
        return new JournaledRequest(id, Instant.ofEpochSecond(1_700_000_000L), "POST", "/login",
                List.of(new HttpHeader("Content-Type", "application/json"), new HttpHeader("X-Api-Token", secret)),
                ("{\"user\":\"ann\",\"password\":\"" + secret + "\"}").getBytes(StandardCharsets.UTF_8),
                idempotencyKey);
    }

    /** Whether any file under {@code dir} holds {@code text}, as {@link #filesHolding} looks for it. */
    public static boolean filesHold(Path dir, String text) {
        return !filesHolding(dir, text).isEmpty();
    }

    /**
     * The files under {@code dir} that hold {@code text}'s bytes but its last three, what
     * {@code strings} would find: a compressing file format (RocksDB's SST blocks) may store those
     * three as part of a back-reference. Files deleted meanwhile are skipped.
     */
    public static List<Path> filesHolding(Path dir, String text) {
        byte[] full = text.getBytes(StandardCharsets.UTF_8);
        byte[] needle = java.util.Arrays.copyOf(full, Math.max(4, full.length - 3));
        List<Path> found = new java.util.ArrayList<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                byte[] bytes;
                try {
                    bytes = Files.readAllBytes(f);
                } catch (java.nio.file.NoSuchFileException gone) {
                    continue;
                }
                if (indexOf(bytes, needle) >= 0) {
                    found.add(f);
                }
            }
        } catch (java.io.UncheckedIOException e) {
            if (!(e.getCause() instanceof java.nio.file.NoSuchFileException)) {
                throw e;
            }
            return filesHolding(dir, text); // a file vanished during the walk: look again
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return found;
    }

    /** Where {@code needle} starts in {@code hay}, or -1: ISO-8859-1 maps each byte to one char, so the JDK's search is exact. */
    private static int indexOf(byte[] hay, byte[] needle) {
        return new String(hay, StandardCharsets.ISO_8859_1).indexOf(new String(needle, StandardCharsets.ISO_8859_1));
    }

    /** Polls {@code condition} until it holds or ten seconds pass. */
    public static void await(String what, java.util.function.BooleanSupplier condition) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            java.util.concurrent.locks.LockSupport.parkNanos(5_000_000); // a poll, not a wait for the condition
        }
    }

    public static StoredResponse response(String text) {
        return new StoredResponse(201, List.of(new HttpHeader("Location", "/o/1")),
                text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Copies every file of a live store directory: what a process killed with -9 right now would
     * leave behind (the copy reads through the page cache, as the next process would).
     */
    public static Path crashCopy(Path dir, Path target) {
        try {
            copyTree(dir, target);
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * By hand, not with {@code Files.walk}: the store's maintenance thread deletes compacted segments
     * while we copy, and the walk fails on a file that vanished between listing and stat. A file gone
     * since the listing is one a crash now would not see either.
     */
    private static void copyTree(Path dir, Path target) throws IOException {
        Files.createDirectories(target);
        try (java.nio.file.DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path f : entries) {
                Path t = target.resolve(f.getFileName().toString());
                try {
                    if (Files.isDirectory(f)) {
                        copyTree(f, t);
                    } else {
                        Files.copy(f, t);
                    }
                } catch (java.nio.file.NoSuchFileException gone) {
                    // deleted since the listing
                }
            }
        }
    }
}
