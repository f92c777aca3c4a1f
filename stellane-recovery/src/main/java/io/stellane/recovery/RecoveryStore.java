package io.stellane.recovery;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Durable journal of in-flight requests: a request is {@link #append appended} before its handler
 * runs and {@link #complete completed} after its response is sent; whatever is still pending after
 * a crash is replayed, at least once, by the server. Implemented once, by {@link Journal}, over a
 * journal storage: {@code "mmap"} and {@code "memory"} (this module) or {@code "rocksdb"} (module
 * {@code stellane-recovery-rocksdb}); obtain one through {@link RecoveryStores#create}.
 *
 * <p><b>Threading.</b> Every method is thread-safe and may be called from any thread. Methods that
 * write may block for I/O (a segment roll, or a force under {@link SyncPolicy#ALWAYS}); none waits
 * on another request. One store owns its directory: a second open of the same directory, in this
 * process or another, fails with {@link RecoveryException}.
 *
 * <p><b>Durability.</b> "Durable" below means it survives the death of the process under every
 * {@link SyncPolicy}, and power loss as that policy states. A method that throws has journaled
 * nothing. Methods taking a request id throw {@link RecoveryException} if the id is not pending or
 * quarantined (never appended, already completed, or the store is closed).
 *
 * <p><b>At rest.</b> With {@link RecoveryStoreConfig#encryptionKey()} a store writes nothing it was
 * given in clear (what stays clear, such as lookup keys, its class doc names), keeps the key's
 * fingerprint and refuses to open with no key or another one. It rewrites the records of completed
 * requests away within {@link RecoveryStoreConfig#completedRetention()} (its class doc gives the
 * exact bound and what it cannot bound), and at once on {@link #markCleanShutdown()}.
 */
public interface RecoveryStore extends AutoCloseable {

    /**
     * Journals a request before its handler runs. Durable per the sync policy when it returns.
     *
     * @throws JournalFullException if the journal is at its size cap; the request is not journaled
     *                              and nothing journaled earlier is affected
     * @throws IdempotencyKeyInUseException if the store is {@link #shared()} and another pending request
     *                              holds the request's idempotency key
     * @throws RecoveryException    if the id is already pending or quarantined
     */
    void append(JournaledRequest request);

    /**
     * Marks a request done; it is never replayed again. If the request had an idempotency key and
     * {@code responseOrNull} is not null, the response is kept for {@link #findByIdempotencyKey}
     * for {@link RecoveryStoreConfig#idempotencyTtl()}. Durable per the sync policy: a completion
     * lost to power loss means one more replay, never a lost request. Completes quarantined
     * requests too (e.g. after a manual replay).
     */
    void complete(String requestId, StoredResponse responseOrNull);

    /**
     * Whether {@link #appendAll} and {@link #completeAll} cost much less than the same calls one by
     * one. The server then gathers the journal writes of a loop turn and hands them over together,
     * starting handlers and writing responses once the group is written. False by default: for the
     * mmap store an append is a memory copy, and the deferral would cost more than it saves.
     */
    default boolean groupsWrites() {
        return false;
    }

    /**
     * Journals several requests, with as few writes as the store manages (the RocksDB store: one
     * batch, one WAL write). Each request succeeds or fails as {@link #append} would: the result
     * holds, by index, {@code null} for a journaled request or the exception {@code append} would
     * have thrown. The default appends them one by one.
     */
    default List<RuntimeException> appendAll(List<JournaledRequest> requests) {
        return oneByOne(requests.size(), i -> append(requests.get(i)));
    }

    /**
     * Completes several requests ({@code responses} by index, each may be null), with as few writes
     * as the store manages; failures by index as for {@link #appendAll}. The default completes them
     * one by one.
     */
    default List<RuntimeException> completeAll(List<String> requestIds, List<StoredResponse> responses) {
        return oneByOne(requestIds.size(), i -> complete(requestIds.get(i), responses.get(i)));
    }

    /** Runs {@code op} for 0..n-1; what each one threw, by index (null when it returned). */
    private static List<RuntimeException> oneByOne(int n, java.util.function.IntConsumer op) {
        RuntimeException[] failures = new RuntimeException[n];
        for (int i = 0; i < n; i++) {
            try {
                op.accept(i);
            } catch (RuntimeException e) {
                failures[i] = e;
            }
        }
        return Arrays.asList(failures);
    }

    /**
     * Whether other nodes share this store (the {@code postgres} store). Its writes then cross the
     * network: the server gathers a loop turn's writes and sends them from a virtual thread, and a
     * {@link RecoveryManager} keeps {@link #adoptOrphans adopting} the requests of nodes that died.
     * False for the local stores.
     */
    default boolean shared() {
        return false;
    }

    /**
     * Takes over up to {@code max} pending requests of nodes whose lease has expired (dead, or cut off
     * from the database for a lease), in their append order: from now on they are this node's, to be
     * replayed with {@link #recordAttempt} as after a crash, and no other node takes them. Empty for
     * stores that are not {@link #shared()}. Blocks on I/O.
     */
    default List<PendingRequest> adoptOrphans(int max) {
        return List.of();
    }

    /**
     * Records that a replay of the request is about to start, and why the previous one is being
     * retried. <b>Always forced to stable storage before returning</b>, whatever the sync policy,
     * so a replay that kills the process still uses up its attempt.
     *
     * @return the number of this attempt, starting at 1. If it exceeds
     *         {@link RecoveryStoreConfig#maxAttempts()} the request has instead been quarantined
     *         (durably) and must not be run
     */
    int recordAttempt(String requestId, String failureReason);

    /** Moves a request to the dead letters: never in {@link #pending()} again. Always forced. */
    void quarantine(String requestId, String reason);

    /** Merges entries into the request's custom data (journaled; durable per the sync policy). */
    void putCustomData(String requestId, Map<String, String> data);

    /** Requests neither complete nor quarantined, in append order, with their attempt history. */
    List<PendingRequest> pending();

    /**
     * Quarantined requests, in append order. Kept for {@link RecoveryStoreConfig#idempotencyTtl()}
     * after quarantine, then dropped at the next compaction.
     */
    List<PendingRequest> quarantined();

    /** The stored response of a completed request with this idempotency key, if still within the TTL. */
    Optional<StoredResponse> findByIdempotencyKey(String idempotencyKey);

    /**
     * Records that this run is ending cleanly (all handlers drained). Forced. The next open reports
     * {@link PendingRequest#previousShutdownClean()} true unless anything was journaled after it.
     */
    void markCleanShutdown();

    /** Counters and sizes; cheap, for metrics. */
    RecoveryStoreStats stats();

    /**
     * Why the store cannot take requests right now, or empty while it can: a full disk, a failed
     * sync it has not healed from yet. A store heals by itself once the cause is gone (it retries in
     * the background, with or without traffic), and this turns empty again; a journal that is full
     * by its own cap ({@link JournalFullException}) is not a fault. Cheap and non-blocking, for
     * health checks. The default, for stores that cannot tell, is always empty.
     */
    default Optional<RecoveryException> fault() {
        return Optional.empty();
    }

    /** The configuration the store was opened with. */
    RecoveryStoreConfig config();

    /**
     * Forces everything written, stops background threads and releases the directory. Does not mark
     * a clean shutdown. Idempotent; afterwards every other method throws {@link RecoveryException}.
     */
    @Override
    void close();
}
