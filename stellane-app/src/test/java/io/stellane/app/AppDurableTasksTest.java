package io.stellane.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.stellane.cluster.ClusterNode;
import io.stellane.cluster.DurableTasks;
import io.stellane.cluster.DurableTasksConfig;
import io.stellane.config.RuntimeConfig;
import io.stellane.config.Secret;
import io.stellane.dashboard.Dashboard;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

/** An app with durable tasks, on the test PostgreSQL ({@code STELLANE_TEST_PG_URL}) in a schema of its own. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AppDurableTasksTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient client = HttpClient.newHttpClient();
    private String url;
    private String user;
    private String password;
    private String schema;
    private App app;
    private ClusterNode node;

    @BeforeEach
    void schema() throws Exception {
        String base = System.getenv("STELLANE_TEST_PG_URL");
        if (base == null || base.isBlank()) {
            fail("STELLANE_TEST_PG_URL is not set: run the tests through `./stellane test`, which starts a PostgreSQL,"
                    + " or start one with eval \"$(scripts/postgres.sh start)\"");
        }
        user = System.getenv().getOrDefault("STELLANE_TEST_PG_USER", "");
        password = System.getenv().getOrDefault("STELLANE_TEST_PG_PASSWORD", "");
        byte[] b = new byte[6];
        new SecureRandom().nextBytes(b);
        schema = "t_" + HexFormat.of().formatHex(b);
        url = base + (base.contains("?") ? "&" : "?") + "currentSchema=" + schema;
        exec("CREATE SCHEMA " + schema);
    }

    @AfterEach
    void stop() throws Exception {
        try {
            if (app != null) {
                app.close();
            }
            if (node != null) {
                node.close();
            }
        } finally {
            client.close();
            exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
        }
    }

    private void exec(String sql) throws Exception {
        try (Connection c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    private String state(String id) throws Exception {
        try (Connection c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT state FROM stellane_task WHERE id = '" + id + "'")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private HttpResponse<String> get(int port, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private void awaitState(String id, String expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!expected.equals(state(id))) {
            assertThat(System.nanoTime() < deadline).as("task %s reaching state %s", id, expected).isTrue();
            Thread.sleep(20);
        }
    }

    @Test
    void theAppMetersChecksAndShowsItsDurableTasksAndClosesThemBeforeTheRuntime() throws Exception {
        node = ClusterNode.join(new RecoveryStoreConfig.Database(url, user.isEmpty() ? null : user,
                password.isEmpty() ? null : Secret.of(password), "app-node", Duration.ofSeconds(2)));
        DurableTasks tasks = DurableTasks.open(node, Runtime.instance(),
                DurableTasksConfig.defaults().withPollInterval(Duration.ofMillis(100)));
        CountDownLatch slowStarted = new CountDownLatch(1);
        AtomicBoolean runtimeRanToTheEnd = new AtomicBoolean();
        app = App.builder(RuntimeConfig.builder().backendType("nio").workerThreads(2).shutdownTimeout(Duration.ofSeconds(5)).build())
                .listen("127.0.0.1", 0).management("127.0.0.1", 0).dashboard().durableTasks(tasks)
                .start(setup -> {
                    tasks.register("quick", t -> Task.completed(null));
                    tasks.register("slow", t -> {
                        slowStarted.countDown();
                        return Task.sleep(Duration.ofMillis(500)).map(v -> {
                            runtimeRanToTheEnd.set(Runtime.isRunning());
                            return null;
                        });
                    });
                });

        tasks.submit("quick", new byte[0], "q1").await();
        awaitState("q1", "2");
        int m = app.managementPort();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String metrics = get(m, "/metrics").body();
        while (!metrics.contains("stellane_durable_tasks_completed_total 1.0") && System.nanoTime() < deadline) {
            Thread.sleep(20);
            metrics = get(m, "/metrics").body();
        }
        assertThat(metrics).containsPattern("(?m)^stellane_durable_tasks_completed_total 1\\.0$")
                .containsPattern("(?m)^stellane_durable_tasks_submitted_total 1\\.0$")
                .containsPattern("(?m)^stellane_durable_tasks_running 0\\.0$");
        assertThat(get(m, "/health").body()).contains("\"durable_tasks\":\"UP\"");
        JsonNode section = JSON.readTree(get(m, Dashboard.PATH + "/data").body()).get("durableTasks");
        assertThat(section.get("enabled").asBoolean()).isTrue();
        assertThat(section.get("completed").asLong()).isEqualTo(1);

        // at stop, a running task finishes on the running runtime, and the tasks close before it stops
        tasks.submit("slow", new byte[0], "s1").await();
        assertThat(slowStarted.await(20, TimeUnit.SECONDS)).isTrue();
        app.close();
        assertThat(runtimeRanToTheEnd).isTrue();
        assertThat(state("s1")).isEqualTo("2");
        assertThatThrownBy(() -> tasks.submit("quick", new byte[0])).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
        assertThat(node.fault()).as("the node is the application's: still open").isEmpty();
    }
}
