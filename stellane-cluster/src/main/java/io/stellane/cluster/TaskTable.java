package io.stellane.cluster;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;

/**
 * The SQL of durable tasks on {@code stellane_task}, for one node (its name and epoch).
 *
 * <p>A row is ready (state 0) from its {@code run_after} on; a claim makes it running (1) under the
 * claimer's name and epoch and counts the attempt; the outcome makes it done (2), ready again
 * later, or quarantined (3). Every outcome is written only where the row is still running under
 * the same owner, epoch and attempt: once a row was taken back from a node (its lease expired) or
 * claimed again, that node's late outcome changes nothing. Claims and take-backs lock rows with
 * {@code FOR UPDATE SKIP LOCKED}, so two nodes never take one row.
 */
final class TaskTable {
    static final int READY = 0;
    static final int RUNNING = 1;
    static final int DONE = 2;
    static final int QUARANTINED = 3;
    /** Rows taken back or purged per statement: a dead node's thousands go in a few rounds. */
    static final int BATCH = 1000;
    /** Reasons are cut to this many characters: a stack-sized message stays out of the table. */
    private static final int MAX_ERROR = 2000;

    /** A claimed attempt: what its handler sees. */
    record Claimed(String id, String name, String queue, byte[] payloadBytes, int attempt, int maxAttempts,
                   String lastError) implements DurableTaskContext {
        @Override
        public byte[] payload() {
            return payloadBytes.clone();
        }

        @Override
        public String payloadString() {
            return new String(payloadBytes, StandardCharsets.UTF_8);
        }

        @Override
        public String toString() {
            return "task " + id + " (" + name + ", attempt " + attempt + " of " + maxAttempts + ")";
        }
    }

    enum Kind { DONE, RETRY, QUARANTINE, RELEASE }

    /** What to write for one attempt: {@code delayMillis} for RETRY, {@code error} for RETRY and QUARANTINE. */
    record Outcome(Claimed task, Kind kind, long delayMillis, String error) {
    }

    /** What a submission inserts; {@code runAt} null means now plus {@code delayMillis}. */
    record NewTask(String id, String name, String queue, byte[] payload, int maxAttempts, long delayMillis,
                   java.time.Instant runAt) {
    }

    private final String node;
    private final long epoch;
    private final String channel;
    /** Seals payloads at rest; null without a key. Not thread-safe: used under its own lock. */
    private final io.stellane.recovery.internal.RecordCipher cipher;

    TaskTable(String node, long epoch, String channel, io.stellane.recovery.EncryptionKey key) {
        this.node = node;
        this.epoch = epoch;
        this.channel = channel;
        this.cipher = key == null ? null : new io.stellane.recovery.internal.RecordCipher(key);
    }

    private static final byte PAYLOAD = 'T';

    /** The payload as stored: sealed with the key and bound to the task id, or as given without a key. */
    private byte[] seal(String id, byte[] payload) {
        if (cipher == null) {
            return payload;
        }
        synchronized (cipher) {
            return cipher.seal(PAYLOAD, id.getBytes(StandardCharsets.UTF_8), payload, 0, payload.length);
        }
    }

    private byte[] open(String id, byte[] stored) {
        if (cipher == null) {
            return stored;
        }
        synchronized (cipher) {
            return cipher.open(PAYLOAD, id.getBytes(StandardCharsets.UTF_8), stored);
        }
    }

