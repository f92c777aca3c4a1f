package io.stellane.recovery;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Settings shared by every recovery store. Immutable; start from {@link #defaults(Path)} and
 * change with the {@code with...} methods.
 *
 * @param path               directory owned by the store (created 0700 when missing)
 * @param syncPolicy         when journaled data is forced; see {@link SyncPolicy}
 * @param syncInterval       group-commit period for {@link SyncPolicy#INTERVAL}
 * @param segmentSize        bytes per journal segment (mmap store; 4 KiB to 1 GiB, a multiple of 8)
 * @param maxJournalBytes    cap on journal bytes on disk, at least two segments; requests beyond it
 *                           fail with {@link JournalFullException}
 * @param idempotencyTtl     how long a stored response (and a quarantined request) is kept
 * @param maxAttempts        replay attempts allowed before a request is quarantined
 * @param completedRetention how long the records of a completed request (and of a stored response or
 *                           quarantined request past its TTL) may stay in the store's files before the
 *                           store rewrites them away; each store's exact bound is in its class doc
 * @param sensitiveHeaders   request headers the server leaves out of what it journals unless a route
 *                           opts in; always holds {@link #DEFAULT_SENSITIVE_HEADERS}
 * @param encryptionKey      when not null, the store encrypts what it writes with it and refuses to
 *                           open a journal written with another key, or with one when this is null
 * @param clock              time source for TTLs, retention and quarantine timestamps (tests inject one)
 * @param database           where a shared store ({@code "postgres"}) keeps its journal, and this node's
 *                           name and lease there; null for the local stores, which ignore it
 */
public record RecoveryStoreConfig(
        Path path,
        SyncPolicy syncPolicy,
        Duration syncInterval,
        long segmentSize,
        long maxJournalBytes,
        Duration idempotencyTtl,
        int maxAttempts,
        Duration completedRetention,
        List<String> sensitiveHeaders,
        EncryptionKey encryptionKey,
        Clock clock,
        Database database) {

    /**
     * A shared store's database and this node's place among the nodes sharing it.
     *
     * @param url      JDBC URL, e.g. {@code jdbc:postgresql://db:5432/stellane}
     * @param user     database user, or null for the driver's default
     * @param password database password, or null
     * @param nodeId   this node's name, unique among the nodes: its requests carry it, and a restart
     *                 with the same name takes them back at once instead of waiting for its lease
     * @param lease    how long this node's requests stay its own without a renewal; renewed three
     *                 times per lease, and once it has expired another node adopts them
     */
    public record Database(String url, String user, io.stellane.config.Secret password, String nodeId, Duration lease) {
        public Database {
            Objects.requireNonNull(url, "url");
            Objects.requireNonNull(nodeId, "nodeId");
            Objects.requireNonNull(lease, "lease");
            if (nodeId.isBlank()) {
                throw new IllegalArgumentException("nodeId is blank");
            }
            if (lease.compareTo(Duration.ofMillis(300)) < 0) {
                throw new IllegalArgumentException("lease must be at least 300ms: " + lease);
            }
        }

        /** A node name unique in practice: {@code node-} and 12 random hex digits. */
        public static String randomNodeId() {
            byte[] b = new byte[6];
            new java.security.SecureRandom().nextBytes(b);
            return "node-" + java.util.HexFormat.of().formatHex(b);
        }

        @Override
        public String toString() {
            return "Database[" + url + ", user " + user + ", node " + nodeId + ", lease " + lease + "]";
        }
    }

    public static final SyncPolicy DEFAULT_SYNC_POLICY = SyncPolicy.INTERVAL;
    public static final Duration DEFAULT_SYNC_INTERVAL = Duration.ofMillis(50);
    public static final long DEFAULT_SEGMENT_SIZE = 64L << 20;
    public static final long DEFAULT_MAX_JOURNAL_BYTES = 1L << 30;
    public static final Duration DEFAULT_IDEMPOTENCY_TTL = Duration.ofHours(24);
    /** As in the runtime spec's {@code max_recovery_attempts}. */
    public static final int DEFAULT_MAX_ATTEMPTS = 3;
    public static final Duration DEFAULT_COMPLETED_RETENTION = Duration.ofMinutes(1);
    /** Left out of the journal whatever else is configured: they carry credentials. */
    public static final List<String> DEFAULT_SENSITIVE_HEADERS =
            List.of("Authorization", "Proxy-Authorization", "Cookie");
    public static final long MIN_SEGMENT_SIZE = 4096;
    public static final long MAX_SEGMENT_SIZE = 1L << 30;

    public RecoveryStoreConfig {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(syncPolicy, "syncPolicy");
        Objects.requireNonNull(syncInterval, "syncInterval");
        Objects.requireNonNull(idempotencyTtl, "idempotencyTtl");
        Objects.requireNonNull(completedRetention, "completedRetention");
        Objects.requireNonNull(clock, "clock");
        if (syncInterval.isNegative() || syncInterval.isZero()) {
            throw new IllegalArgumentException("syncInterval must be positive: " + syncInterval);
        }
        if (segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE || segmentSize % 8 != 0) {
            throw new IllegalArgumentException("segmentSize must be a multiple of 8 in [" + MIN_SEGMENT_SIZE
                    + ", " + MAX_SEGMENT_SIZE + "]: " + segmentSize);
        }
        if (maxJournalBytes < 2 * segmentSize) {
            throw new IllegalArgumentException("maxJournalBytes (" + maxJournalBytes
                    + ") must hold at least two segments of " + segmentSize + " bytes");
        }
        if (idempotencyTtl.isNegative()) {
            throw new IllegalArgumentException("idempotencyTtl is negative: " + idempotencyTtl);
        }
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1: " + maxAttempts);
        }
        if (completedRetention.isNegative() || completedRetention.isZero()) {
            throw new IllegalArgumentException("completedRetention must be positive: " + completedRetention);
        }
        sensitiveHeaders = withDefaults(sensitiveHeaders);
    }

    /**
     * Interval sync every 50 ms, 64 MiB segments, 1 GiB cap, 24 h TTL, 3 attempts, completed records
     * gone within a minute, the default sensitive headers, no encryption, UTC system clock.
     */
    public static RecoveryStoreConfig defaults(Path path) {
        return new RecoveryStoreConfig(path, DEFAULT_SYNC_POLICY, DEFAULT_SYNC_INTERVAL, DEFAULT_SEGMENT_SIZE,
                DEFAULT_MAX_JOURNAL_BYTES, DEFAULT_IDEMPOTENCY_TTL, DEFAULT_MAX_ATTEMPTS, DEFAULT_COMPLETED_RETENTION,
                DEFAULT_SENSITIVE_HEADERS, null, Clock.systemUTC(), null);
    }

    /** When a response stored now stops answering its idempotency key, in epoch milliseconds (saturating). */
    public long idempotencyExpiryMillis() {
        long ttl = idempotencyTtl.toMillis();
        long now = clock.millis();
        return now + ttl < now ? Long.MAX_VALUE : now + ttl;
    }

    public RecoveryStoreConfig withPath(Path p) {
        return new RecoveryStoreConfig(p, syncPolicy, syncInterval, segmentSize, maxJournalBytes, idempotencyTtl,
                maxAttempts, completedRetention, sensitiveHeaders, encryptionKey, clock, database);
    }

    public RecoveryStoreConfig withSyncPolicy(SyncPolicy s) {
        return new RecoveryStoreConfig(path, s, syncInterval, segmentSize, maxJournalBytes, idempotencyTtl,
                maxAttempts, completedRetention, sensitiveHeaders, encryptionKey, clock, database);
    }

    public RecoveryStoreConfig withSyncInterval(Duration d) {
        return new RecoveryStoreConfig(path, syncPolicy, d, segmentSize, maxJournalBytes, idempotencyTtl,
                maxAttempts, completedRetention, sensitiveHeaders, encryptionKey, clock, database);
    }

    /** Sets the segment size and both sizes at once would be needed, so this keeps the cap at least two segments. */
    public RecoveryStoreConfig withSegmentSize(long bytes) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, bytes, Math.max(maxJournalBytes, 2 * bytes),
                idempotencyTtl, maxAttempts, completedRetention, sensitiveHeaders, encryptionKey, clock, database);
    }

    public RecoveryStoreConfig withMaxJournalBytes(long bytes) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, segmentSize, bytes, idempotencyTtl,
                maxAttempts, completedRetention, sensitiveHeaders, encryptionKey, clock, database);
    }

    public RecoveryStoreConfig withIdempotencyTtl(Duration ttl) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, segmentSize, maxJournalBytes, ttl,
                maxAttempts, completedRetention, sensitiveHeaders, encryptionKey, clock, database);
    }

    public RecoveryStoreConfig withMaxAttempts(int n) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, segmentSize, maxJournalBytes, idempotencyTtl,
                n, completedRetention, sensitiveHeaders, encryptionKey, clock, database);
    }

    public RecoveryStoreConfig withCompletedRetention(Duration d) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, segmentSize, maxJournalBytes, idempotencyTtl,
                maxAttempts, d, sensitiveHeaders, encryptionKey, clock, database);
    }

    /** Headers to leave out besides {@link #DEFAULT_SENSITIVE_HEADERS}, which stay whatever is given here. */
    public RecoveryStoreConfig withSensitiveHeaders(List<String> names) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, segmentSize, maxJournalBytes, idempotencyTtl,
                maxAttempts, completedRetention, names, encryptionKey, clock, database);
    }

    /** Encrypts what the store writes with {@code key}; {@code null} turns encryption off. */
    public RecoveryStoreConfig withEncryptionKey(EncryptionKey key) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, segmentSize, maxJournalBytes, idempotencyTtl,
                maxAttempts, completedRetention, sensitiveHeaders, key, clock, database);
    }

    public RecoveryStoreConfig withClock(Clock c) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, segmentSize, maxJournalBytes, idempotencyTtl,
                maxAttempts, completedRetention, sensitiveHeaders, encryptionKey, c, database);
    }

    /** A shared store's database and node; see {@link Database}. */
    public RecoveryStoreConfig withDatabase(Database d) {
        return new RecoveryStoreConfig(path, syncPolicy, syncInterval, segmentSize, maxJournalBytes, idempotencyTtl,
                maxAttempts, completedRetention, sensitiveHeaders, encryptionKey, clock, d);
    }

    /** The defaults first, then the other names once each, compared ignoring case as HTTP does. */
    private static List<String> withDefaults(List<String> names) {
        List<String> all = new ArrayList<>(DEFAULT_SENSITIVE_HEADERS);
        for (String n : Objects.requireNonNull(names, "sensitiveHeaders")) {
            if (Objects.requireNonNull(n, "header name").isBlank()) {
                throw new IllegalArgumentException("a sensitive header name is blank");
            }
            if (all.stream().noneMatch(n::equalsIgnoreCase)) {
                all.add(n);
            }
        }
        return List.copyOf(all);
    }
}
