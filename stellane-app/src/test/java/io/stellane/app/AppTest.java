package io.stellane.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.stellane.config.RuntimeConfig;
import io.stellane.dashboard.Dashboard;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.testing.StderrCapture;
import io.stellane.runtime.Runtime;
import io.stellane.server.Response;
import io.stellane.server.testing.TestPki;
import io.stellane.server.TlsConfig;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AppTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    @TempDir
    Path tmp;
    private App app;

    private static RuntimeConfig.Builder runtime() {
        return RuntimeConfig.builder().backendType("nio").workerThreads(2).shutdownTimeout(Duration.ofSeconds(5));
    }

    /** Both listeners on 127.0.0.1, any free port. */
    private static App.Builder builder(RuntimeConfig config) {
        return App.builder(config).listen("127.0.0.1", 0).management("127.0.0.1", 0);
    }

    @AfterEach
    void stop() {
        try {
            if (app != null) {
                app.close();
            }
        } finally {
            client.close();
        }
    }

    private HttpResponse<String> get(int port, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void closeLetsAnInFlightRequestFinishThenStopsTheRuntimeThenClosesResourcesLastFirst() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        List<String> closed = new CopyOnWriteArrayList<>();
        try {
            app = builder(runtime().build()).start(setup -> {
                setup.closeOnStop(() -> closed.add("first, running=" + Runtime.isRunning()));
                setup.closeOnStop(() -> closed.add("second, running=" + Runtime.isRunning()));
                setup.server().get("/slow", ctx -> Task.blocking(() -> {
                    entered.countDown();
                    release.await();
                    return Response.text("finished");
                }));
            });
            CompletableFuture<HttpResponse<String>> inFlight = client.sendAsync(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/slow")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(entered.await(10, TimeUnit.SECONDS)).as("the handler started").isTrue();

            CompletableFuture<Void> closing = CompletableFuture.runAsync(app::close);
            // close() waits for the request: meanwhile the runtime runs and nothing is closed
            assertThatThrownBy(() -> closing.get(300, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);
            assertThat(Runtime.isRunning()).isTrue();
            assertThat(closed).isEmpty();

            release.countDown();
            HttpResponse<String> r = inFlight.get(10, TimeUnit.SECONDS);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("finished");
            assertThat(r.headers().firstValue("connection")).hasValue("close");
            closing.get(20, TimeUnit.SECONDS);
            assertThat(Runtime.isRunning()).isFalse();
            assertThat(closed).containsExactly("second, running=false", "first, running=false");
            app.awaitStop(); // returns at once: the stop is done
            app.close(); // idempotent
            assertThat(closed).hasSize(2);
        } finally {
            release.countDown();
        }
    }

    @Test
    void eachListenerLogsItsUrlAtInfo() {
        try (StderrCapture log = StderrCapture.start()) {
            app = builder(runtime().build()).start();
            assertThat(log.records()).anyMatch(l -> l.matches(
                    "\\[.*] INFO io\\.stellane\\.app\\.App - listening on http://127\\.0\\.0\\.1:" + app.port()))
                    .anyMatch(l -> l.matches("\\[.*] INFO io\\.stellane\\.app\\.App - listening on http://127\\.0\\.0\\.1:"
                            + app.managementPort() + " \\(management\\)"));
        }
    }

    @Test
    void theManagementListenerCanSpeakTlsWithItsOwnCertificateWhileThePublicOneDoesNot() throws Exception {
        TestPki.Issued ca = TestPki.ca("management CA");
        TestPki.Issued cert = TestPki.server(ca);
        TlsConfig tls = TlsConfig.of(cert.writeCert(tmp.resolve("m.pem")), cert.writeKey(tmp.resolve("m.key")));
        try (StderrCapture log = StderrCapture.start();
             HttpClient https = HttpClient.newBuilder().sslContext(TestPki.clientContext(ca, null)).build()) {
            app = builder(runtime().build()).managementTls(tls).start();
            assertThat(log.records()).anyMatch(l -> l.endsWith("listening on https://127.0.0.1:" + app.managementPort()
                    + " (management)")).anyMatch(l -> l.endsWith("listening on http://127.0.0.1:" + app.port()));
            HttpResponse<String> health = https.send(HttpRequest.newBuilder(
                    URI.create("https://127.0.0.1:" + app.managementPort() + "/health")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).isEqualTo(200);
            assertThat(get(app.port(), "/health").statusCode()).isEqualTo(200);
        }
    }

    @Test
    void healthIs503WithThePartThatIsDownAndThePublicPortSaysOnlyTheStatus() throws Exception {
        AtomicReference<Exception> database = new AtomicReference<>();
        app = builder(runtime().build()).start(setup -> setup.healthCheck("database", () -> {
            Exception down = database.get();
            if (down != null) {
                throw down;
            }
        }));
        HttpResponse<String> up = get(app.managementPort(), "/health");
        assertThat(up.statusCode()).isEqualTo(200);
        assertThat(up.body()).isEqualTo("{\"status\":\"UP\",\"database\":\"UP\",\"journal\":\"OFF\"}");
        assertThat(get(app.port(), "/health").body()).isEqualTo("{\"status\":\"UP\"}");

        database.set(new java.sql.SQLException("connection refused"));
        HttpResponse<String> down = get(app.managementPort(), "/health");
        assertThat(down.statusCode()).isEqualTo(503);
        assertThat(down.body()).isEqualTo("{\"status\":\"DOWN\",\"database\":\"DOWN\",\"journal\":\"OFF\","
                + "\"databaseError\":\"java.sql.SQLException: connection refused\"}");
        HttpResponse<String> bare = get(app.port(), "/health");
        assertThat(bare.statusCode()).isEqualTo(503);
        assertThat(bare.body()).isEqualTo("{\"status\":\"DOWN\"}");

        database.set(null);
        assertThat(get(app.port(), "/health").statusCode()).as("up again").isEqualTo(200);
    }

    @Test
    void aCheckThatDoesNotAnswerInTimeIsDown() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        try {
            app = builder(runtime().build()).start(setup -> setup.healthCheck("slow", release::await));
            long t0 = System.nanoTime();
            HttpResponse<String> r = get(app.managementPort(), "/health");
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(JSON.readTree(r.body()).path("slow").asText()).isEqualTo("DOWN");
            assertThat(JSON.readTree(r.body()).path("slowError").asText()).contains("TimeoutException");
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(App.HEALTH_TIMEOUT);
        } finally {
            release.countDown();
        }
    }

    @Test
    void healthCheckNamesAreUniqueAndNotStatus() {
        Health health = new Health(org.slf4j.LoggerFactory.getLogger(AppTest.class));
        health.add("database", () -> { });
        assertThatThrownBy(() -> health.add("database", () -> { })).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("\"database\"");
        assertThatThrownBy(() -> health.add("status", () -> { })).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> health.add(" ", () -> { })).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void metricsOnTheManagementListenerCarryTheRuntimeHttpJvmAndProcessFamilies() throws Exception {
        app = builder(runtime().build()).metrics().start(setup ->
                setup.server().get("/hello", ctx -> Task.completed(Response.text("hi"))));
        assertThat(get(app.port(), "/hello").statusCode()).isEqualTo(200);
        HttpResponse<String> r = get(app.managementPort(), "/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue(App.PROMETHEUS_TYPE);
        assertThat(r.body())
                .containsPattern("(?m)^jvm_memory_used_bytes\\{")
                .containsPattern("(?m)^jvm_threads_live_threads ")
                .containsPattern("(?m)^jvm_classes_loaded_classes ")
                .containsPattern("(?m)^jvm_gc_memory_allocated_bytes_total ")
                .containsPattern("(?m)^process_cpu_usage ")
                .containsPattern("(?m)^process_uptime_seconds ")
                .containsPattern("(?m)^process_files_open_files ")
                .containsPattern("(?m)^stellane_tasks_executed_total ")
                .containsPattern("(?m)^stellane_http_server_requests_total\\{[^}]*route=\"/hello\"[^}]*} 1\\.0$");
        // the public port serves none of it, and what operators poll is not the service's traffic
        assertThat(get(app.port(), "/metrics").statusCode()).isEqualTo(404);
        assertThat(get(app.managementPort(), "/metrics").body())
                .doesNotContainPattern("route=\"/metrics\"").doesNotContainPattern("route=\"/health\"");
    }

    @Test
    void withoutMetricsThereIsNoMetricsRouteButHealthAndStats() throws Exception {
        app = builder(runtime().build()).start();
        assertThat(get(app.managementPort(), "/metrics").statusCode()).isEqualTo(404);
        assertThat(get(app.managementPort(), Dashboard.PATH).statusCode()).isEqualTo(404);
        assertThatThrownBy(app::metrics).isInstanceOf(IllegalStateException.class);
        HttpResponse<String> stats = get(app.managementPort(), "/stats");
        assertThat(stats.statusCode()).isEqualTo(200);
        JsonNode s = JSON.readTree(stats.body());
        assertThat(s.path("runtime").path("backendType").asText()).isEqualTo("nio");
        assertThat(s.path("runtime").path("workerCount").asInt()).isEqualTo(2);
        assertThat(s.path("workers")).hasSize(2);
        assertThat(get(app.port(), "/stats").statusCode()).isEqualTo(404);
    }

    @Test
    void theDashboardAndTheManagementRoutesOnThePublicPortAreOptions() throws Exception {
        app = builder(runtime().build()).dashboard().managementOnPublicPort(true).start();
        for (int port : new int[] {app.port(), app.managementPort()}) {
            assertThat(get(port, Dashboard.PATH).statusCode()).as("dashboard on %d", port).isEqualTo(200);
            assertThat(get(port, "/metrics").statusCode()).as("metrics on %d", port).isEqualTo(200);
            assertThat(get(port, "/stats").statusCode()).as("stats on %d", port).isEqualTo(200);
            assertThat(get(port, "/health").body()).as("detailed health on %d", port).contains("\"journal\":\"OFF\"");
        }
    }

    @Test
    void withRequestRecoveryTheJournalIsOpenedReplayedCheckedAndClosed() throws Exception {
        Path journal = tmp.resolve("journal");
        RuntimeConfig config = runtime().enableRequestRecovery(true).recoveryBackend("mmap").recoveryPath(journal).build();
        app = builder(config).metrics().start(setup ->
                setup.server().post("/things", ctx -> Task.completed(Response.text("made"))));
        assertThat(app.recoveryReport()).hasValueSatisfying(r -> assertThat(r.found()).isZero());
        assertThat(get(app.managementPort(), "/health").body())
                .isEqualTo("{\"status\":\"UP\",\"journal\":\"UP\"}");
        HttpResponse<String> made = client.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + app.port() + "/things")).POST(HttpRequest.BodyPublishers.ofString("x")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(made.statusCode()).isEqualTo(200);
        assertThat(get(app.managementPort(), "/metrics").body()).containsPattern("(?m)^stellane_recovery_journaled_total 1\\.0$");
        app.close();
        app = null;
        // closed with the app: the same journal opens again
        try (RecoveryManager again = RecoveryManager.open(config)) {
            assertThat(again.store().fault()).isEmpty();
        }
    }

    @Test
    void theJournalCheckIsDownWhileTheStoreReportsAFault() throws Exception {
        AtomicReference<RecoveryException> fault = new AtomicReference<>();
        try (RecoveryStore real = RecoveryStores.create("mmap", RecoveryStoreConfig.defaults(tmp.resolve("journal"))
                .withSegmentSize(64 << 10))) {
            // the store as it is, but for its fault, which only a failing disk sets
            RecoveryStore store = (RecoveryStore) Proxy.newProxyInstance(RecoveryStore.class.getClassLoader(),
                    new Class<?>[] {RecoveryStore.class}, (proxy, method, args) -> method.getName().equals("fault")
                            ? Optional.ofNullable(fault.get()) : method.invoke(real, args));
            HealthCheck check = App.journalCheck(new RecoveryManager(store));
            check.check();
            fault.set(new RecoveryException("cannot create journal segment: No space left on device"));
            assertThatThrownBy(check::check).isSameAs(fault.get());
            fault.set(null);
            check.check();
        }
    }

    @Test
    void aTakenPortFailsTheStartNamingItAndReleasesEverything() throws Exception {
        List<String> closed = new CopyOnWriteArrayList<>();
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            App.Builder b = App.builder(runtime().build()).listen("127.0.0.1", 0)
                    .management("127.0.0.1", taken.getLocalPort()).metrics();
            assertThatThrownBy(() -> b.start(setup -> setup.closeOnStop(() -> closed.add("resource"))))
                    .hasMessage("cannot listen on 127.0.0.1:" + taken.getLocalPort() + " (management): address already"
                            + " in use; to share the port with another process, set reuse_port = true ([server] table,"
                            + " ServerConfig.reusePort) in every process that listens on it");
        }
        assertThat(Runtime.isRunning()).isFalse();
        assertThat(closed).containsExactly("resource");
        // nothing is left bound or running: the next start gets its ports and serves
        app = builder(runtime().build()).start();
        assertThat(get(app.port(), "/health").statusCode()).isEqualTo(200);
    }

    @Test
    void theSetupIsForTheSetupCallOnly() {
        AtomicReference<App.Setup> kept = new AtomicReference<>();
        app = builder(runtime().build()).start(kept::set);
        assertThatThrownBy(() -> kept.get().healthCheck("late", () -> { })).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> kept.get().server()).isInstanceOf(IllegalStateException.class);
    }
}
