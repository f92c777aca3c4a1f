package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.stellane.config.RuntimeConfig;
import io.stellane.examples.users.DatabaseConfig;
import io.stellane.server.ServerConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every endpoint of the service over real HTTP, on an embedded H2 database in a temporary directory: the
 * service's on the public port, metrics, stats and health details on the management port.
 */
class UsersServiceTest {
    static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    private UsersApp app;

    static AppConfig testConfig(DatabaseConfig db, Path dataDir) {
        return testConfig(db, dataDir, false);
    }

    /** Both listeners on 127.0.0.1, any free port; {@code servePublicly}: the management routes on the public port too. */
    static AppConfig testConfig(DatabaseConfig db, Path dataDir, boolean servePublicly) {
        return new AppConfig(RuntimeConfig.builder().backendType("nio").workerThreads(2).build(),
                "127.0.0.1", 0, ServerConfig.defaults(), new AppConfig.Management("127.0.0.1", 0, servePublicly), db,
                dataDir, null);
    }

    @BeforeEach
    void start() {
        app = UsersApp.start(testConfig(DatabaseConfig.defaults(tmp), tmp));
    }

    @AfterEach
    void stop() {
        if (app != null) {
            app.close();
        }
    }

    static HttpResponse<String> call(int port, String method, String path, String body, String... headers)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> call(String method, String path, String body, String... headers) throws Exception {
        return call(app.port(), method, path, body, headers);
    }

    static JsonNode json(HttpResponse<String> r) throws Exception {
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        return JSON.readTree(r.body());
    }

    private JsonNode create(String name, String email, String... headers) throws Exception {
        HttpResponse<String> r = call("POST", "/users", "{\"name\":\"" + name + "\",\"email\":\"" + email + "\"}", headers);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        return json(r);
    }

