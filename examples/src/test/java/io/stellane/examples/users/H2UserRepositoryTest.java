package io.stellane.examples.users;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.sql.SQLException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The contract on the default database: an H2 file in a fresh temporary data directory per test. */
class H2UserRepositoryTest extends UserRepositoryContractTest {
    @TempDir
    Path dataDir;

    @Override
    protected DatabaseConfig config(int poolSize) {
        return new DatabaseConfig(DatabaseConfig.defaultUrl(dataDir), DatabaseConfig.DEFAULT_H2_USER, "", poolSize);
    }

    @Override
    protected void resetDatabase() throws Exception {
        if (repo == null) {
            assertThat(dataDir).isEmptyDirectory();
            return;
        }
        try (var c = DriverManager.getConnection(DatabaseConfig.defaultUrl(dataDir), "sa", "");
             var s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS users");
        }
    }

    @Override
    protected Dialect expectedDialect() {
        return Dialect.H2;
    }

    @Test
    void theDatabaseIsAFileInTheDataDirectory() {
        repo.create(new NewUser("File", "file@example.com"), "f");
        assertThat(Files.exists(dataDir.resolve("users.mv.db"))).isTrue();
    }

    @Test
    void afterTheDatabaseClosedItselfOneCallFailsAndTheNextOnesSucceed() throws Exception {
        repo.create(new NewUser("Kept", "kept@example.com"), "kept");
        assertThat(repo.count()).isEqualTo(1); // this thread's pooled connection, just used: the pool does not revalidate it
        // as H2 does after a failed write (a full disk): every session of the database is dead, while
        // isValid() still says true
        try (var c = DriverManager.getConnection(DatabaseConfig.defaultUrl(dataDir), "sa", "");
             var s = c.createStatement()) {
            s.execute("SHUTDOWN");
        }
        assertThatThrownBy(repo::count).isInstanceOf(DatabaseException.class).hasMessageContaining("closed");
        for (int i = 0; i < 5; i++) {
            assertThat(repo.count()).as("call %d after the failure", i).isEqualTo(1);
        }
    }

    @Test
    void thePoolsMetersGoToTheRegistryGivenAndLeaveWithTheRepository() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        UserRepository metered = new UserRepository(config(3), registry);
        try {
            assertThat(metered.count()).isZero();
            assertThat(registry.get("hikaricp.connections.max").tag("pool", "users").gauge().value()).isEqualTo(3);
            assertThat(registry.get("hikaricp.connections.usage").tag("pool", "users").timer().count()).isPositive();
        } finally {
            metered.close();
        }
        assertThat(registry.find("hikaricp.connections.max").gauge()).isNull();
    }

    @Test
    void onlyAStatementsOwnFailureLeavesThePoolAlone() {
        assertThat(UserRepository.statementFailed(new SQLException("duplicate", "23505"))).isTrue();
        assertThat(UserRepository.statementFailed(new SQLException("bad value", "22001"))).isTrue();
        assertThat(UserRepository.statementFailed(new SQLException("deadlock", "40P01"))).isTrue();
        assertThat(UserRepository.statementFailed(new SQLException("syntax", "42601"))).isTrue();
        assertThat(UserRepository.statementFailed(new SQLException("connection lost", "08006"))).isFalse();
        assertThat(UserRepository.statementFailed(new SQLException("database closed", "90098"))).isFalse();
        assertThat(UserRepository.statementFailed(new SQLException("general error", "HY000"))).isFalse();
        assertThat(UserRepository.statementFailed(new SQLException("no state"))).isFalse();
    }

    @Test
    void anUnreachableDatabaseFailsTheOpenNamingIt() {
        Path missing = dataDir.resolve("no-such-dir");
        // IFEXISTS=TRUE: H2 refuses to create the database, as a lost server refuses the connection
        DatabaseConfig gone = new DatabaseConfig("jdbc:h2:" + missing + "/users;IFEXISTS=TRUE", "sa", "", 2);
        assertThatThrownBy(() -> new UserRepository(gone)).isInstanceOf(DatabaseException.class)
                .hasMessageStartingWith("cannot open the H2 database jdbc:h2:" + missing);
    }
}
