package io.stellane.recovery;

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