    private void assertFieldError(HttpResponse<String> r, int status, String field) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        JsonNode body = json(r);
        assertThat(body.path("field").asText()).isEqualTo(field);
        assertThat(body.path("error").asText()).isNotBlank();
    }

    /** TechEmpower's plaintext test, as this service and {@link TechEmpowerApp} must both answer it. */
    static void assertTechEmpowerPlaintext(HttpResponse<String> r) {
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("Hello, World!");
        assertThat(r.headers().firstValue("content-type")).hasValue("text/plain");
        assertThat(r.headers().firstValue("content-length")).hasValue("13");
        assertThat(r.headers().firstValue("server")).hasValue("stellane");
        assertThat(r.headers().firstValue("date")).isPresent();
    }

    /** TechEmpower's JSON test, likewise. */
    static void assertTechEmpowerJson(HttpResponse<String> r) {
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"message\":\"Hello, World!\"}");
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        assertThat(r.headers().firstValue("content-length")).hasValue("27");
        assertThat(r.headers().firstValue("server")).hasValue("stellane");
        assertThat(r.headers().firstValue("date")).isPresent();
    }

    @Test
    void plaintextFollowsTheTechEmpowerRules() throws Exception {
        assertTechEmpowerPlaintext(call("GET", "/plaintext", null));
    }

    @Test
    void jsonFollowsTheTechEmpowerRules() throws Exception {
        assertTechEmpowerJson(call("GET", "/json", null));
    }

    @Test
    void echoReturnsTheBodyAndItsContentType() throws Exception {
        HttpResponse<String> r = call("POST", "/echo", "{\"a\":1}", "Content-Type", "application/vnd.test+json");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"a\":1}");
        assertThat(r.headers().firstValue("content-type")).hasValue("application/vnd.test+json");
    }

    @Test
    void createAnswers201WithLocationAndTheUserReadsBack() throws Exception {
        HttpResponse<String> r = call("POST", "/users", "{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}",
                "Content-Type", "application/json");
        assertThat(r.statusCode()).isEqualTo(201);
        JsonNode created = json(r);
        long id = created.path("id").asLong();
        assertThat(id).isPositive();
        assertThat(created.path("name").asText()).isEqualTo("Ada Lovelace");
        assertThat(created.path("email").asText()).isEqualTo("ada@example.com");
        assertThat(created.path("createdAt").asText()).isNotBlank();
        assertThat(r.headers().firstValue("location")).hasValue("/users/" + id);

        HttpResponse<String> got = call("GET", "/users/" + id, null);
        assertThat(got.statusCode()).isEqualTo(200);
        assertThat(json(got)).isEqualTo(created);
    }

    @Test
    void createNamesTheBadField() throws Exception {
        assertFieldError(call("POST", "/users", "{\"email\":\"a@example.com\"}"), 400, "name");
        assertFieldError(call("POST", "/users", "{\"name\":\"  \",\"email\":\"a@example.com\"}"), 400, "name");
        assertFieldError(call("POST", "/users", "{\"name\":42,\"email\":\"a@example.com\"}"), 400, "name");
        assertFieldError(call("POST", "/users", "{\"name\":\"Al\"}"), 400, "email");
        assertFieldError(call("POST", "/users", "{\"name\":\"Al\",\"email\":\"not an email\"}"), 400, "email");
        assertFieldError(call("POST", "/users", "{\"name\":"), 400, "body");
        assertFieldError(call("POST", "/users", "[1,2]"), 400, "body");
        assertFieldError(call("POST", "/users", null), 400, "body");
        assertFieldError(call("POST", "/users", "{\"name\":\"Al\",\"email\":\"al@example.com\"}",
                "Idempotency-Key", "x".repeat(UsersService.MAX_IDEMPOTENCY_KEY + 1)), 400, "Idempotency-Key");
        // nothing of the above was stored
        assertThat(json(call("GET", "/users", null)).path("total").asLong()).isZero();
    }

    @Test
    void theIdempotencyKeyHeaderStoresTheUserOnce() throws Exception {
        JsonNode first = create("Grace", "grace@example.com", "Idempotency-Key", "create-grace-1");
        JsonNode retry = create("Grace Hopper", "hopper@example.com", "Idempotency-Key", "create-grace-1");
        assertThat(retry).isEqualTo(first);
        JsonNode other = create("Grace", "grace@example.com", "Idempotency-Key", "create-grace-2");
        assertThat(other.path("id").asLong()).isNotEqualTo(first.path("id").asLong());
        assertThat(json(call("GET", "/users", null)).path("total").asLong()).isEqualTo(2);
    }

    @Test
    void withoutTheHeaderEachRequestCreatesItsOwnUserEvenAcrossRestarts() throws Exception {
        long a = create("A", "a@example.com").path("id").asLong();
        long b = create("A", "a@example.com").path("id").asLong();
        assertThat(b).isNotEqualTo(a);
        // a new process numbers its connections and requests from 1 again: its request ids repeat
        app.close();
        app = null;
        app = UsersApp.start(testConfig(DatabaseConfig.defaults(tmp), tmp));
        long c = create("A", "a@example.com").path("id").asLong();
        assertThat(c).isNotIn(a, b);
        assertThat(json(call("GET", "/users", null)).path("total").asLong()).isEqualTo(3);
    }

    @Test
    void getOfAnUnknownUserIs404JsonAndABadIdIs400() throws Exception {
        HttpResponse<String> r = call("GET", "/users/12345", null);
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(json(r).path("error").asText()).contains("12345");
        assertFieldError(call("GET", "/users/abc", null), 400, "id");
    }

    @Test
    void listPagesInIdOrderWithTheTotal() throws Exception {
        long first = create("U1", "u1@example.com").path("id").asLong();
        long second = create("U2", "u2@example.com").path("id").asLong();
        long third = create("U3", "u3@example.com").path("id").asLong();

        JsonNode page = json(call("GET", "/users?limit=2&offset=1", null));
        assertThat(page.path("limit").asInt()).isEqualTo(2);
        assertThat(page.path("offset").asInt()).isEqualTo(1);
        assertThat(page.path("total").asLong()).isEqualTo(3);
        assertThat(page.path("users")).hasSize(2);
        assertThat(page.path("users").get(0).path("id").asLong()).isEqualTo(second);
        assertThat(page.path("users").get(1).path("id").asLong()).isEqualTo(third);

        JsonNode defaults = json(call("GET", "/users", null));
        assertThat(defaults.path("limit").asInt()).isEqualTo(UsersService.DEFAULT_LIMIT);
        assertThat(defaults.path("offset").asInt()).isZero();
        assertThat(defaults.path("users").get(0).path("id").asLong()).isEqualTo(first);
    }

    @Test
    void badLimitOrOffsetIs400NamingTheParameter() throws Exception {
        assertFieldError(call("GET", "/users?limit=0", null), 400, "limit");
        assertFieldError(call("GET", "/users?limit=1001", null), 400, "limit");
        assertFieldError(call("GET", "/users?limit=ten", null), 400, "limit");
        assertFieldError(call("GET", "/users?offset=-1", null), 400, "offset");
        assertFieldError(call("GET", "/users?limit=5&offset=x", null), 400, "offset");
    }

    @Test
    void healthIsUpWithTheDatabaseAnd503WithoutItAndOnlyTheManagementPortSaysWhy() throws Exception {
        HttpResponse<String> up = call("GET", "/health", null);
        assertThat(up.statusCode()).isEqualTo(200);
        assertThat(up.body()).isEqualTo("{\"status\":\"UP\"}");
        HttpResponse<String> upInside = call(app.managementPort(), "GET", "/health", null);
        assertThat(upInside.statusCode()).isEqualTo(200);
        assertThat(json(upInside).path("status").asText()).isEqualTo("UP");
        assertThat(json(upInside).path("database").asText()).isEqualTo("UP");
        assertThat(json(upInside).path("journal").asText()).as("no request recovery here").isEqualTo("OFF");

        app.repository().close();
        HttpResponse<String> down = call("GET", "/health", null);
        assertThat(down.statusCode()).isEqualTo(503);
        assertThat(down.body()).isEqualTo("{\"status\":\"DOWN\"}");
        HttpResponse<String> downInside = call(app.managementPort(), "GET", "/health", null);
        assertThat(downInside.statusCode()).isEqualTo(503);
        assertThat(json(downInside).path("status").asText()).isEqualTo("DOWN");
        assertThat(json(downInside).path("database").asText()).isEqualTo("DOWN");
        assertThat(json(downInside).path("databaseError").asText()).isNotBlank();
    }

    @Test
    void aFailingDatabaseCallIs503Json() throws Exception {
        DatabaseConfig db = DatabaseConfig.defaults(tmp);
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
             java.sql.Statement s = c.createStatement()) {
            s.execute("DROP TABLE users");
        }
        HttpResponse<String> r = call("GET", "/users/1", null);
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(json(r).path("error").asText()).isEqualTo("database unavailable");
        assertThat(call("POST", "/users", "{\"name\":\"A\",\"email\":\"a@example.com\"}").statusCode()).isEqualTo(503);
    }

    @Test
    void metricsExportTheHttpMetersInPrometheusText() throws Exception {
        assertThat(call("GET", "/users/777", null).statusCode()).isEqualTo(404);
        assertThat(call("GET", "/nope", null).statusCode()).isEqualTo(404);
        HttpResponse<String> r = call(app.managementPort(), "GET", "/metrics", null);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue(io.stellane.app.App.PROMETHEUS_TYPE);
        assertThat(r.body())
                .containsPattern("# TYPE stellane_http_server_requests(_total)? counter")
                .containsPattern("stellane_http_server_requests_total\\{[^}]*route=\"/users/\\{id}\"[^}]*status=\"404\"[^}]*} 1")
                .containsPattern("stellane_http_server_requests_total\\{[^}]*route=\"NOT_FOUND\"")
                .contains("stellane_http_server_connections_opened_total")
                // the JVM's and the process's own, and the connection pool's
                .containsPattern("(?m)^jvm_memory_used_bytes\\{")
                .containsPattern("(?m)^jvm_gc_memory_allocated_bytes_total ")
                .containsPattern("(?m)^jvm_threads_live_threads ")
                .containsPattern("(?m)^process_cpu_usage ")
                .containsPattern("(?m)^process_files_open_files ")
                .containsPattern("(?m)^hikaricp_connections_max\\{pool=\"users\"} 8\\.0$");
    }

    @Test
    void statsShowTheRuntimeAndEachWorker() throws Exception {
        HttpResponse<String> r = call(app.managementPort(), "GET", "/stats", null);
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode s = json(r);
        assertThat(s.path("runtime").path("backendType").asText()).isEqualTo("nio");
        assertThat(s.path("runtime").path("workerCount").asInt()).isEqualTo(2);
        assertThat(s.path("runtime").path("startTime").asText()).isNotBlank();
        assertThat(s.path("workers")).hasSize(2);
        assertThat(s.path("workers").get(1).path("workerId").asInt()).isEqualTo(1);
        assertThat(s.path("workers").get(0).path("threadName").asText()).isNotBlank();
    }

    @Test
    void unknownPathsAre404() throws Exception {
        assertThat(call("GET", "/nope", null).statusCode()).isEqualTo(404);
    }
}
