package io.stellane.cluster;

import io.stellane.config.Secret;
import io.stellane.recovery.RecoveryStoreConfig;

import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A private schema on the test PostgreSQL ({@code STELLANE_TEST_PG_URL}, started by
 * {@code ./stellane test}): every node opened on it sees only this test's tables, and {@link #close}
 * drops them. Without the variable the test fails rather than skips.
 */
final class TestDatabase implements AutoCloseable {
    final String schema;
    final String url;
    final String user;
    final String password;

    TestDatabase() {
        String base = System.getenv("STELLANE_TEST_PG_URL");
        if (base == null || base.isBlank()) {
            fail("STELLANE_TEST_PG_URL is not set, so there is no PostgreSQL to test against. Run the tests through"
                    + " `./stellane test`, which starts a throwaway PostgreSQL (scripts/test-env.sh), or start one"
                    + " yourself: eval \"$(scripts/postgres.sh start)\" and stop it with scripts/postgres.sh stop.");
        }
        user = System.getenv().getOrDefault("STELLANE_TEST_PG_USER", "");
        password = System.getenv().getOrDefault("STELLANE_TEST_PG_PASSWORD", "");
        byte[] b = new byte[6];
        new SecureRandom().nextBytes(b);
        schema = "t_" + HexFormat.of().formatHex(b);
        url = base + (base.contains("?") ? "&" : "?") + "currentSchema=" + schema;
        exec("CREATE SCHEMA " + schema);
    }

    RecoveryStoreConfig.Database node(String nodeId, Duration lease) {
        return new RecoveryStoreConfig.Database(url, user.isEmpty() ? null : user,
                password.isEmpty() ? null : Secret.of(password), nodeId, lease);
    }

    Connection connect() throws SQLException {
        return DriverManager.getConnection(url, user, password);
    }

    void exec(String sql) {
        try (Connection c = connect(); Statement st = c.createStatement()) {
            st.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }

    /** The first column of every row {@code sql} returns, as text. */
    java.util.List<String> column(String sql) {
        try (Connection c = connect(); Statement st = c.createStatement(); java.sql.ResultSet rs = st.executeQuery(sql)) {
            java.util.List<String> out = new java.util.ArrayList<>();
            while (rs.next()) {
                out.add(rs.getString(1));
            }
            return out;
        } catch (SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }

    /** The number {@code sql} returns (a count, say). */
    long number(String sql) {
        return Long.parseLong(column(sql).getFirst());
    }

    @Override
    public void close() {
        exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    }
}
