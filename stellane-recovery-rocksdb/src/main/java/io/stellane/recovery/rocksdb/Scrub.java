package io.stellane.recovery.rocksdb;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.CompactRangeOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.RocksDBException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Getting deleted values out of the files. Deleting a request single-deletes its value; until a
 * flush, the value and its delete sit in the memtable and the live WAL; a flush drops the pair
 * (nothing reaches an SST) and the WAL is no longer needed; a value flushed while pending stays in
 * its SST until a compaction meets the delete. So {@link #scrub} flushes every memtable and compacts
 * every journal column family (bottommost forced). What it cannot bound: the WAL file kept for
 * reuse ({@code recycle_log_file_num = 1}) holds the period before the last flush until the next WAL
 * written into it has overwritten it, and that WAL keeps the rest of the old bytes past its end; on a
 * quiet server that lasts until close, which flushes every memtable, so that no WAL is needed, and
 * then {@link #zeroWalFiles zeroes, forces and deletes} every WAL file. SST files RocksDB compacts
 * away are deleted by it, not zeroed.
 */
final class Scrub {
    private static final Logger LOG = LoggerFactory.getLogger(Scrub.class);

    private final ColumnFamilies cfs;
    private final FlushOptions flush;
    private final CompactRangeOptions compact;

    Scrub(ColumnFamilies cfs, FlushOptions flush, CompactRangeOptions compact) {
        this.cfs = cfs;
        this.flush = flush;
        this.compact = compact;
    }

    void scrub() throws RocksDBException {
        cfs.db.flush(flush, cfs.handles);
        for (ColumnFamilyHandle cf : List.of(cfs.pending, cfs.quarantined, cfs.state, cfs.idempotency,
                cfs.idempotencyExpiry)) {
            cfs.db.compactRange(cf, null, null, compact);
        }
        Permissions.tighten(cfs.dir);
    }

    /**
     * After a flush and close: zeroes every WAL file (the live one may hold a reused file's old
     * records past its end, the one kept for reuse those of an earlier period), forces it and
     * deletes it. A crash half way leaves zeros, which RocksDB reads as the end of a log.
     */
    static void zeroWalFiles(Path dir) {
        try (Stream<Path> list = Files.list(dir)) {
            for (Path f : list.filter(p -> p.getFileName().toString().endsWith(".log")).toList()) {
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    long size = ch.size();
                    ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(size, 1 << 20));
                    for (long pos = 0; pos < size; ) {
                        zeros.clear().limit((int) Math.min(zeros.capacity(), size - pos));
                        pos += ch.write(zeros, pos);
                    }
                    ch.force(true);
                }
                Files.delete(f);
            }
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
        } catch (IOException e) {
            LOG.warn("recovery store {}: cannot scrub its WAL files: {}", dir, e.getMessage());
        }
    }
}
