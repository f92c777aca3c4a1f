package io.stellane.recovery.mmap;

import io.stellane.recovery.Journal;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStoreStats;
import io.stellane.recovery.SyncPolicy;
import io.stellane.recovery.testing.MutableClock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;

import static io.stellane.recovery.testing.TestRequests.KEY;
import static io.stellane.recovery.testing.TestRequests.OTHER_KEY;
import static io.stellane.recovery.testing.TestRequests.await;
import static io.stellane.recovery.testing.TestRequests.crashCopy;
import static io.stellane.recovery.testing.TestRequests.filesHold;
import static io.stellane.recovery.testing.TestRequests.request;
import static io.stellane.recovery.testing.TestRequests.response;
import static io.stellane.recovery.testing.TestRequests.secretRequest;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Damage and lifecycle tests specific to the memory-mapped journal. */
class MmapJournalTest {
    private static final int SEGMENT = 64 * 1024;

    @TempDir
    Path tmp;

    private static RecoveryStoreConfig config(Path dir) {
        return RecoveryStoreConfig.defaults(dir).withSyncPolicy(SyncPolicy.NONE).withSegmentSize(SEGMENT)
                .withMaxJournalBytes(4L * SEGMENT);
    }

    private static Journal open(Path dir) {
        return JournalFiles.open(config(dir));
    }

    private static List<String> pendingIds(Path dir) {
        try (Journal s = open(dir)) {
            return s.pending().stream().map(PendingRequest::requestId).toList();
        }
    }

    /** Journals {@code n} requests of varied sizes into one segment; returns each frame's end offset. */
    private static List<JournaledRequest> journal(Path dir, int n) {
        List<JournaledRequest> requests = new ArrayList<>();
        try (Journal s = open(dir)) {
            for (int i = 0; i < n; i++) {
                JournaledRequest r = request("r" + i, i % 2 == 0 ? "k" + i : null, 13 * i + 1);
                s.append(r);
                requests.add(r);
            }
        }
        return requests;
    }

