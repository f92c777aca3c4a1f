package io.stellane.recovery.rocksdb;

import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.JournalStorage.Kind;
import io.stellane.recovery.internal.RecordCodec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.ConfigOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.InfoLogLevel;
import org.rocksdb.LRUCache;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.WALRecoveryMode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The database of a RocksDB storage: its column families, how a journal record becomes a key in
 * one, and the options it is opened with; owns every native handle.
 *
 * <pre>
 * column family        key                                  value
 *   pending            u64 seq | requestId (UTF-8)          the journal's PENDING value
 *   quarantined        u64 seq | requestId                  the journal's QUARANTINED value
 *   state              requestId                            the journal's STATE value
 *   idempotency        idempotencyKey                       the journal's ANSWER value (i64 expiresAt | response)
 *   idempotency_expiry u64 expiresAt | idempotencyKey       empty: written beside every ANSWER, so that an
 *                                                           older version opening this directory finds its GC index
 *   meta               name (UTF-8)                         the journal's META values, and "format" (i32 1),
 *                                                           "probe" (never stored: see RocksDbStorage#heal)
 * </pre>
 * The big-endian sequence number in front of the id makes RocksDB's key order the append order.
 */
final class ColumnFamilies implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ColumnFamilies.class);

    static final String CF_PENDING = "pending";
    static final String CF_QUARANTINED = "quarantined";
    static final String CF_STATE = "state";
    static final String CF_IDEMPOTENCY = "idempotency";
    static final String CF_IDEMPOTENCY_EXPIRY = "idempotency_expiry";
    static final String CF_META = "meta";
    static final List<String> COLUMN_FAMILIES =
            List.of(CF_PENDING, CF_QUARANTINED, CF_STATE, CF_IDEMPOTENCY, CF_IDEMPOTENCY_EXPIRY, CF_META);

    static {
        RocksDB.loadLibrary();
    }

    final Path dir;
    final RocksDB db;
    /** Every handle, the default column family's first: what a flush covers. */
    final List<ColumnFamilyHandle> handles = new ArrayList<>();
    final ColumnFamilyHandle pending;
    final ColumnFamilyHandle quarantined;
    final ColumnFamilyHandle state;
    final ColumnFamilyHandle idempotency;
    final ColumnFamilyHandle idempotencyExpiry;
    final ColumnFamilyHandle meta;
    // option objects, closed in reverse order of creation after the database
    private final List<AutoCloseable> natives = new ArrayList<>();

    /**
     * Opens (creating if needed) the database at {@code config.path()}. Memtables take up to an
     * eighth of {@code maxJournalBytes} each, at most 64 MiB (RocksDB's own default: a flush has a
     * fixed cost, a file and its syncs, that smaller ones pay more often), and together at most a
     * quarter, at most 64 MiB, plus the one being flushed.
     */
    ColumnFamilies(RecoveryStoreConfig config) {
        this.dir = config.path().toAbsolutePath();
        long cap = config.maxJournalBytes();
        RocksDB opened = null;
        try {
            DBOptions dbOptions = track(new DBOptions()
                    .setCreateIfMissing(true)
                    .setCreateMissingColumnFamilies(true)
                    .setWalRecoveryMode(WALRecoveryMode.PointInTimeRecovery)
                    .setManualWalFlush(false)
                    .setParanoidChecks(true)
                    .setMaxTotalWalSize(Math.max(cap / 4, 64 << 10))
                    .setDbWriteBufferSize(Math.clamp(cap / 4, 256 << 10, 64 << 20))
                    .setMaxBackgroundJobs(2)
                    .setInfoLogLevel(InfoLogLevel.INFO_LEVEL)
                    .setMaxLogFileSize(1 << 20)
                    .setKeepLogFileNum(3)
                    .setStatsDumpPeriodSec(0)
                    // an obsolete WAL is renamed and overwritten, not deleted: its blocks are allocated
                    // and its pages cached, so a write(2) to it skips ext4's delayed allocation
                    .setRecycleLogFileNum(1));
            dbOptions.setListeners(List.of(track(new Permissions.Listener(dir))));
            LRUCache cache = track(new LRUCache(8L << 20));
            ColumnFamilyOptions cfOptions = track(appendOrderOptions()
                    .setWriteBufferSize(Math.clamp(cap / 8, 64 << 10, 64 << 20))
                    .setTableFormatConfig(new BlockBasedTableConfig().setBlockCache(cache)));
            List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
            descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, cfOptions));
            for (String name : COLUMN_FAMILIES) {
                descriptors.add(new ColumnFamilyDescriptor(utf8(name), cfOptions));
            }
            try {
                opened = RocksDB.open(dbOptions, dir.toString(), descriptors, handles);
            } catch (RocksDBException e) {
                String msg = String.valueOf(e.getMessage());
                if (msg.contains("lock")) {
                    throw new RecoveryException("recovery store " + dir + " is in use (by this or another process): "
                            + msg, e);
                }
                throw new RecoveryException("cannot open recovery store " + dir + ": " + msg, e);
            }
        } catch (RuntimeException | Error e) {
            release(opened);
            throw e;
        }
        db = opened;
        pending = handles.get(1);
        quarantined = handles.get(2);
        state = handles.get(3);
        idempotency = handles.get(4);
        idempotencyExpiry = handles.get(5);
        meta = handles.get(6);
    }

    /** The column family of a journal record. */
    ColumnFamilyHandle of(Kind kind) {
        return switch (kind) {
            case PENDING -> pending;
            case QUARANTINED -> quarantined;
            case STATE -> state;
            case ANSWER -> idempotency;
            case META -> meta;
        };
    }

    /** The key of a journal record in its column family. */
    static byte[] keyOf(Kind kind, long seq, byte[] key) {
        return kind == Kind.PENDING || kind == Kind.QUARANTINED ? seqKey(seq, key) : key;
    }

    /**
     * Pending keys start with a big-endian sequence, so each one goes in at the end of the memtable:
     * remembering where the last insert went (per first key byte, RocksJava has no setter for it)
     * spares every insert the search from the top of the skip list.
     */
    private static ColumnFamilyOptions appendOrderOptions() {
        Properties p = new Properties();
        p.setProperty("memtable_insert_with_hint_prefix_extractor", "rocksdb.FixedPrefix.1");
        try (ConfigOptions co = new ConfigOptions()) {
            ColumnFamilyOptions options = ColumnFamilyOptions.getColumnFamilyOptionsFromProps(co, p);
            if (options == null) {
                throw new RecoveryException("rocksdbjni " + RocksDB.rocksdbVersion() + " rejects option "
                        + p + "; the recovery store needs a RocksDB that supports it");
            }
            return options;
        }
    }

    private <T extends AutoCloseable> T track(T nativeObject) {
        natives.add(nativeObject);
        return nativeObject;
    }

    /** Closes the column family handles, then the database, then every option object. */
    @Override
    public void close() {
        release(db);
    }

    private void release(RocksDB database) {
        handles.forEach(ColumnFamilyHandle::close);
        handles.clear();
        if (database != null) {
            try {
                database.closeE();
            } catch (RocksDBException e) {
                LOG.warn("closing recovery store {} reported: {}", dir, e.getMessage());
            }
        }
        for (int i = natives.size() - 1; i >= 0; i--) {
            try {
                natives.get(i).close();
            } catch (Exception e) {
                LOG.warn("cannot release a native handle of recovery store {}", dir, e);
            }
        }
        natives.clear();
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] be64(long v) {
        return new RecordCodec.Writer(8).i64(v).toByteArray();
    }

    static byte[] be32(int v) {
        return new RecordCodec.Writer(4).i32(v).toByteArray();
    }

    /** u64 big-endian {@code seq} followed by {@code tail}: sorts by seq, then tail. */
    static byte[] seqKey(long seq, byte[] tail) {
        byte[] k = new byte[8 + tail.length];
        for (int i = 0; i < 8; i++) {
            k[i] = (byte) (seq >>> (56 - 8 * i));
        }
        System.arraycopy(tail, 0, k, 8, tail.length);
        return k;
    }

    static long seqOf(byte[] key) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (key[i] & 0xff);
        }
        return v;
    }

    static byte[] tailOf(byte[] key) {
        return Arrays.copyOfRange(key, 8, key.length);
    }

    static String idOf(byte[] key) {
        return new String(key, 8, key.length - 8, StandardCharsets.UTF_8);
    }
}
