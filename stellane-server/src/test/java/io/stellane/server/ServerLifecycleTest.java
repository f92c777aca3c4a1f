package io.stellane.server;

import io.stellane.StellaneException;
import io.stellane.backend.EventLoopBackend;
import io.stellane.backend.RuntimeFactory;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
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
        io.stellane.testing.RuntimeFixture.eventually("connections closed", () -> closed.get() == opened.get());
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