    private static long frameStart(List<JournaledRequest> requests, int index) {
        long off = Segment.FILE_HEADER;
        for (int i = 0; i < index; i++) {
            off += JournalFiles.requestFrameSize(requests.get(i));
        }
        return off;
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 1, 99, 1_000_000_007L, Long.MAX_VALUE})
    void segmentFileNamesAreZeroPaddedToTwentyDigitsAndParseBack(long baseSeq) {
        String name = Segment.fileName(baseSeq);
        assertThat(name).matches("seg-[0-9]{20}\\.log");
        assertThat(Segment.parseBaseSeq(name)).isEqualTo(baseSeq);
        if (baseSeq > 0) { // names sort as their sequences do, so a listing of the directory is in journal order
            assertThat(Segment.fileName(baseSeq - 1)).isLessThan(name);
        }
    }

    @Test
    void tornTailAtRandomOffsetsLosesOnlyThePartialRecord() {
        Path dir = tmp.resolve("j");
        List<JournaledRequest> requests = journal(dir, 20);
        long end = frameStart(requests, requests.size());
        long seed = System.nanoTime();
        Random random = new Random(seed);
        for (int round = 0; round < 25; round++) {
            long cut = Segment.FILE_HEADER + (long) (random.nextDouble() * (end - Segment.FILE_HEADER + 1));
            Path copy = crashCopy(dir, tmp.resolve("cut-" + round));
            JournalFiles.truncate(JournalFiles.segments(copy).getFirst(), cut);
            int intact = 0;
            while (intact < requests.size()
                    && frameStart(requests, intact) + FrameWriter.HEADER
                    + payloadLength(requests.get(intact)) <= cut) {
                intact++;
            }
            List<String> expected = requests.subList(0, intact).stream().map(JournaledRequest::requestId).toList();
            assertThat(pendingIds(copy)).as("seed %d, cut at %d", seed, cut).containsExactlyElementsOf(expected);

            try (Journal s = open(copy)) { // the journal stays writable after the cut
                s.append(request("after-cut"));
            }
            assertThat(pendingIds(copy)).as("seed %d, cut at %d", seed, cut).endsWith("after-cut")
                    .hasSize(intact + 1);
        }
    }

    @ParameterizedTest(name = "cut to {0} bytes")
    @ValueSource(ints = {16, 20, 40})
    void segmentCutShorterThanOneRecordStillRollsSafely(int cut) {
        Path dir = tmp.resolve("j");
        journal(dir, 3);
        JournalFiles.truncate(JournalFiles.segments(dir).getFirst(), cut);
        try (Journal s = open(dir)) {
            assertThat(s.pending()).isEmpty();
            s.append(request("a", null, 100));
            s.append(request("b", null, 100));
        }
        assertThat(pendingIds(dir)).containsExactly("a", "b");
    }

    private static int payloadLength(JournaledRequest r) {
        return JournalFiles.requestPayload(r).length;
    }

    @ParameterizedTest(name = "bit flipped at frame offset {0}")
    @ValueSource(ints = {0, 3, 5, 8, 9, 20, 23, 24, 40, 60})
    void flippedBitRejectsTheRecordAndWarns(int offsetInFrame) {
        Path dir = tmp.resolve("j");
        List<JournaledRequest> requests = journal(dir, 5);
        Path segment = JournalFiles.segments(dir).getFirst();
        long frame = frameStart(requests, 2);
        JournalFiles.flipBit(segment, frame + offsetInFrame, offsetInFrame % 8);

        AtomicReference<List<String>> pending = new AtomicReference<>();
        String log = JournalFiles.stderrOf(() -> pending.set(pendingIds(dir)));

        assertThat(pending.get()).containsExactly("r0", "r1");
        assertThat(log).contains("WARN").contains(segment.getFileName().toString()).contains("offset " + frame);
    }

    @Test
    void garbageAfterTheEndIsIgnoredAndZeroed() {
        Path dir = tmp.resolve("j");
        List<JournaledRequest> requests = journal(dir, 3);
        Path segment = JournalFiles.segments(dir).getFirst();
        long end = frameStart(requests, 3);
        byte[] garbage = new byte[100];
        new Random(42).nextBytes(garbage);
        JournalFiles.write(segment, end + 64, garbage);

        String log = JournalFiles.stderrOf(() -> assertThat(pendingIds(dir)).containsExactly("r0", "r1", "r2"));
        assertThat(log).contains("non-zero bytes after the end");
        assertThat(JournalFiles.endOfData(segment)).isEqualTo(end - trailingZeros(requests.get(2)));

        try (Journal s = open(dir)) {
            s.append(request("r3"));
            s.append(request("r4", null, 300));
        }
        assertThat(pendingIds(dir)).containsExactly("r0", "r1", "r2", "r3", "r4");
    }

    private static int trailingZeros(JournaledRequest last) {
        byte[] payload = JournalFiles.requestPayload(last);
        int i = payload.length;
        int zeros = JournalFiles.requestFrameSize(last) - FrameWriter.HEADER - payload.length;
        while (i > 0 && payload[i - 1] == 0) {
            i--;
            zeros++;
        }
        return zeros;
    }

    @Test
    void staleFrameWithAnOldSequenceAfterTheEndIsNotReplayed() {
        Path dir = tmp.resolve("j");
        List<JournaledRequest> requests = journal(dir, 3);
        Path segment = JournalFiles.segments(dir).getFirst();
        int size = JournalFiles.requestFrameSize(requests.get(0));
        byte[] firstFrame = JournalFiles.read(segment, Segment.FILE_HEADER, size);
        JournalFiles.write(segment, frameStart(requests, 3), firstFrame); // valid CRC, old seq

        String log = JournalFiles.stderrOf(() -> assertThat(pendingIds(dir)).containsExactly("r0", "r1", "r2"));
        assertThat(log).contains("sequence");
    }

    @Test
    void aScanOfTheFilesWhileThreadsAppendFindsWholeRequestsOnly() throws Exception {
        // what a crash at any moment leaves: copies taken while three threads append and complete
        // and segments roll and compact. A frame's length is stored after its bytes, so a copy read
        // front to back never holds a frame that is not whole: nothing torn, nothing twice. It may hold
        // the bytes of a frame whose length it read as still zero (written between the two reads),
        // which a crash leaves too: that tail is zeroed with a warning, the only one allowed here
        Path dir = tmp.resolve("j");
        int threads = 3;
        int scans = 5;
        java.util.concurrent.atomic.AtomicInteger scanned = new java.util.concurrent.atomic.AtomicInteger();
        // and a retention short enough that the store also rewrites itself all along
        try (Journal s = JournalFiles.open(config(dir).withCompletedRetention(Duration.ofMillis(10)))) {
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
            try {
                List<java.util.concurrent.Future<?>> appenders = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    appenders.add(pool.submit(() -> {
                        for (int i = 0; scanned.get() < scans && i < 1_000_000; i++) {
                            s.append(request("t" + thread + "-" + i, null, 10 + i % 100));
                            if (i >= 16) { // sixteen pending per thread at any time
                                s.complete("t" + thread + "-" + (i - 16), null);
                            }
                        }
                    }));
                }
                for (int n = 0; n < scans; n++) {
                    Path copy = crashCopy(dir, tmp.resolve("scan-" + n));
                    AtomicReference<List<PendingRequest>> seen = new AtomicReference<>();
                    String log = JournalFiles.stderrOf(() -> {
                        try (Journal opened = open(copy)) {
                            seen.set(opened.pending());
                        }
                    });
                    assertThat(log.lines().filter(l -> l.contains("WARN"))
                            .filter(l -> !l.contains("non-zero bytes after the end of the log"))).isEmpty();
                    assertThat(seen.get()).extracting(PendingRequest::requestId).doesNotHaveDuplicates();
                    for (PendingRequest p : seen.get()) {
                        int i = Integer.parseInt(p.requestId().substring(p.requestId().indexOf('-') + 1));
                        assertThat(p.request()).isEqualTo(request(p.requestId(), null, 10 + i % 100));
                    }
                    scanned.incrementAndGet();
                }
                for (java.util.concurrent.Future<?> f : appenders) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void theNextSegmentIsPreparedAheadOwnerOnlyAndALeftoverSpareIsIgnoredOnOpen() throws Exception {
        Path dir = tmp.resolve("j");
        Path spare = dir.resolve(Segment.SPARE);
        try (Journal s = open(dir)) {
            awaitFile(spare);
            assertThat(Files.getPosixFilePermissions(spare)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
            Path first = JournalFiles.segments(dir).getFirst();
            int i = 0;
            while (JournalFiles.segments(dir).contains(first) && JournalFiles.segments(dir).size() < 2) {
                s.append(request("r" + i, null, 400)); // until the spare became the second segment
                i++;
            }
            awaitFile(spare); // and the one after it is on its way
            crashCopy(dir, tmp.resolve("crashed"));
        }
        // a crash leaves a spare behind: open must neither trip over it nor read records from it
        Path crashed = tmp.resolve("crashed");
        Files.write(crashed.resolve(Segment.SPARE), new byte[] {1, 2, 3});
        try (Journal s = open(crashed)) {
            assertThat(s.pending()).extracting(p -> p.request().requestId()).startsWith("r0", "r1").doesNotHaveDuplicates();
        }
        assertThat(JournalFiles.journalFiles(crashed)).allMatch(f -> f.getFileName().toString().endsWith(".log"));
    }

    private static void awaitFile(Path file) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!Files.exists(file)) {
            assertThat(System.nanoTime()).as("waiting for " + file).isLessThan(deadline);
            Thread.onSpinWait();
            Thread.yield();
        }
    }

    @Test
    void segmentsRollAndCompactionKeepsDiskBoundedAndLiveRecordsAlive() {
        Path dir = tmp.resolve("j");
        Path first;
        try (Journal s = open(dir)) {
            first = JournalFiles.segments(dir).getFirst();
            s.append(request("pinned", "pk", 100));
            s.recordAttempt("pinned", "crash loop");
            s.putCustomData("pinned", Map.of("step", "charged"));
            s.append(request("answered", "ak", 10));
            s.complete("answered", response("kept for retries"));
            for (int i = 0; i < 3000; i++) {
                s.append(request("r" + i, null, 400));
                s.complete("r" + i, null);
                if (i % 50 == 0) {
                    RecoveryStoreStats stats = s.stats();
                    assertThat(stats.segments()).isLessThanOrEqualTo(4);
                    assertThat(stats.bytesOnDisk()).isLessThanOrEqualTo(4L * SEGMENT);
                    // files, the prepared spare included (the maintenance thread may be deleting one right now)
                    assertThat(JournalFiles.journalFiles(dir)).hasSizeLessThanOrEqualTo(4);
                }
            }
        }
        // compacted segments are deleted by the maintenance thread, at the latest by close
        assertThat(JournalFiles.segments(dir)).hasSizeLessThanOrEqualTo(2).doesNotContain(first);
        assertThat(JournalFiles.journalFiles(dir)).allMatch(f -> f.getFileName().toString().endsWith(".log"));
        try (Journal s = open(dir)) {
            assertThat(s.pending()).singleElement().satisfies(p -> {
                assertThat(p.request()).isEqualTo(request("pinned", "pk", 100));
                assertThat(p.attempts()).isEqualTo(1);
                assertThat(p.lastFailureReason()).isEqualTo("crash loop");
                assertThat(p.customData()).containsEntry("step", "charged");
            });
            assertThat(s.findByIdempotencyKey("ak")).contains(response("kept for retries"));
        }
    }

    @Test
    void aGroupLargerThanASegmentIsOnFileAcrossTheRollWhenAppendAllReturns() {
        Path dir = tmp.resolve("j");
        List<JournaledRequest> group = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            group.add(request("g" + i, null, 1024)); // ~110 KiB: the group rolls past a 64 KiB segment
        }
        Path copy;
        try (Journal s = open(dir)) {
            assertThat(s.appendAll(group)).containsOnlyNulls();
            copy = crashCopy(dir, tmp.resolve("crashed")); // what the file holds now, with no close
        }
        assertThat(pendingIds(copy)).containsExactlyElementsOf(group.stream().map(JournaledRequest::requestId).toList());
    }

    @Test
    void filesAre0600AndTheDirectoryIs0700() throws Exception {
        Path dir = tmp.resolve("nested/journal");
        try (Journal s = open(dir)) {
            s.append(request("a"));
        }
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).as(f.toString())
                        .isEqualTo("rw-------");
            }
        }
        assertThat(JournalFiles.segments(dir)).hasSize(1);
        assertThat(Files.size(JournalFiles.segments(dir).getFirst())).isEqualTo(SEGMENT); // preallocated
    }

    @Test
    void anExistingLooserDirectoryIsNarrowedTo0700() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("made-by-someone-else"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        try (Journal s = open(dir)) {
            s.append(request("a"));
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
        }
    }

    @ParameterizedTest
    @EnumSource(SyncPolicy.class)
    void everySyncPolicySurvivesProcessDeath(SyncPolicy policy) {
        Path dir = tmp.resolve("j");
        RecoveryStoreConfig config = config(dir).withSyncPolicy(policy).withSyncInterval(Duration.ofMillis(1));
        try (Journal live = JournalFiles.open(config)) {
            live.append(request("a"));
            live.append(request("b"));
            live.complete("a", null);
            Path copy = crashCopy(dir, tmp.resolve("killed"));
            try (Journal recovered = JournalFiles.open(config.withPath(copy))) {
                assertThat(recovered.pending()).extracting(PendingRequest::requestId).containsExactly("b");
            }
        }
    }

    @Test
    void segmentWithCorruptFileHeaderIsMovedAsideNotDeleted() {
        Path dir = tmp.resolve("j");
        journal(dir, 2);
        Path segment = JournalFiles.segments(dir).getFirst();
        JournalFiles.flipBit(segment, 0, 1);

        String log = JournalFiles.stderrOf(() -> assertThat(pendingIds(dir)).isEmpty());
        assertThat(log).contains("invalid file header");
        assertThat(segment.resolveSibling(segment.getFileName() + ".corrupt")).exists();
    }

    @Test
    void clearRecordsOfAJournalNowEncryptedAreRewrittenSealedWithinTheRetention() {
        Path dir = tmp.resolve("j");
        try (Journal s = open(dir)) {
            s.append(secretRequest("old", "key-old", "OLD-SECRET"));
        }
        assertThat(filesHold(dir, "OLD-SECRET")).isTrue();
        RecoveryStoreConfig encrypted = config(dir).withEncryptionKey(KEY)
                .withCompletedRetention(Duration.ofMillis(50));
        try (Journal s = JournalFiles.open(encrypted)) {
            await("the clear record rewritten sealed", () -> !filesHold(dir, "OLD-SECRET"));
            assertThat(s.pending()).singleElement().extracting(PendingRequest::request)
                    .isEqualTo(secretRequest("old", "key-old", "OLD-SECRET"));
        }
        try (Journal s = JournalFiles.open(encrypted)) {
            assertThat(s.pending()).extracting(PendingRequest::requestId).containsExactly("old");
        }
    }

    @Test
    void anEncryptedFrameThatDoesNotOpenFailsTheOpenInsteadOfEndingTheScan() throws Exception {
        Path dir = tmp.resolve("j");
        try (Journal s = JournalFiles.open(config(dir).withEncryptionKey(KEY))) {
            s.append(request("a"));
            s.append(request("b"));
        }
        // without the fingerprint the open cannot refuse early; the scan must not skip what it cannot read
        Files.delete(dir.resolve(MmapStorage.KEY_FINGERPRINT_FILE));
        assertThatThrownBy(() -> JournalFiles.open(config(dir).withEncryptionKey(OTHER_KEY)))
                .isInstanceOf(RecoveryException.class)
                .hasMessageContainingAll("does not decrypt", OTHER_KEY.fingerprint(), "request a");
        assertThat(dir.resolve(MmapStorage.KEY_FINGERPRINT_FILE)).as("a failed open claims nothing")
                .doesNotExist();
        assertThatThrownBy(() -> JournalFiles.open(config(dir)))
                .isInstanceOf(RecoveryException.class)
                .hasMessageContaining("holds encrypted records").hasMessageContaining("no encryption key");
        try (Journal s = JournalFiles.open(config(dir).withEncryptionKey(KEY))) {
            assertThat(s.pending()).extracting(PendingRequest::requestId).containsExactly("a", "b");
        }
    }

    @Test
    void aRewriteOfAQuietJournalDeletesTheSegmentThatHeldTheCompletedRequest() throws Exception {
        Path dir = tmp.resolve("j");
        RecoveryStoreConfig cfg = config(dir).withCompletedRetention(Duration.ofMillis(50));
        try (Journal s = JournalFiles.open(cfg)) {
            awaitFile(dir.resolve(Segment.SPARE));
            Path first = JournalFiles.segments(dir).getFirst();
            s.append(secretRequest("done", null, "DONE-SECRET"));
            s.append(secretRequest("kept", null, "KEPT-SECRET"));
            s.complete("done", null);
            await("the segment holding the completed request deleted", () -> !Files.exists(first));
            assertThat(filesHold(dir, "DONE-SECRET")).isFalse();
            assertThat(filesHold(dir, "KEPT-SECRET")).isTrue();
            s.append(request("more", null, SEGMENT / 2));
            s.append(request("roll", null, SEGMENT / 2)); // does not fit: the journal rolls on as before
        }
        try (Journal s = JournalFiles.open(cfg)) {
            assertThat(s.pending()).extracting(PendingRequest::requestId).containsExactly("kept", "more", "roll");
        }
    }

    @Test
    void anExpiredResponseGoesAfterACleanShutdownMarkAndTheMarkIsWrittenAgain() {
        Path dir = tmp.resolve("j");
        MutableClock clock = new MutableClock(java.time.Instant.parse("2030-01-01T00:00:00Z"));
        RecoveryStoreConfig cfg = config(dir).withClock(clock).withIdempotencyTtl(Duration.ofMinutes(1))
                .withCompletedRetention(Duration.ofMillis(100));
        try (Journal s = JournalFiles.open(cfg)) {
            s.append(secretRequest("a", "key-a", "REQUEST-SECRET"));
            s.complete("a", response("RESPONSE-SECRET"));
            s.append(request("p"));
            s.markCleanShutdown(); // the completed request goes now (its old segment is deleted in the background)
            await("the completed request rewritten away", () -> !filesHold(dir, "REQUEST-SECRET"));
            assertThat(filesHold(dir, "RESPONSE-SECRET")).as("kept for the TTL").isTrue();

            clock.advance(Duration.ofMinutes(2));
            await("the expired response rewritten away", () -> {
                clock.advance(Duration.ofMillis(20));
                return !filesHold(dir, "RESPONSE-SECRET");
            });
            Path copy = crashCopy(dir, tmp.resolve("after-kill"));
            try (Journal reopened = JournalFiles.open(cfg.withPath(copy))) {
                assertThat(reopened.pending()).singleElement().satisfies(p -> {
                    assertThat(p.requestId()).isEqualTo("p");
                    assertThat(p.previousShutdownClean()).as("nothing was journaled after the mark").isTrue();
                });
            }
        }
    }

    @Test
    void unfinishedSegmentCreationIsCleanedUp() throws Exception {
        Path dir = tmp.resolve("j");
        journal(dir, 1);
        Path leftover = dir.resolve(Segment.fileName(99) + ".tmp");
        Files.write(leftover, new byte[10]);
        assertThat(pendingIds(dir)).containsExactly("r0");
        assertThat(leftover).doesNotExist();
    }

}
