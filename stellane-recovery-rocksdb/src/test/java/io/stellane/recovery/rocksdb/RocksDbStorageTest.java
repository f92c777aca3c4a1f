package io.stellane.recovery.rocksdb;

import io.stellane.recovery.Journal;
import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.SyncPolicy;
import io.stellane.recovery.testing.MutableClock;
import io.stellane.recovery.testing.TestRequests;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static io.stellane.recovery.testing.TestRequests.crashCopy;
import static io.stellane.recovery.testing.TestRequests.request;
import static io.stellane.recovery.testing.TestRequests.response;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What the shared contract suite does not cover for the RocksDB storage. */
class RocksDbStorageTest {
    @TempDir
    Path tmp;
    MutableClock clock;

    @BeforeEach
    void newClock() {
        clock = new MutableClock(Instant.parse("2030-01-01T00:00:00Z"));
    }

    private RecoveryStoreConfig config(Path dir, SyncPolicy policy) {
        return RecoveryStoreConfig.defaults(dir).withSyncPolicy(policy).withSyncInterval(Duration.ofMillis(5))
                .withSegmentSize(64 * 1024).withMaxJournalBytes(64L << 20)
                .withIdempotencyTtl(Duration.ofMinutes(10)).withClock(clock);
    }

    /** A journal on the RocksDB storage at {@code config.path()}. */
    static Journal open(RecoveryStoreConfig config) {
        return Journal.open(new RocksDbStorageProvider(), config);
    }

    private static List<String> ids(List<PendingRequest> list) {
        return list.stream().map(PendingRequest::requestId).toList();
    }

    @Test
    void providerIsDiscoveredByName() {
        assertThat(RecoveryStores.has("rocksdb")).isTrue();
        assertThat(RecoveryStores.list()).contains("rocksdb", "mmap");
        Path dir = tmp.resolve("store");
        try (RecoveryStore s = RecoveryStores.create("rocksdb", config(dir, SyncPolicy.ALWAYS))) {
            assertThat(((Journal) s).storage()).isInstanceOf(RocksDbStorage.class);
            s.append(request("a"));
        }
        try (RecoveryStore s = RecoveryStores.create("rocksdb", config(dir, SyncPolicy.ALWAYS))) {
            assertThat(ids(s.pending())).containsExactly("a");
        }
    }

