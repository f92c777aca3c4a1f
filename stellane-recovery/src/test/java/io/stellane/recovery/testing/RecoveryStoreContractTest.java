package io.stellane.recovery.testing;

import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStoreStats;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.SyncPolicy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.stellane.recovery.testing.TestRequests.KEY;
import static io.stellane.recovery.testing.TestRequests.OTHER_KEY;
import static io.stellane.recovery.testing.TestRequests.request;
import static io.stellane.recovery.testing.TestRequests.response;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The conformance suite every journal storage passes: a storage is done when its subclass is
 * green. Subclasses supply {@link #open}; "crash" means reopening without
 * {@link RecoveryStore#markCleanShutdown()}, or opening a copy of a live directory.
 */
public abstract class RecoveryStoreContractTest {
    @TempDir
    protected Path tmp;
    protected MutableClock clock;
    private final List<RecoveryStore> opened = new ArrayList<>();

    /** Opens (creating or recovering) the store under test at {@code dir}. */
    protected abstract RecoveryStore open(Path dir, RecoveryStoreConfig config);

    /** The configuration the suite uses; small enough to keep the suite fast. */
    protected RecoveryStoreConfig config(Path dir) {
        return RecoveryStoreConfig.defaults(dir)
                .withSyncPolicy(SyncPolicy.INTERVAL)
                .withSyncInterval(Duration.ofMillis(5))
                .withSegmentSize(1 << 20)
                .withMaxJournalBytes(64L << 20)
                .withIdempotencyTtl(Duration.ofMinutes(10))
                .withMaxAttempts(3)
                .withClock(clock);
    }

    /** A configuration whose journal fills after roughly a few hundred 1 KiB requests. */
    protected RecoveryStoreConfig smallJournalConfig(Path dir) {
        return config(dir).withSegmentSize(64 * 1024).withMaxJournalBytes(4 * 64 * 1024);
    }

    @BeforeEach
    void newClock() {
        clock = new MutableClock(Instant.parse("2030-01-01T00:00:00Z"));
    }

    @AfterEach
    void closeAll() {
        opened.forEach(RecoveryStore::close);
    }

    protected RecoveryStore openTracked(Path dir, RecoveryStoreConfig config) {
        RecoveryStore s = open(dir, config);
        opened.add(s);
        return s;
    }

    /**
     * What a process killed now would leave at {@code target}: a copy of the store's files, by
     * default. A storage without files copies what it holds instead.
     */
    protected Path crashCopy(Path dir, Path target) {
        return TestRequests.crashCopy(dir, target);
    }

    /**
     * The places under {@code dir} (files, by default) that hold {@code text}'s bytes; a storage
     * without files names {@code dir} while it holds them.
     */
    protected List<Path> filesHolding(Path dir, String text) {
        return TestRequests.filesHolding(dir, text);
    }

    private boolean filesHold(Path dir, String text) {
        return !filesHolding(dir, text).isEmpty();
    }

    private RecoveryStore openAt(Path dir) {
        return openTracked(dir, config(dir));
    }

    private static List<String> ids(List<PendingRequest> list) {
        return list.stream().map(PendingRequest::requestId).toList();
    }

    @Test
    void appendedRequestsArePendingUntilCompletedAcrossReopen() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        JournaledRequest a = request("a", "key-a", 100);
        s.append(a);
        s.append(request("b"));
        s.append(request("c"));
        s.complete("b", null);
        assertThat(ids(s.pending())).containsExactly("a", "c");
        s.close();

        RecoveryStore crashed = openAt(dir);
        List<PendingRequest> pending = crashed.pending();
        assertThat(ids(pending)).containsExactly("a", "c");
        assertThat(pending.getFirst().request()).isEqualTo(a);
        assertThat(pending.getFirst().request().body()).isEqualTo(a.body());
        assertThat(pending.getFirst().attempts()).isZero();
        assertThat(pending.getFirst().previousShutdownClean()).isFalse();
        assertThat(pending.getFirst().failureReason()).isEqualTo(PendingRequest.PROCESS_CRASHED);
        crashed.markCleanShutdown();
        crashed.close();

        RecoveryStore clean = openAt(dir);
        assertThat(ids(clean.pending())).containsExactly("a", "c");
        assertThat(clean.pending().getFirst().previousShutdownClean()).isTrue();
        assertThat(clean.pending().getFirst().failureReason()).isEqualTo(PendingRequest.INTERRUPTED_BY_SHUTDOWN);
        clean.complete("a", response("done"));
        clean.complete("c", null);
        clean.close();

        assertThat(openAt(dir).pending()).isEmpty();
    }

    @Test
    void aSecondCleanShutdownMarkKeepsTheFirstAndAWriteAfterEndsBoth() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        s.append(request("a"));
        s.markCleanShutdown();
        s.markCleanShutdown();
        s.close();
        RecoveryStore clean = openAt(dir);
        assertThat(clean.pending().getFirst().previousShutdownClean()).isTrue();
        clean.markCleanShutdown();
        clean.putCustomData("a", Map.of("late", "write"));
        clean.close();
        assertThat(openAt(dir).pending().getFirst().previousShutdownClean()).isFalse();
    }

    @Test
    void groupsAppendAndCompleteAsOnesWouldWithFailuresByIndex() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        s.append(request("old"));
        List<RuntimeException> appended = s.appendAll(List.of(request("g1", "key-1", 64), request("old"),
                request("g2"), request("g3", null, 2048)));
        assertThat(appended).hasSize(4);
        assertThat(appended.get(0)).isNull();
        assertThat(appended.get(1)).isInstanceOf(RecoveryException.class).hasMessageContaining("already journaled");
        assertThat(appended.get(2)).isNull();
        assertThat(appended.get(3)).isNull();
        assertThat(ids(s.pending())).containsExactly("old", "g1", "g2", "g3");
        s.putCustomData("g2", Map.of("step", "1")); // a request with state takes the store's other path

        List<RuntimeException> completed = s.completeAll(List.of("g1", "never", "g2", "old"),
                java.util.Arrays.asList(response("kept"), null, null, null));
        assertThat(completed.get(0)).isNull();
        assertThat(completed.get(1)).isInstanceOf(RecoveryException.class).hasMessageContaining("never");
        assertThat(completed.get(2)).isNull();
        assertThat(completed.get(3)).isNull();
        assertThat(ids(s.pending())).containsExactly("g3");
        assertThat(s.findByIdempotencyKey("key-1")).contains(response("kept"));
        assertThat(s.stats().journaled()).isEqualTo(4);
        assertThat(s.stats().completed()).isEqualTo(3);

        RecoveryStore recovered = openAt(crashCopy(dir, tmp.resolve("after-kill")));
        assertThat(ids(recovered.pending())).containsExactly("g3");
        assertThat(recovered.pending().getFirst().request()).isEqualTo(request("g3", null, 2048));
        assertThat(recovered.findByIdempotencyKey("key-1")).contains(response("kept"));
    }

    @Test
    void aGroupThatDoesNotFitAFullJournalFailsWithoutLosingWhatWasJournaled() {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = smallJournalConfig(dir);
        RecoveryStore s = openTracked(dir, cfg);
        List<String> acknowledged = new ArrayList<>();
        boolean refused = false;
        for (int g = 0; g < 10_000 && !refused; g++) {
            List<JournaledRequest> group = List.of(request("a" + g, null, 1024), request("b" + g, null, 1024));
            List<RuntimeException> failures = s.appendAll(group);
            for (int i = 0; i < 2; i++) {
                if (failures.get(i) == null) {
                    acknowledged.add(group.get(i).requestId());
                } else {
                    assertThat(failures.get(i)).isInstanceOf(JournalFullException.class);
                    refused = true;
                }
            }
        }
        assertThat(refused).as("journal never filled").isTrue();
        assertThat(ids(s.pending())).containsExactlyElementsOf(acknowledged);
        List<StoredResponse> none = java.util.Collections.nCopies(acknowledged.size(), null);
        assertThat(s.completeAll(acknowledged, none)).containsOnlyNulls();
        assertThat(s.appendAll(List.of(request("x", null, 1024), request("y", null, 1024)))).containsOnlyNulls();
        s.close();
        assertThat(ids(openTracked(dir, cfg).pending())).containsExactly("x", "y");
    }

    @Test
    void groupsOfEverySizeFromPlatformAndVirtualThreadsComeBackByteForByte() throws Exception {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        // small, larger than a first buffer, larger than any reused buffer; twice on one thread so
        // buffers that grew are reused
        List<JournaledRequest> platform = List.of(request("p1", null, 100), request("p2", "k2", 10_000),
                request("p3", null, 100_000), request("p4", null, 50));
        List<JournaledRequest> again = List.of(request("p5", null, 9_000), request("p6", null, 10));
        List<JournaledRequest> virtual = List.of(request("v1", null, 100), request("v2", null, 100_000));
        assertThat(s.appendAll(platform)).containsOnlyNulls();
        assertThat(s.appendAll(again)).containsOnlyNulls();
        List<List<RuntimeException>> fromVirtual = new ArrayList<>();
        Thread.ofVirtual().start(() -> fromVirtual.add(s.appendAll(virtual))).join();
        assertThat(fromVirtual.getFirst()).containsOnlyNulls();
        List<JournaledRequest> all = new ArrayList<>(platform);
        all.addAll(again);
        all.addAll(virtual);
        assertThat(s.pending()).extracting(PendingRequest::request).containsExactlyElementsOf(all);
        s.close();
        assertThat(openAt(dir).pending()).extracting(PendingRequest::request).containsExactlyElementsOf(all);
    }

    @Test
    void stateSurvivesProcessDeathWithoutClose() {
        Path dir = tmp.resolve("store");
        RecoveryStore live = openAt(dir);
        live.append(request("a"));
        live.append(request("b"));
        live.recordAttempt("a", "boom");
        live.putCustomData("b", Map.of("tenant", "t1"));
        live.complete("b", null);
        live.append(request("c"));

        RecoveryStore recovered = openAt(crashCopy(dir, tmp.resolve("after-kill")));
        assertThat(ids(recovered.pending())).containsExactly("a", "c");
        assertThat(recovered.pending().getFirst().attempts()).isEqualTo(1);
        assertThat(recovered.pending().getFirst().failureReason()).isEqualTo(PendingRequest.PROCESS_CRASHED);
    }

    @Test
    void attemptsPersistCountUpAndQuarantineAtTheLimit() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        s.append(request("a"));
        assertThat(s.recordAttempt("a", "process crashed")).isEqualTo(1);
        assertThat(s.recordAttempt("a", "timeout")).isEqualTo(2);
        s.close();

        s = openAt(dir);
        PendingRequest p = s.pending().getFirst();
        assertThat(p.attempts()).isEqualTo(2);
        assertThat(p.lastFailureReason()).isEqualTo("timeout");
        assertThat(s.recordAttempt("a", "oom")).isEqualTo(3);
        s.close();

        RecoveryStore last = openAt(dir);
        assertThat(last.pending().getFirst().attempts()).isEqualTo(3);
        assertThat(last.recordAttempt("a", "again")).isEqualTo(4); // over maxAttempts=3
        assertThat(last.pending()).isEmpty();
        assertThat(last.quarantined()).singleElement().satisfies(q -> {
            assertThat(q.requestId()).isEqualTo("a");
            assertThat(q.quarantineReason()).contains("3 attempts").contains("again");
            assertThat(q.isQuarantined()).isTrue();
        });
        assertThatThrownBy(() -> last.recordAttempt("a", "x")).isInstanceOf(RecoveryException.class)
                .hasMessageContaining("quarantined");
    }

    @Test
    void quarantineSurvivesReopenAndIsNeverPending() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        s.append(request("a"));
        s.append(request("b"));
        s.quarantine("a", "poison: handler halts the JVM");
        assertThat(ids(s.pending())).containsExactly("b");
        s.close();

        RecoveryStore reopened = openAt(dir);
        assertThat(ids(reopened.pending())).containsExactly("b");
        assertThat(reopened.quarantined()).singleElement().satisfies(q -> {
            assertThat(q.requestId()).isEqualTo("a");
            assertThat(q.quarantineReason()).isEqualTo("poison: handler halts the JVM");
            assertThat(q.quarantinedAt()).isEqualTo(clock.instant());
        });
        reopened.complete("a", null); // a manual replay succeeded
        assertThat(reopened.quarantined()).isEmpty();
    }

    @Test
    void customDataMergesAndSurvivesReopen() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        s.append(request("a"));
        s.putCustomData("a", Map.of("tenant", "t1", "step", "1"));
        s.putCustomData("a", Map.of("step", "2"));
        s.close();

        assertThat(openAt(dir).pending().getFirst().customData())
                .containsExactlyInAnyOrderEntriesOf(Map.of("tenant", "t1", "step", "2"));
    }

    @Test
    void customDataKeepsTheOrderItsKeysWereFirstPutIn() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        s.append(request("a"));
        s.putCustomData("a", Map.of("tenant", "t1"));
        s.putCustomData("a", Map.of("step", "1"));
        s.putCustomData("a", Map.of("note", "x"));
        s.putCustomData("a", Map.of("step", "2"));
        assertThat(s.pending().getFirst().customData()).containsExactly(
                Map.entry("tenant", "t1"), Map.entry("step", "2"), Map.entry("note", "x"));
        s.close();

        assertThat(openAt(dir).pending().getFirst().customData()).containsExactly(
                Map.entry("tenant", "t1"), Map.entry("step", "2"), Map.entry("note", "x"));
    }

    @Test
    void idempotentResponseIsFoundWithinTtlAndExpiresAfter() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        s.append(request("a", "key-a", 10));
        s.append(request("b", "key-b", 10));
        s.append(request("c", null, 10));
        assertThat(s.findByIdempotencyKey("key-a")).isEmpty(); // still running
        s.complete("a", response("first result"));
        s.complete("b", null);
        s.complete("c", response("no key"));
        assertThat(s.findByIdempotencyKey("key-a")).contains(response("first result"));
        assertThat(s.findByIdempotencyKey("key-b")).isEmpty();
        s.close();

        clock.advance(Duration.ofMinutes(9));
        s = openAt(dir);
        assertThat(s.findByIdempotencyKey("key-a")).contains(response("first result"));
        clock.advance(Duration.ofMinutes(1));
        assertThat(s.findByIdempotencyKey("key-a")).isEmpty();
        s.close();

        assertThat(openAt(dir).findByIdempotencyKey("key-a")).isEmpty();
    }

    @Test
    void statsMove() {
        RecoveryStore s = openAt(tmp.resolve("store"));
        RecoveryStoreStats before = s.stats();
        assertThat(before.journaled()).isZero();
        s.append(request("a"));
        s.append(request("b"));
        s.append(request("c"));
        s.complete("a", null);
        s.recordAttempt("b", "crash");
        s.quarantine("c", "poison");
        RecoveryStoreStats after = s.stats();
        assertThat(after.journaled()).isEqualTo(3);
        assertThat(after.completed()).isEqualTo(1);
        assertThat(after.attempts()).isEqualTo(1);
        assertThat(after.quarantined()).isEqualTo(1);
        assertThat(after.pending()).isEqualTo(1);
        assertThat(after.quarantinedNow()).isEqualTo(1);
        assertThat(after.bytesOnDisk()).isPositive();
        assertThat(after.segments()).isPositive();
    }

    @Test
    void manyRequestsKeepAppendOrder() {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 3000; i++) {
            String id = "r" + i;
            s.append(request(id, null, i % 200));
            if (i % 3 == 0) {
                s.complete(id, null);
            } else {
                expected.add(id);
            }
        }
        assertThat(ids(s.pending())).containsExactlyElementsOf(expected);
        s.close();
        RecoveryStore reopened = openAt(dir);
        assertThat(ids(reopened.pending())).containsExactlyElementsOf(expected);
        assertThat(reopened.pending().get(6).request()).isEqualTo(request("r10", null, 10));
    }

    @Test
    void concurrentAppendersWithAScannerLoseNothing() throws Exception {
        Path dir = tmp.resolve("store");
        RecoveryStore s = openAt(dir);
        int threads = 4;
        int perThread = 1000;
        ConcurrentLinkedQueue<String> expected = new ConcurrentLinkedQueue<>();
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        java.util.concurrent.atomic.AtomicBoolean appending = new java.util.concurrent.atomic.AtomicBoolean(true);
        try {
            // a scanner beside the appenders: every listing holds whole requests, each once
            Future<Integer> scanner = pool.submit(() -> {
                start.await();
                int scans = 0;
                while (appending.get() || scans == 0) {
                    List<PendingRequest> seen = s.pending();
                    assertThat(ids(seen)).doesNotHaveDuplicates();
                    for (PendingRequest p : seen) {
                        String id = p.requestId();
                        assertThat(p.request()).isEqualTo(request(id, "k-" + id, p.request().bodyLength()));
                        assertThat(p.request().bodyLength()).isLessThan(64);
                    }
                    scans++;
                }
                return scans;
            });
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                futures.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < perThread; i++) {
                        String id = JournaledRequest.newRequestId();
                        s.append(request(id, "k-" + id, i % 64));
                        if (i % 4 == 0) {
                            s.complete(id, response(id));
                        } else {
                            expected.add(id);
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
            appending.set(false);
            assertThat(scanner.get(60, TimeUnit.SECONDS)).isPositive();
        } finally {
            appending.set(false);
            pool.shutdownNow();
        }
        assertThat(s.pending()).hasSize(expected.size());
        s.close();

        RecoveryStore reopened = openAt(dir);
        List<String> recovered = ids(reopened.pending());
        Set<String> unique = new HashSet<>(recovered);
        assertThat(unique).hasSize(recovered.size()).containsExactlyInAnyOrderElementsOf(expected);
        assertThat(reopened.stats().pending()).isEqualTo(expected.size());
    }

    @Test
    void fullJournalRefusesNewRequestsLosesNothingAndDrains() {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = smallJournalConfig(dir);
        RecoveryStore s = openTracked(dir, cfg);
        List<String> acknowledged = new ArrayList<>();
        JournalFullException full = null;
        for (int i = 0; i < 100_000 && full == null; i++) {
            try {
                s.append(request("r" + i, null, 1024));
                acknowledged.add("r" + i);
            } catch (JournalFullException e) {
                full = e;
            }
        }
        assertThat(full).as("journal never filled").isNotNull();
        assertThat(full).hasMessageContaining("full").hasMessageContaining("maxJournalBytes");
        assertThat(acknowledged).isNotEmpty();
        assertThatThrownBy(() -> s.append(request("again", null, 1024))).isInstanceOf(JournalFullException.class);
        s.close();

        RecoveryStore reopened = openTracked(dir, cfg);
        assertThat(ids(reopened.pending())).containsExactlyElementsOf(acknowledged);
        for (String id : acknowledged) {
            reopened.complete(id, null);
        }
        reopened.append(request("after-drain", null, 1024));
        assertThat(ids(reopened.pending())).containsExactly("after-drain");
    }

    @Test
    void misuseIsRejected() {
        RecoveryStore s = openAt(tmp.resolve("store"));
        s.append(request("a"));
        assertThatThrownBy(() -> s.append(request("a"))).isInstanceOf(RecoveryException.class)
                .hasMessageContaining("a");
        assertThatThrownBy(() -> s.complete("nope", null)).isInstanceOf(RecoveryException.class)
                .hasMessageContaining("nope");
        assertThatThrownBy(() -> s.recordAttempt("nope", "x")).isInstanceOf(RecoveryException.class);
        assertThatThrownBy(() -> s.quarantine("nope", "x")).isInstanceOf(RecoveryException.class);
        assertThatThrownBy(() -> s.putCustomData("nope", Map.of())).isInstanceOf(RecoveryException.class);
        s.complete("a", null);
        assertThatThrownBy(() -> s.complete("a", null)).isInstanceOf(RecoveryException.class);
        s.close();
        s.close(); // idempotent
        assertThatThrownBy(() -> s.append(request("b"))).isInstanceOf(RecoveryException.class)
                .hasMessageContaining("closed");
        assertThatThrownBy(s::pending).isInstanceOf(RecoveryException.class);
    }

    // ---------------------------------------------------------------- secrets at rest

    /**
     * Files of an open store that may still hold bytes of deleted records after the retention
     * (each store's class doc says which, and until when); none by default. Once the store is closed
     * none may.
     */
    protected java.util.Collection<Path> filesKeptForReuse(RecoveryStore store) {
        return List.of();
    }

    @Test
    void withAKeyNoSecretIsInTheFilesAndEveryRecordComesBack() {
        Path dir = tmp.resolve("store");
        // small segments, so that compaction carries the live records forward more than once
        RecoveryStoreConfig cfg = config(dir).withSegmentSize(64 * 1024).withEncryptionKey(KEY);
        RecoveryStore s = openTracked(dir, cfg);
        s.append(TestRequests.secretRequest("a", "key-a", "PENDING-SECRET"));
        s.putCustomData("a", Map.of("card", "CUSTOM-SECRET"));
        s.recordAttempt("a", "FAILED-ON-FAILURE-SECRET");
        s.append(TestRequests.secretRequest("b", "key-b", "ANSWERED-SECRET"));
        s.complete("b", response("RESPONSE-SECRET"));
        s.append(TestRequests.secretRequest("c", null, "QUARANTINED-SECRET"));
        s.quarantine("c", "poison");
        for (int i = 0; i < 400; i++) { // several segments' worth: rolls and compactions
            s.append(request("f" + i, null, 1024));
            s.complete("f" + i, null);
        }
        List<String> secrets = List.of("PENDING-SECRET", "CUSTOM-SECRET", "FAILURE-SECRET", "ANSWERED-SECRET",
                "RESPONSE-SECRET", "QUARANTINED-SECRET");
        Path copy = crashCopy(dir, tmp.resolve("after-kill"));
        for (String secret : secrets) {
            assertThat(filesHolding(dir, secret)).as(secret).isEmpty();
        }

        for (RecoveryStore reopened : List.of(openTracked(copy, cfg.withPath(copy)), reopen(s, dir, cfg))) {
            PendingRequest a = reopened.pending().getFirst();
            assertThat(a.request()).isEqualTo(TestRequests.secretRequest("a", "key-a", "PENDING-SECRET"));
            assertThat(a.customData()).containsEntry("card", "CUSTOM-SECRET");
            assertThat(a.lastFailureReason()).isEqualTo("FAILED-ON-FAILURE-SECRET");
            assertThat(reopened.findByIdempotencyKey("key-b")).contains(response("RESPONSE-SECRET"));
            assertThat(reopened.quarantined()).singleElement().extracting(PendingRequest::request)
                    .isEqualTo(TestRequests.secretRequest("c", null, "QUARANTINED-SECRET"));
        }
        for (String secret : secrets) {
            assertThat(filesHolding(dir, secret)).as(secret).isEmpty();
        }
    }

    private RecoveryStore reopen(RecoveryStore s, Path dir, RecoveryStoreConfig cfg) {
        s.close();
        return openTracked(dir, cfg);
    }

    @Test
    void aJournalWrittenWithAKeyOpensWithThatKeyOnly() {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = config(dir).withEncryptionKey(KEY);
        RecoveryStore s = openTracked(dir, cfg);
        s.append(request("a"));
        s.close();

        assertThatThrownBy(() -> openTracked(dir, config(dir)))
                .isInstanceOf(RecoveryException.class)
                .hasMessageContainingAll(dir.toString(), "no encryption key is configured", KEY.fingerprint(),
                        "encryption_key_file", "STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY");
        assertThatThrownBy(() -> openTracked(dir, config(dir).withEncryptionKey(OTHER_KEY)))
                .isInstanceOf(RecoveryException.class)
                .hasMessageContainingAll(dir.toString(), KEY.fingerprint(), OTHER_KEY.fingerprint());
        assertThat(ids(openTracked(dir, cfg).pending())).containsExactly("a");
    }

    @Test
    void aClearJournalOpenedWithAKeyKeepsItsRecordsAndWritesNewOnesEncrypted() {
        Path dir = tmp.resolve("store");
        RecoveryStore clear = openTracked(dir, config(dir));
        clear.append(TestRequests.secretRequest("old", "key-old", "OLD-SECRET"));
        clear.append(request("done", "key-done", 10));
        clear.complete("done", response("OLD-RESPONSE"));
        clear.close();

        RecoveryStoreConfig cfg = config(dir).withEncryptionKey(KEY);
        RecoveryStore s = openTracked(dir, cfg);
        assertThat(s.pending()).singleElement().extracting(PendingRequest::request)
                .isEqualTo(TestRequests.secretRequest("old", "key-old", "OLD-SECRET"));
        assertThat(s.findByIdempotencyKey("key-done")).contains(response("OLD-RESPONSE"));
        s.append(TestRequests.secretRequest("new", null, "NEW-SECRET"));
        s.putCustomData("old", Map.of("step", "NEW-CUSTOM-SECRET"));
        assertThat(filesHold(dir, "NEW-SECRET")).isFalse();
        assertThat(filesHold(dir, "NEW-CUSTOM-SECRET")).isFalse();
        s.close();

        assertThatThrownBy(() -> openTracked(dir, config(dir))).isInstanceOf(RecoveryException.class)
                .hasMessageContaining("no encryption key is configured");
        RecoveryStore reopened = openTracked(dir, cfg);
        assertThat(ids(reopened.pending())).containsExactly("old", "new");
        assertThat(reopened.pending().getFirst().customData()).containsEntry("step", "NEW-CUSTOM-SECRET");
        assertThat(reopened.findByIdempotencyKey("key-done")).contains(response("OLD-RESPONSE"));
    }

    @Test
    void completedRecordsLeaveTheFilesWithinTheRetention() {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = config(dir).withCompletedRetention(Duration.ofMillis(200));
        RecoveryStore first = openTracked(dir, cfg);
        first.append(TestRequests.secretRequest("done", null, "COMPLETED-SECRET"));
        first.append(TestRequests.secretRequest("waiting", null, "PENDING-SECRET"));
        first.close(); // pending across a close: in the store's longer-lived files (RocksDB: an SST)
        RecoveryStore s = openTracked(dir, cfg);
        s.complete("done", null);
        assertThat(filesHold(dir, "COMPLETED-SECRET")).as("written clear, no key").isTrue();

        // the retention runs on the store's clock: move it on while the store's thread looks
        TestRequests.await("the completed request's bytes are gone", () -> {
            clock.advance(Duration.ofMillis(50));
            List<Path> holding = new ArrayList<>(filesHolding(dir, "COMPLETED-SECRET"));
            holding.removeAll(filesKeptForReuse(s));
            return holding.isEmpty();
        });
        assertThat(ids(s.pending())).containsExactly("waiting");
        assertThat(filesHold(dir, "PENDING-SECRET")).as("a pending request stays").isTrue();
        s.close();
        assertThat(ids(openTracked(dir, cfg).pending())).containsExactly("waiting");
    }

    @Test
    void aCleanShutdownLeavesNoCompletedRecordBehind() {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = config(dir).withCompletedRetention(Duration.ofHours(1));
        RecoveryStore s = openTracked(dir, cfg);
        s.append(TestRequests.secretRequest("done", null, "COMPLETED-SECRET"));
        s.append(TestRequests.secretRequest("waiting", null, "PENDING-SECRET"));
        s.complete("done", null);
        s.markCleanShutdown();
        s.close();

        assertThat(filesHolding(dir, "COMPLETED-SECRET")).isEmpty();
        RecoveryStore reopened = openTracked(dir, cfg);
        assertThat(ids(reopened.pending())).containsExactly("waiting");
        assertThat(reopened.pending().getFirst().previousShutdownClean()).isTrue();
    }

    @Test
    void secondOpenOfTheSameDirectoryFails() {
        Path dir = tmp.resolve("store");
        openAt(dir);
        assertThatThrownBy(() -> open(dir, config(dir))).isInstanceOf(RecoveryException.class);
    }
}
