package io.stellane.cluster;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.stellane.logging.LogThrottle;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStoreConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;

/**
 * This process's membership among the nodes sharing one PostgreSQL: a name, an epoch and a lease.
 *
 * <h2>How it works</h2>
 * {@link #join} creates or migrates the schema ({@link Schema}), then registers the node in
 * {@code stellane_node}: a new name starts at epoch 1, a name seen before gets the next epoch and
 * its lease anew. Everything the node owns (journaled requests, running durable tasks) carries the
 * name and the epoch it was taken under. A background thread renews the lease three times per
 * {@link #lease()} using the database's clock, so nodes never compare their own clocks. When a
 * node's lease has expired, the others take what it owned; the epoch fences them: a row is only
 * taken from a node at the epoch it was written under, so a node that restarts under the same name
 * (and so bumps its epoch) and a node adopting its rows never both take one.
 *
 * <p>A node that cannot renew reports a {@link #fault()} once its last renewal is older than two
 * thirds of the lease: the server then answers 503 instead of taking requests another node may be
 * about to adopt. A node whose name was registered again by another process (its epoch moved on) is
 * fenced for good and says so.
 *
 * <p>Threading: thread-safe. {@link #join} and {@link #close} block on the database; call them from
 * start-up and shutdown code, never from a worker. Nodes are shared within a process: joining twice
 * with the same url, user and name gives the same node, closed when the last holder closes it.
 */
