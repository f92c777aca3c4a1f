package io.stellane.cluster;

import io.stellane.recovery.RecoveryException;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/**
 * The cluster's tables, created or migrated when a node joins. Each step of {@link #STEPS} runs once,
 * in order, in one transaction with the version it reaches ({@code stellane_meta.schema_version});
 * an advisory lock makes nodes that start together take turns. A database holding Stellane's table
 * names without that version row, or a version newer than this code knows, is refused, never altered.
 *
 * <p>Tables: {@code stellane_node} (name, epoch, lease), {@code stellane_journal} (requests in flight
 * and stored responses; see {@code PostgresStore}), {@code stellane_task} (durable tasks: ready 0,
 * running 1, done 2, quarantined 3; see {@code TaskTable}).
 */
final class Schema {
    /** Taken for the whole migration: an arbitrary constant, "stellane" in ASCII. */
    private static final long LOCK = 0x7374656c6c616e65L;

    /** Version i+1 is reached by step i. Append; never edit a step that has shipped. */
    static final List<String> STEPS = List.of("""
            CREATE TABLE stellane_node (
                node_id        text PRIMARY KEY,
                epoch          bigint NOT NULL,
                lease_until    timestamptz NOT NULL,
                clean_shutdown boolean NOT NULL DEFAULT false,
                started_at     timestamptz NOT NULL DEFAULT now());
            CREATE TABLE stellane_journal (
                seq               bigint GENERATED ALWAYS AS IDENTITY,
                req_id            text PRIMARY KEY,
                owner             text NOT NULL,
                owner_epoch       bigint NOT NULL,
                state             smallint NOT NULL,
                idem_key          text,
                attempts          int NOT NULL DEFAULT 0,
                last_failure      text,
                request           bytea,
                custom            bytea,
                response          bytea,
                quarantine_reason text,
                quarantined_at    timestamptz,
                expires_at        timestamptz);
            CREATE UNIQUE INDEX stellane_journal_idem ON stellane_journal (idem_key) WHERE idem_key IS NOT NULL;
            CREATE INDEX stellane_journal_owner ON stellane_journal (owner, seq) WHERE state = 0;
            CREATE INDEX stellane_journal_expiry ON stellane_journal (expires_at) WHERE expires_at IS NOT NULL;
            ALTER TABLE stellane_journal SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
                autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000,
                autovacuum_vacuum_cost_delay = 0);
            CREATE TABLE stellane_task (
                id           text PRIMARY KEY,
                queue        text NOT NULL,
                name         text NOT NULL,
                payload      bytea NOT NULL,
                state        smallint NOT NULL,
                attempts     int NOT NULL DEFAULT 0,
                max_attempts int NOT NULL,
                run_after    timestamptz NOT NULL DEFAULT now(),
                owner        text,
                owner_epoch  bigint,
                last_error   text,
                created_at   timestamptz NOT NULL DEFAULT now(),
                finished_at  timestamptz);
            CREATE INDEX stellane_task_ready ON stellane_task (queue, run_after) WHERE state = 0;
            CREATE INDEX stellane_task_running ON stellane_task (owner) WHERE state = 1;
            CREATE INDEX stellane_task_done ON stellane_task (finished_at) WHERE state = 2;
            """);

    private Schema() {
    }

    /** Brings the schema to the latest version; throws {@link RecoveryException} for a foreign or newer one. */
    static void migrate(Connection c) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try (Statement st = c.createStatement()) {
            st.execute("SELECT pg_advisory_xact_lock(" + LOCK + ")");
            st.execute("CREATE TABLE IF NOT EXISTS stellane_meta (name text PRIMARY KEY, value text NOT NULL)");
            int version = version(c);
            if (version == 0 && exists(c, "stellane_journal")) {
                throw new RecoveryException("the database has a stellane_journal table but no schema version in"
                        + " stellane_meta: it was not made by Stellane; use another database or schema");
            }
            if (version > STEPS.size()) {
                throw new RecoveryException("the database's Stellane schema is version " + version
                        + ", newer than this Stellane knows (" + STEPS.size() + "): upgrade this node");
            }
            for (int v = version; v < STEPS.size(); v++) {
                st.execute(STEPS.get(v));
            }
            if (version < STEPS.size()) {
                try (PreparedStatement ps = c.prepareStatement("""
                        INSERT INTO stellane_meta (name, value) VALUES ('schema_version', ?)
                        ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value""")) {
                    ps.setString(1, Integer.toString(STEPS.size()));
                    ps.executeUpdate();
                }
            }
            c.commit();
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(auto);
        }
    }

    private static int version(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT value FROM stellane_meta WHERE name = 'schema_version'");
             ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
                return 0;
            }
            try {
                return Integer.parseInt(rs.getString(1));
            } catch (NumberFormatException e) {
                throw new RecoveryException("stellane_meta.schema_version is not a number: " + rs.getString(1));
            }
        }
    }

    private static boolean exists(Connection c, String table) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
            ps.setString(1, table);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    /** A value of {@code stellane_meta} set once by the first node and compared by the others; returns the stored value. */
    static String settle(Connection c, String name, String value) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO stellane_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING""")) {
            ps.setString(1, name);
            ps.setString(2, value);
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT value FROM stellane_meta WHERE name = ?")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        }
    }
}
