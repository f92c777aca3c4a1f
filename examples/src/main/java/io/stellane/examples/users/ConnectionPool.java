package io.stellane.examples.users;

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
 * with {@link Connection#isValid} before reuse; one whose work failed and that no longer answers is
 * closed rather than returned. Callers wait at most the acquire timeout for a free connection.
 *
 * <p>Thread-safe. Meant for virtual threads ({@code Task.blocking}): waiting parks on a {@link Semaphore}.
 */
final class ConnectionPool implements AutoCloseable {
    static final Duration VALIDATE_AFTER_IDLE = Duration.ofSeconds(30);

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
        } catch (SQLException | RuntimeException | Error e) {
            healthy = stillUsable(c);
            throw e;
        } finally {
            release(c, healthy);
        }
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

    private void drainIdle() {
        Idle i;
        while ((i = idle.pollFirst()) != null) {
            closePhysical(i.connection());
        }
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
