package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.examples.users.DatabaseConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Properties;

import static io.stellane.examples.UsersServiceTest.call;
import static io.stellane.examples.UsersServiceTest.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The service's HTTP endpoints on a real PostgreSQL, named by {@code STELLANE_TEST_PG_URL} (+ {@code _USER},
 * {@code _PASSWORD}): {@code ./stellane test} starts a throwaway one (scripts/test-env.sh). Without it this
 * test fails rather than skips, so a missing database is never mistaken for a pass.
 */
class PostgresUsersServiceTest {
    private static String url;
    private static String user;
    private static String password;

    @TempDir
    Path tmp;
    private UsersApp app;

    @BeforeAll
    static void requireDatabase() {
        url = System.getenv("STELLANE_TEST_PG_URL");
        if (url == null || url.isBlank()) {
            fail("STELLANE_TEST_PG_URL is not set, so there is no PostgreSQL to test against. Run the tests through"
                    + " `./stellane test`, which starts a throwaway PostgreSQL (scripts/test-env.sh), or start one"
                    + " yourself: eval \"$(scripts/postgres.sh start)\" and stop it with scripts/postgres.sh stop.");
        }
        user = System.getenv().getOrDefault("STELLANE_TEST_PG_USER", "");
        password = System.getenv().getOrDefault("STELLANE_TEST_PG_PASSWORD", "");
    }

    @BeforeEach
    void start() throws Exception {
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
        app = UsersApp.start(UsersServiceTest.testConfig(new DatabaseConfig(url, user, password, 4), tmp));
    }

    @AfterEach
    void stop() {
        if (app != null) {
            app.close();
        }
    }

    @Test
    void usersCreateReadListAndDeduplicateOnPostgres() throws Exception {
        int port = app.port();
        assertThat(app.banner()).contains("database POSTGRESQL");
        HttpResponse<String> r = call(port, "POST", "/users", "{\"name\":\"Zoë\",\"email\":\"zoe@example.com\"}",
                "Idempotency-Key", "pg-1");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        JsonNode created = json(r);
        long id = created.path("id").asLong();
        assertThat(created.path("name").asText()).isEqualTo("Zoë");
        assertThat(r.headers().firstValue("location")).hasValue("/users/" + id);

        HttpResponse<String> again = call(port, "POST", "/users", "{\"name\":\"Other\",\"email\":\"o@example.com\"}",
                "Idempotency-Key", "pg-1");
        assertThat(again.statusCode()).isEqualTo(201);
        assertThat(json(again)).isEqualTo(created);

        assertThat(json(call(port, "GET", "/users/" + id, null))).isEqualTo(created);
        assertThat(call(port, "GET", "/users/" + (id + 1000), null).statusCode()).isEqualTo(404);

        call(port, "POST", "/users", "{\"name\":\"Two\",\"email\":\"two@example.com\"}");
        JsonNode page = json(call(port, "GET", "/users?limit=1&offset=1", null));
        assertThat(page.path("total").asLong()).isEqualTo(2);
        assertThat(page.path("users")).hasSize(1);
        assertThat(page.path("users").get(0).path("name").asText()).isEqualTo("Two");
    }

    @Test
    void badBodiesAndHealthOnPostgres() throws Exception {
        int port = app.port();
        HttpResponse<String> bad = call(port, "POST", "/users", "{\"name\":\"a\\u0000b\",\"email\":\"x@example.com\"}");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(json(bad).path("field").asText()).isEqualTo("name");
        HttpResponse<String> health = call(app.managementPort(), "GET", "/health", null);
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(json(health).path("database").asText()).isEqualTo("UP");
        assertThat(call(port, "GET", "/health", null).body()).isEqualTo("{\"status\":\"UP\"}");
    }
}