public final class ClusterNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterNode.class);
    private static final Map<String, ClusterNode> JOINED = new HashMap<>(); // guarded by itself

    private final String registryKey;
    private final RecoveryStoreConfig.Database settings;
    private final HikariDataSource pool;
    private final long epoch;
    private final boolean previousShutdownClean;
    private final Thread renewer;
    private final LogThrottle throttle = new LogThrottle(Duration.ofSeconds(10));
    private volatile long lastRenewalNanos = System.nanoTime();
    private volatile RecoveryException renewalFailure;
    private volatile boolean fenced;
    private volatile boolean closed;
    private int holders = 1; // guarded by JOINED

    private ClusterNode(String registryKey, RecoveryStoreConfig.Database settings) {
        this.registryKey = registryKey;
        this.settings = settings;
        this.pool = pool(settings, "stellane-node-" + settings.nodeId(), 3, null);
        try (Connection c = pool.getConnection()) {
            Schema.migrate(c);
            long[] registered = register(c, settings.nodeId(), settings.lease());
            this.epoch = registered[0];
            this.previousShutdownClean = registered[1] == 1;
        } catch (SQLException | RuntimeException e) {
            pool.close();
            throw e instanceof RecoveryException re ? re : unreachable(settings, e);
        }
        this.renewer = Thread.ofPlatform().daemon().name("stellane-lease-" + settings.nodeId()).start(this::renewLoop);
        log.info("node {} joined the cluster at {} (epoch {}, lease {})", settings.nodeId(), settings.url(), epoch,
                settings.lease());
    }

    /**
     * Joins the cluster whose database {@code settings} names, as node {@code settings.nodeId()}: the
     * schema is created or migrated, the node registered and its lease renewed from now on.
     *
     * @throws RecoveryException when the database cannot be reached (the message names the url and
     *                           the cause), or its schema is not Stellane's or is newer than this version
     */
    public static ClusterNode join(RecoveryStoreConfig.Database settings) {
        Objects.requireNonNull(settings, "settings");
        String key = settings.url() + "\u0000" + settings.user() + "\u0000" + settings.nodeId();
        synchronized (JOINED) {
            ClusterNode node = JOINED.get(key);
            if (node != null) {
                node.holders++;
                return node;
            }
            node = new ClusterNode(key, settings);
            JOINED.put(key, node);
            return node;
        }
    }

    /** A connection pool on the cluster's database; {@code initSql} runs on each new connection, may be null. */
    static HikariDataSource pool(RecoveryStoreConfig.Database settings, String name, int size, String initSql) {
        HikariConfig hc = new HikariConfig();
        hc.setJdbcUrl(settings.url());
        if (settings.user() != null) {
            hc.setUsername(settings.user());
        }
        if (settings.password() != null) {
            hc.setPassword(settings.password().reveal());
        }
        hc.setPoolName(name);
        hc.setMaximumPoolSize(size);
        hc.setMinimumIdle(Math.min(2, size));
        // a database that is gone fails a request within two seconds (a 503), not after Hikari's 30
        hc.setConnectionTimeout(2_000);
        hc.setValidationTimeout(1_000);
        hc.setInitializationFailTimeout(-1); // join() reports an unreachable database itself, with the url
        if (initSql != null) {
            hc.setConnectionInitSql(initSql);
        }
        hc.addDataSourceProperty("tcpKeepAlive", "true");
        hc.addDataSourceProperty("connectTimeout", "5");
        hc.addDataSourceProperty("socketTimeout", "30");
        return new HikariDataSource(hc);
    }

    static RecoveryException unreachable(RecoveryStoreConfig.Database settings, Exception e) {
        return new RecoveryException("cannot use the cluster database at " + settings.url() + " (user "
                + settings.user() + "): " + rootMessage(e), e);
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t == e ? String.valueOf(e.getMessage()) : e.getMessage() + " (" + t + ")";
    }

    /** Registers the node: {epoch, 1 if its previous run ended with a clean shutdown}. */
    private static long[] register(Connection c, String nodeId, Duration lease) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try {
            boolean clean = true;
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT clean_shutdown FROM stellane_node WHERE node_id = ? FOR UPDATE")) {
                ps.setString(1, nodeId);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        clean = rs.getBoolean(1);
                    }
                }
            }
            long epoch;
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO stellane_node (node_id, epoch, lease_until, clean_shutdown)
                    VALUES (?, 1, now() + ? * interval '1 millisecond', false)
                    ON CONFLICT (node_id) DO UPDATE SET epoch = stellane_node.epoch + 1,
                        lease_until = EXCLUDED.lease_until, clean_shutdown = false, started_at = now()
                    RETURNING epoch""")) {
                ps.setString(1, nodeId);
                ps.setLong(2, lease.toMillis());
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    epoch = rs.getLong(1);
                }
            }
            c.commit();
            return new long[] {epoch, clean ? 1 : 0};
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(auto);
        }
    }

    /** This node's name among the nodes. */
    public String id() {
        return settings.nodeId();
    }

    /** Incremented at every registration of this name: what this run owns is taken under it. */
    public long epoch() {
        return epoch;
    }

    public Duration lease() {
        return settings.lease();
    }

    /** The database and node settings this node joined with. */
    public RecoveryStoreConfig.Database settings() {
        return settings;
    }

    /** A small pool on the cluster's database, for the node's own bookkeeping and durable tasks. */
    public DataSource dataSource() {
        return pool;
    }

    /** Whether the previous run under this name ended with {@link #markCleanShutdown()}; true for a new name. */
    public boolean previousShutdownClean() {
        return previousShutdownClean;
    }

    /**
     * Why this node must not take new work now, or empty: its lease was not renewed for two thirds of
     * its length (the database is unreachable, say), or another process registered its name. Heals by
     * itself with the next renewal, except the latter. Cheap.
     */
    public Optional<RecoveryException> fault() {
        if (fenced) {
            return Optional.of(new RecoveryException("node " + id() + " was registered again by another process"
                    + " (its epoch is past " + epoch + "); this one takes no more work: give each process its own node_id"));
        }
        long age = System.nanoTime() - lastRenewalNanos;
        if (age > lease().toNanos() * 2 / 3) {
            RecoveryException cause = renewalFailure;
            return Optional.of(new RecoveryException("node " + id() + " has not renewed its lease for "
                    + Duration.ofNanos(age).toMillis() + " ms (lease " + lease().toMillis() + " ms)"
                    + (cause == null ? "" : ": " + cause.getMessage()), cause));
        }
        return Optional.empty();
    }

    /** Whether a lease renewal has failed since the node last renewed it. */
    boolean renewalFailing() {
        return renewalFailure != null;
    }

    /** Records that this run ends cleanly: the next run under this name reports it. Blocks on the database. */
    public void markCleanShutdown() {
        try (Connection c = pool.getConnection();
             PreparedStatement ps = c.prepareStatement(
                     "UPDATE stellane_node SET clean_shutdown = true WHERE node_id = ? AND epoch = ?")) {
            ps.setString(1, id());
            ps.setLong(2, epoch);
            ps.executeUpdate();
        } catch (SQLException e) {
            throw unreachable(settings, e);
        }
    }

    private void renewLoop() {
        long periodNanos = lease().toNanos() / 3;
        while (!closed) {
            LockSupport.parkNanos(periodNanos);
            if (closed) {
                return;
            }
            renewOnce();
            if (fenced) {
                return;
            }
        }
    }

    /** One renewal; package-private for tests that stop the database. */
    void renewOnce() {
        long started = System.nanoTime();
        try (Connection c = pool.getConnection();
             PreparedStatement ps = c.prepareStatement("""
                     UPDATE stellane_node SET lease_until = now() + ? * interval '1 millisecond'
                     WHERE node_id = ? AND epoch = ?""")) {
            ps.setLong(1, lease().toMillis());
            ps.setString(2, id());
            ps.setLong(3, epoch);
            if (ps.executeUpdate() == 0) {
                fenced = true;
                log.error("node {} (epoch {}) was registered again by another process: this one stops taking work",
                        id(), epoch);
                return;
            }
            lastRenewalNanos = started;
            if (renewalFailure != null) {
                renewalFailure = null;
                log.info("node {} renews its lease again", id());
            }
        } catch (SQLException | RuntimeException e) {
            renewalFailure = unreachable(settings, e);
            throttle.warn(log, "lease", "node " + id() + " cannot renew its lease: " + rootMessage(e), null);
        }
    }

    /**
     * Releases this holder; the last one stops renewing, ends the lease now (so what this run left
     * unfinished is adopted at once instead of a lease later) and closes the pool.
     */
    @Override
    public void close() {
        synchronized (JOINED) {
            if (closed || --holders > 0) {
                return;
            }
            closed = true;
            JOINED.remove(registryKey);
        }
        LockSupport.unpark(renewer);
        try {
            renewer.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!fenced) {
            try (Connection c = pool.getConnection();
                 PreparedStatement ps = c.prepareStatement(
                         "UPDATE stellane_node SET lease_until = now() WHERE node_id = ? AND epoch = ?")) {
                ps.setString(1, id());
                ps.setLong(2, epoch);
                ps.executeUpdate();
            } catch (SQLException e) {
                log.warn("node {} could not end its lease at close ({}); others adopt its work when it expires",
                        id(), rootMessage(e));
            }
        }
        pool.close();
    }

    /**
     * What a killed process leaves behind, for tests in one JVM: renewals stop and the pool closes,
     * the lease is left to expire and the name is free to join again as a new run.
     */
    void crash() {
        synchronized (JOINED) {
            if (closed) {
                return;
            }
            closed = true;
            JOINED.remove(registryKey);
        }
        LockSupport.unpark(renewer);
        pool.close();
    }

    @Override
    public String toString() {
        return "ClusterNode[" + id() + ", epoch " + epoch + ", " + settings.url() + "]";
    }
}
