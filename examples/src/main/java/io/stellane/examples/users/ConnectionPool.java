package io.stellane.examples.users;

import io.stellane.logging.LogThrottle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.Driver;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A small blocking JDBC connection pool: at most {@code size} connections, opened on demand, reused
 * most-recently-returned first. A connection idle longer than {@link #VALIDATE_AFTER_IDLE} is checked
 * with {@link Connection#isValid} before reuse. Callers wait at most the acquire timeout for a free
 * connection.
 *
 * <p><b>Failures.</b> A connection whose work failed goes back to the pool only if the failure was the
 * statement's own (bad data, a constraint, bad SQL, a rolled-back transaction: SQLSTATE classes 22, 23,
 * 40, 42) and it still answers. Anything else may mean the database went away: H2 closes itself when a
 * write fails (a full disk), after which every session answers "database closed" (90098) while
 * {@code isValid} still says true; a PostgreSQL restart breaks every connection at once. So the
 * connection is closed, and so is every idle one, and the next calls open fresh ones: once the database
 * is back (H2 reopens its file on the next connect), calls succeed again without a restart. Each such
 * purge is logged at most once per {@link #LOG_INTERVAL}, with a count.
 *
 * <p>Thread-safe. Meant for virtual threads ({@code Task.blocking}): waiting parks on a {@link Semaphore}.
 */
final class ConnectionPool implements AutoCloseable {
    static final Duration VALIDATE_AFTER_IDLE = Duration.ofSeconds(30);
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);
    private static final Logger LOG = LoggerFactory.getLogger(ConnectionPool.class);

    @FunctionalInterface
    interface SqlWork<T> {
        T run(Connection c) throws SQLException;
    }

    private record Idle(Connection connection, long sinceNanos) {
    }

    private final Driver driver;
    private final String url;
    private final Properties credentials = new Properties();
    private final int size;
    private final Duration acquireTimeout;
    private final Semaphore permits;
    private final ConcurrentLinkedDeque<Idle> idle = new ConcurrentLinkedDeque<>();
    private final AtomicInteger open = new AtomicInteger();
    private final LogThrottle throttle = new LogThrottle(LOG_INTERVAL);
    private volatile boolean closed;

    ConnectionPool(Driver driver, String url, String user, String password, int size, Duration acquireTimeout) {
        this.driver = driver;
        this.url = url;
        if (!user.isEmpty()) {
            credentials.setProperty("user", user);
        }
        if (!password.isEmpty()) {
            credentials.setProperty("password", password);
        }
        this.size = size;
        this.acquireTimeout = acquireTimeout;
        this.permits = new Semaphore(size, true);
    }

    /** Runs {@code work} on a pooled connection in auto-commit mode and returns the connection afterwards. */
    <T> T withConnection(SqlWork<T> work) throws SQLException {
        Connection c = borrow();
        boolean healthy = false;
        try {
            T result = work.run(c);
            healthy = true;
            return result;
        } catch (SQLException e) {
            healthy = statementFailed(e) && stillUsable(c);
            if (!healthy) {
                int idle = drainIdle();
                throttle.warn(LOG, "broken." + e.getSQLState(), "database call failed (SQLSTATE " + e.getSQLState()
                        + "): closing the connection and " + idle + " idle one(s); calls open new ones", null);
            }
            throw e;
        } catch (RuntimeException | Error e) {
            healthy = stillUsable(c);
            throw e;
        } finally {
            release(c, healthy);
        }
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

    /** How many physical connections are open now (idle or in use). */
    int openConnections() {
        return open.get();
    }

    int size() {
        return size;
    }

    /** Closes idle connections now and in-use ones as they come back; later borrows fail. Idempotent. */
    @Override
    public void close() {
        closed = true;
        drainIdle();
    }

    private Connection borrow() throws SQLException {
        ensureOpen();
        try {
            if (!permits.tryAcquire(acquireTimeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new SQLTransientConnectionException("no database connection free within " + acquireTimeout
                        + " (pool size " + size + ")", "08001");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SQLTransientConnectionException("interrupted while waiting for a database connection", "08001", e);
        }
        try {
            ensureOpen();
            Idle i;
            while ((i = idle.pollFirst()) != null) {
                if (System.nanoTime() - i.sinceNanos() < VALIDATE_AFTER_IDLE.toNanos() || i.connection().isValid(2)) {
                    return i.connection();
                }
                closePhysical(i.connection());
            }
            Connection c = driver.connect(url, credentials);
            if (c == null) {
                throw new SQLException("the JDBC driver " + driver.getClass().getName() + " does not accept " + url);
            }
            open.incrementAndGet();
            return c;
        } catch (SQLException | RuntimeException | Error e) {
            permits.release();
            throw e;
        }
    }

    private void release(Connection c, boolean healthy) {
        try {
            if (healthy && !closed) {
                if (!c.getAutoCommit()) {
                    c.rollback();
                    c.setAutoCommit(true);
                }
                idle.offerFirst(new Idle(c, System.nanoTime()));
                if (closed) {
                    drainIdle(); // close() ran between the check and the offer
                }
            } else {
                closePhysical(c);
            }
        } catch (SQLException e) {
            closePhysical(c);
        } finally {
            permits.release();
        }
    }

    private static boolean stillUsable(Connection c) {
        try {
            return !c.isClosed() && c.isValid(2);
        } catch (SQLException e) {
            return false;
        }
    }

    /** Closes every idle connection; returns how many. */
    private int drainIdle() {
        int n = 0;
        Idle i;
        while ((i = idle.pollFirst()) != null) {
            closePhysical(i.connection());
            n++;
        }
        return n;
    }

    private void closePhysical(Connection c) {
        open.decrementAndGet();
        try {
            c.close();
        } catch (SQLException ignored) {
            // it is being discarded; nothing more to do
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("the connection pool is closed");
        }
    }
}
