package io.stellane.recovery.spi;

import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.RecoveryException;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Where a {@link io.stellane.recovery.Journal} keeps its records: a small, durable map from
 * {@code (kind, key)} to bytes. The journal owns every rule (what a request's state is, when it is
 * quarantined, what expires, when writes are refused, what is encrypted); a storage only stores.
 * With an encryption key configured the values it is given are already sealed ({@code RecordCipher});
 * keys are request ids, idempotency keys and meta names, in clear.
 *
 * <p>The journal calls a storage under its own lock for {@link #scan} and {@link #write}, and
 * without it for {@link #sync}, {@link #reclaim} and {@link #heal}; {@link #sync} may run
 * concurrently with {@link #write}.
 */
public interface JournalStorage extends AutoCloseable {

    /** What a record is; a key is unique within its kind. */
    enum Kind {
        /** A journaled request: key the request id, value the (sealed) request, seq its place in append order. */
        PENDING,
        /** A quarantined request, moved here from {@link #PENDING} with the same key, seq and value. */
        QUARANTINED,
        /** Attempts, custom data and quarantine of a request: key the request id. Absent while there are none. */
        STATE,
        /** A stored response: key the idempotency key, value a clear big-endian i64 expiry (epoch ms), then the (sealed) response. */
        ANSWER,
        /** The journal's own facts ({@code clean_shutdown}, {@code key_fingerprint}): key the name in UTF-8. */
        META
    }

    /**
     * A record as written or found: a put, or with a null {@code value} a delete. {@code seq} orders
     * {@link Kind#PENDING} and {@link Kind#QUARANTINED} records (append order) and is 0 for the others.
     */
    record Record(Kind kind, long seq, byte[] key, byte[] value) {
        public boolean isDelete() {
            return value == null;
        }
    }

    /** Hands every record the storage holds to {@code into}; called once, at open, before any write. */
    void scan(Consumer<Record> into);

    /**
     * Applies {@code records} in order, all or none, and hands them to the kernel (so they survive
     * the death of the process) but need not force them. Returns a position for {@link #sync}.
     *
     * @param admits whether the batch journals new requests; a storage at its size cap refuses it
     *               with {@link JournalFullException} and keeps room for every other write, so a full
     *               journal still drains
     * @throws RecoveryException if nothing was written (the journal refuses writes until
     *                           {@link #heal} succeeds or a later write goes through)
     */
    long write(List<Record> records, boolean admits);

    /**
     * Forces everything written up to {@code position} (from {@link #write}; {@link Long#MAX_VALUE}
     * for everything). A failure means the journal refuses writes until {@link #heal} has succeeded.
     */
    void sync(long position);

    /**
     * The periodic force of {@link io.stellane.recovery.SyncPolicy#INTERVAL}. A storage may lag it
     * (the mmap storage forces the segment being written one interval behind); by default forces everything.
     */
    default void syncPeriodically() {
        sync(Long.MAX_VALUE);
    }

    /**
     * Rewrites the files so that no deleted or replaced record remains in them, as far as the
     * storage can (its class doc says what it cannot). Called once deletes have waited a retention,
     * and at a clean shutdown. Returns false if it could not now (the journal asks again a retention
     * later).
     */
    boolean reclaim();

    /**
     * After a failed write or sync: makes everything written durable again by whatever means the
     * storage trusts, or throws while it cannot yet. Called every retry interval until it returns.
     */
    void heal();

    /**
     * The largest {@code key.length + value.length} one record may have; the journal refuses a
     * request larger than that and does not keep a response larger than that for its idempotency key.
     */
    default long maxRecordBytes() {
        return Long.MAX_VALUE;
    }

    /**
     * A force that failed in the storage's own background work (e.g. deleting a compacted file only
     * once its records' copies are forced); the journal then refuses writes as after a failed
     * {@link #sync}, until {@link #heal} succeeds. Empty by default.
     */
    default Optional<RecoveryException> failedSync() {
        return Optional.empty();
    }

    /**
     * Why the storage cannot take some writes right now though its last write may have gone
     * through (e.g. no room for a new segment); the journal reports it and keeps calling
     * {@link #heal} until it is gone. Empty by default.
     */
    default Optional<RecoveryException> fault() {
        return Optional.empty();
    }

    /** Whether {@link #write} of many records costs much less than as many writes of one. */
    default boolean groupsWrites() {
        return false;
    }

    /** Bytes the storage occupies on disk. */
    long bytesOnDisk();

    /** Files the storage consists of (segments, WAL and SST files), at least 1. */
    int files();

    /** Forces everything written and releases the directory. Called once, after every other call. */
    @Override
    void close();
}
