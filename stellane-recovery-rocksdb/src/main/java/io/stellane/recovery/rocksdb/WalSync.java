package io.stellane.recovery.rocksdb;

import io.stellane.recovery.RecoveryException;
import java.util.concurrent.atomic.AtomicLong;
import org.rocksdb.RocksDBException;

/**
 * Forcing the WAL. Every write reaches the kernel before it returns (RocksDB writes the WAL record
 * with {@code write(2)} unless {@code manual_wal_flush}, which is off), so the death of the process
 * loses nothing; a force is {@code flushWal(true)}, which covers every write before it. Writes are
 * numbered so that a force asked for writes an earlier one already covered costs nothing, and the
 * periodic force is skipped while nothing was written.
 */
final class WalSync {
    private final ColumnFamilies cfs;
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong synced = new AtomicLong();

    WalSync(ColumnFamilies cfs) {
        this.cfs = cfs;
    }

    /** Numbers a write that went through; the position {@link #sync} takes. */
    long wrote() {
        return written.incrementAndGet();
    }

    /** Forces the WAL unless every write up to {@code position} is known forced. */
    void sync(long position) {
        long target = written.get();
        if (synced.get() >= Math.min(position, target)) {
            return;
        }
        try {
            cfs.db.flushWal(true);
        } catch (RocksDBException e) {
            throw new RecoveryException("WAL sync of recovery store " + cfs.dir + " failed: " + e.getMessage()
                    + "; writes are refused until every memtable is flushed", e);
        }
        synced.accumulateAndGet(target, Math::max);
    }

    /** Everything written so far counts as forced (a flush put it into synced SST files). */
    void coveredUpTo(long position) {
        synced.accumulateAndGet(position, Math::max);
    }

    long position() {
        return written.get();
    }
}
