package io.stellane.recovery.mmap;

import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.Journal;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.SyncPolicy;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.stellane.recovery.testing.TestRequests.KEY;
import static io.stellane.recovery.testing.TestRequests.filesHold;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Journals written by the version before the journal (segment format 1, in test resources: twelve
 * requests, one with an attempt, one with custom data, one quarantined, one answered with a stored
 * response, the rest completed, then filler that made compaction carry them forward) open with
 * every record, are converted to format 2, and lose their old files.
 */
class MmapFormatOneTest {
    private static final String SEGMENT_FILE_PREFIX = "seg-";

    @TempDir
    Path tmp;

    private static RecoveryStoreConfig config(Path dir, String fixture) {
        RecoveryStoreConfig c = RecoveryStoreConfig.defaults(dir).withSyncPolicy(SyncPolicy.NONE).withSegmentSize(4096)
                .withMaxJournalBytes(64 * 4096);
        return fixture.equals("encrypted") ? c.withEncryptionKey(KEY) : c;
    }

    private static Path fixture(String name, Path target) throws IOException {
        Files.createDirectories(target);
        for (String file : List.of("key.fingerprint", "seg-00000000000000000080.log", "seg-00000000000000000087.log",
                "seg-00000000000000000099.log")) {
            try (InputStream in = MmapFormatOneTest.class.getResourceAsStream("/format1/" + name + "/" + file)) {
                if (in != null) {
                    Files.write(target.resolve(file), in.readAllBytes());
                }
            }
        }
        return target;
    }

    private static List<Path> formatOneSegments(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().startsWith(SEGMENT_FILE_PREFIX)).filter(f -> {
                try {
                    byte[] header = Files.readAllBytes(f);
                    return header.length >= 8 && header[7] == Segment.VERSION_1;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).toList();
        }
    }

    private static void assertHoldsTheFixture(Journal j, boolean clean) {
        List<PendingRequest> pending = j.pending();
        assertThat(pending).extracting(PendingRequest::requestId).containsExactly("r1", "r2", "r3");
        assertThat(pending.get(0).attempts()).isEqualTo(1);
        assertThat(pending.get(0).lastFailureReason()).isEqualTo("first failure");
        assertThat(pending.get(1).customData()).isEqualTo(Map.of("tenant", "t2"));
        assertThat(pending.get(2).request().idempotencyKey()).isEqualTo("key-3");
        assertThat(new String(pending.get(2).request().body(), StandardCharsets.UTF_8)).isEqualTo("BODY-3");
        assertThat(pending.get(0).previousShutdownClean()).isEqualTo(clean);
        assertThat(j.quarantined()).singleElement().satisfies(q -> {
            assertThat(q.requestId()).isEqualTo("r4");
            assertThat(q.quarantineReason()).isEqualTo("poison");
        });
        assertThat(j.findByIdempotencyKey("key-0")).contains(new StoredResponse(201,
                List.of(new HttpHeader("Location", "/o/0")), "ANSWER-0".getBytes(StandardCharsets.UTF_8)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"clear", "encrypted", "clean"})
    void aJournalOfFormatOneOpensWithEveryRecordAndIsConverted(String name) throws IOException {
        Path dir = fixture(name, tmp.resolve(name));
        assertThat(formatOneSegments(dir)).hasSize(1);
        try (Journal j = JournalFiles.open(config(dir, name))) {
            assertHoldsTheFixture(j, name.equals("clean"));
            assertThat(formatOneSegments(dir)).as("converted, then deleted").isEmpty();
            if (name.equals("encrypted")) {
                assertThat(filesHold(dir, "BODY-3")).as("converted sealed").isFalse();
            }
        }
        try (Journal j = JournalFiles.open(config(dir, name))) {
            // the conversion does not count as journaling after the clean-shutdown mark
            assertHoldsTheFixture(j, name.equals("clean"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"clear", "encrypted"})
    void oldFilesLeftByACrashAfterTheConversionAreDeletedNotReadAgain(String name) throws IOException {
        Path dir = fixture(name, tmp.resolve(name));
        Path old = formatOneSegments(dir).getFirst();
        byte[] bytes = Files.readAllBytes(old);
        try (Journal j = JournalFiles.open(config(dir, name))) {
            j.append(io.stellane.recovery.testing.TestRequests.request("after"));
            j.complete("r1", null);
        }
        Files.write(old, bytes); // as if the process died before deleting it
        try (Journal j = JournalFiles.open(config(dir, name))) {
            assertThat(j.pending()).extracting(PendingRequest::requestId).containsExactly("r2", "r3", "after");
        }
        assertThat(formatOneSegments(dir)).isEmpty();
    }
}
