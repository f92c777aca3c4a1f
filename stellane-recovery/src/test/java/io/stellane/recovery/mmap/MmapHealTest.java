package io.stellane.recovery.mmap;

import io.stellane.recovery.Journal;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.SyncPolicy;
import io.stellane.recovery.testing.StderrCapture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import static io.stellane.recovery.testing.TestRequests.request;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * How the mmap store comes back from a failed force, and that it gives the space of compacted segments
 * back at once. A failing disk is simulated by an msync that throws, as {@link Segment#force} does when
 * the kernel reports a writeback error; the full-disk path runs on a real tmpfs in the server's
 * JournalDiskFullTest.
 */
class MmapHealTest {
    private static final int SEGMENT = 64 * 1024;

    @TempDir
    Path tmp;

    /** Forces for real unless told to fail; records what was forced while it works. */
    static final class FlakyMsync implements MmapStorage.Msync {
        record Forced(String segment, int from, int to) {
        }

        volatile boolean failing;
        final AtomicInteger refused = new AtomicInteger();
        final List<Forced> forced = new CopyOnWriteArrayList<>();

        @Override
        public void force(Segment segment, int from, int to) {
            if (failing) {
                refused.incrementAndGet();
                throw new RecoveryException("msync of " + segment.path + " failed: Input/output error");
            }
            forced.add(new Forced(segment.toString(), from, to));
            segment.force(from, to);
        }
    }

    private static RecoveryStoreConfig config(Path dir) {
        return RecoveryStoreConfig.defaults(dir).withSyncPolicy(SyncPolicy.ALWAYS).withSegmentSize(SEGMENT)
                .withMaxJournalBytes(8L * SEGMENT);
    }

    @Test
    void afterAFailedForceWritesAreRefusedUntilEverySegmentIsRewrittenAndForced() {
        Path dir = tmp.resolve("j");
        FlakyMsync msync = new FlakyMsync();
        try (Journal s = JournalFiles.open(config(dir), msync)) {
            for (int i = 0; i < 200; i++) { // a few segments' worth, half of it (more than a segment) still pending
                s.append(request("r" + i, null, 900));
                if (i % 2 == 1) {
                    s.complete("r" + i, null);
                }
            }
            assertThat(JournalFiles.segments(dir)).hasSizeGreaterThan(1);

            msync.failing = true;
            assertThatThrownBy(() -> s.append(request("during", null, 900))).isInstanceOf(RecoveryException.class)
                    .hasMessageContaining("Input/output error");
            assertThat(s.fault()).isPresent();
            assertThatThrownBy(() -> s.append(request("refused", null, 10)))
                    .hasMessageContaining("refuses writes after a failed sync");
            int before = msync.refused.get();
            await("two more healing passes, both refused", () -> msync.refused.get() >= before + 2);
            assertThat(s.fault()).as("still failing: still refusing").isPresent();

            msync.forced.clear();
            msync.failing = false;
            await("healed", () -> s.fault().isEmpty());

            // every live segment forced from its first byte, not from where the last good force ended:
            // the pages that failed may be marked clean, so a partial force could skip them
            Set<String> rewritten = new HashSet<>();
            for (FlakyMsync.Forced f : msync.forced) {
                if (f.from() == 0) {
                    rewritten.add(f.segment());
                }
            }
            Set<String> live = new HashSet<>();
            JournalFiles.segments(dir).forEach(p -> live.add(p.getFileName().toString()));
            assertThat(rewritten).isEqualTo(live);

            s.append(request("after", null, 900));
        }
        // what survives a restart: every pending request, the one whose force failed included (it was
        // in the mapping, and the rewrite made it durable; the caller was told it failed: at-least-once)
        try (Journal reopened = JournalFiles.open(config(dir))) {
            List<String> ids = reopened.pending().stream().map(PendingRequest::requestId).toList();
            for (int i = 0; i < 200; i += 2) {
                assertThat(ids).contains("r" + i);
            }
            assertThat(ids).contains("during", "after").doesNotContain("refused", "r1", "r199");
        }
    }

    @Test
    void aJournalWhosePagesNoLongerHoldWhatWasWrittenStaysRefusingWrites() throws IOException {
        Path dir = tmp.resolve("j");
        FlakyMsync msync = new FlakyMsync();
        try (Journal s = JournalFiles.open(config(dir), msync)) {
            for (int i = 0; i < 10; i++) {
                s.append(request("r" + i, null, 200));
            }
            msync.failing = true;
            assertThatThrownBy(() -> s.append(request("during", null, 200))).isInstanceOf(RecoveryException.class);
            // as if the kernel had dropped a page whose writeback failed and read stale bytes back:
            // the file and the mapping share the page cache
            try (FileChannel ch = FileChannel.open(JournalFiles.segments(dir).getLast(), StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(new byte[] {0x5a, 0x5a, 0x5a, 0x5a}), Segment.FILE_HEADER + 40);
            }
            int forcedBefore = msync.forced.size();
            try (StderrCapture log = StderrCapture.start()) {
                msync.failing = false;
                await("a healing pass that finds the damage",
                        () -> String.join("\n", log.lines()).contains("cannot heal after a failed sync"));
                assertThat(String.join("\n", log.lines())).contains("CRC32C mismatch");
            }
            assertThat(s.fault()).as("never heals over a hole").isPresent();
            assertThat(msync.forced).as("nothing rewritten").hasSize(forcedBefore);
            assertThatThrownBy(() -> s.append(request("refused", null, 10)))
                    .hasMessageContaining("refuses writes after a failed sync");
        }
    }

    @Test
    void aCompactedSegmentIsUnmappedSoItsSpaceIsFreedAtOnce() throws IOException {
        Path dir = tmp.resolve("j");
        RecoveryStoreConfig config = config(dir).withSyncPolicy(SyncPolicy.NONE);
        try (Journal s = JournalFiles.open(config)) {
            for (int i = 0; i < 400; i++) { // ~6 segments written, each compacted away: nothing stays pending
                s.append(request("r" + i, null, 900));
                s.complete("r" + i, null);
            }
            await("compacted segments deleted", () -> JournalFiles.segments(dir).size() <= 2);
            // a deleted file keeps its blocks while it is mapped; the garbage collector would unmap it
            // only whenever it gets to the buffer
            await("no deleted segment still mapped", () -> deletedMappings(dir).isEmpty());
        }
        assertThat(deletedMappings(dir)).isEmpty();
        assertThat(liveMappings(dir)).as("close unmaps every segment").isEmpty();
    }

    private static List<String> deletedMappings(Path dir) {
        return liveMappings(dir).stream().filter(l -> l.endsWith("(deleted)")).toList();
    }

    private static List<String> liveMappings(Path dir) {
        try {
            String prefix = dir.toAbsolutePath().toString() + "/";
            return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(l -> l.contains(prefix)).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("not within 10 s: " + what);
            }
            LockSupport.parkNanos(1_000_000);
        }
    }
}