    @Test
    void directoryIsOwnerOnlyAndSoIsEveryFileEvenAfterFlushesAndCompactions() throws IOException {
        Path dir = tmp.resolve("store");
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        RecoveryStoreConfig cfg = config(dir, SyncPolicy.NONE).withMaxJournalBytes(4 * 64 * 1024);
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            s.append(request("first"));
        }
        // reopen: recovery writes an SST, a new MANIFEST, OPTIONS and rotates LOG
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            assertOwnerOnly(dir);
            // fill the journal: the reclaim before the refusal flushes and compacts
            assertThatThrownBy(() -> {
                for (int i = 0; i < 100_000; i++) {
                    s.append(request("r" + i, null, 1024));
                }
            }).isInstanceOf(JournalFullException.class);
            assertThat(listFiles(dir)).anyMatch(f -> f.getFileName().toString().endsWith(".sst"));
            assertOwnerOnly(dir);
        }
        assertOwnerOnly(dir);
    }

    private static void assertOwnerOnly(Path dir) throws IOException {
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
        List<Path> files = listFiles(dir);
        assertThat(files).isNotEmpty();
        for (Path f : files) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).as(f.toString())
                    .isEqualTo("rw-------");
        }
    }

    private static List<Path> listFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    @Test
    void crashWithoutCloseKeepsEveryAcknowledgedWriteFromSstAndWal() {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = config(dir, SyncPolicy.NONE);
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            s.append(request("old-1", "key-old", 64));
            s.append(request("old-2"));
            s.markCleanShutdown();
        }
        RecoveryStore live = RocksDbStorageTest.open(cfg); // reopen flushed the first run's WAL to an SST
        try {
            live.append(request("new-1", "key-new", 64));
            live.append(request("new-2"));
            live.append(request("new-3"));
            assertThat(live.recordAttempt("old-2", "timeout")).isEqualTo(1);
            live.putCustomData("new-2", Map.of("tenant", "t9"));
            live.quarantine("new-3", "poison");
            live.complete("old-1", response("old result"));
            live.complete("new-1", response("new result"));

            // what kill -9 now would leave: the WAL of this run was never synced (policy NONE)
            Path copy = crashCopy(dir, tmp.resolve("after-kill"));
            try (RecoveryStore recovered = RocksDbStorageTest.open(cfg.withPath(copy))) {
                List<PendingRequest> pending = recovered.pending();
                assertThat(ids(pending)).containsExactly("old-2", "new-2");
                assertThat(pending.get(0).attempts()).isEqualTo(1);
                assertThat(pending.get(0).lastFailureReason()).isEqualTo("timeout");
                assertThat(pending.get(0).previousShutdownClean()).isFalse();
                assertThat(pending.get(1).customData()).containsExactlyEntriesOf(Map.of("tenant", "t9"));
                assertThat(pending.get(1).request()).isEqualTo(request("new-2"));
                assertThat(ids(recovered.quarantined())).containsExactly("new-3");
                assertThat(recovered.findByIdempotencyKey("key-old")).contains(response("old result"));
                assertThat(recovered.findByIdempotencyKey("key-new")).contains(response("new result"));
                assertThat(recovered.stats().pending()).isEqualTo(2);
                assertThat(recovered.stats().quarantinedNow()).isEqualTo(1);
            }
            // the live store is untouched by the copy being opened
            assertThat(ids(live.pending())).containsExactly("old-2", "new-2");
        } finally {
            live.close();
        }
    }

    @Test
    void anyWriteAfterTheCleanShutdownMarkMakesTheNextOpenReportACrash() {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = config(dir, SyncPolicy.INTERVAL);
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            s.append(request("a"));
            s.append(request("b"));
            s.markCleanShutdown();
            s.putCustomData("a", Map.of("late", "write"));
        }
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            assertThat(s.pending().getFirst().previousShutdownClean()).isFalse();
            s.markCleanShutdown();
        }
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            assertThat(s.pending().getFirst().previousShutdownClean()).isTrue();
            assertThat(s.pending().getFirst().customData()).containsEntry("late", "write");
            s.complete("b", null); // journaled after the mark of the previous run
        }
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            assertThat(ids(s.pending())).containsExactly("a");
            assertThat(s.pending().getFirst().previousShutdownClean()).isFalse();
        }
    }

    @Test
    void garbageCollectionDeletesExpiredResponsesAndDeadLettersFromDisk() throws RocksDBException {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = config(dir, SyncPolicy.INTERVAL);
        try (Journal s = RocksDbStorageTest.open(cfg)) {
            for (int i = 0; i < 50; i++) {
                s.append(request("r" + i, "key-" + i, 32));
                s.complete("r" + i, response("result " + i));
            }
            s.append(request("dead"));
            s.quarantine("dead", "poison");
            s.append(request("pending"));
            assertThat(s.dropExpired()).isZero(); // nothing expired yet

            clock.advance(Duration.ofMinutes(5));
            s.append(request("late", "key-late", 32));
            s.complete("late", response("late result"));
            // the same key stored again later: its first expiry entry must not delete it
            s.append(request("again", "key-0", 32));
            s.complete("again", response("second result"));

            clock.advance(Duration.ofMinutes(6)); // the first 50 (but key-0) and the dead letter are past the TTL
            assertThat(s.quarantined()).isEmpty(); // expired dead letters are hidden before the GC runs
            assertThat(s.dropExpired()).isEqualTo(49 + 1);
            assertThat(s.stats().quarantinedNow()).isZero();
            assertThat(s.findByIdempotencyKey("key-late")).contains(response("late result"));
            assertThat(s.findByIdempotencyKey("key-0")).contains(response("second result"));
            assertThat(s.findByIdempotencyKey("key-1")).isEmpty();
            assertThat(ids(s.pending())).containsExactly("pending");
        }

        Map<String, List<String>> raw = readRaw(dir);
        assertThat(raw.get(ColumnFamilies.CF_IDEMPOTENCY)).containsExactlyInAnyOrder("key-0", "key-late");
        assertThat(raw.get(ColumnFamilies.CF_IDEMPOTENCY_EXPIRY)).hasSize(2);
        assertThat(raw.get(ColumnFamilies.CF_QUARANTINED)).isEmpty();
        assertThat(raw.get(ColumnFamilies.CF_STATE)).isEmpty(); // a fresh request has no state record
        assertThat(raw.get(ColumnFamilies.CF_PENDING)).hasSize(1);
    }

    @Test
    void aValueThatDoesNotOpenFailsTheOpenEvenWithoutTheKeysFingerprint() throws RocksDBException {
        Path dir = tmp.resolve("store");
        RecoveryStoreConfig cfg = config(dir, SyncPolicy.NONE).withEncryptionKey(TestRequests.KEY);
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            s.append(request("a"));
            s.append(request("b"));
            s.putCustomData("b", Map.of("step", "1"));
        }
        byte[] fingerprint = ColumnFamilies.utf8("key_fingerprint");
        byte[] expected = ColumnFamilies.utf8(TestRequests.KEY.fingerprint());
        assertThat(metaValue(dir, fingerprint, true)).isEqualTo(expected);
        metaValue(dir, fingerprint, false); // without it the open cannot refuse early

        assertThatThrownBy(() -> RocksDbStorageTest.open(cfg.withEncryptionKey(TestRequests.OTHER_KEY)))
                .isInstanceOf(io.stellane.recovery.RecoveryException.class)
                .hasMessageContainingAll("does not decrypt", TestRequests.OTHER_KEY.fingerprint());
        assertThat(metaValue(dir, fingerprint, true)).as("a failed open claims nothing").isNull();
        try (RecoveryStore s = RocksDbStorageTest.open(cfg)) {
            assertThat(ids(s.pending())).containsExactly("a", "b");
        }
        assertThat(metaValue(dir, fingerprint, true)).isEqualTo(expected);
    }

    /** A {@code meta} value of a closed store, read with plain RocksDB; with {@code keep} false, deleted after. */
    private static byte[] metaValue(Path dir, byte[] key, boolean keep) throws RocksDBException {
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY));
        for (String name : ColumnFamilies.COLUMN_FAMILIES) {
            descriptors.add(new ColumnFamilyDescriptor(ColumnFamilies.utf8(name)));
        }
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        try (DBOptions options = new DBOptions();
                RocksDB db = RocksDB.open(options, dir.toString(), descriptors, handles)) {
            try {
                ColumnFamilyHandle meta = handles.get(1 + ColumnFamilies.COLUMN_FAMILIES
                        .indexOf(ColumnFamilies.CF_META));
                byte[] value = db.get(meta, key);
                if (!keep) {
                    db.delete(meta, key);
                    db.flushWal(true);
                }
                return value;
            } finally {
                handles.forEach(ColumnFamilyHandle::close);
            }
        }
    }

    /** The keys of every column family, read with plain RocksDB from a closed store. */
    private static Map<String, List<String>> readRaw(Path dir) throws RocksDBException {
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY));
        for (String name : ColumnFamilies.COLUMN_FAMILIES) {
            descriptors.add(new ColumnFamilyDescriptor(ColumnFamilies.utf8(name)));
        }
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        Map<String, List<String>> out = new LinkedHashMap<>();
        try (DBOptions options = new DBOptions();
                RocksDB db = RocksDB.openReadOnly(options, dir.toString(), descriptors, handles)) {
            try {
                for (int i = 0; i < ColumnFamilies.COLUMN_FAMILIES.size(); i++) {
                    String name = ColumnFamilies.COLUMN_FAMILIES.get(i);
                    List<String> keys = new ArrayList<>();
                    try (RocksIterator it = db.newIterator(handles.get(i + 1))) {
                        for (it.seekToFirst(); it.isValid(); it.next()) {
                            byte[] k = it.key();
                            boolean seqPrefixed = name.equals(ColumnFamilies.CF_PENDING)
                                    || name.equals(ColumnFamilies.CF_QUARANTINED)
                                    || name.equals(ColumnFamilies.CF_IDEMPOTENCY_EXPIRY);
                            keys.add(seqPrefixed ? ColumnFamilies.idOf(k) : new String(k));
                        }
                        it.status();
                    }
                    out.put(name, keys);
                }
            } finally {
                handles.forEach(ColumnFamilyHandle::close);
            }
        }
        return out;
    }
}
