package io.stellane.recovery;

import io.stellane.logging.LogThrottle;
import io.stellane.recovery.spi.JournalStorage;
import io.stellane.recovery.spi.JournalStorage.Kind;
import io.stellane.recovery.spi.JournalStorage.Record;
import io.stellane.recovery.spi.JournalStorageProvider;
import io.stellane.recovery.internal.RecordCipher;
import io.stellane.recovery.internal.RecordCodec;
import io.stellane.recovery.internal.RecordValues;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The recovery journal: the one implementation of {@link RecoveryStore}, over a
 * {@link JournalStorage} that only stores records. Everything a request goes through is decided
 * here, whatever the storage: admission, completion with a stored response, attempts and the
 * quarantine after {@link RecoveryStoreConfig#maxAttempts()}, custom data, expiry of stored
 * responses and dead letters, the clean-shutdown mark, the encryption key, the rule that a failed
 * sync refuses every write until the storage has healed, and the retention of deleted records.
 *
 * <h2>Records</h2>
 * <pre>
 * kind         key               value (spi.RecordCodec, big-endian; sealed = RecordCipher with the kind's
 *                                context and the key as associated data, when a key is configured)
 * PENDING      request id        sealed(request)                           seq = append order
 * QUARANTINED  request id        sealed(request), moved from PENDING       same seq
 * STATE        request id        sealed(u8 1 | i64 seq | str idempotencyKey | i32 attempts | str lastFailure
 *                                       | map customData | str quarantineReason | i64 quarantinedAt)
 * ANSWER       idempotency key   i64 expiresAt | sealed(response)
 * META         "clean_shutdown"  u8 1, deleted by the first write after it
 *              "key_fingerprint" the fingerprint of the encryption key (absent: never opened with one)
 * </pre>
 * A fresh request has no STATE: its first attempt, custom data or quarantine writes one. Every
 * change is one {@link JournalStorage#write} (all or nothing): complete = delete PENDING (or
 * QUARANTINED) [+ delete STATE] [+ put ANSWER]; quarantine = delete PENDING + put QUARANTINED + put STATE.
 *
 * <p><b>Memory:</b> an index of every pending and quarantined request (with its body) and every
 * stored response, rebuilt from the storage's records at open; reads never touch the storage.
 *
 * <p><b>Encryption:</b> the storage is given sealed values only, and the key's fingerprint; an open
 * with no key, or another one, fails before any record is read. Clear values of a journal written
 * before a key was configured are read as they are and written again sealed at open, so that the
 * retention rewrites the clear ones away.
 *
 * <p><b>Retention:</b> every tenth of {@link RecoveryStoreConfig#completedRetention()} the
 * maintenance thread deletes expired stored responses and dead letters, notes when it first saw
 * deleted records, and once they are a retention old asks the storage to {@link JournalStorage#reclaim
 * reclaim} them; {@link #markCleanShutdown()} does so at once.
 *
 * <p><b>Faults:</b> a write the storage refuses is reported by {@link #fault()} until a later write
 * goes through or the storage heals; a failed sync refuses every write until the storage has
 * {@link JournalStorage#heal healed}, which the maintenance thread tries every {@link #RETRY}.
 *
 * <p><b>Threading:</b> one lock guards the index and orders the writes; values are encoded and
 * sealed before it is taken, and forces run after it is released (close waits for those in flight).
 * Reclaiming and healing run on the maintenance thread, without the lock.
 */
public final class Journal implements RecoveryStore {
    private static final Logger LOG = LoggerFactory.getLogger(Journal.class);

    static final Set<PosixFilePermission> DIR_PERMS = PosixFilePermissions.fromString("rwx------");
    /** How often a faulted journal asks its storage to heal. */
    public static final Duration RETRY = Duration.ofMillis(500);
    /** The same failure is logged at most once per this interval, with a count. */
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

    /** Meta names, and the sealing contexts of values (the kind's, as associated data). */
    public static final String META_CLEAN_SHUTDOWN = "clean_shutdown";
    public static final String META_KEY_FINGERPRINT = "key_fingerprint";
    /** Older RocksDB journals kept the next sequence here; read, never written. */
    static final String META_NEXT_SEQ = "next_seq";
    private static final byte SEALED_REQUEST = RecordValues.SEALED_REQUEST;
    private static final byte SEALED_STATE = RecordValues.SEALED_STATE;
    private static final byte SEALED_RESPONSE = RecordValues.SEALED_RESPONSE;

    private final RecoveryStoreConfig config;
    private final JournalStorage storage;
    private final Path dir;
    private final Clock clock;
    private final long retentionMillis;
    /** Null without an encryption key; a cipher is not thread-safe, so one per thread. */
    private final ThreadLocal<RecordCipher> ciphers;
    private final boolean previousShutdownClean;

    private final ReentrantLock lock = new ReentrantLock();
    /** Forces run without {@link #lock}; close waits on this for those in flight before closing the storage. */
    private final ReentrantReadWriteLock gate = new ReentrantReadWriteLock();
    // guarded by lock
    private final HashMap<String, Entry> entries = new HashMap<>();
    private final HashMap<String, Answer> answers = new HashMap<>();
    private long nextSeq;
    private boolean cleanMarkStored;
    private long journaled;
    private long completed;
    private long attempts;
    private long quarantinedTotal;
    /** Records deleted or replaced (completions, quarantines, expiries): what {@link JournalStorage#reclaim} removes. */
    private long deletes;
    private long deletesAtReclaim;
    /** When the maintenance thread first saw deletes not yet reclaimed; {@code Long.MAX_VALUE} when none. */
    private long garbageSince = Long.MAX_VALUE;
    /** The earliest expiry of a stored response or dead letter; may be early (a hint). */
    private long nextExpiry = Long.MAX_VALUE;

    private volatile boolean closed;
    /** Set by a failed sync; writes are refused until the storage has healed. */
    private final AtomicReference<RecoveryException> syncFailure = new AtomicReference<>();
    /** The last write the storage refused; cleared by the next one it takes, or by healing. */
    private final AtomicReference<RecoveryException> writeFault = new AtomicReference<>();
    private final AtomicBoolean healing = new AtomicBoolean();
    private final LogThrottle throttle = new LogThrottle(LOG_INTERVAL);
    private final ScheduledThreadPoolExecutor maintenance;

    private Journal(RecoveryStoreConfig config, JournalStorage storage) {
        this.config = config;
        this.storage = storage;
        this.dir = config.path().toAbsolutePath();
        this.clock = config.clock();
        this.retentionMillis = Math.max(1, config.completedRetention().toMillis());
        EncryptionKey key = config.encryptionKey();
        this.ciphers = key == null ? null : ThreadLocal.withInitial(() -> new RecordCipher(key));
        lock.lock();
        try {
            previousShutdownClean = recover();
        } finally {
            lock.unlock();
        }
        maintenance = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "stellane-journal-" + dir.getFileName());
            t.setDaemon(true);
            return t;
        });
        maintenance.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        if (config.syncPolicy() == SyncPolicy.INTERVAL) {
            long nanos = config.syncInterval().toNanos();
            maintenance.scheduleWithFixedDelay(this::syncQuietly, nanos, nanos, TimeUnit.NANOSECONDS);
        }
        long tick = Math.max(1, retentionMillis / 10);
        maintenance.scheduleWithFixedDelay(this::retentionQuietly, tick, tick, TimeUnit.MILLISECONDS);
    }

    /**
     * Opens the journal at {@code config.path()} on the storage {@code provider} opens there:
     * creates the directory owner-only (narrowing one made by someone else), reads every record and
     * checks the encryption key.
     *
     * @throws RecoveryException if the directory is in use, holds records it cannot read, or was
     *                           written with another key
     */
    public static Journal open(JournalStorageProvider provider, RecoveryStoreConfig config) {
        Objects.requireNonNull(provider, "provider");
        Objects.requireNonNull(config, "config");
        prepareDirectory(config.path().toAbsolutePath());
        JournalStorage storage = provider.open(config);
        try {
            return new Journal(config, storage);
        } catch (RuntimeException | Error e) {
            try {
                storage.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private static void prepareDirectory(Path dir) {
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(DIR_PERMS));
            }
            // the journal owns its directory: one made by someone else (mkdir under umask 022) is narrowed too
            Files.setPosixFilePermissions(dir, DIR_PERMS);
        } catch (IOException e) {
            throw new RecoveryException("cannot open recovery journal " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The storage under this journal, for its own tests. */
    public JournalStorage storage() {
        return storage;
    }

    // ------------------------------------------------------------------ writes

    @Override
    public void append(JournaledRequest request) {
        RuntimeException failure = appendAll(List.of(request)).getFirst();
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public boolean groupsWrites() {
        return storage.groupsWrites();
    }

    @Override
    public List<RuntimeException> appendAll(List<JournaledRequest> requests) {
        int n = requests.size();
        RuntimeException[] failures = new RuntimeException[n];
        byte[][] values = new byte[n][];
        for (int i = 0; i < n; i++) {
            JournaledRequest r = requests.get(i);
            values[i] = seal(SEALED_REQUEST, utf8(r.requestId()), RecordCodec.encode(r));
        }
        long position;
        lock.lock();
        try {
            try {
                checkWritable();
            } catch (RuntimeException e) {
                Arrays.fill(failures, e);
                return Arrays.asList(failures);
            }
            List<Record> records = new ArrayList<>(n + 1);
            Set<String> batch = n > 1 ? new HashSet<>() : null; // a lone request cannot repeat itself
            long[] seqs = new long[n];
            long max = storage.maxRecordBytes();
            for (int i = 0; i < n; i++) {
                String id = requests.get(i).requestId();
                if ((long) values[i].length + utf8(id).length > max) {
                    failures[i] = new JournalFullException("a journal record of " + values[i].length + " bytes can"
                            + " never fit this storage (at most " + max + " bytes); raise segmentSize");
                    continue;
                }
                if (entries.containsKey(id) || batch != null && !batch.add(id)) {
                    failures[i] = new RecoveryException("request " + id + " is already journaled");
                    continue;
                }
                seqs[i] = nextSeq++;
                records.add(new Record(Kind.PENDING, seqs[i], utf8(id), values[i]));
            }
            if (records.isEmpty()) {
                return Arrays.asList(failures);
            }
            try {
                position = write(records, true);
            } catch (RuntimeException e) {
                return failRest(failures, e);
            }
            for (int i = 0; i < n; i++) {
                if (failures[i] == null) {
                    JournaledRequest r = requests.get(i);
                    entries.put(r.requestId(), new Entry(r, seqs[i]));
                    journaled++;
                }
            }
        } finally {
            lock.unlock();
        }
        RuntimeException syncFailed = syncQuietly(position, false);
        return syncFailed == null ? Arrays.asList(failures) : failRest(failures, syncFailed);
    }

    /** {@code failures}, with {@code e} for every request that had none: a write or force of the batch failed. */
    private static List<RuntimeException> failRest(RuntimeException[] failures, RuntimeException e) {
        for (int i = 0; i < failures.length; i++) {
            if (failures[i] == null) {
                failures[i] = e;
            }
        }
        return Arrays.asList(failures);
    }

    @Override
    public void complete(String requestId, StoredResponse responseOrNull) {
        List<StoredResponse> responses = new ArrayList<>(1);
        responses.add(responseOrNull);
        RuntimeException failure = completeAll(List.of(requestId), responses).getFirst();
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public List<RuntimeException> completeAll(List<String> requestIds, List<StoredResponse> responses) {
        int n = requestIds.size();
        RuntimeException[] failures = new RuntimeException[n];
        long position;
        lock.lock();
        try {
            try {
                checkWritable();
            } catch (RuntimeException e) {
                Arrays.fill(failures, e);
                return Arrays.asList(failures);
            }
            List<Record> records = new ArrayList<>(n);
            Entry[] done = new Entry[n];
            Answer[] kept = new Answer[n];
            long expires = config.idempotencyExpiryMillis();
            for (int i = 0; i < n; i++) {
                String id = requestIds.get(i);
                Entry e = entries.get(Objects.requireNonNull(id, "requestId"));
                if (e == null || contains(done, e)) {
                    failures[i] = unknown(id);
                    continue;
                }
                done[i] = e;
                byte[] idBytes = utf8(id);
                records.add(new Record(e.quarantineReason == null ? Kind.PENDING : Kind.QUARANTINED, e.seq, idBytes,
                        null));
                if (e.hasState) {
                    records.add(new Record(Kind.STATE, 0, idBytes, null));
                }
                String key = e.request.idempotencyKey();
                StoredResponse response = responses.get(i);
                if (key != null && response != null) {
                    byte[] keyBytes = utf8(key);
                    byte[] value = answerValue(keyBytes, expires, response);
                    if ((long) keyBytes.length + value.length > storage.maxRecordBytes()) {
                        throttle.warn(LOG, "answer.too-large", "recovery journal " + dir + ": a response of "
                                + value.length + " bytes is too large for this storage; not kept for its idempotency"
                                + " key", null);
                    } else {
                        records.add(new Record(Kind.ANSWER, 0, keyBytes, value));
                        kept[i] = new Answer(response, expires);
                    }
                }
            }
            if (records.isEmpty()) {
                return Arrays.asList(failures);
            }
            try {
                position = write(records, false);
            } catch (RuntimeException e) {
                return failRest(failures, e);
            }
            for (int i = 0; i < n; i++) {
                if (done[i] != null) {
                    entries.remove(requestIds.get(i));
                    if (kept[i] != null) {
                        answers.put(done[i].request.idempotencyKey(), kept[i]);
                        nextExpiry = Math.min(nextExpiry, kept[i].expiresAt);
                    }
                    completed++;
                    deletes++;
                }
            }
        } finally {
            lock.unlock();
        }
        RuntimeException syncFailed = syncQuietly(position, false);
        return syncFailed == null ? Arrays.asList(failures) : failRest(failures, syncFailed);
    }

    private static boolean contains(Entry[] done, Entry e) {
        for (Entry d : done) {
            if (d == e) {
                return true;
            }
        }
        return false;
    }

    @Override
    public int recordAttempt(String requestId, String failureReason) {
        int attempt;
        long position;
        lock.lock();
        try {
            checkWritable();
            Entry e = entry(requestId);
            if (e.quarantineReason != null) {
                throw new RecoveryException("request " + requestId + " is quarantined: " + e.quarantineReason);
            }
            attempt = e.attempts + 1;
            if (attempt > config.maxAttempts()) {
                position = quarantineLocked(e, "gave up after " + config.maxAttempts() + " attempts; last failure: "
                        + failureReason);
            } else {
                Entry next = e.copy();
                next.attempts = attempt;
                next.lastFailure = failureReason;
                position = write(List.of(stateRecord(next)), false);
                e.attempts = attempt;
                e.lastFailure = failureReason;
                e.hasState = true;
                attempts++;
            }
        } finally {
            lock.unlock();
        }
        sync(position, true);
        return attempt;
    }

    @Override
    public void quarantine(String requestId, String reason) {
        Objects.requireNonNull(reason, "reason");
        long position;
        lock.lock();
        try {
            checkWritable();
            position = quarantineLocked(entry(requestId), reason);
        } finally {
            lock.unlock();
        }
        sync(position, true);
    }

    private long quarantineLocked(Entry e, String reason) {
        long at = clock.millis();
        Entry next = e.copy();
        next.quarantineReason = reason;
        next.quarantinedAt = at;
        byte[] idBytes = utf8(e.request.requestId());
        List<Record> records = new ArrayList<>(3);
        boolean moves = e.quarantineReason == null;
        if (moves) {
            records.add(new Record(Kind.PENDING, e.seq, idBytes, null));
            records.add(new Record(Kind.QUARANTINED, e.seq, idBytes,
                    seal(SEALED_REQUEST, idBytes, RecordCodec.encode(e.request))));
        }
        records.add(stateRecord(next));
        long position = write(records, false);
        e.quarantineReason = reason;
        e.quarantinedAt = at;
        e.hasState = true;
        nextExpiry = Math.min(nextExpiry, deadLetterExpiry(e));
        quarantinedTotal++;
        if (moves) {
            deletes++;
        }
        return position;
    }

    @Override
    public void putCustomData(String requestId, Map<String, String> data) {
        Map<String, String> copy = new LinkedHashMap<>(data);
        long position;
        lock.lock();
        try {
            checkWritable();
            Entry e = entry(requestId);
            Entry next = e.copy();
            next.custom().putAll(copy);
            position = write(List.of(stateRecord(next)), false);
            e.custom().putAll(copy);
            e.hasState = true;
        } finally {
            lock.unlock();
        }
        sync(position, false);
    }

    @Override
    public void markCleanShutdown() {
        lock.lock();
        try {
            checkWritable();
            if (deletes != deletesAtReclaim || garbageSince != Long.MAX_VALUE || nextExpiry <= clock.millis()) {
                try {
                    expireLocked(clock.millis());
                    reclaimLocked(); // nothing a finished run leaves behind needs to outlive it
                } catch (RuntimeException e) {
                    LOG.warn("recovery journal {}: cannot rewrite it without its completed records at shutdown: {}",
                            dir, e.getMessage());
                }
            }
            // not as the first write after an earlier mark, which would delete the mark it writes
            write(List.of(new Record(Kind.META, 0, utf8(META_CLEAN_SHUTDOWN), new byte[] {1})), false, true);
            cleanMarkStored = true;
        } finally {
            lock.unlock();
        }
        sync(Long.MAX_VALUE, true);
    }

    /**
     * Hands {@code records} to the storage; the first write after the clean-shutdown mark deletes
     * the mark in the same write. Under the lock.
     */
    private long write(List<Record> records, boolean admits) {
        return write(records, admits, false);
    }

    /**
     * As {@link #write(List, boolean)}; with {@code housekeeping} (expiry, resealing) the clean-shutdown
     * mark stays: nothing was journaled.
     */
    private long write(List<Record> records, boolean admits, boolean housekeeping) {
        boolean clearMark = cleanMarkStored && !housekeeping;
        if (clearMark) {
            records = new ArrayList<>(records);
            records.add(new Record(Kind.META, 0, utf8(META_CLEAN_SHUTDOWN), null));
        }
        long position;
        try {
            position = storage.write(records, admits);
        } catch (JournalFullException e) {
            throw e;
        } catch (RuntimeException e) {
            RecoveryException failure = e instanceof RecoveryException re ? re
                    : new RecoveryException("write to recovery journal " + dir + " failed: " + e, e);
            writeFault.set(failure);
            startHealing();
            throw failure;
        }
        if (writeFault.get() != null) {
            writeFault.set(null); // the storage takes writes again
        }
        if (clearMark) {
            cleanMarkStored = false;
        }
        return position;
    }

    /** Forces up to {@code position} if {@code forced} or under {@link SyncPolicy#ALWAYS}. */
    private void sync(long position, boolean forced) {
        RuntimeException failure = syncQuietly(position, forced);
        if (failure != null) {
            throw failure;
        }
    }

    private RuntimeException syncQuietly(long position, boolean forced) {
        if (!forced && config.syncPolicy() != SyncPolicy.ALWAYS) {
            return null;
        }
        gate.readLock().lock();
        try {
            if (closed) {
                return null; // close forces everything written
            }
            storage.sync(position);
            return null;
        } catch (RuntimeException e) {
            return syncFailed(e);
        } finally {
            gate.readLock().unlock();
        }
    }

    /** A failed force: every write is refused from now on, until the storage has healed. */
    private RecoveryException syncFailed(RuntimeException e) {
        RecoveryException failure = e instanceof RecoveryException re ? re
                : new RecoveryException("sync of recovery journal " + dir + " failed: " + e, e);
        syncFailure.set(failure);
        startHealing();
        return failure;
    }

    // ------------------------------------------------------------------ reads

    @Override
    public List<PendingRequest> pending() {
        lock.lock();
        try {
            checkOpen();
            return entries.values().stream().filter(e -> e.quarantineReason == null)
                    .sorted(Comparator.comparingLong(e -> e.seq)).map(this::view).toList();
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
            return entries.values().stream().filter(e -> e.quarantineReason != null && deadLetterExpiry(e) > now)
                    .sorted(Comparator.comparingLong(e -> e.seq)).map(this::view).toList();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<StoredResponse> findByIdempotencyKey(String idempotencyKey) {
        Objects.requireNonNull(idempotencyKey, "idempotencyKey");
        lock.lock();
        try {
            checkOpen();
            Answer a = answers.get(idempotencyKey);
            return a == null || a.expiresAt <= clock.millis() ? Optional.empty() : Optional.of(a.response);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public RecoveryStoreStats stats() {
        long j;
        long c;
        long a;
        long q;
        long pending;
        long quarantinedNow;
        lock.lock();
        try {
            j = journaled;
            c = completed;
            a = attempts;
            q = quarantinedTotal;
            pending = entries.values().stream().filter(e -> e.quarantineReason == null).count();
            quarantinedNow = entries.size() - pending;
        } finally {
            lock.unlock();
        }
        return new RecoveryStoreStats(j, c, a, q, pending, quarantinedNow, storage.bytesOnDisk(),
                Math.max(1, storage.files()));
    }

    @Override
    public Optional<RecoveryException> fault() {
        adoptStorageFailure();
        RecoveryException f = syncFailure.get();
        if (f == null) {
            f = storage.fault().orElse(null);
        }
        return Optional.ofNullable(f != null ? f : writeFault.get());
    }

    /** A force the storage's background work saw fail counts as a failed sync of the journal. */
    private void adoptStorageFailure() {
        if (syncFailure.get() == null) {
            storage.failedSync().ifPresent(e -> {
                if (syncFailure.compareAndSet(null, e)) {
                    startHealing();
                }
            });
        }
    }

    /** Whether the journal or its storage has a fault to heal from. */
    private boolean faulted() {
        return syncFailure.get() != null || writeFault.get() != null || storage.fault().isPresent()
                || storage.failedSync().isPresent();
    }

    @Override
    public RecoveryStoreConfig config() {
        return config;
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
            if (!maintenance.awaitTermination(30, TimeUnit.SECONDS)) {
                LOG.warn("maintenance thread of recovery journal {} did not stop within 30 s", dir);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        gate.writeLock().lock();
        try {
            storage.close();
        } finally {
            gate.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "Journal[" + dir + " on " + storage + "]";
    }

    // ------------------------------------------------------------------ background work

    private void syncQuietly() {
        if (closed || fault().isPresent()) {
            return; // healing comes first: a force now would only report pages it may never have written
        }
        try {
            storage.syncPeriodically();
        } catch (RuntimeException e) {
            throttle.error(LOG, "sync", "recovery journal " + dir + ": background sync failed; refusing writes"
                    + " until the storage has healed", syncFailed(e));
        }
    }

    /**
     * Every tenth of the retention: deletes what expired, and once deleted records have waited a
     * retention, has the storage reclaim them.
     */
    private void retentionQuietly() {
        long seen;
        lock.lock();
        try {
            if (closed || fault().isPresent()) {
                return; // healing comes first; what it rewrites is checked a tenth of a retention later
            }
            long now = clock.millis();
            expireLocked(now);
            if (deletes != deletesAtReclaim && garbageSince == Long.MAX_VALUE) {
                garbageSince = now;
            }
            if (garbageSince == Long.MAX_VALUE || now - garbageSince < retentionMillis) {
                return;
            }
            seen = deletes;
        } catch (RuntimeException e) {
            throttle.warn(LOG, "expire", "recovery journal " + dir + ": cannot delete expired records yet: " + e, null);
            return;
        } finally {
            lock.unlock();
        }
        boolean done;
        try {
            done = storage.reclaim(); // without the lock: a compaction must not hold up the writers
        } catch (RuntimeException e) {
            done = false;
            throttle.warn(LOG, "reclaim", "recovery journal " + dir + ": cannot rewrite it without its deleted"
                    + " records yet: " + e, null);
        }
        lock.lock();
        try {
            reclaimed(seen, done);
        } finally {
            lock.unlock();
        }
    }

    private void reclaimLocked() {
        reclaimed(deletes, storage.reclaim());
    }

    private void reclaimed(long seen, boolean done) {
        if (done) {
            deletesAtReclaim = seen;
            garbageSince = deletes == seen ? Long.MAX_VALUE : clock.millis();
        } else {
            garbageSince = clock.millis(); // the next try a retention later, not at every look
        }
    }

    /**
     * Deletes the stored responses and dead letters past their TTL now, rather than at the
     * maintenance thread's next look (every tenth of the retention); returns how many it deleted.
     */
    public int dropExpired() {
        lock.lock();
        try {
            checkWritable();
            return expireLocked(clock.millis());
        } finally {
            lock.unlock();
        }
    }

    /** Deletes the stored responses and dead letters that expired by {@code now}. Under the lock. */
    private int expireLocked(long now) {
        if (nextExpiry > now) {
            return 0;
        }
        List<Record> records = new ArrayList<>();
        List<String> expiredAnswers = new ArrayList<>();
        List<Entry> expiredLetters = new ArrayList<>();
        long next = Long.MAX_VALUE;
        for (Map.Entry<String, Answer> a : answers.entrySet()) {
            if (a.getValue().expiresAt <= now) {
                expiredAnswers.add(a.getKey());
                records.add(new Record(Kind.ANSWER, 0, utf8(a.getKey()), null));
            } else {
                next = Math.min(next, a.getValue().expiresAt);
            }
        }
        for (Entry e : entries.values()) {
            if (e.quarantineReason == null) {
                continue;
            }
            if (deadLetterExpiry(e) <= now) {
                expiredLetters.add(e);
                byte[] idBytes = utf8(e.request.requestId());
                records.add(new Record(Kind.QUARANTINED, e.seq, idBytes, null));
                records.add(new Record(Kind.STATE, 0, idBytes, null));
            } else {
                next = Math.min(next, deadLetterExpiry(e));
            }
        }
        if (!records.isEmpty()) {
            write(records, false, true);
            expiredAnswers.forEach(answers::remove);
            expiredLetters.forEach(e -> entries.remove(e.request.requestId()));
            deletes += expiredAnswers.size() + expiredLetters.size();
        }
        nextExpiry = next;
        return expiredAnswers.size() + expiredLetters.size();
    }

    /** Schedules a {@link #heal} pass on the maintenance thread, unless one is pending. */
    private void startHealing() {
        if (!closed && maintenance != null && healing.compareAndSet(false, true)) { // none while opening
            try {
                maintenance.schedule(this::heal, RETRY.toMillis(), TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                healing.set(false); // closing
            }
        }
    }

    /**
     * Every {@link #RETRY} while a fault lasts: has the storage make everything written durable
     * again; once it has, writes are accepted again. Runs without traffic, so {@link #fault()} turns
     * empty by itself.
     */
    private void heal() {
        adoptStorageFailure();
        RecoveryException sync = syncFailure.get();
        RecoveryException write = writeFault.get();
        try {
            if (closed || !faulted()) {
                return;
            }
            try {
                storage.heal();
            } catch (RuntimeException e) {
                throttle.warn(LOG, "heal", "recovery journal " + dir + " still cannot write: " + e.getMessage(), null);
                return;
            }
            writeFault.compareAndSet(write, null);
            if (sync != null && syncFailure.compareAndSet(sync, null)) {
                LOG.warn("recovery journal {}: everything written is durable again after a failed sync ({}); writes"
                        + " are accepted again", dir, sync.getMessage());
            }
        } finally {
            healing.set(false);
            if (!closed && faulted()) {
                startHealing();
            }
        }
    }

    // ------------------------------------------------------------------ open

    /** Rebuilds the index from every record of the storage; returns whether the last run ended cleanly. */
    private boolean recover() {
        List<Record> found = new ArrayList<>();
        storage.scan(found::add);
        Map<String, byte[]> meta = new HashMap<>();
        for (Record r : found) {
            if (r.kind() == Kind.META) {
                meta.put(new String(r.key(), StandardCharsets.UTF_8), r.value());
            }
        }
        byte[] fingerprint = meta.get(META_KEY_FINGERPRINT);
        boolean newKey = RecordCipher.checkFingerprint("recovery journal " + dir,
                fingerprint == null ? null : new String(fingerprint, StandardCharsets.US_ASCII).strip(),
                config.encryptionKey());
        List<Record> resealed = new ArrayList<>();
        Map<String, Record> states = new HashMap<>();
        long maxSeq = 0;
        for (Record r : found) {
            switch (r.kind()) {
                case PENDING, QUARANTINED -> {
                    String id = new String(r.key(), StandardCharsets.UTF_8);
                    JournaledRequest request;
                    try {
                        request = new RecordCodec.Reader(opened(SEALED_REQUEST, r.key(), r.value(), 0)).request();
                    } catch (RecoveryException e) {
                        // fatal, not skipped: the key is missing or wrong, and dropping the record would lose a request
                        throw new RecoveryException(e.getMessage() + " (the record of request " + id + ")", e);
                    } catch (IllegalArgumentException e) {
                        throw new RecoveryException("corrupt journaled request " + id + " in recovery journal " + dir, e);
                    }
                    Entry e = new Entry(request, r.seq());
                    e.storedQuarantined = r.kind() == Kind.QUARANTINED;
                    Entry before = entries.put(id, e);
                    if (before != null) {
                        LOG.warn("recovery journal {}: request {} is both pending and quarantined; kept as quarantined",
                                dir, id);
                        if (!e.storedQuarantined) {
                            entries.put(id, before);
                        }
                    }
                    maxSeq = Math.max(maxSeq, r.seq());
                    if (ciphers != null && !RecordCipher.isSealed(r.value(), 0)) {
                        resealed.add(new Record(r.kind(), r.seq(), r.key(),
                                seal(SEALED_REQUEST, r.key(), RecordCodec.encode(request))));
                    }
                }
                case STATE -> states.put(new String(r.key(), StandardCharsets.UTF_8), r);
                case ANSWER -> {
                    String key = new String(r.key(), StandardCharsets.UTF_8);
                    try {
                        long expires = new RecordCodec.Reader(r.value()).i64();
                        StoredResponse response = new RecordCodec.Reader(
                                opened(SEALED_RESPONSE, r.key(), r.value(), 8)).response();
                        if (response != null) {
                            answers.put(key, new Answer(response, expires));
                            if (ciphers != null && !RecordCipher.isSealed(r.value(), 8)) {
                                resealed.add(new Record(Kind.ANSWER, 0, r.key(), answerValue(r.key(), expires, response)));
                            }
                        }
                    } catch (IllegalArgumentException e) {
                        throw new RecoveryException("corrupt stored response for idempotency key " + key
                                + " in recovery journal " + dir, e);
                    }
                }
                case META -> {
                }
            }
        }
        for (Map.Entry<String, Record> s : states.entrySet()) {
            String id = s.getKey();
            Entry e = entries.get(id);
            if (e == null) {
                LOG.warn("recovery journal {}: state of request {} without the request; dropped", dir, id);
                resealed.add(new Record(Kind.STATE, 0, s.getValue().key(), null));
                continue;
            }
            byte[] value = s.getValue().value();
            try {
                decodeState(e, opened(SEALED_STATE, s.getValue().key(), value, 0));
            } catch (IllegalArgumentException ex) {
                throw new RecoveryException("corrupt state of request " + id + " in recovery journal " + dir, ex);
            }
            e.hasState = true;
            if (ciphers != null && !RecordCipher.isSealed(value, 0)) {
                resealed.add(stateRecord(e));
            }
        }
        for (Entry e : entries.values()) {
            if (e.storedQuarantined != (e.quarantineReason != null)) {
                // cannot happen with atomic writes; never drop a request silently
                LOG.warn("recovery journal {}: request {} is stored {} but its state says otherwise; kept as stored",
                        dir, e.request.requestId(), e.storedQuarantined ? "quarantined" : "pending");
                if (e.storedQuarantined) {
                    e.quarantineReason = "quarantined (reason lost)";
                } else {
                    e.quarantineReason = null;
                    e.quarantinedAt = 0;
                }
            }
        }
        byte[] legacySeq = meta.get(META_NEXT_SEQ);
        long fromMeta = legacySeq == null || legacySeq.length != 8 ? 1 : new RecordCodec.Reader(legacySeq).i64();
        nextSeq = Math.max(Math.max(fromMeta, maxSeq + 1), 1);
        boolean clean = meta.containsKey(META_CLEAN_SHUTDOWN) && meta.get(META_CLEAN_SHUTDOWN) != null;
        cleanMarkStored = clean;
        nextExpiry = Long.MIN_VALUE; // look at every expiry now
        if (!resealed.isEmpty()) {
            write(resealed, false, true); // a clear record of a journal now encrypted: written again sealed
            deletes += resealed.size();
        }
        expireLocked(clock.millis());
        if (newKey) { // only once every record was read: a failed open must not claim the journal
            write(List.of(new Record(Kind.META, 0, utf8(META_KEY_FINGERPRINT),
                    config.encryptionKey().fingerprint().getBytes(StandardCharsets.US_ASCII))), false, true);
            storage.sync(Long.MAX_VALUE);
        }
        if (!found.isEmpty()) {
            // what the last run left behind (its deletes, replaced values) goes within the retention of this one
            garbageSince = clock.millis();
        }
        return clean;
    }

    // ------------------------------------------------------------------ values

    private Record stateRecord(Entry e) {
        byte[] idBytes = utf8(e.request.requestId());
        byte[] clear = RecordValues.state(e.seq, e.request.idempotencyKey(), e.attempts, e.lastFailure,
                e.customOrEmpty(), e.quarantineReason, e.quarantinedAt);
        return new Record(Kind.STATE, 0, idBytes, seal(SEALED_STATE, idBytes, clear));
    }

    private static void decodeState(Entry e, byte[] value) {
        RecordValues.State state = RecordValues.state(value);
        e.attempts = state.attempts();
        e.lastFailure = state.lastFailure();
        if (!state.customData().isEmpty()) {
            e.custom().putAll(state.customData());
        }
        e.quarantineReason = state.quarantineReason();
        e.quarantinedAt = state.quarantinedAt();
    }

    private byte[] answerValue(byte[] idempotencyKey, long expires, StoredResponse r) {
        return RecordValues.answer(ciphers == null ? null : ciphers.get(), idempotencyKey, expires, r);
    }

    /** {@code value} sealed for {@code context} and {@code key}; as it is without an encryption key. */
    private byte[] seal(byte context, byte[] key, byte[] value) {
        return RecordValues.seal(ciphers == null ? null : ciphers.get(), context, key, value);
    }

    /** The clear bytes of a stored value from {@code offset} on: opened if sealed, else as stored. */
    private byte[] opened(byte context, byte[] key, byte[] value, int offset) {
        if (!RecordCipher.isSealed(value, offset)) {
            return offset == 0 ? value : Arrays.copyOfRange(value, offset, value.length);
        }
        if (ciphers == null) {
            throw new RecoveryException("recovery journal " + dir + " holds encrypted records and no encryption key"
                    + " is configured; " + RecordCipher.KEY_HINT);
        }
        try {
            return ciphers.get().open(context, key, value, offset, value.length - offset);
        } catch (RecoveryException e) {
            throw new RecoveryException("recovery journal " + dir + ": " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------ helpers

    private Entry entry(String requestId) {
        Entry e = entries.get(Objects.requireNonNull(requestId, "requestId"));
        if (e == null) {
            throw unknown(requestId);
        }
        return e;
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
        adoptStorageFailure();
        RecoveryException failure = syncFailure.get();
        if (failure != null) {
            throw new RecoveryException("recovery journal " + dir + " refuses writes after a failed sync", failure);
        }
    }

    private long deadLetterExpiry(Entry e) {
        long at = e.quarantinedAt + config.idempotencyTtl().toMillis();
        return at < e.quarantinedAt ? Long.MAX_VALUE : at;
    }

    private PendingRequest view(Entry e) {
        return new PendingRequest(e.request, e.attempts, e.lastFailure, e.customOrEmpty(), previousShutdownClean,
                e.quarantineReason, e.quarantineReason == null ? null : Instant.ofEpochMilli(e.quarantinedAt));
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static final class Entry {
        final JournaledRequest request;
        final long seq;
        /** Made on the first custom data: most requests never get any. */
        private LinkedHashMap<String, String> custom;
        int attempts;
        String lastFailure;
        String quarantineReason;
        long quarantinedAt;
        /** A STATE record exists for it. */
        boolean hasState;
        /** Found as QUARANTINED at open; only read while recovering. */
        boolean storedQuarantined;

        Entry(JournaledRequest request, long seq) {
            this.request = request;
            this.seq = seq;
        }

        Map<String, String> custom() {
            return custom != null ? custom : (custom = new LinkedHashMap<>());
        }

        Map<String, String> customOrEmpty() {
            return custom != null ? custom : Map.of();
        }

        Entry copy() {
            Entry c = new Entry(request, seq);
            if (custom != null) {
                c.custom().putAll(custom);
            }
            c.attempts = attempts;
            c.lastFailure = lastFailure;
            c.quarantineReason = quarantineReason;
            c.quarantinedAt = quarantinedAt;
            return c;
        }
    }

    private record Answer(StoredResponse response, long expiresAt) {
    }
}
