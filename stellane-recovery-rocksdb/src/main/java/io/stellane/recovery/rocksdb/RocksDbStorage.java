package io.stellane.recovery.rocksdb;

import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.JournalStorage;
import io.stellane.recovery.internal.RecordCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.CompactRangeOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WALRecoveryMode;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code "rocksdb"} journal storage: an embedded RocksDB database ({@link ColumnFamilies} has
 * the layout). Every {@link #write} is one {@link WriteBatch}, applied whole or not at all; a key of
 * pending or quarantined is put once and deleted once, so those deletes are {@code SingleDelete}s: a
 * flush or compaction that meets one with its put drops both, where a plain delete would leave a
 * tombstone to be written to every level on the way down. The WAL is never disabled and is replayed
 * with {@link WALRecoveryMode#PointInTimeRecovery}: after a crash the database is a consistent
 * prefix of the acknowledged batches. Forces are WAL syncs ({@link WalSync}); an obsolete WAL file is
 * kept for reuse ({@code recycle_log_file_num = 1}): renamed and written over instead of deleted and
 * created, so a WAL write lands on allocated blocks and cached pages (ext4's delayed allocation cost
 * the worker about 0.25 µs per 1 KiB request). Each record carries its log's number, and RocksDB
 * stops replaying at the first record of an earlier life of the file
 * ({@code RocksDbWalRecyclingCrashTest} kills a writer on such a file). Size cap: {@link SpaceCap};
 * deleted values: {@link Scrub}; directory and files owner-only: {@link Permissions}.
 *
 * <p><b>Faults, and healing from them.</b> A full disk fails the write that met it, and RocksDB then
 * stops (every write fails at once) until its SstFileManager sees room for a write buffer again (it
 * polls every 5 s) and resumes by itself. While a write or a sync has failed, nothing here flushes
 * or syncs on its own (either would meet the failed WAL writer and make RocksDB's error fatal);
 * {@link #heal} makes everything acknowledged durable without the WAL.
 */
final class RocksDbStorage implements JournalStorage {
    private static final Logger LOG = LoggerFactory.getLogger(RocksDbStorage.class);

    private static final byte[] META_FORMAT = ColumnFamilies.utf8("format");
    /** Never stored: deleting it is the write that asks RocksDB whether it takes writes again. */
    private static final byte[] META_PROBE = ColumnFamilies.utf8("probe");
    private static final int FORMAT = 1;

    private final Path dir;
    private final Clock clock;
    private final ColumnFamilies cfs;
    private final WriteOptions plainWrite;
    private final FlushOptions flushOptions;
    private final CompactRangeOptions compactOptions;
    private final SpaceCap cap;
    private final WalSync wal;
    private final Scrub scrub;
    /** The last write failed: nothing may flush or sync until a write goes through or {@link #heal} succeeds. */
    private volatile boolean failed;

    RocksDbStorage(RecoveryStoreConfig config) {
        this.dir = config.path().toAbsolutePath();
        this.clock = config.clock();
        this.cfs = new ColumnFamilies(config);
        plainWrite = new WriteOptions().setSync(false).setDisableWAL(false);
        flushOptions = new FlushOptions().setWaitForFlush(true);
        compactOptions = new CompactRangeOptions()
                .setBottommostLevelCompaction(CompactRangeOptions.BottommostLevelCompaction.kForce);
        cap = new SpaceCap(cfs, config.maxJournalBytes(), flushOptions, compactOptions);
        wal = new WalSync(cfs);
        scrub = new Scrub(cfs, flushOptions, compactOptions);
        try {
            Permissions.tighten(dir);
            checkFormat();
            cap.measure();
        } catch (RocksDBException e) {
            closeNatives();
            throw new RecoveryException("cannot open recovery store " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeNatives();
            throw e;
        }
    }

    private void checkFormat() throws RocksDBException {
        byte[] format = cfs.db.get(cfs.meta, META_FORMAT);
        if (format == null) {
            cfs.db.put(cfs.meta, plainWrite, META_FORMAT, ColumnFamilies.be32(FORMAT));
            cfs.db.flushWal(true);
        } else if (format.length != 4 || new RecordCodec.Reader(format).i32() != FORMAT) {
            throw new RecoveryException("recovery store " + dir + " has an unknown format " + Arrays.toString(format)
                    + "; this version reads format " + FORMAT);
        }
    }

    @Override
    public void scan(Consumer<Record> into) {
        for (Kind kind : Kind.values()) {
            boolean seqKeyed = kind == Kind.PENDING || kind == Kind.QUARANTINED;
            try (RocksIterator it = cfs.db.newIterator(cfs.of(kind))) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    byte[] k = it.key();
                    if (kind == Kind.META && (Arrays.equals(k, META_FORMAT) || Arrays.equals(k, META_PROBE))) {
                        continue;
                    }
                    into.accept(seqKeyed ? new Record(kind, ColumnFamilies.seqOf(k), ColumnFamilies.tailOf(k), it.value())
                            : new Record(kind, 0, k, it.value()));
                }
                it.status();
            } catch (RocksDBException e) {
                throw new RecoveryException("cannot read recovery store " + dir + ": " + e.getMessage(), e);
            }
        }
    }

    /** Yes: a group is one batch and one WAL {@code write(2)}, where one by one each request pays for its own. */
    @Override
    public boolean groupsWrites() {
        return true;
    }

    @Override
    public long write(List<Record> records, boolean admits) {
        long bytes = 0;
        int deletes = 0;
        for (Record r : records) {
            bytes += 8L + r.key().length + (r.isDelete() ? r.key().length : r.value().length) + SpaceCap.ENTRY_OVERHEAD;
            deletes += r.isDelete() ? 1 : 0;
        }
        if (admits) {
            cap.ensureRoom(bytes, failed);
        }
        try {
            if (records.size() == 1 && records.getFirst().kind() == Kind.PENDING) {
                writeOne(records.getFirst());
            } else {
                try (WriteBatch b = new WriteBatch()) {
                    boolean answersDeleted = false;
                    for (Record r : records) {
                        answersDeleted |= add(b, r);
                    }
                    if (answersDeleted) {
                        // the Journal deletes every answer once it has expired, so every index entry up to now is stale
                        long now = clock.millis();
                        b.deleteRange(cfs.idempotencyExpiry, new byte[0], ColumnFamilies.be64(now + 1 < now ? now : now + 1));
                    }
                    cfs.db.write(plainWrite, b);
                }
            }
        } catch (RocksDBException e) {
            failed = true;
            throw new RecoveryException("write to recovery store " + dir + " failed: " + e.getMessage(), e);
        }
        failed = false;
        cap.wrote(bytes, deletes);
        return wal.wrote();
    }

    /**
     * One put or single delete of a pending key straight through {@code RocksDB.put/singleDelete}:
     * four JNI calls fewer than a one-entry batch.
     */
    private void writeOne(Record r) throws RocksDBException {
        byte[] key = ColumnFamilies.keyOf(r.kind(), r.seq(), r.key());
        if (r.isDelete()) {
            cfs.db.singleDelete(cfs.pending, plainWrite, key);
        } else {
            cfs.db.put(cfs.pending, plainWrite, key, r.value());
        }
    }

    /** Adds {@code r} to the batch; returns whether it deletes an answer. */
    private boolean add(WriteBatch b, Record r) throws RocksDBException {
        ColumnFamilyHandle cf = cfs.of(r.kind());
        byte[] key = ColumnFamilies.keyOf(r.kind(), r.seq(), r.key());
        if (!r.isDelete()) {
            b.put(cf, key, r.value());
            if (r.kind() == Kind.ANSWER) {
                long expires = new RecordCodec.Reader(r.value()).i64();
                b.put(cfs.idempotencyExpiry, ColumnFamilies.seqKey(expires, r.key()), new byte[0]);
            }
            return false;
        }
        if (r.kind() == Kind.PENDING || r.kind() == Kind.QUARANTINED) {
            b.singleDelete(cf, key);
        } else {
            b.delete(cf, key);
        }
        return r.kind() == Kind.ANSWER;
    }

    @Override
    public void sync(long position) {
        try {
            wal.sync(position);
        } catch (RecoveryException e) {
            failed = true; // the WAL writer may be broken: only a flush may end this (see heal)
            throw e;
        }
    }

    @Override
    public void syncPeriodically() {
        if (!failed) {
            sync(Long.MAX_VALUE);
        }
    }

    @Override
    public boolean reclaim() {
        if (failed) {
            return false; // a flush now would make a recoverable write error a fatal one (see heal)
        }
        try {
            scrub.scrub();
            return true;
        } catch (RocksDBException e) {
            throw new RecoveryException("cannot compact deleted records away in " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Makes everything acknowledged durable without relying on the WAL: a probe write, then every
     * memtable flushed to a synced SST file, then a WAL sync. Throws while RocksDB is stopped by a
     * background error.
     *
     * <p>A full disk stops RocksDB with such an error, and RocksDB ends it itself: its SstFileManager
     * polls the free space every 5 s and resumes the database (flushing the memtables and starting a
     * new WAL) once there is room for a write buffer. Until then nothing may touch the broken WAL
     * writer: a WAL sync or a memtable flush that meets it fails with "Writer has previous error",
     * which RocksDB (with paranoid checks) raises to a fatal error it never recovers from. Hence the
     * probe first: while the database is stopped a write fails at once, without reaching the WAL.
     * RocksJava has no binding for {@code DB::Resume()}, so an error RocksDB does not recover from by
     * itself (an I/O error other than a full disk) keeps the journal refusing writes until a restart.
     *
     * <p>Why a flush, and not a retried WAL sync, ends a sync failure: after a failed sync the WAL's
     * last writes may never reach the disk (the kernel may have marked the failed pages clean), so a
     * later sync that succeeds proves nothing about them. Every acknowledged write is in a memtable,
     * though, and a flush writes those into SST files that are synced and recorded in the MANIFEST
     * before it returns: afterwards nothing acknowledged depends on the old WAL.
     */
    @Override
    public void heal() {
        long position = wal.position();
        try {
            cfs.db.delete(cfs.meta, plainWrite, META_PROBE);
            cfs.db.flush(flushOptions, cfs.handles);
            cfs.db.flushWal(true);
        } catch (RocksDBException e) {
            throw new RecoveryException("recovery store " + dir + " still cannot write: " + e.getMessage(), e);
        }
        failed = false;
        wal.coveredUpTo(position);
    }

    @Override
    public long bytesOnDisk() {
        long bytes = 0;
        try (Stream<Path> list = Files.list(dir)) {
            for (Path f : list.toList()) {
                try {
                    bytes += Files.size(f);
                } catch (IOException ignored) {
                    // deleted by a compaction meanwhile
                }
            }
        } catch (IOException e) {
            bytes = cap.measured();
        }
        return bytes;
    }

    @Override
    public int files() {
        try (Stream<Path> list = Files.list(dir)) {
            return (int) Math.max(1, list.map(f -> f.getFileName().toString())
                    .filter(n -> n.endsWith(".sst") || n.endsWith(".log")).count());
        } catch (IOException e) {
            return 1;
        }
    }

    /**
     * Flushes every memtable into an SST file (synced, as is the MANIFEST), so that no WAL is needed
     * any more and none is left holding what was written, deleted requests included; if that fails,
     * syncs the WAL and keeps it. After a failed write or sync, heals instead.
     */
    @Override
    public void close() {
        boolean walNeeded = true;
        if (failed) {
            try {
                heal(); // a WAL whose write or sync failed cannot be trusted to hold the rest
            } catch (RecoveryException e) {
                LOG.error("final sync of recovery store {} failed", dir, e);
            }
        } else {
            try {
                cfs.db.flush(flushOptions, cfs.handles);
                walNeeded = false;
            } catch (RocksDBException e) {
                LOG.warn("recovery store {}: final flush failed ({}); its WAL is kept", dir, e.getMessage());
                try {
                    cfs.db.flushWal(true);
                } catch (RocksDBException again) {
                    LOG.error("final sync of recovery store {} failed", dir, again);
                }
            }
        }
        closeNatives();
        if (!walNeeded) {
            Scrub.zeroWalFiles(dir);
        }
        Permissions.tighten(dir);
    }

    private void closeNatives() {
        cfs.close();
        plainWrite.close();
        flushOptions.close();
        compactOptions.close();
    }

    @Override
    public String toString() {
        return "RocksDbStorage[" + dir + "]";
    }
}
