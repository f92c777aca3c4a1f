package io.stellane.recovery.mmap;

import io.stellane.logging.LogThrottle;
import io.stellane.recovery.HttpHeader;
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
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code "mmap"} recovery store: a segmented, append-only journal on memory-mapped files.
 *
 * <h2>How it works</h2>
 * <pre>
 * dir/                       0700, fsynced after every segment create/delete
 *   journal.lock             exclusive FileLock while open (one store per directory)
 *   key.fingerprint          0600, the fingerprint of the encryption key (absent: never opened with a key)
 *   seg-&lt;baseSeq:020d&gt;.log   0600, preallocated with zeros, mapped READ_WRITE; only the last is written
 *
 * segment = file header (u32 magic "STJ1" | u32 version 1 | u64 baseSeq) + frames, 8-byte aligned:
 *   u32 len | u32 crc32c | u8 type | u8 flags | u16 0 | u32 0 | u64 seq | payload
 *   flags: 1 SNAPSHOT (carried forward by compaction), 2 ENCRYPTED (payload sealed, see below)
 *   len = 24 + payload bytes; crc32c (java.util.zip.CRC32C) covers bytes 8..len; seq strictly increases
 *   across the whole journal; the next frame starts at align8(offset + len); len == 0 ends the log.
 *   The payload and the rest of the header are stored first, len last with a release store.
 * </pre>
 * Record types: REQUEST, ATTEMPT, COMPLETE, QUARANTINE, CUSTOM_DATA, CLEAN_SHUTDOWN. Nothing is
 * updated in place: completing a request appends COMPLETE. An in-memory index (pending and
 * quarantined requests, stored idempotent responses) is the only read path and is rebuilt by
 * scanning every segment in order on open. The scan of a segment stops at len == 0, a len that
 * overruns the segment, a CRC mismatch, a seq not above the previous one, or an undecodable
 * payload; it logs a WARN naming the file and offset and ignores the rest of that segment. In the
 * last segment the rest is zeroed, so new frames never sit before stale bytes.
 *
 * <p><b>Compaction</b> (on every segment roll, and before refusing a request when the journal is
 * full): oldest segment first, the records still live in it (pending requests with their attempt
 * count, failure reason and custom data; quarantined requests within the TTL; stored responses
 * within the TTL) are <em>carried forward</em> as SNAPSHOT-flagged copies into the active segment,
 * forced, and only then is the old segment deleted and the directory forced. A snapshot keeps the
 * original sequence number, so {@link #pending()} keeps append order. A crash between copy and
 * delete leaves duplicates, which the scan resolves (a later snapshot replaces the state). Only the
 * oldest segment is ever deleted, so a COMPLETE is never deleted while its REQUEST survives. If
 * the live records do not fit the active segment, the old one is kept for now.
 *
 * <p><b>Encryption</b> (with {@link RecoveryStoreConfig#encryptionKey()}): every payload is sealed
 * ({@link RecordCipher}: AES-256-GCM, a nonce per frame, the record type as associated data) and the
 * frame flagged ENCRYPTED; lengths, CRCs, types and sequence numbers stay clear. The key's
 * fingerprint is written to {@code key.fingerprint} (a temporary file, forced, renamed, the
 * directory forced) the first time the journal opens with it; an open with no key or another key
 * fails before the scan. A journal written without a key opens with one: its clear frames are read
 * as before and count as garbage (below), so they are rewritten sealed. An ENCRYPTED frame whose CRC
 * holds but that does not open fails the open: stopping the scan there would silently drop
 * everything after it.
 *
 * <p><b>Retention:</b> records nobody needs (those of completed requests; stored responses and dead
 * letters past the TTL; clear frames of an encrypted journal) leave the files within 1.2 times
 * {@link RecoveryStoreConfig#completedRetention()}: the maintenance thread looks every tenth of it,
 * notes when it first sees such records, and once they are a retention old it rolls to a fresh
 * segment, so that compaction carries the live records out of every older one. Nothing is rewritten
 * while no such record exists (a quiet journal stays as it is), nor when the live records might not
 * fit one segment (it tries again a retention later). {@link #markCleanShutdown()} does the same at
 * once, before its mark, and a rewrite after the mark writes the mark again. A compacted segment is
 * deleted once its carried copies are forced ({@link #retire}: deleted, not zeroed in place).
 *
 * <p><b>Bounded disk:</b> at most {@code maxJournalBytes / segmentSize} segments exist. The last
 * one is reserved for completions, attempts and quarantines: a REQUEST is refused with
 * {@link JournalFullException} while the reserve is in use, so a full journal can still drain.
 *
 * <p><b>Off the appending threads</b> (a worker journals inline under NONE and INTERVAL): the next
 * segment is prepared ahead on a virtual thread as {@code seg-spare.log.tmp} (zeros, fsync, map,
 * one write fault per page); a roll writes its file header and renames it into place, and the next
 * sync forces both (ALWAYS forces them at once). Compacted segments are deleted by the maintenance
 * thread, which also runs the INTERVAL syncs and the retention checks. Spare and
 * compacted-but-undeleted files count against the segment cap; when the cap needs their room, the
 * roll deletes inline. A deleted segment is unmapped at once ({@link Segment#release}): a mapping
 * keeps a deleted file's blocks allocated.
 *
 * <p><b>Faults, and healing from them</b> (a full disk, a failing one). Records are written into
 * preallocated, already-faulted pages, so a full disk never faults a write into the mapping (no
 * SIGBUS); what fails is creating a segment, or a force.
 * <ul>
 * <li>A segment that cannot be created fails the write that needed it, and every later one that
 * needs it fails at once, without touching the disk, until the maintenance thread, retrying every
 * {@link #RETRY}, has prepared a spare again (or, at the segment cap, sees room for one).
 * <li>A failed force makes the store refuse every write until the maintenance thread has
 * rewritten and forced everything written so far ({@link #healSync}: why a plain retry would lie is
 * explained there). Until then {@link #fault()} says why.
 * </ul>
 *
 * <p><b>Threading:</b> one lock guards the write position, sequence and index; payloads are
 * encoded into one reused buffer and copied into the mapping under it, and forces ({@code msync})
 * run after releasing it. Healing runs on the maintenance thread; it takes the lock only to read
 * the segments and to publish its result.
 */
final class MmapRecoveryStore implements RecoveryStore {
    private static final Logger LOG = LoggerFactory.getLogger(MmapRecoveryStore.class);

    static final Set<PosixFilePermission> FILE_PERMS = PosixFilePermissions.fromString("rw-------");
    static final Set<PosixFilePermission> DIR_PERMS = PosixFilePermissions.fromString("rwx------");
    static final String LOCK_FILE = "journal.lock";

    static final int HEADER = 24;
    static final byte REQUEST = 1;
    static final byte ATTEMPT = 2;
    static final byte COMPLETE = 3;
    static final byte QUARANTINE = 4;
    static final byte CUSTOM_DATA = 5;
    static final byte CLEAN_SHUTDOWN = 6;
    /** A copy carried forward by compaction: REQUEST with full state, or a COMPLETE kept for its response. */
    static final byte FLAG_SNAPSHOT = 1;
    /** The payload is sealed with the store's key ({@link RecordCipher}, the record type as context). */
    static final byte FLAG_ENCRYPTED = 2;
    /** Holds the fingerprint of the key the journal is encrypted with; absent for a clear-text journal. */
    static final String KEY_FINGERPRINT_FILE = "key.fingerprint";

    private static final VarHandle INT_VIEW =
            MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);
    /** How often a faulted store tries again to heal. */
    static final Duration RETRY = Duration.ofMillis(500);
    /** The same failure is logged at most once per this interval, with a count. */
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

    /** Forces {@code [from, to)} of a segment; throws {@link RecoveryException} when the disk did not take it. */
    @FunctionalInterface
    interface Msync {
        void force(Segment segment, int from, int to);
    }

    private final RecoveryStoreConfig config;
    private final Path dir;
    private final Clock clock;
    private final int maxSegments;
    private final ReentrantLock lock = new ReentrantLock();
    private final CRC32C crc = new CRC32C();
    private final byte[] header = new byte[HEADER];
    /** Payloads are encoded here, under the lock: no buffer per record. */
    private final RecordCodec.Writer scratch = new RecordCodec.Writer(4096);
    /** Null without an encryption key; used under the lock (and by the scan, before any other thread). */
    private final RecordCipher cipher;
    /** Sealed payloads are written here, under the lock. */
    private byte[] sealed = new byte[0];
    private final long retentionMillis;

    // all below guarded by lock
    private final ArrayList<Segment> segments = new ArrayList<>();
    private Segment active;
    private long nextSeq;
    private final HashMap<String, Entry> entries = new HashMap<>();
    private final HashMap<String, Idem> idempotency = new HashMap<>();
    private volatile boolean closed;
    private long journaled;
    private long completed;
    private long attempts;
    private long quarantinedCount;
    private long terminalVersion;
    private long compactedAtVersion = -1;
    /**
     * The next segment, prepared on a virtual thread that never takes the lock (a roll waits for it
     * under the lock); counts against the segment cap.
     */
    private CompletableFuture<Segment.Spare> spare;
    /** Compacted segments whose files the maintenance thread has yet to delete; they count too. */
    private final ArrayList<Retired> retiring = new ArrayList<>();
    /** A segment was renamed into place since the directory was last forced. */
    private boolean dirDirty;
    /** {@link #completed} when the files last held no completed request. */
    private long completedAtRewrite;
    /**
     * When the maintenance thread first saw records nobody needs in the files (a completion since the
     * last rewrite, an expired response or dead letter, a clear record in an encrypted journal);
     * {@code Long.MAX_VALUE} when it has seen none.
     */
    private long garbageSince = Long.MAX_VALUE;
    /** The earliest time a stored response or dead letter expires; may be early (it is only a hint). */
    private long nextExpiry = Long.MAX_VALUE;
    /**
     * The sequence of the last CLEAN_SHUTDOWN frame; it is the last frame while {@code nextSeq} is
     * one above it, and a rewrite must then write it again after its copies. Kept so, rather than
     * noted on every write, to leave the append path as it is.
     */
    private long cleanMarkSeq = -1;

    /** Set by a failed force; writes are refused until {@link #healSync} has rewritten and forced everything. */
    private final AtomicReference<RecoveryException> syncFailure = new AtomicReference<>();
    /**
     * Why the last segment could not be created (a full disk); until one can be, a record that needs
     * a new segment fails at once instead of trying again on the appending thread.
     */
    private volatile RecoveryException segmentFault;
    /** A {@link #heal} pass is scheduled. */
    private final AtomicBoolean healing = new AtomicBoolean();
    private final LogThrottle throttle = new LogThrottle(LOG_INTERVAL);
    /** How every force is done: {@link Segment#force}, or a failing one in tests. */
    private final Msync msync;
    private final boolean previousShutdownClean;
    private final FileChannel lockChannel;
    private final FileLock fileLock;
    /** Interval syncs, spare segments, deleting compacted ones: file work kept off the appending threads. */
    private final ScheduledExecutorService maintenance;

    MmapRecoveryStore(RecoveryStoreConfig config) {
        this(config, Segment::force);
    }

    MmapRecoveryStore(RecoveryStoreConfig config, Msync msync) {
        this.config = Objects.requireNonNull(config, "config");
        this.msync = Objects.requireNonNull(msync, "msync");
        this.dir = config.path().toAbsolutePath();
        this.clock = config.clock();
        this.maxSegments = (int) Math.min(Integer.MAX_VALUE, config.maxJournalBytes() / config.segmentSize());
        this.cipher = config.encryptionKey() == null ? null : new RecordCipher(config.encryptionKey());
        this.retentionMillis = Math.max(1, config.completedRetention().toMillis());
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(DIR_PERMS));
            }
            // the store owns its directory: one made by someone else (mkdir under umask 022) is narrowed too
            Files.setPosixFilePermissions(dir, DIR_PERMS);
            Path lockPath = dir.resolve(LOCK_FILE);
            if (!Files.exists(lockPath)) {
                Files.createFile(lockPath, PosixFilePermissions.asFileAttribute(FILE_PERMS));
            }
            lockChannel = FileChannel.open(lockPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new RecoveryException("cannot open recovery journal " + dir + ": " + e.getMessage(), e);
        }
        try {
            fileLock = lockChannel.tryLock();
            if (fileLock == null) {
                throw new RecoveryException("recovery journal " + dir + " is in use by another process");
            }
        } catch (OverlappingFileLockException e) {
            closeQuietly(lockChannel);
            throw new RecoveryException("recovery journal " + dir + " is already open in this process");
        } catch (IOException e) {
            closeQuietly(lockChannel);
            throw new RecoveryException("cannot lock recovery journal " + dir + ": " + e.getMessage(), e);
        } catch (RecoveryException e) {
            closeQuietly(lockChannel);
            throw e;
        }
        try {
            boolean newKey = checkKeyFingerprint();
            previousShutdownClean = recover();
            if (newKey) {
                writeKeyFingerprint(); // only once every record read: a failed open must not claim the journal
            }
        } catch (RuntimeException e) {
            segments.forEach(Segment::release);
            closeQuietly(lockChannel);
            throw e;
        }
        maintenance = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "stellane-journal-" + dir.getFileName());
            t.setDaemon(true);
            return t;
        });
        if (config.syncPolicy() == SyncPolicy.INTERVAL) {
            long nanos = config.syncInterval().toNanos();
            maintenance.scheduleWithFixedDelay(this::syncQuietly, nanos, nanos, TimeUnit.NANOSECONDS);
        }
        long tick = Math.max(1, retentionMillis / 10);
        maintenance.scheduleWithFixedDelay(this::dropGarbageQuietly, tick, tick, TimeUnit.MILLISECONDS);
        lock.lock();
        try {
            prepareSpareLater();
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------ API

    @Override
    public void append(JournaledRequest request) {
        Written w;
        lock.lock();
        try {
            checkWritable();
            String id = request.requestId();
            if (entries.containsKey(id)) {
                throw new RecoveryException("request " + id + " is already journaled");
            }
            w = write(REQUEST, 0, scratch.reset().request(request), true);
            entries.put(id, new Entry(request, w.seq, w.segment));
            journaled++;
        } finally {
            lock.unlock();
        }
        sync(w, false);
    }

    @Override
    public void complete(String requestId, StoredResponse responseOrNull) {
        Written w;
        lock.lock();
        try {
            checkWritable();
            Entry e = entry(requestId);
            String key = e.request.idempotencyKey();
            boolean keep = key != null && responseOrNull != null;
            long expires = keep ? config.idempotencyExpiryMillis() : 0;
            RecordCodec.Writer payload = completePayload(scratch.reset(), requestId, keep ? key : null, expires,
                    keep ? responseOrNull : null);
            if (keep && HEADER + payload.size() + sealOverhead() > config.segmentSize() - Segment.FILE_HEADER) {
                throttle.warn(LOG, "complete.too-large", "recovery journal " + dir + ": a response of "
                        + payload.size() + " bytes is too large for a journal segment; not kept for its idempotency key",
                        null);
                keep = false;
                payload = completePayload(scratch.reset(), requestId, null, 0, null);
            }
            w = write(COMPLETE, 0, payload, false);
            entries.remove(requestId);
            if (keep) {
                idempotency.put(key, new Idem(responseOrNull, expires, w.segment));
                nextExpiry = Math.min(nextExpiry, expires);
            }
            completed++;
            terminalVersion++;
        } finally {
            lock.unlock();
        }
        sync(w, false);
    }

    @Override
    public int recordAttempt(String requestId, String failureReason) {
        Written w;
        int attempt;
        lock.lock();
        try {
            checkWritable();
            Entry e = entry(requestId);
            if (e.quarantineReason != null) {
                throw new RecoveryException("request " + requestId + " is quarantined: " + e.quarantineReason);
            }
            attempt = e.attempts + 1;
            if (attempt > config.maxAttempts()) {
                String reason = "gave up after " + config.maxAttempts() + " attempts; last failure: " + failureReason;
                w = quarantineLocked(e, reason);
            } else {
                w = write(ATTEMPT, 0, scratch.reset().str(requestId).i32(attempt).str(failureReason), false);
                e.attempts = attempt;
                e.lastFailure = failureReason;
                attempts++;
            }
        } finally {
            lock.unlock();
        }
        sync(w, true);
        return attempt;
    }

    @Override
    public void quarantine(String requestId, String reason) {
        Written w;
        lock.lock();
        try {
            checkWritable();
            w = quarantineLocked(entry(requestId), Objects.requireNonNull(reason, "reason"));
        } finally {
            lock.unlock();
        }
        sync(w, true);
    }

    @Override
    public void putCustomData(String requestId, Map<String, String> data) {
        Written w;
        lock.lock();
        try {
            checkWritable();
            Entry e = entry(requestId);
            w = write(CUSTOM_DATA, 0, scratch.reset().str(requestId).map(data), false);
            e.custom().putAll(data);
        } finally {
            lock.unlock();
        }
        sync(w, false);
    }

    @Override
    public List<PendingRequest> pending() {
        lock.lock();
        try {
            checkOpen();
            return entries.values().stream().filter(e -> e.quarantineReason == null)
                    .sorted(Comparator.comparingLong(e -> e.originSeq)).map(this::view).toList();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<PendingRequest> quarantined() {
        lock.lock();
        try {
            checkOpen();
            long now = clock.millis();
            return entries.values().stream().filter(e -> e.quarantineReason != null && !deadLetterExpired(e, now))
                    .sorted(Comparator.comparingLong(e -> e.originSeq)).map(this::view).toList();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<StoredResponse> findByIdempotencyKey(String idempotencyKey) {
        lock.lock();
        try {
            checkOpen();
            Idem idem = idempotency.get(Objects.requireNonNull(idempotencyKey, "idempotencyKey"));
            if (idem == null) {
                return Optional.empty();
            }
            if (idem.expiresAt <= clock.millis()) {
                idempotency.remove(idempotencyKey);
                return Optional.empty();
            }
            return Optional.of(idem.response);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void markCleanShutdown() {
        lock.lock();
        try {
            checkWritable();
            if (garbageSince != Long.MAX_VALUE || completed != completedAtRewrite || nextExpiry <= clock.millis()) {
                try {
                    rewriteLocked(); // nothing a finished run leaves behind needs to outlive it
                } catch (RecoveryException e) {
                    LOG.warn("recovery journal {}: cannot rewrite it without its completed records at shutdown: {}",
                            dir, e.getMessage());
                }
            }
            cleanMarkSeq = write(CLEAN_SHUTDOWN, 0, scratch.reset(), false).seq;
        } finally {
            lock.unlock();
        }
        syncAll(false);
    }

    @Override
    public RecoveryStoreStats stats() {
        lock.lock();
        try {
            long pending = entries.values().stream().filter(e -> e.quarantineReason == null).count();
            // compacted segments count until their files are gone, a prepared spare once it exists
            long bytes = (segments.size() + retiring.size()) * config.segmentSize();
            if (spare != null && spare.isDone() && !spare.isCompletedExceptionally()) {
                bytes += config.segmentSize();
            }
            return new RecoveryStoreStats(journaled, completed, attempts, quarantinedCount, pending,
                    entries.size() - pending, bytes, segments.size() + retiring.size());
        } finally {
            lock.unlock();
        }
    }

    @Override
    public RecoveryStoreConfig config() {
        return config;
    }

    @Override
    public Optional<RecoveryException> fault() {
        RecoveryException f = syncFailure.get();
        return Optional.ofNullable(f != null ? f : segmentFault);
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            lock.unlock();
        }
        maintenance.shutdown();
        try {
            if (!maintenance.awaitTermination(10, TimeUnit.SECONDS)) {
                LOG.warn("journal maintenance thread of {} did not stop within 10 s", dir);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            RecoveryException failed = syncFailure.get();
            if (failed == null) {
                syncAll(false);
            } else {
                healSync(failed); // a plain force would succeed without writing the pages that failed
            }
        } catch (RecoveryException e) {
            LOG.error("final sync of recovery journal {} failed", dir, e);
        } finally {
            lock.lock();
            try {
                try {
                    retireNow();
                } catch (RecoveryException e) {
                    LOG.warn("recovery journal {}: {}", dir, e.getMessage());
                }
                Segment.Spare unused = takeSpare();
                if (unused != null) {
                    unused.discard();
                }
                segments.forEach(Segment::release);
                retiring.forEach(r -> r.segment.release());
                try {
                    fileLock.release();
                } catch (IOException e) {
                    LOG.warn("cannot release lock of recovery journal {}", dir, e);
                }
                closeQuietly(lockChannel);
            } finally {
                lock.unlock();
            }
        }
    }

    @Override
    public String toString() {
        return "MmapRecoveryStore[" + dir + "]";
    }

    // ------------------------------------------------------------------ writing (under lock)

    private record Written(Segment segment, int offset, int length, long seq) {
    }

    private Written quarantineLocked(Entry e, String reason) {
        long at = clock.millis();
        Written w = write(QUARANTINE, 0, scratch.reset().str(e.request.requestId()).str(reason).i64(at), false);
        e.quarantineReason = reason;
        e.quarantinedAt = at;
        nextExpiry = Math.min(nextExpiry, deadLetterExpiry(e));
        quarantinedCount++;
        terminalVersion++;
        return w;
    }

    /** Writes one frame into the active segment, rolling (and compacting) if it does not fit. */
    private Written write(byte type, int flags, RecordCodec.Writer payload, boolean isRequest) {
        byte[] bytes = payload.array();
        int length = payload.size();
        if (cipher != null) {
            if (sealed.length < length + RecordCipher.OVERHEAD) {
                sealed = new byte[Math.max(length + RecordCipher.OVERHEAD, 2 * sealed.length)];
            }
            length = cipher.seal(type, null, bytes, 0, length, sealed, 0);
            bytes = sealed;
            flags |= FLAG_ENCRYPTED;
        }
        int aligned = align8(HEADER + length);
        if (aligned > config.segmentSize() - Segment.FILE_HEADER) {
            throw new JournalFullException("a " + (HEADER + length) + "-byte journal record can never fit a "
                    + config.segmentSize() + "-byte segment; raise segmentSize");
        }
        if (isRequest && segments.size() >= maxSegments) {
            compactIfChanged(aligned);
            if (segments.size() >= maxSegments) {
                throw full();
            }
        }
        if (aligned > active.remaining()) {
            roll(aligned);
            if (isRequest && segments.size() >= maxSegments) {
                throw full();
            }
        }
        return put(type, flags, bytes, length);
    }

    private int sealOverhead() {
        return cipher == null ? 0 : RecordCipher.OVERHEAD;
    }

    /** A payload as it goes into a frame: sealed when the store has a key (a fresh array then). */
    private byte[] stored(byte type, byte[] payload) {
        return cipher == null ? payload : cipher.seal(type, null, payload, 0, payload.length);
    }

    private Written put(byte type, int flags, byte[] payload, int length) {
        Segment s = active;
        int off = s.writePos;
        int len = HEADER + length;
        long seq = nextSeq++;
        header[8] = type;
        header[9] = (byte) flags;
        for (int i = 10; i < 16; i++) {
            header[i] = 0;
        }
        for (int i = 0; i < 8; i++) {
            header[16 + i] = (byte) (seq >>> (56 - 8 * i));
        }
        crc.reset();
        crc.update(header, 8, HEADER - 8);
        crc.update(payload, 0, length);
        s.buf.put(off + HEADER, payload, 0, length);
        s.buf.put(off + 8, header, 8, HEADER - 8);
        s.buf.putInt(off + 4, (int) crc.getValue());
        INT_VIEW.setRelease(s.buf, off, len); // publishes the frame
        s.writePos = off + align8(len);
        return new Written(s, off, len, seq);
    }

    private void roll(int reserve) {
        Segment.Spare ready = takeSpare();
        if (ready == null && segments.size() + retiring.size() >= maxSegments) {
            retireNow();
        }
        if (ready == null && segments.size() >= maxSegments) {
            throw full();
        }
        // a segment holding no record yet (e.g. one cut short on disk) must not share its base
        nextSeq = Math.max(nextSeq, active.baseSeq + 1);
        Segment fresh = ready == null ? null : activate(ready, nextSeq);
        if (fresh == null) {
            fresh = createInline();
        }
        segmentFault = null;
        segments.add(fresh);
        active = fresh;
        compact(reserve);
        prepareSpareLater();
    }

    /** The prepared spare, waiting if it is on its way (as long as creating one inline would take), or null. */
    private Segment.Spare takeSpare() {
        CompletableFuture<Segment.Spare> f = spare;
        spare = null;
        if (f == null) {
            return null;
        }
        try {
            return f.join();
        } catch (CompletionException e) {
            throttle.warn(LOG, "spare", "recovery journal " + dir + ": " + e.getCause().getMessage()
                    + "; creating the next segment inline", null);
            return null;
        }
    }

    /**
     * Creates the next segment on the calling thread; fails at once while an earlier creation
     * failed and the background retries have not yet found room for one (see {@link #heal}).
     */
    private Segment createInline() {
        RecoveryException fault = segmentFault;
        if (fault != null) {
            throw new RecoveryException("recovery journal " + dir + " cannot create a new segment ("
                    + fault.getMessage() + "); retrying in the background", fault);
        }
        try {
            return Segment.create(dir, nextSeq, (int) config.segmentSize());
        } catch (RecoveryException e) {
            segmentFault = e;
            startHealing();
            throw e;
        }
    }

    private Segment activate(Segment.Spare s, long baseSeq) {
        try {
            Segment seg = s.activate(dir, baseSeq);
            if (config.syncPolicy() == SyncPolicy.ALWAYS) {
                msync.force(seg, 0, Segment.FILE_HEADER);
                forceDirectory(dir);
                seg.syncedPos = Segment.FILE_HEADER;
            } else {
                dirDirty = true; // the next sync forces it
            }
            return seg;
        } catch (RecoveryException | IOException e) {
            throttle.warn(LOG, "activate", "recovery journal " + dir + ": cannot use the prepared segment ("
                    + e.getMessage() + "); creating one inline", null);
            s.discard();
            return null;
        }
    }

    /** Starts preparing the next segment, if there is none and the cap leaves room for it. */
    private void prepareSpareLater() {
        if (closed || spare != null || segments.size() + retiring.size() >= maxSegments) {
            return;
        }
        int size = (int) config.segmentSize();
        spare = CompletableFuture.supplyAsync(() -> Segment.Spare.create(dir, size),
                r -> Thread.ofVirtual().name("stellane-journal-spare").start(r));
    }

    private void compactIfChanged(int reserve) {
        if (compactedAtVersion != terminalVersion) {
            compact(reserve);
        }
    }

    /**
     * Carries the live records of the oldest segments into the active one and deletes them,
     * leaving at least {@code reserve} bytes free for the record that triggered it.
     */
    private void compact(int reserve) {
        compactedAtVersion = terminalVersion;
        while (segments.size() > 1) {
            Segment oldest = segments.getFirst();
            long now = clock.millis();
            List<Entry> carriedEntries = new ArrayList<>();
            List<byte[]> payloads = new ArrayList<>();
            List<Byte> types = new ArrayList<>();
            int bytes = 0;
            for (Iterator<Entry> it = entries.values().iterator(); it.hasNext(); ) {
                Entry e = it.next();
                if (e.home != oldest) {
                    continue;
                }
                if (e.quarantineReason != null && deadLetterExpired(e, now)) {
                    it.remove();
                    continue;
                }
                carriedEntries.add(e);
            }
            carriedEntries.sort(Comparator.comparingLong(e -> e.originSeq));
            for (Entry e : carriedEntries) {
                byte[] p = stored(REQUEST, snapshotPayload(e));
                payloads.add(p);
                types.add(REQUEST);
                bytes += align8(HEADER + p.length);
            }
            List<Idem> carriedIdem = new ArrayList<>();
            for (Iterator<Map.Entry<String, Idem>> it = idempotency.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, Idem> me = it.next();
                Idem idem = me.getValue();
                if (idem.home != oldest) {
                    continue;
                }
                if (idem.expiresAt <= now) {
                    it.remove();
                    continue;
                }
                byte[] p = stored(COMPLETE, completePayload(new RecordCodec.Writer(64), "", me.getKey(), idem.expiresAt,
                        idem.response).toByteArray());
                payloads.add(p);
                types.add(COMPLETE);
                carriedIdem.add(idem);
                bytes += align8(HEADER + p.length);
            }
            if (bytes + reserve > active.remaining()) {
                LOG.debug("journal {}: {} live bytes of {} do not fit the active segment; keeping it", dir, bytes, oldest);
                return;
            }
            int from = active.writePos;
            int flags = FLAG_SNAPSHOT | (cipher == null ? 0 : FLAG_ENCRYPTED);
            for (int i = 0; i < payloads.size(); i++) {
                byte[] p = payloads.get(i);
                put(types.get(i), flags, p, p.length);
            }
            carriedEntries.forEach(e -> e.home = active);
            carriedIdem.forEach(idem -> idem.home = active);
            segments.removeFirst();
            Retired r = new Retired(oldest, active, from, active.writePos);
            retiring.add(r);
            try {
                maintenance.execute(() -> retireQuietly(r));
            } catch (RejectedExecutionException e) {
                // closing: close() retires what is left
            }
            LOG.debug("journal {}: compacted {} ({} records carried forward)", dir, oldest, payloads.size());
        }
    }

    // ------------------------------------------------------------------ retention

    /**
     * The maintenance thread's check, every tenth of the retention: once records nobody needs (a
     * completion since the last rewrite, an expired response or dead letter, a clear record of an
     * encrypted journal) have been in the files for the retention, the journal is rewritten without them.
     */
    private void dropGarbageQuietly() {
        boolean remarked;
        lock.lock();
        try {
            if (closed || syncFailure.get() != null || segmentFault != null) {
                return; // healing comes first; what it rewrites is checked a tenth of a retention later
            }
            long now = clock.millis();
            if (completed != completedAtRewrite && garbageSince == Long.MAX_VALUE) {
                garbageSince = now;
            }
            long since = Math.min(garbageSince, nextExpiry);
            if (since == Long.MAX_VALUE || now - since < retentionMillis) {
                return;
            }
            if (spare != null && !spare.isDone()) {
                return; // the roll would wait for it holding the lock: the next look finds it ready
            }
            remarked = cleanMarkLast();
            rewriteLocked();
        } catch (RuntimeException e) {
            garbageSince = clock.millis(); // the next try a retention later, not at every look
            LOG.warn("recovery journal {}: cannot rewrite it without its completed records yet: {}", dir, e.toString());
            return;
        } finally {
            lock.unlock();
        }
        if (remarked) {
            try {
                syncAll(false); // the clean-shutdown mark written again is forced, as the first one was
            } catch (RuntimeException e) {
                LOG.error("recovery journal {}: sync failed; the store now refuses writes", dir, e);
            }
        }
    }

    /**
     * Rolls to a fresh segment so that compaction carries every live record out of the older ones,
     * which are then deleted, with every record nobody needs. Skipped (and tried again a
     * retention later) when the live records might not fit one segment: the rewrite would then add
     * a segment and empty none.
     */
    private void rewriteLocked() {
        long now = clock.millis();
        completedAtRewrite = completed;
        if (Segment.FILE_HEADER + liveBytesBound() > config.segmentSize()) {
            garbageSince = now;
            LOG.debug("recovery journal {}: live records may not fit one segment; rewrite postponed", dir);
            return;
        }
        boolean clean = cleanMarkLast();
        roll(0);
        garbageSince = segments.size() == 1 ? Long.MAX_VALUE : now;
        recomputeNextExpiry();
        if (clean) { // copies written after the mark would void it
            cleanMarkSeq = write(CLEAN_SHUTDOWN, 0, scratch.reset(), false).seq;
        }
    }

    private boolean cleanMarkLast() {
        return nextSeq == cleanMarkSeq + 1;
    }

    /** At least the bytes compaction writes to carry every live record forward (every char taken as 3 bytes). */
    private long liveBytesBound() {
        long bytes = 0;
        for (Entry e : entries.values()) {
            JournaledRequest r = e.request;
            long n = 64 + r.bodyLength() + chars(r.requestId()) + chars(r.method()) + chars(r.target())
                    + chars(r.idempotencyKey()) + chars(e.lastFailure) + chars(e.quarantineReason);
            for (HttpHeader h : r.headers()) {
                n += 8 + chars(h.name()) + chars(h.value());
            }
            for (Map.Entry<String, String> c : e.customOrEmpty().entrySet()) {
                n += 8 + chars(c.getKey()) + chars(c.getValue());
            }
            bytes += HEADER + 8 + n + sealOverhead();
        }
        for (Map.Entry<String, Idem> me : idempotency.entrySet()) {
            StoredResponse r = me.getValue().response;
            long n = 32 + r.bodyLength() + chars(me.getKey());
            for (HttpHeader h : r.headers()) {
                n += 8 + chars(h.name()) + chars(h.value());
            }
            bytes += HEADER + 8 + n + sealOverhead();
        }
        return bytes;
    }

    private static long chars(String s) {
        return s == null ? 0 : 3L * s.length();
    }

    private void recomputeNextExpiry() {
        long next = Long.MAX_VALUE;
        for (Idem idem : idempotency.values()) {
            next = Math.min(next, idem.expiresAt);
        }
        for (Entry e : entries.values()) {
            if (e.quarantineReason != null) {
                next = Math.min(next, deadLetterExpiry(e));
            }
        }
        nextExpiry = next;
    }

    /**
     * A compacted segment on its way out: its live records were copied to {@code carrier} at
     * {@code [from, to)}; those copies are forced before the file is deleted and the directory forced.
     */
    private record Retired(Segment segment, Segment carrier, int from, int to) {
    }

    /**
     * Deletes a compacted segment once the copies of its live records are durable, forces the
     * directory, and only then unmaps it: a mapping keeps a deleted file's blocks allocated. Its
     * bytes are not zeroed first: on this project's machines, writing a whole segment again through
     * the mapping cost a quarter of the journaled throughput (write-protect faults on pages just
     * written back), and a deleted segment is out of the journal's files either way. What its freed
     * blocks may still hold on the device is ciphertext when the journal has a key.
     */
    private void retire(Retired r) {
        try {
            msync.force(r.carrier, r.from, r.to); // the copies must be durable before the original goes
        } catch (RecoveryException e) {
            throw syncFailed(e);
        }
        try {
            Files.deleteIfExists(r.segment.path);
            forceDirectory(dir);
        } catch (IOException e) {
            throw new RecoveryException("cannot delete compacted journal segment " + r.segment.path + ": "
                    + e.getMessage(), e);
        }
        r.segment.release(); // only now are its blocks free
    }

    private void retireQuietly(Retired r) {
        try {
            retire(r);
        } catch (RuntimeException e) {
            throttle.error(LOG, "retire", "recovery journal " + dir + ": " + e.getMessage(), e);
            return;
        }
        lock.lock();
        try {
            retiring.remove(r);
            prepareSpareLater();
        } finally {
            lock.unlock();
        }
    }

    /** Under the lock: finishes every retirement now, when the cap needs their room. */
    private void retireNow() {
        while (!retiring.isEmpty()) {
            retire(retiring.getFirst());
            retiring.removeFirst();
        }
    }

    private JournalFullException full() {
        long pending = entries.values().stream().filter(e -> e.quarantineReason == null).count();
        return new JournalFullException("recovery journal " + dir + " is full: " + segments.size() + " segments of "
                + config.segmentSize() + " bytes (maxJournalBytes " + config.maxJournalBytes() + ", the last one reserved"
                + " for completions) hold " + pending + " pending and " + (entries.size() - pending)
                + " quarantined requests and " + idempotency.size() + " stored responses; the request was not"
                + " journaled. Complete or quarantine requests, or raise maxJournalBytes");
    }

    private static RecordCodec.Writer completePayload(RecordCodec.Writer w, String id, String key, long expires,
                                                      StoredResponse response) {
        return w.str(id).str(key).i64(expires).response(response);
    }

    private static byte[] snapshotPayload(Entry e) {
        return new RecordCodec.Writer(128 + e.request.bodyLength()).request(e.request).i64(e.originSeq)
                .i32(e.attempts).str(e.lastFailure).map(e.customOrEmpty()).str(e.quarantineReason).i64(e.quarantinedAt)
                .toByteArray();
    }

    // ------------------------------------------------------------------ syncing

    private void sync(Written w, boolean always) {
        if (always || config.syncPolicy() == SyncPolicy.ALWAYS) {
            try {
                msync.force(w.segment, w.offset, w.offset + w.length);
            } catch (RecoveryException e) {
                throw syncFailed(e);
            }
        }
    }

    /** Records a failed force: writes are refused from now on, until {@link #heal} has made everything durable. */
    private RecoveryException syncFailed(RecoveryException e) {
        syncFailure.set(e);
        startHealing();
        return e;
    }

    private void syncQuietly() {
        if (syncFailure.get() != null) {
            return; // healing rewrites everything: forcing now would only report pages it may never have written
        }
        try {
            syncAll(true);
        } catch (RuntimeException e) {
            throttle.error(LOG, "sync", "recovery journal " + dir + ": background sync failed; refusing writes"
                    + " until everything written is forced again", e);
        }
    }

    /**
     * Forces everything written so far, in every segment; with {@code lagging} (the interval sync),
     * the active segment only up to where it stood at the previous tick. The page cache keeps
     * segment files in large folios and writeback write-protects a whole folio: forcing up to the
     * write position would make the worker fault, and wait for the disk, on every page it writes
     * next in that folio. An interval behind, the forced folios are full. The price: an append is
     * forced within two intervals, not one.
     */
    private void syncAll(boolean lagging) {
        List<Segment> todo = new ArrayList<>();
        List<int[]> ranges = new ArrayList<>();
        boolean forceDir;
        lock.lock();
        try {
            forceDir = dirDirty;
            dirDirty = false;
            for (Segment s : segments) {
                int to = s.writePos;
                if (lagging && s == active) {
                    to = s.seenPos;
                    s.seenPos = s.writePos;
                }
                if (s.syncedPos < to) {
                    todo.add(s);
                    ranges.add(new int[] {s.syncedPos, to});
                }
            }
        } finally {
            lock.unlock();
        }
        for (int i = 0; i < todo.size(); i++) {
            try {
                msync.force(todo.get(i), ranges.get(i)[0], ranges.get(i)[1]);
            } catch (RecoveryException e) {
                throw syncFailed(e);
            }
        }
        if (forceDir) {
            try {
                forceDirectory(dir); // a segment renamed into place since the last sync
            } catch (IOException e) {
                throw syncFailed(new RecoveryException("cannot force journal directory " + dir, e));
            }
        }
        lock.lock();
        try {
            for (int i = 0; i < todo.size(); i++) {
                Segment s = todo.get(i);
                s.syncedPos = Math.max(s.syncedPos, ranges.get(i)[1]);
            }
        } finally {
            lock.unlock();
        }
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
     * Every {@link #RETRY} while a fault lasts, on the maintenance thread: after a failed force,
     * rewrites and forces everything ({@link #healSync}); after a failed segment creation, prepares
     * a spare again until one is made ({@link #probeSegments}). A store heals without traffic, so
     * {@link #fault()} turns empty again by itself.
     */
    private void heal() {
        if (closed) {
            healing.set(false);
            return; // close() makes its own attempt
        }
        try {
            RecoveryException failed = syncFailure.get();
            if (failed != null) {
                healSync(failed);
            }
            if (segmentFault != null) {
                probeSegments();
            }
        } catch (RuntimeException e) {
            throttle.warn(LOG, "heal", "recovery journal " + dir + " still cannot write: " + e.getMessage(), null);
        }
        healing.set(false);
        if (syncFailure.get() != null || segmentFault != null) {
            startHealing();
        }
    }

    /**
     * Makes everything written durable again after a failed force, and only then accepts writes.
     *
     * <p>A failed msync cannot simply be retried: Linux reports a writeback error to one caller
     * only and marks the pages that failed clean (some filesystems drop them), so a later msync, or
     * a concurrent one of an overlapping range, succeeds without writing them. No range can be
     * trusted, so every page written in every live segment is marked dirty again ({@link
     * Segment#redirty}) and forced, then the directory. Before that, the frames in the mapping are
     * checked: if the kernel dropped a page and read it back from disk, its CRC no longer matches,
     * and rewriting it would make stale bytes durable; the store then stays failed (503) rather than
     * heal over a hole. Nothing is written meanwhile (every write is refused), so the ranges cannot
     * change under the rewrite.
     */
    private void healSync(RecoveryException failed) {
        List<Segment> live;
        int[] ends;
        lock.lock();
        try {
            live = new ArrayList<>(segments);
            ends = new int[live.size()];
            for (int i = 0; i < ends.length; i++) {
                ends[i] = live.get(i).writePos;
            }
        } finally {
            lock.unlock();
        }
        for (int i = 0; i < ends.length; i++) {
            String damage = damage(live.get(i), ends[i]);
            if (damage != null) {
                throw new RecoveryException("cannot heal after a failed sync (" + failed.getMessage() + "): "
                        + live.get(i) + " " + damage + " in memory, so a page that failed to write is lost;"
                        + " writes stay refused");
            }
        }
        for (int i = 0; i < ends.length; i++) {
            live.get(i).redirty(ends[i]);
            msync.force(live.get(i), 0, ends[i]);
        }
        try {
            forceDirectory(dir);
        } catch (IOException e) {
            throw new RecoveryException("cannot force journal directory " + dir + ": " + e.getMessage(), e);
        }
        List<Retired> unfinished;
        lock.lock();
        try {
            for (int i = 0; i < ends.length; i++) {
                Segment s = live.get(i);
                s.syncedPos = Math.max(s.syncedPos, ends[i]);
                s.seenPos = Math.max(s.seenPos, ends[i]);
            }
            if (!syncFailure.compareAndSet(failed, null)) {
                return; // failed again meanwhile: the next pass rewrites it all once more
            }
            unfinished = closed ? List.of() : new ArrayList<>(retiring);
        } finally {
            lock.unlock();
        }
        LOG.warn("recovery journal {}: every segment was rewritten and forced after a failed sync ({}); writes are"
                + " accepted again", dir, failed.getMessage());
        for (Retired r : unfinished) {
            try {
                maintenance.execute(() -> retireQuietly(r)); // a failed force stopped it; retiring twice is harmless
            } catch (RejectedExecutionException e) {
                // closing: close() retires what is left
            }
        }
    }

    /**
     * Null if {@code s} holds a valid file header and whole frames up to exactly {@code end};
     * else what is wrong, as the recovery scan would find it.
     */
    private static String damage(Segment s, int end) {
        if (!s.headerValid()) {
            return "has an invalid file header";
        }
        CRC32C check = new CRC32C();
        int pos = Segment.FILE_HEADER;
        while (pos < end) {
            int len = s.buf.getInt(pos);
            if (len < HEADER || len > end - pos) {
                return "has frame length " + len + " at offset " + pos;
            }
            check.reset();
            check.update(s.buf.slice(pos + 8, len - 8));
            if ((int) check.getValue() != s.buf.getInt(pos + 4)) {
                return "has a CRC32C mismatch at offset " + pos;
            }
            pos += align8(len);
        }
        return pos == end ? null : "ends its last frame at " + pos + ", not " + end;
    }

    /**
     * While segments cannot be created: a spare that got made proves there is room again and ends
     * the fault; one that failed is started again. At the segment cap no spare is made: room for a
     * segment on the filesystem ends the fault, and the next roll creates it inline.
     */
    private void probeSegments() {
        lock.lock();
        try {
            if (closed || segmentFault == null) {
                return;
            }
            CompletableFuture<Segment.Spare> f = spare;
            if (f != null && f.isDone()) {
                if (!f.isCompletedExceptionally()) {
                    segmentFault = null;
                    LOG.warn("recovery journal {}: a new segment could be created again; writes are accepted again", dir);
                    return;
                }
                spare = null;
            }
            if (spare == null) {
                if (segments.size() + retiring.size() < maxSegments) {
                    prepareSpareLater();
                } else if (Files.getFileStore(dir).getUsableSpace() >= config.segmentSize()) {
                    segmentFault = null;
                }
            }
        } catch (IOException e) {
            throw new RecoveryException("cannot read the free space of " + dir + ": " + e.getMessage(), e);
        } finally {
            lock.unlock();
        }
    }

    static void forceDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    // ------------------------------------------------------------------ recovery scan

    /** Opens all segments, rebuilds the index; returns whether the last record is CLEAN_SHUTDOWN. */
    private boolean recover() {
        List<Path> files;
        try (Stream<Path> list = Files.list(dir)) {
            files = list.toList();
        } catch (IOException e) {
            throw new RecoveryException("cannot list recovery journal " + dir, e);
        }
        List<Segment> found = new ArrayList<>();
        for (Path f : files) {
            String name = f.getFileName().toString();
            if (name.endsWith(Segment.SUFFIX + ".tmp")) {
                try {
                    Files.deleteIfExists(f); // a segment whose creation did not finish
                } catch (IOException e) {
                    throw new RecoveryException("cannot delete " + f, e);
                }
                continue;
            }
            long base = Segment.parseBaseSeq(name);
            if (base < 0) {
                continue;
            }
            Segment s = Segment.open(f, base);
            if (!s.headerValid()) {
                Path aside = f.resolveSibling(name + ".corrupt");
                LOG.warn("recovery journal {}: segment {} has an invalid file header; moved aside to {}", dir, f, aside);
                s.release();
                try {
                    Files.move(f, aside, StandardCopyOption.REPLACE_EXISTING);
                } catch (IOException e) {
                    throw new RecoveryException("cannot move aside corrupt segment " + f, e);
                }
                continue;
            }
            found.add(s);
        }
        found.sort(Comparator.comparingLong(s -> s.baseSeq));
        try {
            return scan(found);
        } catch (RuntimeException e) {
            found.forEach(Segment::release);
            segments.clear();
            throw e;
        }
    }

    /** Rebuilds the index from the segments in order; returns whether the last record is CLEAN_SHUTDOWN. */
    private boolean scan(List<Segment> found) {
        long lastSeq = 0;
        int lastType = -1;
        boolean garbage = false;
        for (int i = 0; i < found.size(); i++) {
            Segment seg = found.get(i);
            boolean last = i == found.size() - 1;
            int pos = Segment.FILE_HEADER;
            String stop = null;
            while (pos + HEADER <= seg.capacity) {
                int len = seg.buf.getInt(pos);
                if (len == 0) {
                    break;
                }
                if (len < HEADER || len > seg.capacity - pos) {
                    stop = "frame length " + len + " overruns the segment";
                    break;
                }
                crc.reset();
                crc.update(seg.buf.slice(pos + 8, len - 8));
                if ((int) crc.getValue() != seg.buf.getInt(pos + 4)) {
                    stop = "CRC32C mismatch";
                    break;
                }
                long seq = seg.buf.getLong(pos + 16);
                if (seq <= lastSeq || seq < seg.baseSeq) {
                    stop = "sequence " + seq + " does not follow " + lastSeq;
                    break;
                }
                byte type = seg.buf.get(pos + 8);
                byte flags = seg.buf.get(pos + 9);
                byte[] payload = new byte[len - HEADER];
                seg.buf.get(pos + HEADER, payload);
                if ((flags & FLAG_ENCRYPTED) != 0) {
                    // fatal, not a torn tail: the CRC held, so the key is missing or wrong, and stopping
                    // here would drop every request after this one without a word
                    if (cipher == null) {
                        throw new RecoveryException("recovery journal " + dir + " holds encrypted records (" + seg.path
                                + " at offset " + pos + ") and no encryption key is configured; "
                                + RecordCipher.KEY_HINT);
                    }
                    try {
                        payload = cipher.open(type, null, payload, 0, payload.length);
                    } catch (RecoveryException e) {
                        throw new RecoveryException("recovery journal " + dir + ": " + e.getMessage() + " ("
                                + seg.path + " at offset " + pos + ")", e);
                    }
                } else if (cipher != null && type != CLEAN_SHUTDOWN) {
                    garbage = true; // a clear record of a journal now encrypted: rewritten sealed, its segment deleted
                }
                if (type == COMPLETE && (flags & FLAG_SNAPSHOT) == 0) {
                    garbage = true;
                }
                Runnable apply;
                try {
                    apply = decode(type, flags, seq, payload, seg);
                } catch (RuntimeException e) {
                    stop = "undecodable record of type " + type + ": " + e.getMessage();
                    break;
                }
                apply.run();
                lastSeq = seq;
                lastType = type;
                pos += align8(len);
            }
            seg.writePos = pos;
            seg.syncedPos = pos;
            if (stop != null) {
                LOG.warn("recovery journal {}: {} at offset {} in {}; the rest of the segment is ignored{}",
                        dir, stop, pos, seg.path, last ? " and zeroed" : "");
            }
            if (last && seg.dirtyFrom(pos)) {
                if (stop == null) {
                    LOG.warn("recovery journal {}: non-zero bytes after the end of the log at offset {} in {}; zeroed",
                            dir, pos, seg.path);
                }
                seg.zeroFrom(pos);
            }
            segments.add(seg);
        }
        if (segments.isEmpty()) {
            segments.add(Segment.create(dir, 1, (int) config.segmentSize()));
        }
        active = segments.getLast();
        nextSeq = Math.max(lastSeq + 1, active.baseSeq);
        long now = clock.millis();
        garbage |= idempotency.values().removeIf(idem -> idem.expiresAt <= now);
        recomputeNextExpiry();
        if (garbage) {
            garbageSince = now; // what the last run left behind goes within the retention of this one
        }
        if (lastType == CLEAN_SHUTDOWN) {
            cleanMarkSeq = lastSeq;
        }
        return lastType == CLEAN_SHUTDOWN;
    }

    /**
     * Before the scan: a journal that was ever opened with a key holds that key's fingerprint, and
     * only opens with that key. Returns whether the journal has none and a key is configured: it
     * then gets the key's fingerprint once it has been read, and from then on opens with that key
     * only (its clear records stay readable).
     */
    private boolean checkKeyFingerprint() {
        Path file = dir.resolve(KEY_FINGERPRINT_FILE);
        String stored;
        try {
            stored = Files.exists(file) ? Files.readString(file, StandardCharsets.US_ASCII).strip() : null;
        } catch (IOException e) {
            throw new RecoveryException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return RecordCipher.checkFingerprint("recovery journal " + dir, stored, config.encryptionKey());
    }

    /** Writes the configured key's fingerprint crash-safely: a temporary file, forced, renamed, the directory forced. */
    private void writeKeyFingerprint() {
        Path file = dir.resolve(KEY_FINGERPRINT_FILE);
        Path tmp = dir.resolve(KEY_FINGERPRINT_FILE + ".tmp");
        try {
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(FILE_PERMS));
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap((config.encryptionKey().fingerprint() + "\n")
                        .getBytes(StandardCharsets.US_ASCII)));
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            forceDirectory(dir);
        } catch (IOException e) {
            throw new RecoveryException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Decodes a frame fully (throwing on corrupt input) and returns how to apply it to the index. */
    private Runnable decode(byte type, byte flags, long seq, byte[] payload, Segment seg) {
        RecordCodec.Reader in = new RecordCodec.Reader(payload);
        boolean snapshot = (flags & FLAG_SNAPSHOT) != 0;
        Runnable apply = switch (type) {
            case REQUEST -> {
                JournaledRequest r = in.request();
                if (!snapshot) {
                    yield () -> entries.putIfAbsent(r.requestId(), new Entry(r, seq, seg));
                }
                Entry e = new Entry(r, in.i64(), seg);
                e.attempts = in.i32();
                e.lastFailure = in.str();
                e.custom().putAll(in.map());
                e.quarantineReason = in.str();
                e.quarantinedAt = in.i64();
                yield () -> entries.put(r.requestId(), e);
            }
            case ATTEMPT -> {
                String id = in.str();
                int n = in.i32();
                String reason = in.str();
                yield () -> {
                    Entry e = entries.get(id);
                    if (e != null) {
                        e.attempts = Math.max(e.attempts, n);
                        e.lastFailure = reason;
                    }
                };
            }
            case COMPLETE -> {
                String id = in.str();
                String key = in.str();
                long expires = in.i64();
                StoredResponse response = in.response();
                yield () -> {
                    if (!snapshot) {
                        entries.remove(id);
                    }
                    if (key != null && response != null) {
                        idempotency.put(key, new Idem(response, expires, seg));
                    }
                };
            }
            case QUARANTINE -> {
                String id = in.str();
                String reason = Objects.requireNonNull(in.str(), "quarantine reason");
                long at = in.i64();
                yield () -> {
                    Entry e = entries.get(id);
                    if (e != null) {
                        e.quarantineReason = reason;
                        e.quarantinedAt = at;
                    }
                };
            }
            case CUSTOM_DATA -> {
                String id = in.str();
                Map<String, String> data = in.map();
                yield () -> {
                    Entry e = entries.get(id);
                    if (e != null) {
                        e.custom().putAll(data);
                    }
                };
            }
            case CLEAN_SHUTDOWN -> () -> { };
            default -> throw new IllegalArgumentException("unknown record type " + type);
        };
        if (in.hasRemaining()) {
            throw new IllegalArgumentException("trailing bytes in record");
        }
        return apply;
    }

    // ------------------------------------------------------------------ helpers

    private Entry entry(String requestId) {
        Entry e = entries.get(Objects.requireNonNull(requestId, "requestId"));
        if (e == null) {
            throw new RecoveryException("unknown request " + requestId + " (never journaled, or already completed)");
        }
        return e;
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
            throw new RecoveryException("recovery journal " + dir + " refuses writes after a failed sync", failure);
        }
    }

    private boolean deadLetterExpired(Entry e, long now) {
        return deadLetterExpiry(e) <= now;
    }

    private long deadLetterExpiry(Entry e) {
        long at = e.quarantinedAt + config.idempotencyTtl().toMillis();
        return at < e.quarantinedAt ? Long.MAX_VALUE : at;
    }

    private PendingRequest view(Entry e) {
        return new PendingRequest(e.request, e.attempts, e.lastFailure, e.customOrEmpty(), previousShutdownClean,
                e.quarantineReason, e.quarantineReason == null ? null : Instant.ofEpochMilli(e.quarantinedAt));
    }

    static int align8(int n) {
        return (n + 7) & ~7;
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to flush in a lock channel
        }
    }

    private static final class Entry {
        final JournaledRequest request;
        final long originSeq;
        /** Made on the first {@code putCustomData}: most requests never get any. */
        private LinkedHashMap<String, String> custom;
        int attempts;
        String lastFailure;
        String quarantineReason;
        long quarantinedAt;
        Segment home;

        Entry(JournaledRequest request, long originSeq, Segment home) {
            this.request = request;
            this.originSeq = originSeq;
            this.home = home;
        }

        Map<String, String> custom() {
            return custom != null ? custom : (custom = new LinkedHashMap<>());
        }

        Map<String, String> customOrEmpty() {
            return custom != null ? custom : Map.of();
        }
    }

    private static final class Idem {
        final StoredResponse response;
        final long expiresAt;
        Segment home;

        Idem(StoredResponse response, long expiresAt, Segment home) {
            this.response = response;
            this.expiresAt = expiresAt;
            this.home = home;
        }
    }
}
