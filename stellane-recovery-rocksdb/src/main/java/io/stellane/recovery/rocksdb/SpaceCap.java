package io.stellane.recovery.rocksdb;

import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.RecoveryException;
import java.util.concurrent.atomic.AtomicLong;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.CompactRangeOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.LogFile;
import org.rocksdb.RocksDBException;
import org.rocksdb.WalFileType;

/**
 * {@code maxJournalBytes} for RocksDB: caps the SST files ({@code rocksdb.total-sst-files-size})
 * plus the alive WAL files, approximately: the size is measured, then bytes written since are
 * added, and it is measured again when that estimate reaches the cap; the one WAL file kept for
 * reuse is on disk besides (at most the size of a WAL, about a memtable). When it is over, space is
 * reclaimed first (memtable flush, then a forced {@code compactRange} of every column family that
 * drops tombstones and overwritten values; both synchronous, so a refusal does not depend on
 * background timing, and repeated only after something was deleted or an eighth of the cap went
 * to the WAL); if it is still over, the new requests are refused. Every other write is taken, so a
 * full journal drains.
 */
final class SpaceCap {
    /** Rough per-entry cost in the WAL beyond key and value bytes. */
    static final int ENTRY_OVERHEAD = 32;

    private final ColumnFamilies cfs;
    private final long cap;
    private final FlushOptions flush;
    private final CompactRangeOptions compact;
    private volatile long measuredBytes;
    private final AtomicLong writtenSinceMeasure = new AtomicLong();
    /** Deletes written: reclaiming space is worth a compaction after some. */
    private final AtomicLong deletes = new AtomicLong();
    private long deletesAtLastCompaction = -1; // guarded by this

    SpaceCap(ColumnFamilies cfs, long cap, FlushOptions flush, CompactRangeOptions compact) {
        this.cfs = cfs;
        this.cap = cap;
        this.flush = flush;
        this.compact = compact;
    }

    /** Counts a write of about {@code bytes}, {@code deleted} of its entries deletes. */
    void wrote(long bytes, int deleted) {
        writtenSinceMeasure.addAndGet(bytes);
        if (deleted > 0) {
            deletes.addAndGet(deleted);
        }
    }

    /**
     * Throws {@link JournalFullException} unless {@code bytes} more fit under the cap; while
     * {@code writesFail}, cannot reclaim and refuses what does not fit as it is.
     */
    void ensureRoom(long bytes, boolean writesFail) {
        if (measuredBytes + writtenSinceMeasure.get() + bytes <= cap) {
            return;
        }
        if (writesFail) {
            // reclaiming flushes, which must not meet a failed WAL writer (see RocksDbStorage#heal)
            throw new RecoveryException("recovery store " + cfs.dir + " cannot reclaim space while writes fail");
        }
        synchronized (this) {
            try {
                long[] now = measure();
                if (now[0] + now[1] + bytes <= cap) {
                    return;
                }
                long deleted = deletes.get();
                if (deleted != deletesAtLastCompaction || now[1] >= cap / 8) {
                    cfs.db.flush(flush, cfs.handles);
                    for (ColumnFamilyHandle cf : cfs.handles) {
                        cfs.db.compactRange(cf, null, null, compact);
                    }
                    deletesAtLastCompaction = deleted;
                    Permissions.tighten(cfs.dir); // the listener does too, but on RocksDB's thread
                    now = measure();
                    if (now[0] + now[1] + bytes <= cap) {
                        return;
                    }
                }
                throw new JournalFullException("recovery store " + cfs.dir + " is full: " + now[0] + " bytes of SST"
                        + " files and " + now[1] + " bytes of WAL on disk (maxJournalBytes " + cap + "); the requests"
                        + " (about " + bytes + " bytes) were not journaled. Complete or quarantine requests, or raise"
                        + " maxJournalBytes");
            } catch (RocksDBException e) {
                throw new RecoveryException("cannot reclaim space in recovery store " + cfs.dir + ": "
                        + e.getMessage(), e);
            }
        }
    }

    /** The last measured size, for stats when the directory cannot be listed. */
    long measured() {
        return measuredBytes;
    }

    /** Measures {SST bytes, WAL bytes} and restarts the written-since estimate. */
    long[] measure() throws RocksDBException {
        long written = writtenSinceMeasure.get();
        long sst = cfs.db.getAggregatedLongProperty("rocksdb.total-sst-files-size");
        long wal = walBytes();
        measuredBytes = sst + wal;
        writtenSinceMeasure.addAndGet(-written);
        return new long[] {sst, wal};
    }

    /**
     * Bytes of the WAL files RocksDB still needs (alive), read from RocksDB rather than from a
     * directory listing, so a WAL made obsolete by a flush but not yet deleted by a background
     * thread does not make the measurement depend on timing.
     */
    private long walBytes() throws RocksDBException {
        long total = 0;
        for (LogFile f : cfs.db.getSortedWalFiles()) {
            if (f.type() == WalFileType.kAliveLogFile) {
                total += f.sizeFileBytes();
            }
        }
        return total;
    }
}
