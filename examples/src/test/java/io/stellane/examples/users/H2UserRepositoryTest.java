package io.stellane.examples.users;

import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

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
        try (var c = java.sql.DriverManager.getConnection(DatabaseConfig.defaultUrl(dataDir), "sa", "");
             var s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS users");
        }
    }

    @Override
    protected Dialect expectedDialect() {
        return Dialect.H2;
    }

    @org.junit.jupiter.api.Test
    void theDatabaseIsAFileInTheDataDirectory() {
        repo.create(new NewUser("File", "file@example.com"), "f");
        assertThat(Files.exists(dataDir.resolve("users.mv.db"))).isTrue();
    }
}
