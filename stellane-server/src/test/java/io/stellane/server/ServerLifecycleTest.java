package io.stellane.server;

import io.stellane.StellaneException;
import io.stellane.backend.EventLoopBackend;
import io.stellane.backend.RuntimeFactory;
import io.stellane.config.RuntimeConfig;
import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.runtime.Runtime;
import io.stellane.stats.RuntimeStats;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ServerLifecycleTest {
    private Server server;

    @AfterEach
    void tearDown() {
        try {
            if (server != null) {
                server.stop(Duration.ofSeconds(1));
            }
        } finally {
            Runtime.stop();
            RuntimeFactory.unregisterBackend("tasks-only");
        }
    }

    @Test
    void listenFailsClearlyWithoutARuntime() {
        Runtime.stop();
        server = new Server();
        assertThatThrownBy(() -> server.listen("127.0.0.1", 0))
                .isInstanceOf(StellaneException.class)
                .hasMessageContaining("Runtime.init");
    }

    @Test
    void listenFailsClearlyOnABackendWithoutNetworkIo() {
        RuntimeFactory.registerBackend("tasks-only", QueueOnlyBackend::new);
        Runtime.init(RuntimeConfig.builder().backendType("tasks-only").workerThreads(1).build());
        server = new Server();
        assertThatThrownBy(() -> server.listen("127.0.0.1", 0))
                .isInstanceOf(StellaneException.class)
                .hasMessageContaining("does no network I/O");
    }

    @Test
    void observersSeeConnectionsAndCompletedRequestsWithTheirRouteTemplate() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        java.util.List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicInteger opened = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger closed = new java.util.concurrent.atomic.AtomicInteger();
        server = new Server()
                .get("/users/{id}", ctx -> Task.completed(Response.ok("u" + ctx.param("id"))))
                .post("/boom", ctx -> { throw new IllegalStateException("x"); })
                .observe(new ServerObserver() {
                    @Override public void connectionOpened() { opened.incrementAndGet(); }
                    @Override public void connectionClosed() { closed.incrementAndGet(); }
                    @Override public void requestCompleted(String route, String method, int status, long nanos) {
                        seen.add(method + " " + route + " " + status + (nanos >= 0 ? " timed" : ""));
                    }
                });
        int port = server.listen("127.0.0.1", 0);
        var client = java.net.http.HttpClient.newHttpClient();
        var base = java.net.URI.create("http://127.0.0.1:" + port);
        for (int i = 0; i < Server.TIMING_SAMPLE; i++) { // one connection: the first of each 16 is timed
            client.send(java.net.http.HttpRequest.newBuilder(base.resolve("/users/7")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        }
        client.send(java.net.http.HttpRequest.newBuilder(base.resolve("/nowhere")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        client.send(java.net.http.HttpRequest.newBuilder(base.resolve("/boom")).POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        client.close();
        assertThat(seen).hasSize(Server.TIMING_SAMPLE + 2);
        assertThat(seen.getFirst()).isEqualTo("GET /users/{id} 200 timed");
        assertThat(seen.subList(1, Server.TIMING_SAMPLE)).allMatch(e -> e.equals("GET /users/{id} 200"));
        assertThat(seen.subList(Server.TIMING_SAMPLE, seen.size())).containsExactly("GET unmatched 404 timed", "POST /boom 500");
        assertThat(opened.get()).isPositive();
        server.stop(Duration.ofSeconds(5));
        io.stellane.runtime.testing.RuntimeFixture.eventually("connections closed", () -> closed.get() == opened.get());
    }

    @Test
    void routesCannotBeAddedAfterListen() {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = new Server();
        server.get("/a", ctx -> Task.completed(Response.ok()));
        server.listen("127.0.0.1", 0);
        assertThatThrownBy(() -> server.get("/b", ctx -> Task.completed(Response.ok())))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void atTheConnectionCapAnIdleConnectionIsShedForANewOne() throws IOException {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = new Server(ServerConfig.builder().maxConnections(1).build());
        server.get("/ok", ctx -> Task.completed(Response.text("ok")));
        int port = server.listen("127.0.0.1", 0);
        try (RawClient first = new RawClient(port)) {
            assertThat(first.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").read().status()).isEqualTo(200);
            try (RawClient second = new RawClient(port)) {
                assertThat(second.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").read().status()).isEqualTo(200);
                assertThat(first.closedByServer()).as("the idle connection was shed").isTrue();
            }
        }
        assertThat(server.limitCount(ServerLimit.CONNECTION_SHED)).isEqualTo(1);
        assertThat(server.limitCount(ServerLimit.CONNECTIONS)).isZero();
    }

    @Test
    void atTheConnectionCapABusyConnectionIsKeptAndTheNewOneClosed() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = new Server(ServerConfig.builder().maxConnections(1).build());
        CompletableFuture<Response> answer = new CompletableFuture<>();
        CountDownLatch handling = new CountDownLatch(1);
        server.get("/slow", ctx -> {
            handling.countDown();
            return Task.from(answer);
        });
        int port = server.listen("127.0.0.1", 0);
        try (RawClient first = new RawClient(port)) {
            first.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(handling.await(5, TimeUnit.SECONDS)).isTrue();
            try (RawClient second = new RawClient(port)) {
                assertThat(second.closedByServer()).isTrue();
            }
            answer.complete(Response.text("done"));
            assertThat(first.read().status()).isEqualTo(200);
        }
        assertThat(server.limitCount(ServerLimit.CONNECTIONS)).isEqualTo(1);
        assertThat(server.limitCount(ServerLimit.CONNECTION_SHED)).isZero();
    }

    @Test
    void onTaskErrorHearsOfFailuresOutsideRequests() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = new Server();
        CompletableFuture<Throwable> seen = new CompletableFuture<>();
        server.onTaskError((error, task) -> seen.complete(error));
        Runtime.schedule(Task.of(() -> {
            throw new IllegalStateException("background job failed");
        }));
        assertThat(seen.get(5, TimeUnit.SECONDS)).hasMessage("background job failed");
    }

    @Test
    void onTaskErrorHearsOfFailingRequestHandlersWhileErrorMappersStillAnswer() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = new Server();
        List<String> heard = new CopyOnWriteArrayList<>();
        server.onTaskError((error, task) -> heard.add(task.name() + ": " + error.getMessage()));
        server.onError(IllegalArgumentException.class, (e, ctx) -> Response.error(400, e.getMessage()));
        server.get("/throws", ctx -> {
            throw new IllegalArgumentException("bad input");
        });
        server.get("/fails", ctx -> Task.<Response>supply(() -> {
            throw new IllegalStateException("broken later");
        }).named("fails-task"));
        server.get("/blocking-fails", ctx -> Task.<Response>blocking(() -> {
            throw new IllegalStateException("database down");
        }).named("blocking-task"));
        server.get("/ok", ctx -> Task.completed(Response.text("ok")));
        int port = server.listen("127.0.0.1", 0);
        assertThat(ServerTestBase.get(port, "/throws").statusCode()).isEqualTo(400);
        assertThat(ServerTestBase.get(port, "/fails").statusCode()).isEqualTo(500);
        assertThat(ServerTestBase.get(port, "/blocking-fails").statusCode()).isEqualTo(500);
        assertThat(ServerTestBase.get(port, "/ok").statusCode()).isEqualTo(200);
        assertThat(heard).containsExactly("GET /throws: bad input", "fails-task: broken later",
                "blocking-task: database down");
        assertThat(Runtime.getStats().totalTasksFailed()).as("counted as failed tasks").isGreaterThanOrEqualTo(3);
    }

    @Test
    void theRuntimesNumbersCountRequestHandlersAndBlockingTasks() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(2).build());
        server = new Server();
        server.get("/sync", ctx -> Task.completed(Response.text("sync")));
        server.getBlocking("/blocking", ctx -> Response.text("blocking"));
        int port = server.listen("127.0.0.1", 0);
        long before = Runtime.getStats().totalTasksExecuted();
        for (int i = 0; i < 200; i++) {
            assertThat(ServerTestBase.get(port, i % 2 == 0 ? "/sync" : "/blocking").statusCode()).isEqualTo(200);
        }
        long executed = Runtime.getStats().totalTasksExecuted() - before;
        // each request runs its handler (one task); each blocking one also a blocking task
        assertThat(executed).isGreaterThanOrEqualTo(300);
        assertThat(Runtime.getWorkerStats().stream().mapToLong(WorkerStats::tasksExecuted).sum())
                .isGreaterThanOrEqualTo(300);
        assertThat(Runtime.getStats().averageTaskDurationMs()).as("handlers and blocking tasks are timed too").isPositive();
    }

    @Test
    void recoverySwitchedOnInTheRuntimeConfigOpensTheJournalReplaysBeforeListeningAndClosesItOnStop(
            @TempDir Path tmp) throws Exception {
        Path journal = tmp.resolve("journal");
        try (RecoveryStore store = RecoveryStores.create("mmap",
                RecoveryStoreConfig.defaults(journal))) { // what a crash left behind
            store.append(new JournaledRequest("left-1", Instant.now(), "POST", "/orders",
                    List.of(new HttpHeader("Host", "x")), "o-1".getBytes(), null));
        }
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1)
                .enableRequestRecovery(true).recoveryPath(journal).build());
        server = new Server();
        List<String> replayed = new CopyOnWriteArrayList<>();
        CountDownLatch handling = new CountDownLatch(1);
        CompletableFuture<Response> answer = new CompletableFuture<>();
        server.onRecover((ctx, req) -> {
            replayed.add(ctx.requestId() + " " + req.bodyString());
            return Task.completed(Response.ok());
        });
        server.post("/orders", ctx -> {
            handling.countDown();
            return Task.from(answer);
        });
        int port = server.listen("127.0.0.1", 0);
        assertThat(replayed).as("replayed before listen returned").containsExactly("left-1 o-1");
        assertThat(server.recoveryStats().recovered()).isEqualTo(1);

        CompletableFuture<HttpResponse<String>> live = CompletableFuture.supplyAsync(() -> {
            try {
                return ServerTestBase.send(port, "POST", "/orders", "o-2", "text/plain");
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        });
        assertThat(handling.await(5, TimeUnit.SECONDS)).isTrue();
        assertThat(server.recoveryStats().journaled()).as("the live POST is journaled").isEqualTo(1);
        answer.complete(Response.text("done"));
        assertThat(live.get(5, TimeUnit.SECONDS).body()).isEqualTo("done");

        server.stop(Duration.ofSeconds(1));
        server = null;
        try (RecoveryStore store = RecoveryStores.create("mmap",
                RecoveryStoreConfig.defaults(journal))) {
            assertThat(store.pending()).as("closed on stop (else this open would find it locked)").isEmpty();
        }
    }

    @Test
    void aServerWithOnlySafeRoutesOpensNoJournal(@TempDir Path tmp) {
        Path journal = tmp.resolve("journal");
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1)
                .enableRequestRecovery(true).recoveryPath(journal).build());
        server = new Server();
        server.get("/metrics", ctx -> Task.completed(Response.text("m")));
        server.listen("127.0.0.1", 0);
        assertThat(journal).doesNotExist();
    }

    @Test
    void aRestartKeepsStartBlockedAndTheServerListensAgainOnItsPort() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).build());
        server = new Server();
        server.get("/ok", ctx -> Task.completed(Response.text("ok")));
        int port = server.listen("127.0.0.1", 0);
        CountDownLatch startReturned = new CountDownLatch(1);
        Thread main = Thread.ofPlatform().start(() -> {
            Runtime.start();
            startReturned.countDown();
        });
        RuntimeStats first = Runtime.getStats();
        Runtime.restart();
        assertThat(Runtime.getStats().startTime()).isNotEqualTo(first.startTime());
        assertThat(ServerTestBase.get(port, "/ok").body()).as("the same port, on the new workers").isEqualTo("ok");
        assertThat(startReturned.await(300, TimeUnit.MILLISECONDS)).as("start() still blocks").isFalse();

        Runtime.schedule(Task.of(Runtime::restart)); // from a task: the restart runs on a thread of its own
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        RuntimeStats second = Runtime.getStats();
        while (true) {
            try {
                if (Runtime.isRunning() && !Runtime.getStats().startTime().equals(second.startTime())) {
                    break;
                }
            } catch (StellaneException betweenLives) {
                // stopped for a moment
            }
            assertThat(System.nanoTime() < deadline).as("the runtime restarted").isTrue();
            Thread.onSpinWait();
        }
        long serveDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        int status = 0;
        while (status != 200 && System.nanoTime() < serveDeadline) {
            try {
                status = ServerTestBase.get(port, "/ok").statusCode();
            } catch (IOException notYet) {
                Thread.onSpinWait();
            }
        }
        assertThat(status).isEqualTo(200);
        assertThat(startReturned.getCount()).as("start() still blocks").isEqualTo(1);

        Runtime.stop();
        assertThat(startReturned.await(10, TimeUnit.SECONDS)).as("a stop ends start()").isTrue();
        main.join(5000);
    }

    /** A backend that runs tasks but has no Netty loop. */
    static final class QueueOnlyBackend implements EventLoopBackend {
        private final java.util.concurrent.LinkedBlockingQueue<Task<?>> queue = new java.util.concurrent.LinkedBlockingQueue<>();
        private volatile boolean running;
        private volatile boolean stopping;

        @Override
        public void run() {
            running = true;
            try {
                while (!stopping || !queue.isEmpty()) {
                    Task<?> t = queue.poll(10, TimeUnit.MILLISECONDS);
                    if (t != null) {
                        t.run();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                running = false;
            }
        }

        @Override
        public void stop() {
            stopping = true;
        }

        @Override
        public void schedule(Task<?> task) {
            queue.add(task);
        }

        @Override
        public boolean isRunning() {
            return running;
        }

        @Override
        public int pendingTasks() {
            return queue.size();
        }
    }
}
