package io.stellane.cluster;

import io.stellane.config.RuntimeConfig;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.server.ServerConfig;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Servers in one JVM, each its own node on one shared journal: requests are journaled through the
 * shared writer (off the workers), an idempotency key is one request across the nodes, and a node
 * that dies leaves its unanswered requests to a live one.
 */
class SharedJournalServerTest {
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final TestDatabase db = new TestDatabase();
    private final List<Server> servers = new CopyOnWriteArrayList<>();
    private final List<StellaneRuntime> runtimes = new CopyOnWriteArrayList<>();
    private final List<RecoveryManager> managers = new CopyOnWriteArrayList<>();
    private final AtomicInteger applied = new AtomicInteger();
    private final CountDownLatch release = new CountDownLatch(1);
    private final List<String> ran = new CopyOnWriteArrayList<>();

    @AfterEach
    void stopAll() {
        stopNodes();
        db.close();
    }

    private void stopNodes() {
        release.countDown();
        servers.forEach(s -> s.stop(Duration.ofSeconds(2)));
        managers.forEach(RecoveryManager::close);
        runtimes.forEach(StellaneRuntime::stop);
        servers.clear();
        managers.clear();
        runtimes.clear();
    }

    /** A node: POST /apply answers at once, POST /slow waits for the test's latch (on a virtual thread). */
    private record Node(int port, RecoveryManager manager, PostgresStore store) {
    }

    private Node node(String name) {
        return node(name, db.node(name, Duration.ofSeconds(1)));
    }

    private Node node(String name, RecoveryStoreConfig.Database database) {
        StellaneRuntime rt = StellaneRuntime.create(name);
        rt.init(RuntimeConfig.builder().backendType("nio").workerThreads(2).shutdownTimeout(Duration.ofSeconds(5)).build());
        runtimes.add(rt);
        PostgresStore store = (PostgresStore) RecoveryStores.create("postgres", RecoveryStoreConfig.defaults(Path.of("unused"))
                .withDatabase(database));
        RecoveryManager manager = new RecoveryManager(store);
        managers.add(manager);
        Server server = new Server(rt, ServerConfig.defaults())
                .post("/apply", ctx -> {
                    ran.add(ctx.requestId() + "@" + name);
                    applied.incrementAndGet();
                    return Task.completed(Response.of(201).header("X-Node", name));
                })
                .post("/slow", ctx -> Task.blocking(() -> {
                    ran.add(ctx.requestId() + "@" + name);
                    release.await(30, TimeUnit.SECONDS);
                    return Response.of(201).header("X-Node", name);
                }))
                .enableRequestRecovery(manager);
        server.recover();
        servers.add(server);
        return new Node(server.listen("127.0.0.1", 0), manager, store);
    }

    private static HttpResponse<String> post(int port, String path, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .POST(HttpRequest.BodyPublishers.ofString("{}"));
        if (key != null) {
            b.header("Idempotency-Key", key);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private long rows(String where) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM stellane_journal WHERE " + where)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void requestsAreJournaledAndCompletedThroughTheSharedWriter() throws Exception {
        Node a = node("a");
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            all.add(CLIENT.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.port() + "/apply"))
                    .POST(HttpRequest.BodyPublishers.ofString("x" + i)).build(), HttpResponse.BodyHandlers.ofString()));
        }
        for (CompletableFuture<HttpResponse<String>> f : all) {
            assertThat(f.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(201);
        }
        assertThat(a.store().stats().journaled()).isEqualTo(200);
        assertThat(a.store().stats().completed()).isEqualTo(200);
        assertThat(rows("true")).as("completed rows without a key are deleted").isZero();
    }

    @Test
    void anIdempotencyKeyIsOneRequestAcrossNodes() throws Exception {
        Node a = node("a");
        Node b = node("b");
        CompletableFuture<HttpResponse<String>> first = CompletableFuture.supplyAsync(() -> {
            try {
                return post(a.port(), "/slow", "order-1");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (ran.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(ran).as("the first request runs on a").hasSize(1);
        HttpResponse<String> meanwhile = post(b.port(), "/slow", "order-1");
        assertThat(meanwhile.statusCode()).as("held by a request in flight on node a").isEqualTo(409);

        release.countDown();
        assertThat(first.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(201);
        HttpResponse<String> retry = post(b.port(), "/slow", "order-1");
        assertThat(retry.statusCode()).isEqualTo(201);
        assertThat(retry.headers().firstValue("X-Node")).contains("a");
        assertThat(retry.headers().firstValue("Idempotent-Replay")).contains("true");
        assertThat(ran).as("the handler ran once in the cluster").hasSize(1);
    }

    @Test
    void aDeadNodesUnansweredRequestsAreReplayedByALiveOne() throws Exception {
        Node a = node("a");
        Node b = node("b");
        CompletableFuture<HttpResponse<String>> lost = CLIENT.sendAsync(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + a.port() + "/slow")).POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
                HttpResponse.BodyHandlers.ofString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (ran.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(rows("owner = 'a' AND state = 0")).isEqualTo(1);
        a.store().crash(); // node a dies with the request journaled and unanswered
        release.countDown();

        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (rows("state = 0") > 0 && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(rows("state = 0")).as("replayed and completed by b").isZero();
        assertThat(ran).hasSize(2).last().asString().endsWith("@b");
        assertThat(b.manager().counters().recovered()).isEqualTo(1);
        lost.cancel(true);
    }

    @Test
    void aLostDatabaseAnswers503AndHealsWhenItComesBack() throws Exception {
        String role = db.schema + "_node";
        db.exec("CREATE ROLE " + role + " LOGIN");
        db.exec("GRANT ALL ON SCHEMA " + db.schema + " TO " + role);
        try {
            Node a = node("a", new RecoveryStoreConfig.Database(db.url, role, null, "a", Duration.ofSeconds(2)));
            assertThat(post(a.port(), "/apply", null).statusCode()).isEqualTo(201);

            // the database goes away for this node: no new connection, the open ones cut
            db.exec("ALTER ROLE " + role + " NOLOGIN");
            db.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role + "'");
            HttpResponse<String> down = post(a.port(), "/apply", null);
            assertThat(down.statusCode()).isEqualTo(503);
            assertThat(down.headers().firstValue("Retry-After")).contains("1");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (a.store().fault().isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(a.store().fault()).as("health reports the fault").isPresent();

            db.exec("ALTER ROLE " + role + " LOGIN");
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            int status = 0;
            while (System.nanoTime() < deadline && (status = post(a.port(), "/apply", null).statusCode()) != 201) {
                Thread.sleep(100);
            }
            assertThat(status).as("heals by itself").isEqualTo(201);
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (a.store().fault().isPresent() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(a.store().fault()).isEmpty();
        } finally {
            stopNodes();
            db.exec("DROP OWNED BY " + role + " CASCADE");
            db.exec("DROP ROLE " + role);
        }
    }
}
