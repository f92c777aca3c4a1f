package io.stellane.examples.users;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.HikariPoolMXBean;
import com.zaxxer.hikari.metrics.micrometer.MicrometerMetricsTrackerFactory;
import io.micrometer.core.instrument.MeterRegistry;
import io.stellane.logging.LogThrottle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The users table over plain JDBC (H2 or PostgreSQL, see {@link Dialect}). Every method blocks: call it
 * from a virtual thread, which is what {@link UserService} does. Creates the table on construction if it
 * is missing.
 *
 * <p><b>Exactly-once create.</b> {@link #create} takes an idempotency key, stored in the unique
 * {@code request_key} column. However many times and however concurrently a create is run with one key
 * (a request replayed after a crash, a client retry), one row is inserted, and every call returns that
 * row. Concurrent callers race on the unique constraint; the losers read the winner's row.
 *
 * <p>Thread-safe: each call borrows its own connection from a HikariCP pool of
 * {@link DatabaseConfig#poolSize()} connections, whose meters ({@code hikaricp_*}, tagged
 * {@code pool="users"}) go to the registry given. Failures are {@link DatabaseException}s; invalid
 * arguments are {@link ValidationException}s (the body) or {@link IllegalArgumentException}s (key,
 * limit, offset).
 *
 * <p><b>Faults.</b> A call whose failure is not the statement's own (see {@link #statementFailed}) may
 * mean the database went away: H2 closes itself when a write fails (a full disk), after which every
 * session answers "database closed" (90098) while {@code isValid} still says true; a PostgreSQL restart
 * breaks every connection at once. So the pool evicts all its connections and the next calls get fresh
 * ones: once the database is back (H2 reopens its file on the next connect), calls succeed again without
 * a restart. Each eviction is logged at most once per {@link #LOG_INTERVAL}, with a count. {@link #ping}
 * reports a database that answers reads but cannot write (H2 on a full disk reopens on the next
 * connection and serves reads) as down until a write goes through again.
 */
public final class UserRepository implements AutoCloseable {
    public static final int MAX_LIST_LIMIT = 1000;
    public static final int MAX_KEY_LENGTH = 255;
    /**
     * How long a call waits for a pooled connection before failing: for a free one, or for a new one
     * while the database is unreachable. HikariCP's default (30 s) would hold a request that long before
     * its 503.
     */
    public static final Duration CONNECTION_TIMEOUT = Duration.ofSeconds(5);
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);
    /** The pool's name: its threads' and its meters' {@code pool} tag. */
    static final String POOL_NAME = "users";

    private static final Logger LOG = LoggerFactory.getLogger(UserRepository.class);
    private static final String UNIQUE_VIOLATION = "23505";
    private static final String COLUMNS = "id, name, email, created_at";

    @FunctionalInterface
    interface SqlWork<T> {
        T run(Connection c) throws SQLException;
    }

    private final Dialect dialect;
    private final HikariDataSource pool;
    private final LogThrottle throttle = new LogThrottle(LOG_INTERVAL);
    /** The last write's failure, if it was the database's rather than the statement's; null once a write succeeds. */
    private volatile DatabaseException writeFailure;

    /** {@link #UserRepository(DatabaseConfig, MeterRegistry)} without pool meters. */
    public UserRepository(DatabaseConfig config) {
        this(config, null);
    }

    /**
     * Opens the pool and creates the schema if missing.
     *
     * @param meters where the pool's meters go; null for none
     * @throws DatabaseException if the database cannot be reached or the schema cannot be created
     */
    public UserRepository(DatabaseConfig config, MeterRegistry meters) {
        Objects.requireNonNull(config, "config");
        this.dialect = config.dialect();
        HikariConfig h = new HikariConfig();
        h.setPoolName(POOL_NAME);
        h.setDriverClassName(dialect.driverClassName());
        h.setJdbcUrl(config.jdbcUrl());
        if (!config.user().isEmpty()) {
            h.setUsername(config.user());
        }
        if (!config.password().isEmpty()) {
            h.setPassword(config.password());
        }
        h.setMaximumPoolSize(config.poolSize());
        h.setConnectionTimeout(CONNECTION_TIMEOUT.toMillis());
        if (meters != null) {
            h.setMetricsTrackerFactory(new MicrometerMetricsTrackerFactory(meters));
        }
        try {
            this.pool = new HikariDataSource(h); // connects once: an unreachable database fails here
        } catch (RuntimeException e) {
            throw new DatabaseException("cannot open the " + dialect + " database " + safeUrl(config.jdbcUrl()) + ": "
                    + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()), e);
        }
        try {
            call("create schema", this::createSchema);
        } catch (RuntimeException e) {
            pool.close();
            throw e;
        }
    }

    /** The URL without its query, where a PostgreSQL URL may carry {@code password=...}. */
    public static String safeUrl(String url) {
        int q = url.indexOf('?');
        return q < 0 ? url : url.substring(0, q);
    }

    public Dialect dialect() {
        return dialect;
    }

    /**
     * Creates a user once per {@code idempotencyKey}: if a user was already created with this key, returns
     * that user unchanged (even if {@code user} differs), without inserting anything. A null key means no
     * deduplication: every call inserts.
     *
     * @param idempotencyKey null, or 1 to {@value #MAX_KEY_LENGTH} printable ASCII characters
     * @throws ValidationException      if {@code user} is invalid (nothing is written)
     * @throws IllegalArgumentException if the key is empty, too long or not printable ASCII
     */
    public User create(NewUser user, String idempotencyKey) {
        Objects.requireNonNull(user, "user").requireValid();
        checkKey(idempotencyKey);
        Instant createdAt = Instant.now().truncatedTo(ChronoUnit.MICROS);
        return write("create user", c -> {
            if (idempotencyKey != null) {
                Optional<User> existing = findByKey(c, idempotencyKey);
                if (existing.isPresent()) {
                    return existing.get();
                }
            }
            try {
                return insert(c, user, idempotencyKey, createdAt);
            } catch (SQLException e) {
                if (idempotencyKey != null && UNIQUE_VIOLATION.equals(e.getSQLState())) {
                    // another call with this key inserted first: its row is the result
                    Optional<User> winner = findByKey(c, idempotencyKey);
                    if (winner.isPresent()) {
                        return winner.get();
                    }
                }
                throw e;
            }
        });
    }

    /** The user with this id, if any. */
    public Optional<User> find(long id) {
        return call("find user", c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM users WHERE id = ?")) {
                ps.setLong(1, id);
                return one(ps);
            }
        });
    }

    /**
     * Up to {@code limit} users ordered by id, skipping the first {@code offset}.
     *
     * @throws IllegalArgumentException if limit is not 1..{@value #MAX_LIST_LIMIT} or offset is negative
     */
    public List<User> list(int limit, int offset) {
        checkPage(limit, offset);
        return call("list users", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT " + COLUMNS + " FROM users ORDER BY id LIMIT ? OFFSET ?")) {
                ps.setInt(1, limit);
                ps.setInt(2, offset);
                List<User> users = new ArrayList<>(Math.min(limit, 64));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        users.add(row(rs));
                    }
                }
                return users;
            }
        });
    }

    /** How many users there are. */
    public long count() {
        return call("count users", c -> {
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM users")) {
                rs.next();
                return rs.getLong(1);
            }
        });
    }

    /**
     * A cheap liveness check: borrows a connection and runs {@code SELECT 1}; while the last write failed,
     * writes the one row of {@code health_probe} instead, so that a database that cannot write is down
     * until it can, whether or not anyone else writes meanwhile.
     *
     * @throws DatabaseException when the database does not answer, or cannot write after a write failed
     */
    public void ping() {
        if (writeFailure != null) {
            write("probe write", c -> {
                try (Statement s = c.createStatement()) {
                    return s.executeUpdate("UPDATE health_probe SET checked_at = CURRENT_TIMESTAMP WHERE id = 1");
                }
            });
            return;
        }
        call("ping", c -> {
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
                rs.next();
                return null;
            }
        });
    }

    /** Closes the pool (in-use connections close as their calls finish); later calls fail. Idempotent. */
    @Override
    public void close() {
        pool.close();
    }

    /**
     * Whether {@code e} is a statement's own failure, which leaves its session as it was: SQLSTATE class 22
     * (data), 23 (integrity constraint), 40 (transaction rolled back) or 42 (syntax or access rule).
     */
    static boolean statementFailed(SQLException e) {
        String state = e.getSQLState();
        if (state == null || state.length() < 2) {
            return false;
        }
        return switch (state.substring(0, 2)) {
            case "22", "23", "40", "42" -> true;
            default -> false;
        };
    }

    static void checkPage(int limit, int offset) {
        if (limit < 1 || limit > MAX_LIST_LIMIT) {
            throw new IllegalArgumentException("limit must be 1.." + MAX_LIST_LIMIT + ", got " + limit);
        }
        if (offset < 0) {
            throw new IllegalArgumentException("offset must be >= 0, got " + offset);
        }
    }

    static void checkKey(String key) {
        if (key == null) {
            return;
        }
        if (key.isEmpty() || key.length() > MAX_KEY_LENGTH) {
            throw new IllegalArgumentException("idempotency key must be 1.." + MAX_KEY_LENGTH
                    + " characters, got " + key.length());
        }
        for (int i = 0; i < key.length(); i++) {
            char ch = key.charAt(i);
            if (ch < 0x21 || ch > 0x7e) {
                throw new IllegalArgumentException("idempotency key must be printable ASCII without spaces;"
                        + " character " + i + " is U+" + String.format("%04X", (int) ch));
            }
        }
    }

    private Void createSchema(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            for (String sql : dialect.schemaStatements()) {
                s.execute(sql);
            }
            c.commit();
        } finally {
            c.setAutoCommit(true); // commits nothing more: the transaction ended above, or rolls back in the pool
        }
        return null;
    }

    private static User insert(Connection c, NewUser user, String key, Instant createdAt) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO users (request_key, name, email, created_at) VALUES (?, ?, ?, ?)",
                Statement.RETURN_GENERATED_KEYS)) {
            ps.setString(1, key);
            ps.setString(2, user.name());
            ps.setString(3, user.email());
            ps.setObject(4, OffsetDateTime.ofInstant(createdAt, ZoneOffset.UTC));
            ps.executeUpdate();
            try (ResultSet keys = ps.getGeneratedKeys()) {
                if (!keys.next()) {
                    throw new SQLException("the insert returned no generated id");
                }
                return new User(keys.getLong("id"), user.name(), user.email(), createdAt);
            }
        }
    }

    private static Optional<User> findByKey(Connection c, String key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS + " FROM users WHERE request_key = ?")) {
            ps.setString(1, key);
            return one(ps);
        }
    }

    private static Optional<User> one(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            return rs.next() ? Optional.of(row(rs)) : Optional.empty();
        }
    }

    private static User row(ResultSet rs) throws SQLException {
        return new User(rs.getLong(1), rs.getString(2), rs.getString(3),
                rs.getObject(4, OffsetDateTime.class).toInstant());
    }

    /** {@link #call} for a write: remembers whether the database could write, for {@link #ping}. */
    private <T> T write(String what, SqlWork<T> work) {
        try {
            T result = call(what, work);
            writeFailure = null;
            return result;
        } catch (DatabaseException e) {
            if (!(e.getCause() instanceof SQLException cause && statementFailed(cause))) {
                writeFailure = e;
            }
            throw e;
        }
    }

    /** Runs {@code work} on a pooled connection in auto-commit mode; the pool rolls back what it left open. */
    private <T> T call(String what, SqlWork<T> work) {
        if (pool.isClosed()) {
            throw new IllegalStateException("the users repository is closed");
        }
        try (Connection c = pool.getConnection()) {
            return work.run(c);
        } catch (SQLException e) {
            if (!statementFailed(e)) {
                evictAll(e);
            }
            throw new DatabaseException(what + " failed on " + dialect + " (SQLSTATE " + e.getSQLState() + "): "
                    + e.getMessage(), e);
        }
    }

    /** Closes the idle connections now and the ones in use when they come back; the pool opens new ones. */
    private void evictAll(SQLException cause) {
        HikariPoolMXBean p = pool.getHikariPoolMXBean();
        if (p != null) {
            p.softEvictConnections();
        }
        throttle.warn(LOG, "broken." + cause.getSQLState(), "database call failed (SQLSTATE " + cause.getSQLState()
                + "): evicting the pool's connections; calls get new ones", null);
    }
}
