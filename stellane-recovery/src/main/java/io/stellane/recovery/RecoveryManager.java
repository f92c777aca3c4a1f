package io.stellane.recovery;

import io.stellane.config.ConfigException;
import io.stellane.config.RuntimeConfig;
import io.stellane.config.Secret;
import io.stellane.task.Task;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.LongAdder;

/**
 * Journals requests and replays the ones a crash left unanswered; the piece a server calls.
 *
 * <h2>How it works</h2>
 * A server {@link #journal}s each request before its handler runs and {@link #complete}s it once
 * the response is written. On start, {@link #recoverAll} walks the store's pending requests in
 * arrival order. Before each replay it durably records an attempt (so a replay that kills the
 * process still uses one up); past {@code maxAttempts} the store quarantines the request and it is
 * never replayed automatically. A replay that fails is retried at once with the failure as its
 * reason, until it succeeds or runs out of attempts. Replays are at-least-once; idempotency keys
 * ({@link #idempotentResponse}) are how effects become exactly-once.
 *
 * <p>Threading: every method is thread-safe. {@link #journal} and {@link #complete} touch only
 * memory under {@link SyncPolicy#NONE} and {@link SyncPolicy#INTERVAL}; under {@link SyncPolicy#ALWAYS}
 * they wait for the disk, so call them off the workers then. {@link #recoverAll} blocks: call it at
 * start-up from the main thread, not from a worker.
 */