    /** The LISTEN/NOTIFY channel of this schema's tasks, so that tests' schemas in one database do not wake each other. */
    static String channel(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT current_schema()")) {
            rs.next();
            String name = "stellane_task:" + rs.getString(1);
            // identifiers longer than 63 bytes are cut by the server: keep it short and distinct
            return name.getBytes(StandardCharsets.UTF_8).length <= 63 ? name
                    : "stellane_task:" + Integer.toHexString(rs.getString(1).hashCode());
        }
    }

    String channel() {
        return channel;
    }

    /**
     * Inserts the tasks whose id is new and, if any of them is due now, notifies the nodes; one
     * transaction. Returns, per task, whether it was inserted.
     */
    boolean[] insert(Connection c, List<NewTask> tasks) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try {
            int[] counts;
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO stellane_task (id, queue, name, payload, state, max_attempts, run_after)
                    VALUES (?, ?, ?, ?, 0, ?, COALESCE(?, now() + ? * interval '1 millisecond'))
                    ON CONFLICT (id) DO NOTHING""")) {
                for (NewTask t : tasks) {
                    ps.setString(1, t.id());
                    ps.setString(2, t.queue());
                    ps.setString(3, t.name());
                    ps.setBytes(4, seal(t.id(), t.payload()));
                    ps.setInt(5, t.maxAttempts());
                    ps.setTimestamp(6, t.runAt() == null ? null : Timestamp.from(t.runAt()));
                    ps.setLong(7, t.delayMillis());
                    ps.addBatch();
                }
                counts = ps.executeBatch();
            }
            boolean[] inserted = new boolean[tasks.size()];
            boolean due = false;
            for (int i = 0; i < inserted.length; i++) {
                inserted[i] = counts[i] > 0;
                NewTask t = tasks.get(i);
                due |= inserted[i] && t.runAt() == null && t.delayMillis() == 0;
            }
            if (due) {
                // delivered at commit, to every node listening: the prompt path; polling is the fallback
                try (PreparedStatement ps = c.prepareStatement("SELECT pg_notify(?, '')")) {
                    ps.setString(1, channel);
                    ps.executeQuery().close();
                }
            }
            c.commit();
            return inserted;
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(auto);
        }
    }

    /**
     * Takes up to {@code limit} ready tasks of {@code queue} with one of {@code names}, oldest due
     * first, while this node's lease is valid in the database's clock; counts their attempt.
     */
    List<Claimed> claim(Connection c, String queue, String[] names, int limit) throws SQLException {
        // The candidates are materialized: an inlined LIMIT subquery may be evaluated again by the
        // planner and take more rows than asked for.
        try (PreparedStatement ps = c.prepareStatement("""
                WITH candidates AS MATERIALIZED (
                    SELECT id FROM stellane_task
                    WHERE state = 0 AND queue = ? AND name = ANY (?) AND run_after <= now()
                      AND EXISTS (SELECT 1 FROM stellane_node
                                  WHERE node_id = ? AND epoch = ? AND lease_until > now())
                    ORDER BY run_after LIMIT ? FOR UPDATE SKIP LOCKED)
                UPDATE stellane_task SET state = 1, owner = ?, owner_epoch = ?, attempts = attempts + 1
                WHERE id IN (SELECT id FROM candidates)
                RETURNING id, name, queue, payload, attempts, max_attempts, last_error""")) {
            ps.setString(1, queue);
            ps.setArray(2, c.createArrayOf("text", names));
            ps.setString(3, node);
            ps.setLong(4, epoch);
            ps.setInt(5, limit);
            ps.setString(6, node);
            ps.setLong(7, epoch);
            List<Claimed> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Claimed(rs.getString(1), rs.getString(2), rs.getString(3), open(rs.getString(1), rs.getBytes(4)),
                            rs.getInt(5), rs.getInt(6), rs.getString(7)));
                }
            }
            return out;
        }
    }

    /**
     * Writes outcomes in one transaction, each only where its row still runs under this node,
     * epoch and attempt. Returns, per outcome, whether it was written (false: the row was taken back).
     */
    boolean[] finish(Connection c, List<Outcome> outcomes) throws SQLException {
        boolean[] written = new boolean[outcomes.size()];
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try {
            for (Kind kind : Kind.values()) {
                List<Integer> indexes = new ArrayList<>();
                for (int i = 0; i < outcomes.size(); i++) {
                    if (outcomes.get(i).kind() == kind) {
                        indexes.add(i);
                    }
                }
                if (indexes.isEmpty()) {
                    continue;
                }
                try (PreparedStatement ps = c.prepareStatement(update(kind))) {
                    for (int i : indexes) {
                        Outcome o = outcomes.get(i);
                        int p = 1;
                        switch (kind) {
                            case RETRY -> {
                                ps.setLong(p++, o.delayMillis());
                                ps.setString(p++, cut(o.error()));
                            }
                            case QUARANTINE -> ps.setString(p++, cut(o.error()));
                            default -> { }
                        }
                        ps.setString(p++, o.task().id());
                        ps.setString(p++, node);
                        ps.setLong(p++, epoch);
                        ps.setInt(p, o.task().attempt());
                        ps.addBatch();
                    }
                    int[] counts = ps.executeBatch();
                    for (int k = 0; k < indexes.size(); k++) {
                        written[indexes.get(k)] = counts[k] > 0;
                    }
                }
            }
            c.commit();
            return written;
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(auto);
        }
    }

    private static String update(Kind kind) {
        String set = switch (kind) {
            case DONE -> "state = 2, finished_at = now()";
            case RETRY -> "state = 0, owner = NULL, owner_epoch = NULL, run_after = now() + ? * interval '1 millisecond',"
                    + " last_error = ?";
            case QUARANTINE -> "state = 3, finished_at = now(), last_error = ?";
            // handed back unfinished (this node closes): the attempt does not count
            case RELEASE -> "state = 0, owner = NULL, owner_epoch = NULL, run_after = now(), attempts = attempts - 1";
        };
        return "UPDATE stellane_task SET " + set
                + " WHERE id = ? AND state = 1 AND owner = ? AND owner_epoch = ? AND attempts = ?";
    }

    /**
     * Takes back up to {@link #BATCH} tasks left running by nodes whose lease expired (at the epoch
     * they were claimed under), or by an earlier run of a name that has since registered again,
     * more than {@code graceMillis} ago. The crashed attempt counts: a task past its attempts is
     * quarantined, the others are ready at once. Returns {ready again, quarantined}.
     */
    int[] reap(Connection c, long graceMillis) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                WITH orphans AS MATERIALIZED (
                    SELECT t.id FROM stellane_task t JOIN stellane_node n ON n.node_id = t.owner
                    WHERE t.state = 1
                      AND ((n.epoch = t.owner_epoch AND n.lease_until < now())
                        OR (n.epoch > t.owner_epoch AND n.started_at < now() - ? * interval '1 millisecond'))
                    LIMIT ? FOR UPDATE OF t SKIP LOCKED)
                UPDATE stellane_task t SET
                    state = CASE WHEN t.attempts >= t.max_attempts THEN 3 ELSE 0 END,
                    finished_at = CASE WHEN t.attempts >= t.max_attempts THEN now() END,
                    owner = CASE WHEN t.attempts >= t.max_attempts THEN t.owner END,
                    owner_epoch = CASE WHEN t.attempts >= t.max_attempts THEN t.owner_epoch END,
                    run_after = now(),
                    last_error = 'node ' || t.owner || ' (epoch ' || t.owner_epoch || ') stopped while running attempt '
                        || t.attempts
                WHERE t.id IN (SELECT id FROM orphans)
                RETURNING t.state""")) {
            ps.setLong(1, graceMillis);
            ps.setInt(2, BATCH);
            int[] out = new int[2];
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out[rs.getInt(1) == QUARANTINED ? 1 : 0]++;
                }
            }
            return out;
        }
    }

    /** Deletes up to {@link #BATCH} tasks done longer than {@code retentionMillis} ago; returns how many. */
    int purge(Connection c, long retentionMillis) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                DELETE FROM stellane_task WHERE id IN (
                    SELECT id FROM stellane_task WHERE state = 2 AND finished_at < now() - ? * interval '1 millisecond'
                    LIMIT ? FOR UPDATE SKIP LOCKED)""")) {
            ps.setLong(1, retentionMillis);
            ps.setInt(2, BATCH);
            return ps.executeUpdate();
        }
    }

    /** Tasks ready to run now in the whole cluster. */
    long countReady(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM stellane_task WHERE state = 0 AND run_after <= now()")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String cut(String s) {
        return s == null || s.length() <= MAX_ERROR ? s : s.substring(0, MAX_ERROR - 1) + "…";
    }

    @Override
    public String toString() {
        return "TaskTable[" + node + ", epoch " + epoch + ", " + channel + "]";
    }
}
