package io.stellane.cluster;

import com.zaxxer.hikari.HikariDataSource;
import io.stellane.recovery.IdempotencyKeyInUseException;
import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStoreStats;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.SyncPolicy;
import io.stellane.recovery.internal.RecordCipher;
import io.stellane.recovery.internal.RecordCodec;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The journal of every node in one PostgreSQL table, {@code stellane_journal}: the recovery store
 * {@code "postgres"}.
 *
 * <h2>How it works</h2>
 * A row per request: appended pending (state 0) under this node's name and epoch
 * ({@link ClusterNode}), deleted when it completes, or kept with its response (state 1) until
 * {@link RecoveryStoreConfig#idempotencyTtl()} when it has an idempotency key; quarantined requests
 * are state 2. The key column is unique among rows that have one, so a key is held by one request
 * in the whole cluster: a second append with it is refused
 * ({@link IdempotencyKeyInUseException}), and any node finds its stored response.
 * <p>{@link #appendAll} and {@link #completeAll} send a group as one statement over arrays
 * ({@code unnest}): one round trip, one commit, and the database plans and executes once per group,
 * not once per request. {@link #adoptOrphans} takes the pending rows of nodes whose lease
 * has expired with {@code SELECT ... FOR UPDATE SKIP LOCKED}, so two nodes never take the same row,
 * and only at the epoch the row was written under (see {@link ClusterNode}). {@link #pending()}
 * re-takes this node's own rows under its new epoch the same way, so a restart and an adoption
 * racing for them cannot both win.
 *
 * <p><b>Sync policies</b> map to PostgreSQL's {@code synchronous_commit}: {@code ALWAYS} is
 * {@code on} (a commit returns once its WAL is flushed, and replicated as the server's synchronous
 * standby settings say); {@code INTERVAL} and {@code NONE} are {@code off} (a commit returns before
 * the flush, which the WAL writer does within three times {@code wal_writer_delay}, 600 ms by
 * default; a crash of the database server, not of a node, can lose that much). Attempts,
 * quarantines and the clean-shutdown mark always commit with {@code on}. Every policy survives the
 * death of the node: a write is in the database when the call returns.
 *
 * <p><b>At rest</b>, with an encryption key: requests, responses and custom data are sealed (AES-GCM,
 * bound to their request id); idempotency keys are stored as their HMAC; the key's fingerprint is
 * kept in {@code stellane_meta}, and a node with another key, or none, is refused. Request ids,
 * attempts and failure reasons stay clear. Completed rows without a key are deleted at once; kept
 * responses and quarantined requests are deleted within a scan interval of their expiry.
 *
 * <p>{@link RecoveryStoreConfig#maxJournalBytes()} caps the request bytes this node has pending;
 * segments and sync intervals do not apply. Thread-safe; every method blocks on the database.
 */
final class PostgresStore implements RecoveryStore {
    private static final byte REQUEST = 'Q';
    private static final byte RESPONSE = 'S';
    private static final byte CUSTOM = 'C';
    private static final int PENDING = 0;
    private static final int DONE = 1;
    private static final int QUARANTINED = 2;

    private final RecoveryStoreConfig config;
    private final ClusterNode node;
    private final HikariDataSource pool;
    private final RecordCipher cipher; // guarded by itself; null without a key
    private final byte[] keyMacSecret;
    /** Request bytes of this node's pending rows, by id: the cap, and stats without a query. */
    private final ConcurrentHashMap<String, Integer> pendingBytes = new ConcurrentHashMap<>();
    private final AtomicLong pendingTotal = new AtomicLong();
    private final LongAdder journaled = new LongAdder();
    private final LongAdder completed = new LongAdder();
    private final LongAdder attempts = new LongAdder();
    private final LongAdder quarantined = new LongAdder();
    private volatile long bytesOnDisk;
    private volatile long quarantinedNow;
    private volatile RecoveryException lastFailure;
    private volatile boolean closed;

    PostgresStore(RecoveryStoreConfig config) {
        RecoveryStoreConfig.Database db = config.database();
        if (db == null) {
            throw new RecoveryException("the postgres recovery store needs a database: set runtime.recovery.url"
                    + " (jdbc:postgresql://host:port/database), user and password (RecoveryStoreConfig.withDatabase)");
        }
        this.config = config;
        this.cipher = config.encryptionKey() == null ? null : new RecordCipher(config.encryptionKey());
        this.keyMacSecret = config.encryptionKey() == null ? null : config.encryptionKey().sealingKey().getEncoded();
        this.node = ClusterNode.join(db);
        String sync = config.syncPolicy() == SyncPolicy.ALWAYS ? "on" : "off";
        this.pool = ClusterNode.pool(db, "stellane-journal-" + db.nodeId(), 8, "SET synchronous_commit = " + sync);
        try (Connection c = pool.getConnection()) {
            String fingerprint = config.encryptionKey() == null ? "none" : config.encryptionKey().fingerprint();
            String stored = Schema.settle(c, "journal_key_fingerprint", fingerprint);
            if (!stored.equals(fingerprint)) {
                throw new RecoveryException("the shared journal at " + db.url() + " was written "
                        + (stored.equals("none") ? "without an encryption key" : "with the key of fingerprint " + stored)
                        + ", and this node has " + (fingerprint.equals("none") ? "none" : "fingerprint " + fingerprint)
                        + ": every node needs the same key. " + RecordCipher.KEY_HINT);
            }
        } catch (SQLException | RuntimeException e) {
            pool.close();
            node.close();
            throw e instanceof RecoveryException re ? re : ClusterNode.unreachable(db, e);
        }
    }

    /** The node this store journals for. */
    ClusterNode node() {
        return node;
    }

    @Override
    public boolean shared() {
        return true;
    }

    @Override
    public boolean groupsWrites() {
        return true;
    }

    // ---------------------------------------------------------------- appends and completions

    @Override
    public void append(JournaledRequest request) {
        RuntimeException failure = appendAll(List.of(request)).getFirst();
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public List<RuntimeException> appendAll(List<JournaledRequest> requests) {
        checkOpen();
        int n = requests.size();
        RuntimeException[] failures = new RuntimeException[n];
        byte[][] rows = new byte[n][];
        long adding = 0;
        for (int i = 0; i < n; i++) {
            JournaledRequest r = requests.get(i);
            byte[] encoded = RecordCodec.encode(r);
            rows[i] = seal(REQUEST, r.requestId(), encoded);
            adding += rows[i].length;
        }
        if (pendingTotal.get() + adding > config.maxJournalBytes()) {
            JournalFullException full = new JournalFullException("this node's pending requests hold "
                    + pendingTotal.get() + " bytes; with " + adding + " more they would pass the cap of "
                    + config.maxJournalBytes());
            Arrays.fill(failures, full);
            return Arrays.asList(failures);
        }
        try (Connection c = pool.getConnection()) {
            String[] ids = new String[n];
            String[] keys = new String[n];
            for (int i = 0; i < n; i++) {
                ids[i] = requests.get(i).requestId();
                keys[i] = keyColumn(requests.get(i).idempotencyKey());
            }
            // one statement for the whole group: the rows come in as arrays, the ids of those inserted come back
            java.util.Set<String> inserted = new java.util.HashSet<>(n * 2);
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO stellane_journal (req_id, owner, owner_epoch, state, idem_key, request)
                    SELECT r.id, ?, ?, 0, r.k, r.b FROM unnest(?::text[], ?::text[], ?::bytea[]) AS r(id, k, b)
                    ON CONFLICT DO NOTHING RETURNING req_id""")) {
                ps.setString(1, node.id());
                ps.setLong(2, node.epoch());
                ps.setArray(3, c.createArrayOf("text", ids));
                ps.setArray(4, c.createArrayOf("text", keys));
                ps.setArray(5, c.createArrayOf("bytea", rows));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        inserted.add(rs.getString(1));
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                if (!inserted.contains(ids[i])) {
                    failures[i] = retryConflict(c, requests.get(i), rows[i]);
                }
                if (failures[i] == null) {
                    pendingBytes.put(ids[i], rows[i].length);
                    pendingTotal.addAndGet(rows[i].length);
                    journaled.increment();
                }
            }
            healed();
        } catch (SQLException | RuntimeException e) {
            Arrays.fill(failures, failed("append", e));
        }
        return Arrays.asList(failures);
    }

    /**
     * An append that inserted nothing: its key is held (or its id taken). A key whose stored response
     * has expired (and not been deleted yet) is freed and the append tried once more. Null when that worked.
     */
    private RuntimeException retryConflict(Connection c, JournaledRequest r, byte[] row) throws SQLException {
        if (r.idempotencyKey() == null) {
            return new RecoveryException("request " + r.requestId() + " is already pending or quarantined");
        }
        try (PreparedStatement del = c.prepareStatement(
                "DELETE FROM stellane_journal WHERE idem_key = ? AND state <> 0 AND expires_at <= ?")) {
            del.setString(1, keyColumn(r.idempotencyKey()));
            del.setTimestamp(2, Timestamp.from(config.clock().instant()));
            if (del.executeUpdate() == 0) {
                return new IdempotencyKeyInUseException(r.idempotencyKey());
            }
        }
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO stellane_journal (req_id, owner, owner_epoch, state, idem_key, request)
                VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING""")) {
            ps.setString(1, r.requestId());
            ps.setString(2, node.id());
            ps.setLong(3, node.epoch());
            ps.setString(4, keyColumn(r.idempotencyKey()));
            ps.setBytes(5, row);
            return ps.executeUpdate() == 1 ? null : new IdempotencyKeyInUseException(r.idempotencyKey());
        }
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

    /**
     * Deletes each row, unless it has an idempotency key and a response to keep; those are updated
     * to hold the response instead. Usually one statement: a group of requests without keys.
     */
    @Override
    public List<RuntimeException> completeAll(List<String> requestIds, List<StoredResponse> responses) {
        checkOpen();
        int n = requestIds.size();
        RuntimeException[] failures = new RuntimeException[n];
        try (Connection c = pool.getConnection()) {
            // rows without a response to keep are deleted in one statement; the others keep it, in another
            List<String> delete = new ArrayList<>(n);
            List<Integer> keep = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                if (responses.get(i) == null) {
                    delete.add(requestIds.get(i));
                } else {
                    keep.add(i);
                }
            }
            java.util.Set<String> done = new java.util.HashSet<>(n * 2);
            if (!keep.isEmpty()) {
                String[] ids = new String[keep.size()];
                byte[][] kept = new byte[keep.size()][];
                for (int j = 0; j < ids.length; j++) {
                    ids[j] = requestIds.get(keep.get(j));
                    kept[j] = seal(RESPONSE, ids[j], new RecordCodec.Writer(256).response(responses.get(keep.get(j))).toByteArray());
                }
                try (PreparedStatement ps = c.prepareStatement("""
                        UPDATE stellane_journal j SET state = 1, request = NULL, custom = NULL, response = r.b,
                            expires_at = ?, quarantine_reason = NULL, quarantined_at = NULL
                        FROM unnest(?::text[], ?::bytea[]) AS r(id, b)
                        WHERE j.req_id = r.id AND j.state <> 1 AND j.idem_key IS NOT NULL
                        RETURNING j.req_id""")) {
                    ps.setTimestamp(1, Timestamp.from(Instant.ofEpochMilli(config.idempotencyExpiryMillis())));
                    ps.setArray(2, c.createArrayOf("text", ids));
                    ps.setArray(3, c.createArrayOf("bytea", kept));
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            done.add(rs.getString(1));
                        }
                    }
                }
                for (String id : ids) {
                    if (!done.contains(id)) {
                        delete.add(id); // no idempotency key: nothing to keep the response for
                    }
                }
            }
            if (!delete.isEmpty()) {
                try (PreparedStatement ps = c.prepareStatement(
                        "DELETE FROM stellane_journal WHERE req_id = ANY(?) AND state <> 1 RETURNING req_id")) {
                    ps.setArray(1, c.createArrayOf("text", delete.toArray(String[]::new)));
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            done.add(rs.getString(1));
                        }
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                String id = requestIds.get(i);
                if (done.contains(id)) {
                    forget(id);
                    completed.increment();
                } else {
                    failures[i] = notPending(id);
                }
            }
            healed();
        } catch (SQLException | RuntimeException e) {
            Arrays.fill(failures, failed("complete", e));
        }
        return Arrays.asList(failures);
    }

    private void forget(String requestId) {
        Integer bytes = pendingBytes.remove(requestId);
        if (bytes != null) {
            pendingTotal.addAndGet(-bytes);
        }
    }

    // ---------------------------------------------------------------- replays

    @Override
    public int recordAttempt(String requestId, String failureReason) {
        checkOpen();
        try (Connection c = pool.getConnection()) {
            return inForcedTransaction(c, () -> {
                int attempt;
                try (PreparedStatement ps = c.prepareStatement("""
                        UPDATE stellane_journal SET attempts = attempts + 1, last_failure = ?
                        WHERE req_id = ? AND state = 0 RETURNING attempts""")) {
                    ps.setString(1, failureReason);
                    ps.setString(2, requestId);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            throw notPending(requestId);
                        }
                        attempt = rs.getInt(1);
                    }
                }
                attempts.increment();
                if (attempt > config.maxAttempts()) {
                    quarantineRow(c, requestId, "used " + config.maxAttempts() + " attempts; last failure: " + failureReason);
                }
                return attempt;
            });
        } catch (SQLException e) {
            throw failed("record an attempt", e);
        }
    }

    @Override
    public void quarantine(String requestId, String reason) {
        checkOpen();
        try (Connection c = pool.getConnection()) {
            inForcedTransaction(c, () -> {
                if (!quarantineRow(c, requestId, reason)) {
                    throw notPending(requestId);
                }
                return null;
            });
        } catch (SQLException e) {
            throw failed("quarantine", e);
        }
    }

    private boolean quarantineRow(Connection c, String requestId, String reason) throws SQLException {
        Instant now = config.clock().instant();
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE stellane_journal SET state = 2, quarantine_reason = ?, quarantined_at = ?, expires_at = ?
                WHERE req_id = ? AND state = 0""")) {
            ps.setString(1, reason);
            ps.setTimestamp(2, Timestamp.from(now));
            ps.setTimestamp(3, Timestamp.from(Instant.ofEpochMilli(config.idempotencyExpiryMillis())));
            ps.setString(4, requestId);
            if (ps.executeUpdate() == 0) {
                return false;
            }
        }
        forget(requestId);
        quarantined.increment();
        return true;
    }

    @Override
    public void putCustomData(String requestId, Map<String, String> data) {
        checkOpen();
        try (Connection c = pool.getConnection()) {
            boolean auto = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                Map<String, String> merged = new LinkedHashMap<>();
                try (PreparedStatement ps = c.prepareStatement(
                        "SELECT custom FROM stellane_journal WHERE req_id = ? AND state IN (0, 2) FOR UPDATE")) {
                    ps.setString(1, requestId);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            throw notPending(requestId);
                        }
                        byte[] custom = rs.getBytes(1);
                        if (custom != null) {
                            merged.putAll(new RecordCodec.Reader(open(CUSTOM, requestId, custom)).map());
                        }
                    }
                }
                merged.putAll(data);
                try (PreparedStatement ps = c.prepareStatement("UPDATE stellane_journal SET custom = ? WHERE req_id = ?")) {
                    ps.setBytes(1, seal(CUSTOM, requestId, new RecordCodec.Writer(128).map(merged).toByteArray()));
                    ps.setString(2, requestId);
                    ps.executeUpdate();
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(auto);
            }
            healed();
        } catch (SQLException e) {
            throw failed("store custom data", e);
        }
    }

    /** This node's pending requests, re-taken under its current epoch (see the class doc), in append order. */
    @Override
    public List<PendingRequest> pending() {
        checkOpen();
        try (Connection c = pool.getConnection();
             PreparedStatement ps = c.prepareStatement("""
                     UPDATE stellane_journal j SET owner_epoch = ?
                     FROM (SELECT req_id, owner_epoch FROM stellane_journal
                           WHERE owner = ? AND state = 0 FOR UPDATE) o
                     WHERE j.req_id = o.req_id
                     RETURNING j.seq, j.req_id, j.request, j.attempts, j.last_failure, j.custom, o.owner_epoch""")) {
            ps.setLong(1, node.epoch());
            ps.setString(2, node.id());
            List<Row> rows = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    boolean earlierRun = rs.getLong(7) < node.epoch();
                    rows.add(new Row(rs.getLong(1), pendingRequest(rs, earlierRun && node.previousShutdownClean())));
                }
            }
            healed();
            return inAppendOrder(rows);
        } catch (SQLException e) {
            throw failed("list pending requests", e);
        }
    }

    @Override
    public List<PendingRequest> adoptOrphans(int max) {
        checkOpen();
        try (Connection c = pool.getConnection()) {
            List<Row> rows = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE stellane_journal j SET owner = ?, owner_epoch = ?
                    FROM (SELECT j2.req_id, n.clean_shutdown FROM stellane_journal j2
                          JOIN stellane_node n ON n.node_id = j2.owner AND n.epoch = j2.owner_epoch
                          WHERE j2.state = 0 AND j2.owner <> ? AND n.lease_until < now()
                          ORDER BY j2.seq LIMIT ? FOR UPDATE OF j2 SKIP LOCKED) o
                    WHERE j.req_id = o.req_id
                    RETURNING j.seq, j.req_id, j.request, j.attempts, j.last_failure, j.custom, o.clean_shutdown""")) {
                ps.setString(1, node.id());
                ps.setLong(2, node.epoch());
                ps.setString(3, node.id());
                ps.setInt(4, max);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows.add(new Row(rs.getLong(1), pendingRequest(rs, rs.getBoolean(7))));
                    }
                }
            }
            // Rows of an earlier epoch of a live node are orphans too: that run is gone, and this name's
            // current run re-took what it wanted in pending().
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE stellane_journal j SET owner = ?, owner_epoch = ?
                    FROM (SELECT j2.req_id FROM stellane_journal j2
                          JOIN stellane_node n ON n.node_id = j2.owner AND n.epoch > j2.owner_epoch
                          WHERE j2.state = 0 AND j2.owner <> ? AND n.started_at < now() - ? * interval '1 millisecond'
                          ORDER BY j2.seq LIMIT ? FOR UPDATE OF j2 SKIP LOCKED) o
                    WHERE j.req_id = o.req_id
                    RETURNING j.seq, j.req_id, j.request, j.attempts, j.last_failure, j.custom""")) {
                ps.setString(1, node.id());
                ps.setLong(2, node.epoch());
                ps.setString(3, node.id());
                ps.setLong(4, node.lease().toMillis());
                ps.setInt(5, Math.max(0, max - rows.size()));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows.add(new Row(rs.getLong(1), pendingRequest(rs, false)));
                    }
                }
            }
            maintain(c);
            healed();
            return inAppendOrder(rows);
        } catch (SQLException e) {
            throw failed("adopt the requests of dead nodes", e);
        }
    }

    /** Deletes expired responses and quarantined requests, and samples the sizes for {@link #stats()}. */
    private void maintain(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                DELETE FROM stellane_journal WHERE req_id IN (
                    SELECT req_id FROM stellane_journal WHERE expires_at <= ? LIMIT 10000)""")) {
            ps.setTimestamp(1, Timestamp.from(config.clock().instant()));
            ps.executeUpdate();
        }
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("""
                     SELECT pg_total_relation_size('stellane_journal'),
                            (SELECT count(*) FROM stellane_journal WHERE state = 2)""")) {
            rs.next();
            bytesOnDisk = rs.getLong(1);
            quarantinedNow = rs.getLong(2);
        }
    }

    private record Row(long seq, PendingRequest request) {
    }

    private static List<PendingRequest> inAppendOrder(List<Row> rows) {
        rows.sort(Comparator.comparingLong(Row::seq));
        return rows.stream().map(Row::request).toList();
    }

    /** A pending request from columns 2..6 (req_id, request, attempts, last_failure, custom). */
    private PendingRequest pendingRequest(ResultSet rs, boolean previousShutdownClean) throws SQLException {
        String id = rs.getString(2);
        JournaledRequest request = new RecordCodec.Reader(open(REQUEST, id, rs.getBytes(3))).request();
        byte[] custom = rs.getBytes(6);
        Map<String, String> data = custom == null ? Map.of() : new RecordCodec.Reader(open(CUSTOM, id, custom)).map();
        pendingBytes.putIfAbsent(id, rs.getBytes(3).length);
        return new PendingRequest(request, rs.getInt(4), rs.getString(5), data, previousShutdownClean, null, null);
    }

    @Override
    public List<PendingRequest> quarantined() {
        checkOpen();
        try (Connection c = pool.getConnection();
             PreparedStatement ps = c.prepareStatement("""
                     SELECT seq, req_id, request, attempts, last_failure, custom, quarantine_reason, quarantined_at
                     FROM stellane_journal WHERE state = 2 AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq""")) {
            ps.setTimestamp(1, Timestamp.from(config.clock().instant()));
            List<PendingRequest> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    PendingRequest p = pendingRequest(rs, false);
                    out.add(new PendingRequest(p.request(), p.attempts(), p.lastFailureReason(), p.customData(), false,
                            rs.getString(7), rs.getTimestamp(8).toInstant()));
                    pendingBytes.remove(p.requestId());
                }
            }
            healed();
            return out;
        } catch (SQLException e) {
            throw failed("list quarantined requests", e);
        }
    }

    @Override
    public Optional<StoredResponse> findByIdempotencyKey(String idempotencyKey) {
        checkOpen();
        try (Connection c = pool.getConnection();
             PreparedStatement ps = c.prepareStatement(
                     "SELECT req_id, response FROM stellane_journal WHERE idem_key = ? AND state = 1 AND expires_at > ?")) {
            ps.setString(1, keyColumn(idempotencyKey));
            ps.setTimestamp(2, Timestamp.from(config.clock().instant()));
            try (ResultSet rs = ps.executeQuery()) {
                healed();
                if (!rs.next()) {
                    return Optional.empty();
                }
                return Optional.ofNullable(new RecordCodec.Reader(open(RESPONSE, rs.getString(1), rs.getBytes(2))).response());
            }
        } catch (SQLException e) {
            throw failed("look up an idempotency key", e);
        }
    }

    @Override
    public void markCleanShutdown() {
        checkOpen();
        node.markCleanShutdown();
    }

    @Override
    public RecoveryStoreStats stats() {
        return new RecoveryStoreStats(journaled.sum(), completed.sum(), attempts.sum(), quarantined.sum(),
                pendingBytes.size(), quarantinedNow, bytesOnDisk, 1);
    }

    @Override
    public Optional<RecoveryException> fault() {
        Optional<RecoveryException> lease = node.fault();
        if (lease.isPresent()) {
            return lease;
        }
        return Optional.ofNullable(lastFailure);
    }

    @Override
    public RecoveryStoreConfig config() {
        return config;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        pool.close();
        node.close();
    }

    /** What a killed process leaves: see {@link ClusterNode#crash()}. For tests. */
    void crash() {
        closed = true;
        pool.close();
        node.crash();
    }

    // ---------------------------------------------------------------- helpers

    @FunctionalInterface
    private interface SqlWork<T> {
        T run() throws SQLException;
    }

    /** Runs {@code work} in a transaction that commits with {@code synchronous_commit = on}, whatever the policy. */
    private static <T> T inForcedTransaction(Connection c, SqlWork<T> work) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try {
            try (Statement st = c.createStatement()) {
                st.execute("SET LOCAL synchronous_commit = on");
            }
            T result = work.run();
            c.commit();
            return result;
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(auto);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new RecoveryException("the postgres recovery store of node " + node.id() + " is closed");
        }
    }

    private static RecoveryException notPending(String requestId) {
        return new RecoveryException("request " + requestId + " is not pending or quarantined");
    }

    /** A database failure as the store reports it: remembered for {@link #fault()} until the next success. */
    private RecoveryException failed(String what, Exception e) {
        if (e instanceof RecoveryException re && !(e.getCause() instanceof SQLException)) {
            return re;
        }
        RecoveryException failure = new RecoveryException("cannot " + what + " in the shared journal at "
                + node.settings().url() + ": " + ClusterNode.rootMessage(e), e);
        lastFailure = failure;
        return failure;
    }

    private void healed() {
        if (lastFailure != null) {
            lastFailure = null;
        }
    }

    private String keyColumn(String idempotencyKey) {
        if (idempotencyKey == null || keyMacSecret == null) {
            return idempotencyKey;
        }
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(keyMacSecret, "HmacSHA256"));
            return java.util.HexFormat.of().formatHex(mac.doFinal(idempotencyKey.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        }
    }

    private byte[] seal(byte context, String requestId, byte[] clear) {
        if (cipher == null) {
            return clear;
        }
        byte[] aad = requestId.getBytes(StandardCharsets.UTF_8);
        synchronized (cipher) {
            return cipher.seal(context, aad, clear, 0, clear.length);
        }
    }

    private byte[] open(byte context, String requestId, byte[] stored) {
        if (cipher == null) {
            return stored;
        }
        byte[] aad = requestId.getBytes(StandardCharsets.UTF_8);
        synchronized (cipher) {
            return cipher.open(context, aad, stored);
        }
    }

    @Override
    public String toString() {
        return "PostgresStore[node " + node.id() + " at " + node.settings().url() + "]";
    }
}