public final class RecoveryManager implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RecoveryManager.class);

    /** Runs one replay of a journaled request; returns its response (kept for idempotency keys) or null. */
    @FunctionalInterface
    public interface Replayer {
        Task<StoredResponse> replay(JournaledRequest request, RecoveryMetadata metadata);
    }

    /**
     * Told about every journal event (metrics exporters, dashboards). Called on the thread that
     * caused it, often a worker: must be quick and must not block.
     */
    public interface Listener {
        default void journaled() {
        }

        default void completed() {
        }

        default void recovered() {
        }

        default void failedAttempt() {
        }

        default void quarantined() {
        }
    }

    /** What one recovery run did. */
    public record RecoveryReport(int found, int recovered, int failedAttempts, int quarantined) {
    }

    /** Counts since this manager opened. */
    public record Counters(long journaled, long completed, long recovered, long failedAttempts, long quarantined) {
    }

    private final RecoveryStore store;
    private final Clock clock;
    private final LongAdder journaled = new LongAdder();
    private final LongAdder completed = new LongAdder();
    private final LongAdder recovered = new LongAdder();
    private final LongAdder failedAttempts = new LongAdder();
    private final LongAdder quarantined = new LongAdder();
    private static final int ADOPT_BATCH = 100;
    private final List<Listener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final io.stellane.logging.LogThrottle adoptThrottle = new io.stellane.logging.LogThrottle(java.time.Duration.ofSeconds(10));
    private Thread adopter; // guarded by this
    private volatile boolean closing;

    public RecoveryManager(RecoveryStore store) {
        this.store = Objects.requireNonNull(store, "store");
        this.clock = store.config().clock();
    }

    /**
     * Opens the store the runtime config names: {@code runtime.recovery.backend}, {@code path},
     * {@code max_attempts}, {@code completed_retention}, {@code sensitive_headers}, and the encryption
     * key from {@code encryption_key_file} or {@code STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY}.
     *
     * @throws ConfigException   if the key file cannot be used (the message names the file and, when
     *                           that is the trouble, its mode)
     * @throws RecoveryException if the store cannot be opened, e.g. with a key it was not written with
     */
    public static RecoveryManager open(RuntimeConfig config) {
        return open(config, RecoveryStoreConfig.DEFAULT_SYNC_POLICY);
    }

    public static RecoveryManager open(RuntimeConfig config, SyncPolicy sync) {
        RecoveryStoreConfig storeConfig = RecoveryStoreConfig.defaults(config.recoveryPath())
                .withMaxAttempts(config.maxRecoveryAttempts())
                .withCompletedRetention(config.recoveryCompletedRetention())
                .withSensitiveHeaders(config.recoverySensitiveHeaders())
                .withEncryptionKey(encryptionKey(config))
                .withSyncPolicy(sync)
                .withDatabase(database(config));
        return new RecoveryManager(RecoveryStores.create(config.recoveryBackend(), storeConfig));
    }

    /** The shared store's database from {@code runtime.recovery.url}, user, password and node; null without a url. */
    static RecoveryStoreConfig.Database database(RuntimeConfig config) {
        if (config.recoveryUrl() == null) {
            return null;
        }
        Secret password = config.recoveryPassword();
        if (config.recoveryPasswordFile() != null) {
            password = Secret.of(readPasswordFile(config.recoveryPasswordFile()));
        }
        String node = config.recoveryNodeId() != null ? config.recoveryNodeId() : RecoveryStoreConfig.Database.randomNodeId();
        return new RecoveryStoreConfig.Database(config.recoveryUrl(), config.recoveryUser(), password, node,
                config.recoveryLease());
    }

    /** The first line of an owner-only file; a file others can read is refused, naming its mode. */
    private static String readPasswordFile(java.nio.file.Path file) {
        String key = "runtime.recovery.password_file";
        try {
            var perms = java.nio.file.Files.getPosixFilePermissions(file);
            var loose = java.util.EnumSet.of(java.nio.file.attribute.PosixFilePermission.GROUP_READ,
                    java.nio.file.attribute.PosixFilePermission.GROUP_WRITE,
                    java.nio.file.attribute.PosixFilePermission.OTHERS_READ,
                    java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE);
            loose.retainAll(perms);
            if (!loose.isEmpty()) {
                throw new ConfigException(key, file.toString(), "a file only its owner can read (mode 0600 or 0400); it is "
                        + java.nio.file.attribute.PosixFilePermissions.toString(perms));
            }
            List<String> lines = java.nio.file.Files.readAllLines(file);
            if (lines.isEmpty() || lines.getFirst().isEmpty()) {
                throw new ConfigException(key, file.toString(), "a file holding the password on its first line; it is empty");
            }
            return lines.getFirst();
        } catch (java.io.IOException e) {
            throw new ConfigException(key, file.toString(), "a readable file holding the password: " + e);
        }
    }

    private static EncryptionKey encryptionKey(RuntimeConfig config) {
        if (config.recoveryEncryptionKeyFile() != null) {
            try {
                return EncryptionKey.fromFile(config.recoveryEncryptionKeyFile());
            } catch (RecoveryException e) {
                throw new ConfigException("runtime.recovery.encryption_key_file", e.getMessage(), e);
            }
        }
        Secret key = config.recoveryEncryptionKey();
        return key == null ? null : EncryptionKey.fromBase64(key.reveal());
    }

    public void addListener(Listener listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    public RecoveryStore store() {
        return store;
    }

    /** Journals a request before its handler runs. @throws JournalFullException when it cannot be kept */
    public void journal(JournaledRequest request) {
        store.append(request);
        journaled.increment();
        listeners.forEach(Listener::journaled);
    }

    /** Journals several requests in as few writes as the store manages; failures by index, null for journaled. */
    public List<RuntimeException> journalAll(List<JournaledRequest> requests) {
        return counted(store.appendAll(requests), journaled, Listener::journaled);
    }

    /** Completes several requests in as few writes as the store manages; failures by index, null for completed. */
    public List<RuntimeException> completeAll(List<String> requestIds, List<StoredResponse> responses) {
        return counted(store.completeAll(requestIds, responses), completed, Listener::completed);
    }

    /** Counts and announces the successes (null entries) of a group. */
    private List<RuntimeException> counted(List<RuntimeException> failures, LongAdder counter,
                                           java.util.function.Consumer<Listener> announce) {
        for (RuntimeException f : failures) {
            if (f == null) {
                counter.increment();
                listeners.forEach(announce);
            }
        }
        return failures;
    }

    /** Marks a journaled request answered; its response is kept for its idempotency key, if any. */
    public void complete(String requestId, StoredResponse responseOrNull) {
        store.complete(requestId, responseOrNull);
        completed.increment();
        listeners.forEach(Listener::completed);
    }

    /** The stored answer to a completed request with this idempotency key, within the TTL. */
    public Optional<StoredResponse> idempotentResponse(String idempotencyKey) {
        return idempotencyKey == null ? Optional.empty() : store.findByIdempotencyKey(idempotencyKey);
    }

    /** Journals data a handler attaches to its request; a replay sees it in {@link RecoveryMetadata#customData()}. */
    public void putCustomData(String requestId, Map<String, String> data) {
        store.putCustomData(requestId, data);
    }

    /** Requests that used up their attempts: kept, listed here, never replayed automatically. */
    public List<PendingRequest> quarantined() {
        return store.quarantined();
    }

    public Counters counters() {
        return new Counters(journaled.sum(), completed.sum(), recovered.sum(), failedAttempts.sum(), quarantined.sum());
    }

    /**
     * Replays every pending request, one at a time in arrival order, and waits for them. Call before
     * serving new traffic (the example app does), so a replay never races a client's retry.
     */
    public RecoveryReport recoverAll(Replayer replayer) {
        Objects.requireNonNull(replayer, "replayer");
        List<PendingRequest> pending = store.pending();
        RecoveryReport report = replayAll(pending, replayer);
        if (!pending.isEmpty()) {
            log.info("recovery: {} pending requests, {} recovered, {} failed attempts, {} quarantined",
                    report.found(), report.recovered(), report.failedAttempts(), report.quarantined());
        }
        return report;
    }

    /**
     * With a {@link RecoveryStore#shared() shared} store, keeps adopting the requests of nodes that
     * died, from a virtual thread until {@link #close()}: every half lease it asks the store for them
     * ({@link RecoveryStore#adoptOrphans}) and replays them as {@link #recoverAll} does, attempts
     * counted across nodes. A request adopted here was journaled by a node that never answered it, so
     * no client has its response. Does nothing for a local store, or when already adopting.
     */
    public synchronized void startAdopting(Replayer replayer) {
        Objects.requireNonNull(replayer, "replayer");
        if (!store.shared() || adopter != null || closing) {
            return;
        }
        RecoveryStoreConfig.Database db = store.config().database();
        long periodNanos = (db == null ? java.time.Duration.ofSeconds(5) : db.lease().dividedBy(2)).toNanos();
        adopter = Thread.ofVirtual().name("stellane-adopter").start(() -> {
            while (!closing) {
                int taken = 0;
                try {
                    List<PendingRequest> orphans = store.adoptOrphans(ADOPT_BATCH);
                    taken = orphans.size();
                    if (taken > 0) {
                        RecoveryReport r = replayAll(orphans, replayer);
                        log.info("recovery: adopted {} request(s) of dead nodes, {} recovered, {} failed attempts,"
                                + " {} quarantined", r.found(), r.recovered(), r.failedAttempts(), r.quarantined());
                    }
                } catch (RuntimeException e) {
                    if (!closing) {
                        adoptThrottle.warn(log, "adopt", "recovery: cannot adopt the requests of dead nodes: " + e.getMessage(), null);
                    }
                }
                if (taken < ADOPT_BATCH && !closing) {
                    java.util.concurrent.locks.LockSupport.parkNanos(periodNanos);
                }
            }
        });
    }

    private RecoveryReport replayAll(List<PendingRequest> pending, Replayer replayer) {
        int[] tally = new int[3]; // recovered, failed attempts, quarantined
        for (PendingRequest p : pending) {
            if (closing) {
                break;
            }
            try {
                replay(p, replayer, tally);
            } catch (RecoveryException e) {
                if (!store.shared()) {
                    throw e;
                }
                // completed by its first node after all, or the database is gone for now: the request
                // stays pending and is adopted again
                log.warn("replay of request {} skipped: {}", p.requestId(), e.getMessage());
            }
        }
        return new RecoveryReport(pending.size(), tally[0], tally[1], tally[2]);
    }

    /** Replays one request until it succeeds or runs out of attempts. */
    private void replay(PendingRequest p, Replayer replayer, int[] tally) {
        String reason = p.lastFailureReason() != null && p.attempts() > 0 && p.previousShutdownClean()
                ? p.lastFailureReason() : p.failureReason();
        Map<String, String> custom = p.customData();
        while (true) {
            int attempt = store.recordAttempt(p.requestId(), reason);
            int max = store.config().maxAttempts();
            if (attempt > max) {
                log.warn("request {} ({} {}) quarantined: {} attempts used, last failure: {}",
                        p.requestId(), p.request().method(), p.request().target(), max, reason);
                quarantined.increment();
                listeners.forEach(Listener::quarantined);
                tally[2]++;
                return;
            }
            RecoveryMetadata meta = new RecoveryMetadata(p.requestId(), p.request().timestamp(), clock.instant(),
                    attempt, max, reason, custom);
            StoredResponse response;
            try {
                response = replayer.replay(p.request(), meta).await();
            } catch (RuntimeException e) {
                failedAttempts.increment();
                listeners.forEach(Listener::failedAttempt);
                tally[1]++;
                reason = String.valueOf(e);
                log.warn("replay of request {} failed on attempt {}/{}: {}", p.requestId(), attempt, max, reason);
                if (attempt == max) {
                    store.quarantine(p.requestId(), "failed " + max + " attempts; last: " + reason);
                    quarantined.increment();
                    listeners.forEach(Listener::quarantined);
                    tally[2]++;
                    return;
                }
                continue;
            }
            store.complete(p.requestId(), response);
            recovered.increment();
            listeners.forEach(Listener::recovered);
            tally[0]++;
            return;
        }
    }

    /**
     * Marks a clean shutdown and closes the store. A store that cannot take the mark (a write fault at
     * that moment) is closed all the same: the next start treats this one as a crash and replays what is
     * pending, which loses nothing, so shutting down goes on rather than failing.
     */
    @Override
    public void close() {
        Thread a;
        synchronized (this) {
            closing = true;
            a = adopter;
        }
        if (a != null) {
            java.util.concurrent.locks.LockSupport.unpark(a);
            try {
                a.join(java.time.Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            store.markCleanShutdown();
        } catch (RecoveryException e) {
            log.warn("recovery: cannot mark a clean shutdown ({}); the next start replays as after a crash",
                    e.getMessage());
        } finally {
            store.close();
        }
    }
}
