package io.stellane.examples.users;

import org.junit.jupiter.api.BeforeAll;

import java.sql.Connection;
import java.sql.Statement;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The contract on a real PostgreSQL, named by {@code STELLANE_TEST_PG_URL} (+ {@code _USER},
 * {@code _PASSWORD}): {@code ./stellane test} starts a throwaway one through {@code scripts/test-env.sh}.
 * Without it this test fails rather than skips, so a missing database is never mistaken for a pass.
 */
class PostgresUserRepositoryTest extends UserRepositoryContractTest {
    static final String URL_VAR = "STELLANE_TEST_PG_URL";

    private static String url;
    private static String user;
    private static String password;

    @BeforeAll
    static void requireDatabase() {
        url = System.getenv(URL_VAR);
        if (url == null || url.isBlank()) {
            fail(URL_VAR + " is not set, so there is no PostgreSQL to test against. Run the tests through"
                    + " `./stellane test`, which starts a throwaway PostgreSQL (scripts/test-env.sh), or start one"
                    + " yourself: eval \"$(scripts/postgres.sh start)\" and stop it with scripts/postgres.sh stop.");
        }
        user = System.getenv().getOrDefault("STELLANE_TEST_PG_USER", "");
        password = System.getenv().getOrDefault("STELLANE_TEST_PG_PASSWORD", "");
    }

    @Override
    protected DatabaseConfig config(int poolSize) {
        return new DatabaseConfig(url, user, password, poolSize);
    }

    @Override
    protected void resetDatabase() throws Exception {
        Properties p = new Properties();
        if (!user.isEmpty()) {
            p.setProperty("user", user);
        }
        if (!password.isEmpty()) {
            p.setProperty("password", password);
        }
        try (Connection c = new org.postgresql.Driver().connect(url, p); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS users");
        }
    }

    @Override
    protected Dialect expectedDialect() {
        return Dialect.POSTGRESQL;
    }
}
