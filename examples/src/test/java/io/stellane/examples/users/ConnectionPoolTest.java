package io.stellane.examples.users;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConnectionPoolTest {
    // one in-memory database per test, kept while any connection is open
    private final String url = "jdbc:h2:mem:pool-" + UUID.randomUUID();
    private final List<ConnectionPool> pools = new ArrayList<>();

    private ConnectionPool pool(int size, Duration acquireTimeout) {
        ConnectionPool p = new ConnectionPool(new org.h2.Driver(), url, "sa", "", size, acquireTimeout);
        pools.add(p);
        return p;
    }

    @AfterEach
    void close() {
        pools.forEach(ConnectionPool::close);
    }

    @Test
    void sequentialCallsReuseOneConnection() throws SQLException {
        ConnectionPool p = pool(4, Duration.ofSeconds(5));
        for (int i = 0; i < 10; i++) {
            assertThat(one(p)).isEqualTo(1);
        }
        assertThat(p.openConnections()).isEqualTo(1);
    }

    @Test
    void neverMoreConnectionsInUseThanItsSize() throws Exception {
        ConnectionPool p = pool(2, Duration.ofSeconds(30));
        AtomicInteger inUse = new AtomicInteger();
        AtomicInteger maxInUse = new AtomicInteger();
        ExecutorService threads = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                jobs.add(threads.submit(() -> {
                    for (int i = 0; i < 50; i++) {
                        p.withConnection(c -> {
                            maxInUse.accumulateAndGet(inUse.incrementAndGet(), Math::max);
                            try (Statement s = c.createStatement()) {
                                return selectOne(s);
                            } finally {
                                inUse.decrementAndGet();
                            }
                        });
                    }
                    return null;
                }));
            }
            for (Future<?> f : jobs) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            threads.shutdownNow();
        }
        assertThat(maxInUse.get()).isBetween(1, 2);
        assertThat(p.openConnections()).isBetween(1, 2);
    }

    @Test
    void aCallerWaitsAtMostTheAcquireTimeout() throws Exception {
        ConnectionPool p = pool(1, Duration.ofMillis(200));
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ExecutorService holder = Executors.newSingleThreadExecutor();
        try {
            Future<Integer> held = holder.submit(() -> p.withConnection(c -> {
                holding.countDown();
                try {
                    if (!release.await(30, TimeUnit.SECONDS)) {
                        throw new SQLException("the test never released the connection");
                    }
                } catch (InterruptedException e) {
                    throw new SQLException(e);
                }
                return 7;
            }));
            assertThat(holding.await(30, TimeUnit.SECONDS)).isTrue();
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> p.withConnection(c -> 1))
                    .isInstanceOf(SQLTransientConnectionException.class)
                    .hasMessageContaining("no database connection free within PT0.2S (pool size 1)");
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(Duration.ofMillis(190));
            release.countDown();
            assertThat(held.get(30, TimeUnit.SECONDS)).isEqualTo(7);
        } finally {
            release.countDown();
            holder.shutdownNow();
        }
        assertThat(p.<Integer>withConnection(c -> 2)).as("the permit came back").isEqualTo(2);
    }

    @Test
    void aConnectionThatBrokeIsClosedNotReturned() throws SQLException {
        ConnectionPool p = pool(2, Duration.ofSeconds(5));
        assertThatThrownBy(() -> p.withConnection(c -> {
            c.close(); // as if the server had dropped it
            return selectOne(c.createStatement());
        })).isInstanceOf(SQLException.class);
        assertThat(p.openConnections()).isZero();
        assertThat(one(p)).isEqualTo(1);
        assertThat(p.openConnections()).isEqualTo(1);
    }

    @Test
    void aFailedStatementKeepsAHealthyConnection() throws SQLException {
        ConnectionPool p = pool(2, Duration.ofSeconds(5));
        assertThatThrownBy(() -> p.withConnection(c -> c.createStatement().execute("SELEC nonsense")))
                .isInstanceOf(SQLException.class);
        assertThat(p.openConnections()).isEqualTo(1);
        assertThat(one(p)).isEqualTo(1);
        assertThat(p.openConnections()).isEqualTo(1);
    }

    @Test
    void aDatabaseThatClosedItselfLosesEveryPooledConnectionAndReconnects() throws SQLException {
        ConnectionPool p = pool(3, Duration.ofSeconds(5));
        p.withConnection(c -> p.withConnection(d -> selectOne(d.createStatement()))); // two idle connections
        assertThat(p.openConnections()).isEqualTo(2);
        // as H2 does after a failed write (a full disk): every session of the database is dead, while
        // isValid() still says true
        java.util.Properties sa = new java.util.Properties();
        sa.setProperty("user", "sa");
        try (java.sql.Connection other = new org.h2.Driver().connect(url, sa)) {
            other.createStatement().execute("SHUTDOWN");
        }
        assertThatThrownBy(() -> one(p)).isInstanceOf(SQLException.class);
        assertThat(p.openConnections()).as("the broken connection and the idle one, both closed").isZero();
        assertThat(one(p)).isEqualTo(1);
        assertThat(p.openConnections()).isEqualTo(1);
    }

    @Test
    void onlyAStatementsOwnFailureKeepsItsConnection() {
        assertThat(ConnectionPool.statementFailed(new SQLException("duplicate", "23505"))).isTrue();
        assertThat(ConnectionPool.statementFailed(new SQLException("bad value", "22001"))).isTrue();
        assertThat(ConnectionPool.statementFailed(new SQLException("deadlock", "40P01"))).isTrue();
        assertThat(ConnectionPool.statementFailed(new SQLException("syntax", "42601"))).isTrue();
        assertThat(ConnectionPool.statementFailed(new SQLException("connection lost", "08006"))).isFalse();
        assertThat(ConnectionPool.statementFailed(new SQLException("database closed", "90098"))).isFalse();
        assertThat(ConnectionPool.statementFailed(new SQLException("general error", "HY000"))).isFalse();
        assertThat(ConnectionPool.statementFailed(new SQLException("no state"))).isFalse();
    }

    @Test
    void anUncommittedTransactionIsRolledBackOnReturn() throws SQLException {
        ConnectionPool p = pool(1, Duration.ofSeconds(5));
        p.withConnection(c -> c.createStatement().execute("CREATE TABLE t (x INT)"));
        p.withConnection(c -> {
            c.setAutoCommit(false);
            return c.createStatement().executeUpdate("INSERT INTO t VALUES (1)");
        });
        p.withConnection(c -> {
            assertThat(c.getAutoCommit()).isTrue();
            try (ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM t")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
            }
            return null;
        });
    }

    @Test
    void closingClosesIdleConnectionsAndRefusesCalls() throws SQLException {
        ConnectionPool p = pool(2, Duration.ofSeconds(5));
        p.withConnection(c -> selectOne(c.createStatement()));
        p.close();
        assertThat(p.openConnections()).isZero();
        assertThatThrownBy(() -> p.withConnection(c -> 1)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aConnectionInUseWhenThePoolClosesIsClosedOnReturn() throws SQLException {
        ConnectionPool p = pool(2, Duration.ofSeconds(5));
        p.withConnection(c -> {
            p.close();
            return selectOne(c.createStatement());
        });
        assertThat(p.openConnections()).isZero();
    }

    private static int one(ConnectionPool p) throws SQLException {
        return p.withConnection(c -> selectOne(c.createStatement()));
    }

    private static int selectOne(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("SELECT 1")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
