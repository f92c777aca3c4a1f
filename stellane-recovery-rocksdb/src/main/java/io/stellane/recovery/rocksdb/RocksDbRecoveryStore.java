package io.stellane.recovery.rocksdb;

import io.stellane.logging.LogThrottle;
import io.stellane.recovery.EncryptionKey;
import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStoreStats;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.SyncPolicy;
import io.stellane.recovery.spi.RecordCipher;
import io.stellane.recovery.spi.RecordCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.stream.Stream;
import org.rocksdb.AbstractEventListener;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.ConfigOptions;
import org.rocksdb.CompactRangeOptions;
import org.rocksdb.CompactionJobInfo;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushJobInfo;
import org.rocksdb.FlushOptions;
import org.rocksdb.InfoLogLevel;
import org.rocksdb.LRUCache;
import org.rocksdb.LogFile;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.Slice;
import org.rocksdb.WALRecoveryMode;
import org.rocksdb.WalFileType;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code "rocksdb"} recovery store: the journal is an embedded RocksDB database.
 *
 * <h2>How it works</h2>
 * <pre>
 * dir/ (0700; every file in it narrowed to 0600 at open, after each flush/compaction and at close)
 *   RocksDB files: *.log (WAL), *.sst, MANIFEST-*, CURRENT, OPTIONS-*, LOCK, LOG (info log, bounded)
 *
 * column family        key                                  value (spi.RecordCodec, big-endian)
 *   pending            u64 seq | requestId (UTF-8)          the JournaledRequest
 *   quarantined        u64 seq | requestId                  the JournaledRequest (moved here from pending)
 *   state              requestId (absent until the first     u8 1 | i64 seq | str idempotencyKey | i32 attempts
 *                      attempt, custom data or quarantine)
 *                                                           | str lastFailure | map customData
 *                                                           | str quarantineReason | i64 quarantinedAt (ms)
 *   idempotency        idempotencyKey                       i64 expiresAt (ms) | response
 *   idempotency_expiry u64 expiresAt | idempotencyKey       empty: an index for the GC pass
 *   meta               "format" / "clean_shutdown" / "key_fingerprint" (of the encryption key) /
 *                      "next_seq" (older stores; the next sequence now comes from the highest key in
 *                      pending and quarantined)
 * </pre>
 * The big-endian sequence number in front of the id makes RocksDB's key order the append order.
 * Every change is one {@link WriteBatch}, so it is applied whole or not at all: append = put
 * pending; complete = delete pending (or quarantined) [+ delete state, if it was written]
 * [+ put idempotency + put idempotency_expiry]; an attempt, custom data = put state; quarantine =
 * delete pending + put quarantined + put state. The first write after {@link #markCleanShutdown()}
 * also deletes the clean-shutdown flag, in the same batch. A key of pending or quarantined is put
 * once and deleted once, so those deletes are {@code SingleDelete}s: a flush or compaction that
 * meets one with its put drops both, where a plain delete would leave a tombstone to be written to
 * every level on the way down. The WAL is never disabled and is replayed with
 * {@link WALRecoveryMode#PointInTimeRecovery}: after a crash the database is a consistent prefix of
 * the acknowledged batches. Every write reaches the kernel before it returns (RocksDB writes the
 * WAL record with {@code write(2)} unless {@code manual_wal_flush}, which is off), so every policy
 * survives the death of the process; {@link SyncPolicy#ALWAYS} writes with {@code sync=true}
 * (RocksDB group-commits concurrent synced writers), {@link SyncPolicy#INTERVAL} writes with
 * {@code sync=false} and one daemon thread calls {@code flushWal(true)} every interval,
 * {@link SyncPolicy#NONE} never syncs. Attempts, quarantines and the clean-shutdown flag are
 * written with {@code sync=true} under every policy; close flushes the memtables (if that fails,
 * it syncs the WAL). A failed sync makes the store refuse every write until it has healed (below). An
 * obsolete WAL file is kept for reuse
 * ({@code recycle_log_file_num = 1}): renamed and written over instead of deleted and created, so
 * a WAL write lands on allocated blocks and cached pages (ext4's delayed allocation cost the worker
 * about 0.25 µs per 1 KiB request). Each record carries its log's number, and RocksDB stops
 * replaying at the first record of an earlier life of the file ({@code RocksDbWalRecyclingCrashTest}
 * kills a writer on such a file).
 *
 * <p><b>Encryption</b> (with {@link RecoveryStoreConfig#encryptionKey()}): the values of pending,
 * quarantined and state are sealed whole, that of idempotency after its clear expiry (the GC pass
 * reads it), by {@link RecordCipher} (AES-256-GCM, a nonce per value, the value's kind and the
 * request id or idempotency key as associated data). Keys stay clear: request ids, sequence numbers
 * and idempotency keys. The key's fingerprint goes to {@code meta} at the first open with it; an
 * open with no key or another key fails. Values written before a key was configured begin with no
 * {@link RecordCipher#MARKER} and are read as they are.
 *
 * <p><b>Retention:</b> completing a request single-deletes its value. Until a flush, the value and
 * its delete sit in the memtable and the live WAL; a flush drops the pair (nothing reaches an SST)
 * and the WAL is no longer needed; a value flushed while pending stays in its SST until a compaction
 * meets the delete. So every tenth of {@link RecoveryStoreConfig#completedRetention()} the
 * maintenance thread checks for deletes (completions, quarantines, GC), and once it has seen some
 * for a retention it flushes every memtable and compacts pending, quarantined and state
 * ({@code compactRange}, bottommost forced): within 1.2 retentions no SST and no needed WAL holds a
 * deleted value. {@link #markCleanShutdown()} does this at once. What it cannot bound: a WAL file
 * kept for reuse ({@code recycle_log_file_num = 1}) holds the period before the last flush until the
 * next WAL written into it has overwritten it, and that WAL keeps the rest of the old bytes past its
 * end; on a quiet server that lasts until the store closes. {@link #close()} flushes every memtable,
 * so that no WAL is needed, closes the database, then zeroes, forces and deletes every WAL file (a
 * reopen finds none and needs none). SST files RocksDB compacts away are deleted by it, not zeroed.
 *
 * <p><b>Memory:</b> an index of request metadata (id, seq, attempts, custom data, quarantine) is
 * rebuilt from {@code state} on open; request bodies and stored responses stay in RocksDB. Memtables
 * take up to an eighth of {@code maxJournalBytes} each, at most 64 MiB (RocksDB's own default; a
 * flush has a fixed cost, a file and its syncs, that smaller ones pay more often), and together at
 * most a quarter, at most 64 MiB, plus the one being flushed.
 *
 * <p><b>Bounded disk:</b> {@code maxJournalBytes} caps the SST files
 * ({@code rocksdb.total-sst-files-size}) plus the alive WAL files, approximately: the size is
 * measured, then bytes written since are added, and it is measured again when that estimate
 * reaches the cap; the one WAL file kept for reuse is on disk besides (at most the size of a WAL,
 * about a memtable). When it is over, space is reclaimed first (memtable flush, then a forced
 * {@code compactRange} of every column family that drops tombstones and overwritten values; both
 * synchronous, and repeated only after something was deleted or an eighth of the cap went to the
 * WAL); if it is still over, {@link #append} throws
 * {@link JournalFullException}. Completions, attempts, quarantines and custom data are never
 * refused, so a full journal drains. {@code segmentSize} has no meaning here.
 *
 * <p><b>Faults, and healing from them.</b> A full disk fails the write that met it, and RocksDB then
 * stops (every write fails at once) until its SstFileManager sees room for a write buffer again
 * (it polls every 5 s) and resumes by itself. While a write or a sync has failed, the store does
 * not sync the WAL or flush on its own (either would meet the failed WAL writer and make RocksDB's
 * error fatal); the maintenance thread instead retries every {@link #RETRY} to make everything
 * acknowledged durable without the WAL ({@link #flushEverything}), and once that succeeds the fault
 * is over: {@link #fault()} turns empty and writes are accepted again, with or without traffic.
 *
 * <p><b>Garbage collection</b> (at open and every minute on the same daemon thread): expired
 * idempotency responses are found through {@code idempotency_expiry}, deleted, and the expired
 * index range goes with one {@code deleteRange}; quarantined requests older than the TTL are
 * dropped; the ranges are then compacted.
 *
 * <p><b>Threading:</b> RocksDB is thread-safe; operations on different requests run concurrently
 * (so concurrent synced writes share an fsync), operations on one request are serialized on its
 * index entry, and a read-write lock keeps {@link #close()} out while any call runs. Healing runs
 * on the maintenance thread, under the read side of that lock.
 */
public final class RocksDbRecoveryStore implements RecoveryStore {
    private static final Logger LOG = LoggerFactory.getLogger(RocksDbRecoveryStore.class);

    static final Set<PosixFilePermission> FILE_PERMS = PosixFilePermissions.fromString("rw-------");
    static final Set<PosixFilePermission> DIR_PERMS = PosixFilePermissions.fromString("rwx------");

    static final String CF_PENDING = "pending";
    static final String CF_QUARANTINED = "quarantined";
    static final String CF_STATE = "state";
    static final String CF_IDEMPOTENCY = "idempotency";
    static final String CF_IDEMPOTENCY_EXPIRY = "idempotency_expiry";
    static final String CF_META = "meta";
    static final List<String> COLUMN_FAMILIES =
            List.of(CF_PENDING, CF_QUARANTINED, CF_STATE, CF_IDEMPOTENCY, CF_IDEMPOTENCY_EXPIRY, CF_META);

    private static final byte[] META_FORMAT = utf8("format");
    private static final byte[] META_NEXT_SEQ = utf8("next_seq");
    private static final byte[] META_CLEAN = utf8("clean_shutdown");
    /** Never stored: deleting it is the write that asks RocksDB whether it takes writes again. */
    private static final byte[] META_PROBE = utf8("probe");
    private static final byte[] META_KEY_FINGERPRINT = utf8("key_fingerprint");
    /** What a sealed value is, as associated data: it opens only as what it was sealed as. */
    private static final byte SEALED_REQUEST = 1;
    private static final byte SEALED_STATE = 2;
    private static final byte SEALED_RESPONSE = 3;
    private static final int FORMAT = 1;
    private static final int STATE_VERSION = 1;
    /** Rough per-entry cost in the WAL beyond key and value bytes. */
    private static final int ENTRY_OVERHEAD = 32;
    private static final long GC_PERIOD_MILLIS = 60_000;
    /** How often a faulted store tries again to heal. */
    static final Duration RETRY = Duration.ofMillis(500);
    /** The same failure is logged at most once per this interval, with a count. */
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

    static {
        RocksDB.loadLibrary();
    }

    private final RecoveryStoreConfig config;
    private final Path dir;
    private final Clock clock;
    private final long cap;

    // native handles, closed in reverse order of creation
    private final List<AutoCloseable> natives = new ArrayList<>();
    private final List<ColumnFamilyHandle> handles = new ArrayList<>();
    private final RocksDB db;
    private final ColumnFamilyHandle pendingCf;
    private final ColumnFamilyHandle quarantinedCf;
    private final ColumnFamilyHandle stateCf;
    private final ColumnFamilyHandle idemCf;
    private final ColumnFamilyHandle idemExpiryCf;
    private final ColumnFamilyHandle metaCf;
    private final WriteOptions syncWrite;
    private final WriteOptions plainWrite;
    private final FlushOptions flushOptions;
    private final CompactRangeOptions compactOptions;

    private final ReentrantReadWriteLock gate = new ReentrantReadWriteLock();
    private volatile boolean closed; // written under the write lock
    private final ConcurrentHashMap<String, Entry> index = new ConcurrentHashMap<>();
    private final AtomicLong nextSeq;
    private final boolean previousShutdownClean;
    /** Whether the clean-shutdown flag is on disk; set only under the write lock. */
    private volatile boolean cleanFlagOnDisk;
    /** Set by a failed sync; writes are refused until {@link #heal} has flushed every memtable. */
    private final AtomicReference<RecoveryException> syncFailure = new AtomicReference<>();
    /**
     * The last write RocksDB refused (a full disk: it then stops all writes until it recovers);
     * cleared by the next write it takes, or by {@link #heal}.
     */
    private final AtomicReference<RecoveryException> writeFault = new AtomicReference<>();
    /** A {@link #heal} pass is scheduled. */
    private final AtomicBoolean healing = new AtomicBoolean();
    private final LogThrottle throttle = new LogThrottle(LOG_INTERVAL);

    private final AtomicLong journaled = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong attempts = new AtomicLong();
    private final AtomicLong quarantinedTotal = new AtomicLong();
    private final AtomicLong pendingNow = new AtomicLong();
    private final AtomicLong quarantinedNow = new AtomicLong();
    /** Writes not yet covered by a sync (INTERVAL skips its sync when this is 0). */
    private final AtomicLong unsynced = new AtomicLong();
    /** Completions, quarantines and GC deletes: reclaiming space is worth a compaction after some. */
    private final AtomicLong deletes = new AtomicLong();

    // size accounting for maxJournalBytes
    private final Object roomLock = new Object();
    private volatile long measuredBytes;
    private final AtomicLong writtenSinceMeasure = new AtomicLong();
    private long deletesAtLastCompaction = -1; // guarded by roomLock

    private final ScheduledExecutorService maintenance;

    /** Null without an encryption key; a cipher is not thread-safe, so one per thread. */
    private final ThreadLocal<RecordCipher> ciphers;
    /** {@link #deletes} when the request column families were last compacted. */
    private long deletesAtScrub;
    /** When the maintenance thread first saw deletes not yet compacted away; {@code Long.MAX_VALUE} when none. */
    private long garbageSince = Long.MAX_VALUE;

    /** Opens (creating if needed) the store at {@code config.path()}. */
    public RocksDbRecoveryStore(RecoveryStoreConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        this.dir = config.path().toAbsolutePath();
        this.clock = config.clock();
        this.cap = config.maxJournalBytes();
        EncryptionKey key = config.encryptionKey();
        this.ciphers = key == null ? null : ThreadLocal.withInitial(() -> new RecordCipher(key));
        RocksDB opened = null;
        try {
            prepareDirectory(dir);
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
            PermissionListener listener = track(new PermissionListener(dir));
            dbOptions.setListeners(List.of(listener));
            LRUCache cache = track(new LRUCache(8L << 20));
            ColumnFamilyOptions cfOptions = track(appendOrderOptions()
                    .setWriteBufferSize(Math.clamp(cap / 8, 64 << 10, 64 << 20))
                    .setTableFormatConfig(new BlockBasedTableConfig().setBlockCache(cache)));
            List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
            descriptors.add(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, cfOptions));
            for (String name : COLUMN_FAMILIES) {
                descriptors.add(new ColumnFamilyDescriptor(utf8(name), cfOptions));
            }
            syncWrite = track(new WriteOptions().setSync(true).setDisableWAL(false));
            plainWrite = track(new WriteOptions().setSync(false).setDisableWAL(false));
            flushOptions = track(new FlushOptions().setWaitForFlush(true));
            compactOptions = track(new CompactRangeOptions()
                    .setBottommostLevelCompaction(CompactRangeOptions.BottommostLevelCompaction.kForce));
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
            db = opened;
            pendingCf = handles.get(1);
            quarantinedCf = handles.get(2);
            stateCf = handles.get(3);
            idemCf = handles.get(4);
            idemExpiryCf = handles.get(5);
            metaCf = handles.get(6);
            tightenPermissions(dir);

            checkFormat();
            boolean newKey = checkKeyFingerprint();
            byte[] clean = db.get(metaCf, META_CLEAN);
            previousShutdownClean = clean != null;
            cleanFlagOnDisk = previousShutdownClean;
            nextSeq = new AtomicLong(rebuildIndex());
            if (newKey) { // only once every record was read: a failed open must not claim the store
                db.put(metaCf, syncWrite, META_KEY_FINGERPRINT, utf8(config.encryptionKey().fingerprint()));
            }
            collectGarbage();
            measure();
        } catch (RocksDBException e) {
            releaseNatives(opened);
            throw new RecoveryException("cannot open recovery store " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            releaseNatives(opened);
            throw e;
        }
        maintenance = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "stellane-rocksdb-" + dir.getFileName());
            t.setDaemon(true);
            return t;
        });
        if (config.syncPolicy() == SyncPolicy.INTERVAL) {
            long nanos = config.syncInterval().toNanos();
            maintenance.scheduleWithFixedDelay(this::syncQuietly, nanos, nanos, TimeUnit.NANOSECONDS);
        }
        maintenance.scheduleWithFixedDelay(this::collectGarbageQuietly, GC_PERIOD_MILLIS, GC_PERIOD_MILLIS,
                TimeUnit.MILLISECONDS);
        long tick = Math.max(1, config.completedRetention().toMillis() / 10);
        maintenance.scheduleWithFixedDelay(this::scrubQuietly, tick, tick, TimeUnit.MILLISECONDS);
    }

    // ------------------------------------------------------------------ API

    @Override
    public void append(JournaledRequest request) {
        String id = request.requestId();
        byte[] idBytes = utf8(id);
        byte[] value = seal(SEALED_REQUEST, idBytes, RecordCodec.encode(request));
        gate.readLock().lock();
        try {
            checkWritable();
            Entry e = new Entry(id, nextSeq.getAndIncrement(), request.idempotencyKey());
            long bytes = 8L + idBytes.length + value.length + ENTRY_OVERHEAD;
            ensureRoom(bytes, id);
            synchronized (e) {
                if (index.putIfAbsent(id, e) != null) {
                    throw new RecoveryException("request " + id + " is already journaled");
                }
                try {
                    // one put: the state of a fresh request is implied (no attempts, no data), and the
                    // next sequence is recovered from the keys; both are written only when they change
                    writeOne(pendingCf, seqKey(e.seq, idBytes), value, bytes);
                } catch (RocksDBException | RuntimeException ex) {
                    index.remove(id, e);
                    throw failure("cannot journal request " + id, ex);
                }
                e.live = true;
            }
            journaled.incrementAndGet();
            pendingNow.incrementAndGet();
        } finally {
            gate.readLock().unlock();
        }
    }

    /** Yes: a group is one batch and one WAL {@code write(2)}, where one by one each request pays for its own. */
    @Override
    public boolean groupsWrites() {
        return true;
    }

    /** One batch, one WAL write for all: what lets the server group-commit a loop turn's requests. */
    @Override
    public List<RuntimeException> appendAll(List<JournaledRequest> requests) {
        int n = requests.size();
        if (n == 1) {
            return RecoveryStore.super.appendAll(requests); // a lone put needs no batch
        }
        RuntimeException[] failures = new RuntimeException[n];
        Entry[] added = new Entry[n];
        gate.readLock().lock();
        try {
            try {
                checkWritable();
            } catch (RuntimeException e) {
                Arrays.fill(failures, e);
                return Arrays.asList(failures);
            }
            try (WriteBatch b = new WriteBatch()) {
                long bytes = 0;
                Scratch scratch = Scratch.ofCurrentThread();
                RecordCipher cipher = ciphers == null ? null : ciphers.get();
                for (int i = 0; i < n; i++) {
                    JournaledRequest r = requests.get(i);
                    Entry e = new Entry(r.requestId(), nextSeq.getAndIncrement(), r.idempotencyKey());
                    if (index.putIfAbsent(e.id, e) != null) { // in the index, not live: not completable yet
                        failures[i] = new RecoveryException("request " + e.id + " is already journaled");
                        continue;
                    }
                    added[i] = e;
                    byte[] idBytes = utf8(e.id);
                    byte[] key = seqKey(e.seq, idBytes);
                    int size;
                    if (scratch != null) {
                        size = scratch.put(b, pendingCf, key, r, cipher, idBytes);
                    } else {
                        byte[] value = seal(SEALED_REQUEST, idBytes, RecordCodec.encode(r));
                        size = value.length;
                        batchPut(b, pendingCf, key, value);
                    }
                    bytes += 8L + idBytes.length + size + ENTRY_OVERHEAD;
                }
                ensureRoom(bytes, requests.getFirst().requestId());
                write(b, false, bytes);
            } catch (RocksDBException | RuntimeException ex) {
                RecoveryException f = failure("cannot journal " + n + " requests", ex);
                for (int i = 0; i < n; i++) {
                    if (added[i] != null) {
                        index.remove(added[i].id, added[i]);
                        added[i] = null;
                        failures[i] = f;
                    }
                }
            }
            for (Entry e : added) {
                if (e != null) {
                    synchronized (e) {
                        e.live = true;
                    }
                    journaled.incrementAndGet();
                    pendingNow.incrementAndGet();
                }
            }
        } finally {
            gate.readLock().unlock();
        }
        return Arrays.asList(failures);
    }

    /** Adds a put (or, with a null value, a single delete) to a batch; it only fails if native memory does. */
    private static void batchPut(WriteBatch b, ColumnFamilyHandle cf, byte[] key, byte[] value) {
        try {
            if (value == null) {
                b.singleDelete(cf, key);
            } else {
                b.put(cf, key, value);
            }
        } catch (RocksDBException e) {
            throw new RecoveryException("cannot build a write batch: " + e.getMessage(), e);
        }
    }

    /**
     * One batch for the plain completions (pending, no state written, no response to keep); the
     * others one by one. An entry is claimed (no longer live) before the write and restored if it fails.
     */
    @Override
    public List<RuntimeException> completeAll(List<String> requestIds, List<StoredResponse> responses) {
        int n = requestIds.size();
        if (n == 1) {
            return RecoveryStore.super.completeAll(requestIds, responses);
        }
        RuntimeException[] failures = new RuntimeException[n];
        Entry[] claimed = new Entry[n];
        gate.readLock().lock();
        try {
            checkWritable();
            try (WriteBatch b = new WriteBatch()) {
                long bytes = 0;
                for (int i = 0; i < n; i++) {
                    Entry e = index.get(requestIds.get(i));
                    if (e == null || e.hasState || e.quarantineReason != null
                            || (e.idempotencyKey != null && responses.get(i) != null)) {
                        continue; // one by one, below
                    }
                    synchronized (e) {
                        if (!e.live) {
                            continue;
                        }
                        e.live = false;
                    }
                    claimed[i] = e;
                    byte[] idBytes = utf8(e.id);
                    bytes += 8L + 3L * idBytes.length + 2 * ENTRY_OVERHEAD;
                    batchPut(b, pendingCf, seqKey(e.seq, idBytes), null);
                }
                if (bytes > 0) {
                    try {
                        write(b, false, bytes);
                    } catch (RocksDBException | RuntimeException ex) {
                        RecoveryException f = failure("cannot complete " + n + " requests", ex);
                        for (int i = 0; i < n; i++) {
                            if (claimed[i] != null) {
                                synchronized (claimed[i]) {
                                    claimed[i].live = true;
                                }
                                claimed[i] = null;
                                failures[i] = f;
                            }
                        }
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                if (claimed[i] != null) {
                    finishComplete(requestIds.get(i), claimed[i]);
                } else if (failures[i] == null) {
                    try {
                        complete(requestIds.get(i), responses.get(i));
                    } catch (RuntimeException e) {
                        failures[i] = e;
                    }
                }
            }
        } catch (RuntimeException e) { // closed or failed: nothing claimed was written
            for (int i = 0; i < n; i++) {
                if (failures[i] == null && claimed[i] == null) {
                    failures[i] = e;
                }
            }
        } finally {
            gate.readLock().unlock();
        }
        return Arrays.asList(failures);
    }

    @Override
    public void complete(String requestId, StoredResponse responseOrNull) {
        onLiveEntry(requestId, e -> {
            String key = e.idempotencyKey;
            boolean keep = key != null && responseOrNull != null;
            long expires = keep ? config.idempotencyExpiryMillis() : 0;
            byte[] idBytes = utf8(requestId);
            long bytes = 8L + 3L * idBytes.length + 2 * ENTRY_OVERHEAD;
            if (!keep && !e.hasState) {
                try {
                    writeOne(e.quarantineReason == null ? pendingCf : quarantinedCf, seqKey(e.seq, idBytes), null, bytes);
                } catch (RocksDBException | RuntimeException ex) {
                    throw failure("cannot complete request " + requestId, ex);
                }
                return finishComplete(requestId, e);
            }
            try (WriteBatch b = new WriteBatch()) {
                b.singleDelete(e.quarantineReason == null ? pendingCf : quarantinedCf, seqKey(e.seq, idBytes));
                if (e.hasState) {
                    b.delete(stateCf, idBytes);
                }
                if (keep) {
                    byte[] keyBytes = utf8(key);
                    byte[] stored = storedResponse(keyBytes, expires, responseOrNull);
                    b.put(idemCf, keyBytes, stored);
                    b.put(idemExpiryCf, seqKey(expires, keyBytes), new byte[0]);
                    bytes += 2L * keyBytes.length + stored.length + 8 + 2 * ENTRY_OVERHEAD;
                }
                write(b, false, bytes);
            } catch (RocksDBException | RuntimeException ex) {
                throw failure("cannot complete request " + requestId, ex);
            }
            return finishComplete(requestId, e);
        });
    }

    private Void finishComplete(String requestId, Entry e) {
        e.live = false;
        index.remove(requestId, e);
        (e.quarantineReason == null ? pendingNow : quarantinedNow).decrementAndGet();
        completed.incrementAndGet();
        deletes.incrementAndGet();
        return null;
    }

    @Override
    public int recordAttempt(String requestId, String failureReason) {
        return onLiveEntry(requestId, e -> {
            if (e.quarantineReason != null) {
                throw new RecoveryException("request " + requestId + " is quarantined: " + e.quarantineReason);
            }
            int attempt = e.attempts + 1;
            if (attempt > config.maxAttempts()) {
                quarantineLocked(e, "gave up after " + config.maxAttempts() + " attempts; last failure: "
                        + failureReason);
                return attempt;
            }
            Entry next = e.copy();
            next.attempts = attempt;
            next.lastFailure = failureReason;
            putState(next, true, "cannot record an attempt of request " + requestId);
            e.hasState = true;
            e.attempts = attempt;
            e.lastFailure = failureReason;
            attempts.incrementAndGet();
            return attempt;
        });
    }

    @Override
    public void quarantine(String requestId, String reason) {
        Objects.requireNonNull(reason, "reason");
        onLiveEntry(requestId, e -> {
            quarantineLocked(e, reason);
            return null;
        });
    }

    @Override
    public void putCustomData(String requestId, Map<String, String> data) {
        Map<String, String> copy = new LinkedHashMap<>(data);
        onLiveEntry(requestId, e -> {
            Entry next = e.copy();
            next.custom().putAll(copy);
            putState(next, false, "cannot store custom data of request " + requestId);
            e.hasState = true;
            e.custom().putAll(copy);
            return null;
        });
    }

    /**
     * Runs {@code action} on the live entry of {@code requestId}, under the read side of the close
     * gate and the entry's monitor: how every write to one request is serialized.
     */
    private <R> R onLiveEntry(String requestId, java.util.function.Function<Entry, R> action) {
        gate.readLock().lock();
        try {
            checkWritable();
            Entry e = entry(requestId);
            synchronized (e) {
                checkLive(e);
                return action.apply(e);
            }
        } finally {
            gate.readLock().unlock();
        }
    }

    @Override
    public List<PendingRequest> pending() {
        gate.readLock().lock();
        try {
            checkOpen();
            return list(pendingCf, false);
        } finally {
            gate.readLock().unlock();
        }
    }

    @Override
    public List<PendingRequest> quarantined() {
        gate.readLock().lock();
        try {
            checkOpen();
            return list(quarantinedCf, true);
        } finally {
            gate.readLock().unlock();
        }
    }

    @Override
    public Optional<StoredResponse> findByIdempotencyKey(String idempotencyKey) {
        Objects.requireNonNull(idempotencyKey, "idempotencyKey");
        gate.readLock().lock();
        try {
            checkOpen();
            byte[] keyBytes = utf8(idempotencyKey);
            byte[] stored = db.get(idemCf, keyBytes);
            if (stored == null) {
                return Optional.empty();
            }
            RecordCodec.Reader in = new RecordCodec.Reader(stored);
            if (in.i64() <= clock.millis()) {
                return Optional.empty(); // expired; the next GC pass deletes it
            }
            if (RecordCipher.isSealed(stored, 8)) {
                in = new RecordCodec.Reader(opened(SEALED_RESPONSE, keyBytes, stored, 8));
            }
            return Optional.ofNullable(in.response());
        } catch (RocksDBException e) {
            throw new RecoveryException("cannot read recovery store " + dir + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new RecoveryException("corrupt stored response for idempotency key " + idempotencyKey
                    + " in " + dir, e);
        } finally {
            gate.readLock().unlock();
        }
    }

    @Override
    public void markCleanShutdown() {
        gate.writeLock().lock(); // no other write may interleave with setting the flag
        try {
            checkWritable();
            long seen = deletes.get();
            if (seen != deletesAtScrub) {
                try {
                    scrub(seen); // nothing a finished run leaves behind needs to outlive it
                } catch (RocksDBException e) {
                    LOG.warn("recovery store {}: cannot compact deleted requests away at shutdown: {}", dir,
                            e.getMessage());
                }
            }
            try (WriteBatch b = new WriteBatch()) {
                b.put(metaCf, META_CLEAN, new byte[] {1});
                db.write(syncWrite, b);
            } catch (RocksDBException e) {
                throw syncFailed("cannot mark a clean shutdown of " + dir, e);
            }
            cleanFlagOnDisk = true;
        } finally {
            gate.writeLock().unlock();
        }
    }

    @Override
    public RecoveryStoreStats stats() {
        long bytes = 0;
        int files = 0;
        try (Stream<Path> list = Files.list(dir)) {
            for (Path f : list.toList()) {
                String name = f.getFileName().toString();
                try {
                    bytes += Files.size(f);
                } catch (IOException ignored) {
                    continue; // deleted by a compaction meanwhile
                }
                if (name.endsWith(".sst") || name.endsWith(".log")) {
                    files++;
                }
            }
        } catch (IOException e) {
            bytes = measuredBytes;
        }
        return new RecoveryStoreStats(journaled.get(), completed.get(), attempts.get(), quarantinedTotal.get(),
                pendingNow.get(), quarantinedNow.get(), bytes, Math.max(1, files));
    }

    @Override
    public RecoveryStoreConfig config() {
        return config;
    }

    @Override
    public Optional<RecoveryException> fault() {
        RecoveryException f = syncFailure.get();
        return Optional.ofNullable(f != null ? f : writeFault.get());
    }

    @Override
    public void close() {
        gate.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true; // from here on every call throws; calls in flight have finished
        } finally {
            gate.writeLock().unlock();
        }
        maintenance.shutdownNow();
        try {
            if (!maintenance.awaitTermination(30, TimeUnit.SECONDS)) {
                LOG.warn("maintenance thread of recovery store {} did not stop within 30 s", dir);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        gate.writeLock().lock();
        try {
            boolean walNeeded = true;
            try {
                if (syncFailure.get() == null && writeFault.get() == null) {
                    try {
                        // every memtable into an SST file (synced, as is the MANIFEST): no WAL is needed any
                        // more, so none is left holding what was written, deleted requests included
                        db.flush(flushOptions, handles);
                        walNeeded = false;
                    } catch (RocksDBException e) {
                        LOG.warn("recovery store {}: final flush failed ({}); its WAL is kept", dir, e.getMessage());
                        db.flushWal(true);
                    }
                } else {
                    flushEverything(); // a WAL whose write or sync failed cannot be trusted to hold the rest
                }
            } catch (RocksDBException e) {
                LOG.error("final sync of recovery store {} failed", dir, e);
            }
            releaseNatives(db);
            if (!walNeeded) {
                scrubWalFiles(dir);
            }
            tightenPermissions(dir);
        } finally {
            gate.writeLock().unlock();
        }
    }

    /**
     * After a flush and close: zeroes every WAL file (the live one may hold a reused file's old
     * records past its end, the one kept for reuse those of an earlier period), forces it and
     * deletes it. A crash half way leaves zeros, which RocksDB reads as the end of a log.
     */
    private static void scrubWalFiles(Path dir) {
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

    @Override
    public String toString() {
        return "RocksDbRecoveryStore[" + dir + "]";
    }

    // ------------------------------------------------------------------ writes

    private void quarantineLocked(Entry e, String reason) {
        long at = clock.millis();
        byte[] idBytes = utf8(e.id);
        Entry next = e.copy();
        next.quarantineReason = reason;
        next.quarantinedAt = at;
        byte[] state = seal(SEALED_STATE, idBytes, next.encode());
        try (WriteBatch b = new WriteBatch()) {
            long bytes = idBytes.length + state.length + ENTRY_OVERHEAD;
            if (e.quarantineReason == null) {
                byte[] key = seqKey(e.seq, idBytes);
                byte[] request = db.get(pendingCf, key);
                if (request == null) {
                    throw new RecoveryException("request " + e.id + " is missing from " + CF_PENDING + " in " + dir);
                }
                b.singleDelete(pendingCf, key);
                b.put(quarantinedCf, key, request);
                bytes += 2L * key.length + request.length + 2 * ENTRY_OVERHEAD;
            }
            b.put(stateCf, idBytes, state);
            write(b, true, bytes);
        } catch (RocksDBException ex) {
            throw failure("cannot quarantine request " + e.id, ex);
        }
        if (e.quarantineReason == null) {
            pendingNow.decrementAndGet();
            quarantinedNow.incrementAndGet();
            deletes.incrementAndGet();
        }
        e.hasState = true;
        e.quarantineReason = reason;
        e.quarantinedAt = at;
        quarantinedTotal.incrementAndGet();
    }

    private void putState(Entry next, boolean forced, String what) {
        byte[] idBytes = utf8(next.id);
        byte[] state = seal(SEALED_STATE, idBytes, next.encode());
        try (WriteBatch b = new WriteBatch()) {
            b.put(stateCf, idBytes, state);
            write(b, forced, idBytes.length + state.length + ENTRY_OVERHEAD);
        } catch (RocksDBException | RuntimeException ex) {
            throw failure(what, ex);
        }
    }

    /**
     * Writes a batch, synced if {@code forced} or under {@link SyncPolicy#ALWAYS}. The first write
     * after a clean-shutdown mark also deletes the mark.
     */
    private void write(WriteBatch b, boolean forced, long bytes) throws RocksDBException {
        boolean clearFlag = cleanFlagOnDisk;
        if (clearFlag) {
            b.delete(metaCf, META_CLEAN);
        }
        boolean sync = forced || config.syncPolicy() == SyncPolicy.ALWAYS;
        try {
            db.write(sync ? syncWrite : plainWrite, b);
        } catch (RocksDBException e) {
            if (sync) {
                throw syncFailed("synced write to recovery store " + dir + " failed", e);
            }
            throw writeFailed(e);
        }
        wrote();
        if (clearFlag) {
            cleanFlagOnDisk = false;
        }
        if (!sync) {
            unsynced.incrementAndGet();
        }
        writtenSinceMeasure.addAndGet(bytes);
    }

    /**
     * One put ({@code value} non-null) or single delete of a pending or quarantined key, unsynced
     * unless the policy is ALWAYS: straight through {@code RocksDB.put/singleDelete}, four JNI calls
     * fewer than a one-entry batch. A batch after a clean-shutdown mark, which must go in the same write.
     */
    private void writeOne(ColumnFamilyHandle cf, byte[] key, byte[] value, long bytes) throws RocksDBException {
        if (cleanFlagOnDisk) {
            try (WriteBatch b = new WriteBatch()) {
                batchPut(b, cf, key, value);
                write(b, false, bytes);
            }
            return;
        }
        boolean sync = config.syncPolicy() == SyncPolicy.ALWAYS;
        try {
            if (value == null) {
                db.singleDelete(cf, sync ? syncWrite : plainWrite, key);
            } else {
                db.put(cf, sync ? syncWrite : plainWrite, key, value);
            }
        } catch (RocksDBException e) {
            if (sync) {
                throw syncFailed("synced write to recovery store " + dir + " failed", e);
            }
            throw writeFailed(e);
        }
        wrote();
        if (!sync) {
            unsynced.incrementAndGet();
        }
        writtenSinceMeasure.addAndGet(bytes);
    }

    /** A failed sync: writes are refused until {@link #heal} has made everything acknowledged durable without the WAL. */
    private RecoveryException syncFailed(String message, RocksDBException e) {
        RecoveryException failure = new RecoveryException(message + ": " + e.getMessage()
                + "; writes are refused until every memtable is flushed", e);
        syncFailure.set(failure);
        startHealing();
        return failure;
    }

    /** A write RocksDB refused: remembered for {@link #fault()}, and healed from in the background. */
    private RocksDBException writeFailed(RocksDBException e) {
        writeFault.set(new RecoveryException("write to recovery store " + dir + " failed: " + e.getMessage(), e));
        startHealing();
        return e;
    }

    /** A write went through: RocksDB takes writes again (a failed sync still needs {@link #heal}). */
    private void wrote() {
        if (writeFault.get() != null) {
            writeFault.set(null);
        }
    }

    private RecoveryException failure(String message, Exception e) {
        if (e instanceof RecoveryException re) {
            return re;
        }
        return new RecoveryException(message + " in " + dir + ": " + e.getMessage(), e);
    }

    // ------------------------------------------------------------------ size cap

    /** Throws {@link JournalFullException} unless {@code bytes} more fit under maxJournalBytes. */
    private void ensureRoom(long bytes, String requestId) {
        if (measuredBytes + writtenSinceMeasure.get() + bytes <= cap) {
            return;
        }
        RecoveryException fault = writeFault.get();
        if (fault != null) {
            // reclaiming flushes, which must not meet a failed WAL writer (see flushEverything)
            throw new RecoveryException("recovery store " + dir + " cannot reclaim space while writes fail", fault);
        }
        synchronized (roomLock) {
            try {
                long[] now = measure();
                if (now[0] + now[1] + bytes <= cap) {
                    return;
                }
                long deleted = deletes.get();
                if (deleted != deletesAtLastCompaction || now[1] >= cap / 8) {
                    // reclaim: memtables to SST (the WAL goes), then a full compaction drops deleted
                    // and overwritten entries; synchronous, so a refusal below does not depend on
                    // background timing, and skipped while nothing changed
                    db.flush(flushOptions, handles);
                    for (ColumnFamilyHandle cf : handles) {
                        db.compactRange(cf, null, null, compactOptions);
                    }
                    deletesAtLastCompaction = deleted;
                    tightenPermissions(dir); // the listener does too, but on RocksDB's thread
                    now = measure();
                    if (now[0] + now[1] + bytes <= cap) {
                        return;
                    }
                }
                throw new JournalFullException("recovery store " + dir + " is full: " + now[0] + " bytes of SST files"
                        + " and " + now[1] + " bytes of WAL on disk (maxJournalBytes " + cap + ") hold "
                        + pendingNow.get() + " pending and " + quarantinedNow.get() + " quarantined requests;"
                        + " request " + requestId + " (about " + bytes + " bytes) was not journaled. Complete or"
                        + " quarantine requests, or raise maxJournalBytes");
            } catch (RocksDBException e) {
                writeFailed(e);
                throw new RecoveryException("cannot reclaim space in recovery store " + dir + ": " + e.getMessage(), e);
            }
        }
    }

    /** Measures {SST bytes, WAL bytes} and restarts the written-since estimate. */
    private long[] measure() throws RocksDBException {
        long written = writtenSinceMeasure.get();
        long sst = db.getAggregatedLongProperty("rocksdb.total-sst-files-size");
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
        for (LogFile f : db.getSortedWalFiles()) {
            if (f.type() == WalFileType.kAliveLogFile) {
                total += f.sizeFileBytes();
            }
        }
        return total;
    }

    // ------------------------------------------------------------------ background work

    private void syncQuietly() {
        gate.readLock().lock();
        try {
            if (closed || fault().isPresent()) {
                // a WAL sync that met a failed WAL writer would make RocksDB's error fatal: heal() flushes
                // instead. (A sync already running when the first write fails can still meet it; RocksDB
                // then needs a restart.)
                return;
            }
            long seen = unsynced.get();
            if (seen == 0) {
                return;
            }
            db.flushWal(true);
            unsynced.addAndGet(-seen);
        } catch (RocksDBException e) {
            throttle.error(LOG, "sync", "recovery store " + dir + ": background WAL sync failed; refusing writes"
                    + " until every memtable is flushed", syncFailed("background WAL sync of " + dir + " failed", e));
        } finally {
            gate.readLock().unlock();
        }
    }

    /**
     * Every tenth of {@link RecoveryStoreConfig#completedRetention()}: once deletes (completions,
     * quarantines, GC) have waited a retention since the thread first saw them, {@link #scrub}.
     */
    private void scrubQuietly() {
        gate.readLock().lock();
        try {
            if (closed || syncFailure.get() != null || writeFault.get() != null) {
                return; // a flush now would make a recoverable write error a fatal one (see heal)
            }
            long seen = deletes.get();
            if (seen == deletesAtScrub) {
                return;
            }
            long now = clock.millis();
            if (garbageSince == Long.MAX_VALUE) {
                garbageSince = now;
            }
            if (now - garbageSince >= config.completedRetention().toMillis()) {
                scrub(seen);
            }
        } catch (RocksDBException | RuntimeException e) {
            throttle.warn(LOG, "scrub", "recovery store " + dir + ": cannot compact deleted requests away yet: " + e, null);
        } finally {
            gate.readLock().unlock();
        }
    }

    /**
     * Flushes every memtable, so no live WAL holds what was deleted (a put and its single delete in
     * one memtable leave nothing in the SST), then compacts the request column families, so no SST
     * does either. {@code seen} is {@link #deletes} before it started. Only the maintenance thread
     * and {@link #markCleanShutdown()} (which keeps it out) call it.
     */
    private void scrub(long seen) throws RocksDBException {
        db.flush(flushOptions, handles);
        for (ColumnFamilyHandle cf : List.of(pendingCf, quarantinedCf, stateCf)) {
            db.compactRange(cf, null, null, compactOptions);
        }
        deletesAtScrub = seen;
        garbageSince = Long.MAX_VALUE;
        tightenPermissions(dir);
    }

    private void collectGarbageQuietly() {
        gate.readLock().lock();
        try {
            if (!closed && fault().isEmpty()) {
                collectGarbage();
            }
        } catch (RuntimeException e) {
            throttle.warn(LOG, "gc", "recovery store " + dir + ": garbage collection failed; retrying in a minute", e);
        } finally {
            gate.readLock().unlock();
        }
    }

    /**
     * Deletes expired idempotency responses and quarantined requests older than the TTL, then
     * compacts what it deleted. Returns how many records it dropped. Package-private for tests.
     */
    int collectGarbage() {
        long now = clock.millis();
        int dropped = 0;
        try {
            // idempotency responses, through the expiry index
            byte[] upper = be64(now + 1 < now ? Long.MAX_VALUE : now + 1);
            boolean any = false;
            try (WriteBatch b = new WriteBatch();
                    Slice bound = new Slice(upper);
                    ReadOptions ro = new ReadOptions().setIterateUpperBound(bound);
                    RocksIterator it = db.newIterator(idemExpiryCf, ro)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    any = true;
                    byte[] k = it.key();
                    byte[] key = Arrays.copyOfRange(k, 8, k.length);
                    byte[] stored = db.get(idemCf, key);
                    // the key may have been stored again later, with a later expiry
                    if (stored != null && new RecordCodec.Reader(stored).i64() <= now) {
                        b.delete(idemCf, key);
                        dropped++;
                    }
                }
                it.status();
                if (any) {
                    b.deleteRange(idemExpiryCf, new byte[0], upper);
                    write(b, false, b.getDataSize());
                }
            }
            if (any) {
                db.compactRange(idemCf, null, null, compactOptions);
                db.compactRange(idemExpiryCf, null, upper, compactOptions);
            }
            // dead letters past the TTL
            long ttl = config.idempotencyTtl().toMillis();
            boolean droppedQuarantined = false;
            for (Entry e : index.values()) {
                synchronized (e) {
                    if (!e.live || e.quarantineReason == null || e.quarantinedAt + ttl > now) {
                        continue;
                    }
                    byte[] idBytes = utf8(e.id);
                    try (WriteBatch b = new WriteBatch()) {
                        b.singleDelete(quarantinedCf, seqKey(e.seq, idBytes));
                        if (e.hasState) {
                            b.delete(stateCf, idBytes);
                        }
                        write(b, false, b.getDataSize());
                    }
                    e.live = false;
                    index.remove(e.id, e);
                    quarantinedNow.decrementAndGet();
                    dropped++;
                    droppedQuarantined = true;
                }
            }
            if (droppedQuarantined) {
                db.compactRange(quarantinedCf, null, null, compactOptions);
                db.compactRange(stateCf, null, null, compactOptions);
            }
        } catch (RocksDBException e) {
            throw new RecoveryException("garbage collection of recovery store " + dir + " failed: " + e.getMessage(), e);
        }
        deletes.addAndGet(dropped);
        if (dropped > 0) {
            tightenPermissions(dir);
        }
        return dropped;
    }

    // ------------------------------------------------------------------ healing

    /** Schedules a {@link #heal} pass on the maintenance thread, unless one is pending. */
    private void startHealing() {
        if (!closed && healing.compareAndSet(false, true)) {
            try {
                maintenance.schedule(this::heal, RETRY.toMillis(), TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                healing.set(false); // closing
            }
        }
    }

    /**
     * Every {@link #RETRY} while a fault lasts, on the maintenance thread: flushes everything
     * ({@link #flushEverything}); once that succeeds, the fault is over and writes are accepted
     * again. Runs without traffic, so {@link #fault()} turns empty by itself.
     */
    private void heal() {
        gate.readLock().lock();
        try {
            RecoveryException sync = syncFailure.get();
            RecoveryException write = writeFault.get();
            if (closed || sync == null && write == null) {
                return;
            }
            try {
                flushEverything();
            } catch (RocksDBException e) {
                throttle.warn(LOG, "heal", "recovery store " + dir + " still cannot write: " + e.getMessage(), null);
                return;
            }
            writeFault.compareAndSet(write, null);
            if (sync != null && syncFailure.compareAndSet(sync, null)) {
                LOG.warn("recovery store {}: every memtable flushed after a failed sync ({}); writes are accepted"
                        + " again", dir, sync.getMessage());
            }
        } finally {
            gate.readLock().unlock();
            healing.set(false);
            if (syncFailure.get() != null || writeFault.get() != null) {
                startHealing();
            }
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
     * itself (an I/O error other than a full disk) keeps the store refusing writes until a restart.
     *
     * <p>Why a flush, and not a retried WAL sync, ends a sync failure: after a failed sync the WAL's
     * last writes may never reach the disk (the kernel may have marked the failed pages clean), so a
     * later sync that succeeds proves nothing about them. Every acknowledged write is in a memtable,
     * though, and a flush writes those into SST files that are synced and recorded in the MANIFEST
     * before it returns: afterwards nothing acknowledged depends on the old WAL.
     */
    private void flushEverything() throws RocksDBException {
        db.delete(metaCf, plainWrite, META_PROBE);
        db.flush(flushOptions, handles);
        db.flushWal(true);
    }

    // ------------------------------------------------------------------ open

    private static void prepareDirectory(Path dir) {
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(DIR_PERMS));
            }
            Files.setPosixFilePermissions(dir, DIR_PERMS); // the store owns its directory
        } catch (IOException e) {
            throw new RecoveryException("cannot create recovery store directory " + dir + ": " + e.getMessage(), e);
        }
    }

    private void checkFormat() throws RocksDBException {
        byte[] format = db.get(metaCf, META_FORMAT);
        if (format == null) {
            db.put(metaCf, syncWrite, META_FORMAT, be32(FORMAT));
        } else if (format.length != 4 || new RecordCodec.Reader(format).i32() != FORMAT) {
            throw new RecoveryException("recovery store " + dir + " has an unknown format " + Arrays.toString(format)
                    + "; this version reads format " + FORMAT);
        }
    }

    /** Loads the index from {@code state} and checks it against the request column families; returns the next seq. */
    private long rebuildIndex() throws RocksDBException {
        long maxSeq = 0;
        try (RocksIterator it = db.newIterator(stateCf)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                String id = new String(it.key(), StandardCharsets.UTF_8);
                Entry e;
                try {
                    e = Entry.decode(id, opened(SEALED_STATE, it.key(), it.value(), 0));
                } catch (IllegalArgumentException ex) {
                    throw new RecoveryException("corrupt state of request " + id + " in recovery store " + dir, ex);
                }
                e.live = true;
                e.hasState = true;
                index.put(id, e);
                maxSeq = Math.max(maxSeq, e.seq);
            }
            it.status();
        }
        for (boolean quarantinedSide : new boolean[] {false, true}) {
            try (RocksIterator it = db.newIterator(quarantinedSide ? quarantinedCf : pendingCf)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    byte[] k = it.key();
                    long seq = seqOf(k);
                    String id = idOf(k);
                    maxSeq = Math.max(maxSeq, seq);
                    Entry e = index.get(id);
                    if (e == null && !quarantinedSide) {
                        // a request with nothing recorded since its append: the implied fresh state
                        e = new Entry(id, seq, requestOf(k, it.value()).idempotencyKey());
                        e.live = true;
                        index.put(id, e);
                    } else if (e == null || e.seq != seq || (e.quarantineReason != null) != quarantinedSide) {
                        // cannot happen with atomic batches; never drop a request silently
                        LOG.warn("recovery store {}: request {} (seq {}) in {} has no matching state; kept as pending",
                                dir, id, seq, quarantinedSide ? CF_QUARANTINED : CF_PENDING);
                        if (e == null) {
                            e = new Entry(id, seq, requestOf(k, it.value()).idempotencyKey());
                            e.live = true;
                            index.put(id, e);
                        }
                    }
                    if (quarantinedSide) {
                        quarantinedNow.incrementAndGet();
                    } else {
                        pendingNow.incrementAndGet();
                    }
                }
                it.status();
            }
        }
        byte[] stored = db.get(metaCf, META_NEXT_SEQ);
        long fromMeta = stored == null ? 1 : new RecordCodec.Reader(stored).i64();
        return Math.max(Math.max(fromMeta, maxSeq + 1), 1);
    }

    // ------------------------------------------------------------------ reads

    private List<PendingRequest> list(ColumnFamilyHandle cf, boolean quarantinedSide) {
        List<PendingRequest> out = new ArrayList<>();
        long now = clock.millis();
        long ttl = config.idempotencyTtl().toMillis();
        try (RocksIterator it = db.newIterator(cf)) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                byte[] k = it.key();
                String id = idOf(k);
                Entry e = index.get(id);
                if (e == null) {
                    continue; // completed since the iterator was created
                }
                PendingRequest view;
                synchronized (e) {
                    if (!e.live || e.seq != seqOf(k) || (e.quarantineReason != null) != quarantinedSide) {
                        continue;
                    }
                    if (quarantinedSide && e.quarantinedAt + ttl <= now) {
                        continue; // expired dead letter; the next GC pass drops it
                    }
                    JournaledRequest request;
                    try {
                        request = requestOf(k, it.value());
                    } catch (IllegalArgumentException ex) {
                        throw new RecoveryException("corrupt journaled request " + id + " in " + dir, ex);
                    }
                    view = new PendingRequest(request, e.attempts, e.lastFailure, e.customOrEmpty(), previousShutdownClean,
                            e.quarantineReason,
                            e.quarantineReason == null ? null : Instant.ofEpochMilli(e.quarantinedAt));
                }
                out.add(view);
            }
            it.status();
        } catch (RocksDBException ex) {
            throw new RecoveryException("cannot read recovery store " + dir + ": " + ex.getMessage(), ex);
        }
        return out;
    }

    // ------------------------------------------------------------------ encryption

    /** {@code value} sealed for {@code context} and {@code id} with the store's key; as it is without one. */
    private byte[] seal(byte context, byte[] id, byte[] value) {
        return ciphers == null ? value : ciphers.get().seal(context, id, value, 0, value.length);
    }

    /** The clear bytes of a stored value from {@code offset} on: opened if sealed, else as stored. */
    private byte[] opened(byte context, byte[] id, byte[] value, int offset) {
        if (!RecordCipher.isSealed(value, offset)) {
            return offset == 0 ? value : Arrays.copyOfRange(value, offset, value.length);
        }
        if (ciphers == null) {
            throw new RecoveryException("recovery store " + dir + " holds encrypted records and no encryption key"
                    + " is configured; " + RecordCipher.KEY_HINT);
        }
        try {
            return ciphers.get().open(context, id, value, offset, value.length - offset);
        } catch (RecoveryException e) {
            throw new RecoveryException("recovery store " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The request stored under a pending or quarantined key. */
    private JournaledRequest requestOf(byte[] key, byte[] value) {
        byte[] id = Arrays.copyOfRange(key, 8, key.length);
        return new RecordCodec.Reader(opened(SEALED_REQUEST, id, value, 0)).request();
    }

    /** An idempotency value: the expiry in clear (the GC pass reads it), then the response, sealed with a key. */
    private byte[] storedResponse(byte[] idempotencyKey, long expires, StoredResponse r) {
        if (ciphers == null) {
            return new RecordCodec.Writer(64 + r.bodyLength()).i64(expires).response(r).toByteArray();
        }
        RecordCodec.Writer clear = new RecordCodec.Writer(64 + r.bodyLength()).response(r);
        byte[] out = new byte[8 + clear.size() + RecordCipher.OVERHEAD];
        System.arraycopy(be64(expires), 0, out, 0, 8);
        ciphers.get().seal(SEALED_RESPONSE, idempotencyKey, clear.array(), 0, clear.size(), out, 8);
        return out;
    }

    /**
     * A store opened with a key keeps its fingerprint in {@code meta} and from then on opens with
     * that key only. Returns whether it has none and a key is configured: the open then records the
     * key's (the store's clear values stay readable).
     */
    private boolean checkKeyFingerprint() throws RocksDBException {
        byte[] stored = db.get(metaCf, META_KEY_FINGERPRINT);
        return RecordCipher.checkFingerprint("recovery store " + dir,
                stored == null ? null : new String(stored, StandardCharsets.US_ASCII), config.encryptionKey());
    }

    // ------------------------------------------------------------------ helpers

    private Entry entry(String requestId) {
        Entry e = index.get(Objects.requireNonNull(requestId, "requestId"));
        if (e == null) {
            throw unknown(requestId);
        }
        return e;
    }

    private static void checkLive(Entry e) {
        if (!e.live) {
            throw unknown(e.id);
        }
    }

    private static RecoveryException unknown(String requestId) {
        return new RecoveryException("unknown request " + requestId + " (never journaled, or already completed)");
    }

    private void checkOpen() {
        if (closed) {
            throw new RecoveryException("recovery store " + dir + " is closed");
        }
    }

    private void checkWritable() {
        checkOpen();
        RecoveryException failure = syncFailure.get();
        if (failure != null) {
            throw new RecoveryException("recovery store " + dir + " refuses writes after a failed sync", failure);
        }
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

    /** Closes column family handles, then the database, then every option object. */
    private void releaseNatives(RocksDB database) {
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

    /** Narrows every regular file in {@code dir} to 0600 (RocksDB creates files 0644 less the umask). */
    static void tightenPermissions(Path dir) {
        try (Stream<Path> list = Files.list(dir)) {
            for (Path f : list.toList()) {
                try {
                    if (Files.isRegularFile(f) && !Files.getPosixFilePermissions(f).equals(FILE_PERMS)) {
                        Files.setPosixFilePermissions(f, FILE_PERMS);
                    }
                } catch (NoSuchFileException ignored) {
                    // deleted by RocksDB meanwhile
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot narrow file permissions in recovery store {}: {}", dir, e.getMessage());
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] be64(long v) {
        return new RecordCodec.Writer(8).i64(v).toByteArray();
    }

    private static byte[] be32(int v) {
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

    static String idOf(byte[] key) {
        return new String(key, 8, key.length - 8, StandardCharsets.UTF_8);
    }

    /** Metadata of one pending or quarantined request; mutated only while synchronized on it. */
    /**
     * A platform thread's buffers for the grouped append: the request is encoded into a reused
     * array and handed to the batch from a reused direct buffer, which RocksDB reads in place. One
     * fresh 1 KiB array per request cost the worker about as much as RocksDB's memtable insert (its
     * lines are cold), and the JNI call copied it again. Virtual threads (one per blocking request)
     * and requests over {@value #MAX} bytes take the plain path.
     */
    private static final class Scratch {
        static final int MAX = 64 << 10;
        private static final ThreadLocal<Scratch> PER_THREAD = ThreadLocal.withInitial(Scratch::new);

        final RecordCodec.Writer writer = new RecordCodec.Writer(4096);
        /** Made by the first sealed request: without a key, never. */
        byte[] sealed = new byte[0];
        ByteBuffer key = ByteBuffer.allocateDirect(256);
        ByteBuffer value = ByteBuffer.allocateDirect(4096);

        static Scratch ofCurrentThread() {
            return Thread.currentThread().isVirtual() ? null : PER_THREAD.get();
        }

        /**
         * Adds {@code r} under {@code k} to the batch, sealed if {@code cipher} is not null;
         * returns the value's size.
         */
        int put(WriteBatch b, ColumnFamilyHandle cf, byte[] k, JournaledRequest r, RecordCipher cipher, byte[] id) {
            RecordCodec.Writer w = writer.reset().request(r);
            byte[] bytes = w.array();
            int size = w.size();
            if (cipher != null) {
                if (sealed.length < size + RecordCipher.OVERHEAD) {
                    sealed = new byte[Math.max(size + RecordCipher.OVERHEAD, 2 * sealed.length)];
                }
                size = cipher.seal(SEALED_REQUEST, id, bytes, 0, size, sealed, 0);
                bytes = sealed;
            }
            if (size > MAX) {
                batchPut(b, cf, k, Arrays.copyOf(bytes, size));
                return size;
            }
            key = fill(key, k, k.length);
            value = fill(value, bytes, size);
            try {
                b.put(cf, key, value);
            } catch (RocksDBException e) {
                throw new RecoveryException("cannot build a write batch: " + e.getMessage(), e);
            }
            return size;
        }

        private static ByteBuffer fill(ByteBuffer to, byte[] from, int length) {
            ByteBuffer buf = to.capacity() >= length ? to : ByteBuffer.allocateDirect(Math.max(length, 2 * to.capacity()));
            buf.clear();
            buf.put(from, 0, length).flip();
            return buf;
        }
    }

    private static final class Entry {
        final String id;
        final long seq;
        final String idempotencyKey;
        /** Made on the first custom data: most requests never get any. */
        private LinkedHashMap<String, String> custom;
        int attempts;
        String lastFailure;
        String quarantineReason;
        long quarantinedAt;
        /** Its append is committed and it is not completed or dropped. */
        boolean live;
        /** Its state is in {@code state}: written at its first attempt, custom data or quarantine. */
        boolean hasState;

        Entry(String id, long seq, String idempotencyKey) {
            this.id = id;
            this.seq = seq;
            this.idempotencyKey = idempotencyKey;
        }

        Map<String, String> custom() {
            return custom != null ? custom : (custom = new LinkedHashMap<>());
        }

        Map<String, String> customOrEmpty() {
            return custom != null ? custom : Map.of();
        }

        Entry copy() {
            Entry c = new Entry(id, seq, idempotencyKey);
            if (custom != null) {
                c.custom().putAll(custom);
            }
            c.attempts = attempts;
            c.lastFailure = lastFailure;
            c.quarantineReason = quarantineReason;
            c.quarantinedAt = quarantinedAt;
            return c;
        }

        byte[] encode() {
            return new RecordCodec.Writer(64).u8(STATE_VERSION).i64(seq).str(idempotencyKey).i32(attempts)
                    .str(lastFailure).map(customOrEmpty()).str(quarantineReason).i64(quarantinedAt).toByteArray();
        }

        static Entry decode(String id, byte[] value) {
            RecordCodec.Reader in = new RecordCodec.Reader(value);
            int version = in.u8();
            if (version != STATE_VERSION) {
                throw new IllegalArgumentException("unknown state version " + version);
            }
            Entry e = new Entry(id, in.i64(), in.str());
            e.attempts = in.i32();
            e.lastFailure = in.str();
            e.custom().putAll(in.map());
            e.quarantineReason = in.str();
            e.quarantinedAt = in.i64();
            if (in.hasRemaining()) {
                throw new IllegalArgumentException("trailing bytes in state");
            }
            return e;
        }
    }

    /** Narrows the permissions of files RocksDB created in the background (new WAL, SST, MANIFEST). */
    private static final class PermissionListener extends AbstractEventListener {
        private final Path dir;

        PermissionListener(Path dir) {
            super(EnabledEventCallback.ON_FLUSH_COMPLETED, EnabledEventCallback.ON_COMPACTION_COMPLETED);
            this.dir = dir;
        }

        @Override
        public void onFlushCompleted(RocksDB db, FlushJobInfo info) {
            tightenPermissions(dir);
        }

        @Override
        public void onCompactionCompleted(RocksDB db, CompactionJobInfo info) {
            tightenPermissions(dir);
        }
    }
}
