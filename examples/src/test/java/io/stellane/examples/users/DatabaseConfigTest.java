package io.stellane.examples.users;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.ConfigException;
import io.stellane.config.ConfigLoader;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DatabaseConfigTest {
    private static final Path DATA = Path.of("/var/lib/stellane");

    private static JsonNode table(String toml) {
        return ConfigLoader.readTomlTreeString("[database]\n" + toml).get("database");
    }

    @Test
    void noTableMeansAnH2FileUnderTheDataDirectory() {
        DatabaseConfig c = DatabaseConfig.fromToml(null, DATA);
        assertThat(c.jdbcUrl()).isEqualTo("jdbc:h2:private:/var/lib/stellane/users;DB_CLOSE_ON_EXIT=FALSE;WRITE_DELAY=0;TRACE_LEVEL_FILE=0");
        assertThat(c.user()).isEqualTo("sa");
        assertThat(c.password()).isEmpty();
        assertThat(c.poolSize()).isEqualTo(8);
        assertThat(c.dialect()).isEqualTo(Dialect.H2);
        assertThat(DatabaseConfig.fromToml(ConfigLoader.readTomlTreeString("x = 1").get("database"), DATA)).isEqualTo(c);
        assertThat(DatabaseConfig.fromToml(table(""), DATA)).isEqualTo(c);
        assertThat(DatabaseConfig.fromToml(ConfigLoader.readTomlTreeString("x = 1").path("database"), DATA)).isEqualTo(c);
    }

    @Test
    void aRelativeDataDirectoryBecomesAbsolute() {
        String url = DatabaseConfig.defaultUrl(Path.of("data/../data"));
        assertThat(url).startsWith("jdbc:h2:private:/").endsWith("/data/users;DB_CLOSE_ON_EXIT=FALSE;WRITE_DELAY=0;TRACE_LEVEL_FILE=0").doesNotContain("..");
    }

    @Test
    void everyKeyIsRead() {
        DatabaseConfig c = DatabaseConfig.fromToml(table("""
                url = "jdbc:postgresql://127.0.0.1:5432/users"
                user = "svc"
                password = "s3cret"
                pool_size = 16
                """), DATA);
        assertThat(c).isEqualTo(new DatabaseConfig("jdbc:postgresql://127.0.0.1:5432/users", "svc", "s3cret", 16));
        assertThat(c.dialect()).isEqualTo(Dialect.POSTGRESQL);
    }

    @Test
    void partialTablesKeepTheOtherDefaults() {
        DatabaseConfig c = DatabaseConfig.fromToml(table("pool_size = 2"), DATA);
        assertThat(c.poolSize()).isEqualTo(2);
        assertThat(c.user()).isEqualTo("sa");
        assertThat(c.jdbcUrl()).startsWith("jdbc:h2:private:/var/lib/stellane/users");
        DatabaseConfig pg = DatabaseConfig.fromToml(table("url = \"jdbc:postgresql://db/users?user=u\""), DATA);
        assertThat(pg.user()).as("no H2 default user for a URL of one's own").isEmpty();
    }

    @Test
    void theUrlMustBeH2OrPostgresql() {
        assertThatThrownBy(() -> DatabaseConfig.fromToml(table("url = \"jdbc:mysql://db/users\""), DATA))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.key()).isEqualTo("database.url"))
                .hasMessage("invalid config database.url = \"jdbc:mysql://db/users\": "
                        + "a JDBC URL starting with jdbc:h2: or jdbc:postgresql:");
        assertThatThrownBy(() -> DatabaseConfig.fromToml(table("url = 5"), DATA))
                .isInstanceOf(ConfigException.class).hasMessageContaining("database.url = \"5\"");
    }

    @Test
    void thePoolSizeMustBeAnIntegerFrom1To256() {
        for (String bad : new String[] {"0", "-1", "257", "1000000000000"}) {
            assertThatThrownBy(() -> DatabaseConfig.fromToml(table("pool_size = " + bad), DATA))
                    .as(bad).isInstanceOfSatisfying(ConfigException.class,
                            e -> assertThat(e.key()).isEqualTo("database.pool_size"))
                    .hasMessageContaining("an integer from 1 to 256");
        }
        assertThatThrownBy(() -> DatabaseConfig.fromToml(table("pool_size = \"8\""), DATA))
                .isInstanceOf(ConfigException.class).hasMessageContaining("database.pool_size = \"8\"");
        assertThatThrownBy(() -> DatabaseConfig.fromToml(table("pool_size = 2.5"), DATA))
                .isInstanceOf(ConfigException.class).hasMessageContaining("2.5");
        assertThat(DatabaseConfig.fromToml(table("pool_size = 256"), DATA).poolSize()).isEqualTo(256);
        assertThat(DatabaseConfig.fromToml(table("pool_size = 1"), DATA).poolSize()).isEqualTo(1);
    }

    @Test
    void stringsMustBeStrings() {
        assertThatThrownBy(() -> DatabaseConfig.fromToml(table("user = 7"), DATA))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.key()).isEqualTo("database.user"))
                .hasMessageContaining("a string");
        assertThatThrownBy(() -> DatabaseConfig.fromToml(table("password = true"), DATA))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.key()).isEqualTo("database.password"));
    }

    @Test
    void unknownKeysAndNonTablesAreErrors() {
        assertThatThrownBy(() -> DatabaseConfig.fromToml(table("poolsize = 4"), DATA))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.key()).isEqualTo("database.poolsize"))
                .hasMessageContaining("allowed keys are url, user, password, pool_size");
        assertThatThrownBy(() -> DatabaseConfig.fromToml(
                ConfigLoader.readTomlTreeString("database = \"h2\"").get("database"), DATA))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.key()).isEqualTo("database"));
    }

    @Test
    void aDataDirectoryWithASemicolonIsRefused() {
        assertThatThrownBy(() -> DatabaseConfig.defaults(Path.of("/tmp/a;MODE=MySQL")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("no ';'");
    }

    @Test
    void theConstructorValidatesToo() {
        assertThatThrownBy(() -> new DatabaseConfig(null, "", "", 1)).isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> new DatabaseConfig("jdbc:h2:mem:x", "", "", 0)).isInstanceOf(ConfigException.class);
        assertThat(new DatabaseConfig("JDBC:H2:mem:x", null, null, 1).user()).isEmpty();
    }

    @Test
    void toStringHidesThePassword() {
        DatabaseConfig c = new DatabaseConfig("jdbc:postgresql://db/users", "svc", "s3cret", 4);
        assertThat(c.toString()).doesNotContain("s3cret").contains("password=***", "user=svc", "poolSize=4");
    }
}
