package io.stellane.server;

import io.stellane.config.ConfigChange;
import io.stellane.task.Task;
import io.stellane.task.Worker;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The server's behaviour over real sockets, at the protocol's level (raw requests, pipelining,
 * timeouts, limits, draining); subclassed per backend. Its public API (routes, errors, JSON,
 * filters) is tested through the test kit, in stellane-testing's {@code ServerApiSuite}.
 */
abstract class ServerSuite extends ServerTestBase {

    @Test
    void headIsServedFromGetWithoutBodyAndOptionsAnswersAllow() throws Exception {
        int port = start(s -> s.get("/doc", ctx -> Task.completed(Response.text("twelve bytes"))));

        try (RawClient c = new RawClient(port)) {
            RawClient.Resp head = c.send("HEAD /doc HTTP/1.1\r\nHost: x\r\n\r\n").read(true);
            assertThat(head.status()).isEqualTo(200);
            assertThat(head.header("content-length")).isEqualTo("12");
            // the next response must start right away: no body bytes were sent for HEAD
            RawClient.Resp options = c.send("OPTIONS /doc HTTP/1.1\r\nHost: x\r\n\r\n").read();
            assertThat(options.status()).isEqualTo(204);
            assertThat(options.header("allow")).isEqualTo("GET, HEAD, OPTIONS");
            RawClient.Resp star = c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").read();
            assertThat(star.status()).isEqualTo(200);
            assertThat(star.header("allow")).isEqualTo("GET, HEAD, OPTIONS");
        }
    }

    @Test
    void absoluteFormRoutesOnItsPath() throws IOException {
        int port = start(s -> s.get("/abs", ctx -> Task.completed(Response.text(ctx.request().path() + "?" + ctx.request().query()))));
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("GET http://example.com:8080/abs?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n").read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("/abs?x=1");
        }
    }

    @Test
    void keepAliveWithDateAndServerHeaders() throws IOException {
        int port = start(s -> s.get("/ok", ctx -> Task.completed(Response.text("ok"))));
        try (RawClient c = new RawClient(port)) {
            for (int i = 0; i < 3; i++) {
                RawClient.Resp r = c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.header("server")).isEqualTo("stellane");
                assertThat(r.header("date")).matches("[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT");
                assertThat(r.header("connection")).isNull();
            }
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrderEvenWhenLaterOnesFinishFirst() throws IOException {
        int port = start(s -> s.get("/n/{n}", ctx -> {
            int n = ctx.paramInt("n");
            // early requests are slow, late ones immediate: only ordering keeps them in sequence
            return n < 4 ? Task.sleep(Duration.ofMillis(40 - n * 10)).map(v -> Response.text("r" + n))
                    : Task.completed(Response.text("r" + n));
        }));
        StringBuilder batch = new StringBuilder();
        for (int i = 0; i < 16; i++) {
            batch.append("GET /n/").append(i).append(" HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        try (RawClient c = new RawClient(port)) {
            c.send(batch.toString());
            List<String> bodies = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                bodies.add(c.read().body());
            }
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                expected.add("r" + i);
            }
            assertThat(bodies).isEqualTo(expected);
        }
    }

    @Test
    void chunkedRequestBodyIsReassembled() throws IOException {
        int port = start(s -> s.post("/echo", ctx -> Task.completed(Response.ok(ctx.request().body(), "text/plain"))));
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n").read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("hello world");
        }
    }

    @Test
    void streamingResponseIsChunkedAndMayBeWrittenFromAnotherThread() throws Exception {
        int port = start(s -> s.get("/stream", ctx -> Task.completed(Response.stream("text/plain", out -> {
            out.write("one,");
            Thread.ofVirtual().start(() -> {
                out.write("two,");
                out.write("three");
                out.close();
            });
        }))).get("/ok", ctx -> Task.completed(Response.text("ok"))));
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n").read();
            assertThat(r.header("transfer-encoding")).isEqualTo("chunked");
            assertThat(r.body()).isEqualTo("one,two,three");
            assertThat(c.read().body()).isEqualTo("ok"); // the pipelined request waited for the stream
        }
        assertThat(get(port, "/stream").body()).isEqualTo("one,two,three");
    }

    @Test
    void expectContinueGetsA100BeforeTheBody() throws IOException {
        int port = start(s -> s.post("/echo", ctx -> Task.completed(Response.ok(ctx.request().body(), "text/plain"))));
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp cont = c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").read();
            assertThat(cont.status()).isEqualTo(100);
            RawClient.Resp r = c.send("abcde").read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("abcde");
        }
    }

    @Test
    void expectContinueOverTheBodyLimitIs413WithoutA100() throws IOException {
        int port = start(ServerConfig.builder().maxBodySize(10).build(),
                s -> s.post("/echo", ctx -> Task.completed(Response.ok())));
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n").read();
            assertThat(r.status()).isEqualTo(413);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void limitsChangedWhileRunningApplyToConnectionsOpenedAfter() throws IOException {
        int port = start(ServerConfig.builder().maxBodySize(10).maxHeaderSize(2048).build(),
                s -> s.post("/echo", ctx -> Task.completed(Response.text(ctx.request().bodyString()))));
        String longHeader = "X-Long: " + "a".repeat(3000) + "\r\n";
        try (RawClient before = new RawClient(port)) {
            assertThat(before.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde").read().status())
                    .isEqualTo(200);
            List<ConfigChange> changes = lastServer().updateConfig(
                    lastServer().config().toBuilder().maxBodySize(20).maxHeaderSize(8192).build());
            assertThat(changes).extracting(ConfigChange::toString)
                    .containsExactly("server.max_header_size 2048 -> 8192", "server.max_body_size 10 -> 20");
            assertThat(lastServer().updateConfig(lastServer().config())).as("the same again").isEmpty();
            try (RawClient after = new RawClient(port)) {
                RawClient.Resp r = after.send("POST /echo HTTP/1.1\r\nHost: x\r\n" + longHeader
                        + "Content-Length: 15\r\n\r\n123456789012345").read();
                assertThat(r.status()).as("new limits on a new connection").isEqualTo(200);
                assertThat(r.body()).isEqualTo("123456789012345");
            }
            RawClient.Resp r = before.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n123456789012345").read();
            assertThat(r.status()).as("an open connection keeps the limits it opened with").isEqualTo(413);
        }
    }

    @Test
    void http10ClosesUnlessKeepAliveIsAsked() throws IOException {
        int port = start(s -> s.get("/ok", ctx -> Task.completed(Response.text("ok"))));
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("GET /ok HTTP/1.0\r\n\r\n").read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.header("connection")).isEqualToIgnoringCase("close");
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").read();
            assertThat(r.header("connection")).isEqualToIgnoringCase("keep-alive");
            assertThat(c.send("GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").read().body()).isEqualTo("ok");
        }
    }

    @Test
    void headerReadTimeoutAppliesToKeepAliveConnectionsToo() throws IOException {
        int port = start(ServerConfig.builder().headerReadTimeout(Duration.ofMillis(200)).build(),
                s -> s.get("/ok", ctx -> Task.completed(Response.text("ok"))));
        try (RawClient c = new RawClient(port)) {
            assertThat(c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").read().status()).isEqualTo(200);
            RawClient.Resp r = c.send("GET /ok HTTP/1.1\r\nHo").read();
            assertThat(r.status()).isEqualTo(408);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void idleKeepAliveConnectionsAreClosed() throws IOException {
        int port = start(ServerConfig.builder().idleTimeout(Duration.ofMillis(200)).build(),
                s -> s.get("/ok", ctx -> Task.completed(Response.text("ok"))));
        try (RawClient c = new RawClient(port)) {
            assertThat(c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").read().status()).isEqualTo(200);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void requestsInFlightAreThoseReadAndNotYetAnsweredOrAbandoned() throws Exception {
        CompletableFuture<Response> release = new CompletableFuture<>();
        CountDownLatch entered = new CountDownLatch(3);
        int port = start(s -> s.get("/slow", ctx -> {
            entered.countDown();
            return Task.from(release);
        }).get("/fast", ctx -> Task.completed(Response.text("fast"))));
        Server server = lastServer();
        assertThat(get(port, "/fast").statusCode()).isEqualTo(200);
        assertThat(server.requestsInFlight()).isZero();

        List<CompletableFuture<HttpResponse<String>>> waiting = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            waiting.add(CLIENT.sendAsync(java.net.http.HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + port + "/slow")).build(), HttpResponse.BodyHandlers.ofString()));
        }
        try (RawClient gone = new RawClient(port)) {
            gone.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(entered.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(server.requestsInFlight()).isEqualTo(3);
        }
        // its client went away: the third request no longer counts, though its handler has not finished
        awaitValue(server::requestsInFlight, 2);
        release.complete(Response.text("done"));
        for (CompletableFuture<HttpResponse<String>> r : waiting) {
            assertThat(r.get(5, TimeUnit.SECONDS).body()).isEqualTo("done");
        }
        awaitValue(server::requestsInFlight, 0);
    }

    /** Waits up to 5 s for {@code value} to read {@code expected}, then asserts it does. */
    private static void awaitValue(java.util.function.LongSupplier value, long expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (value.getAsLong() != expected && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(value.getAsLong()).isEqualTo(expected);
    }

    @Test
    void gracefulStopDrainsAnInFlightRequest() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        int port = start(s -> s.getBlocking("/slow", ctx -> {
            entered.countDown();
            release.await();
            return Response.text("finished");
        }));
        Server server = lastServer();
        CompletableFuture<HttpResponse<String>> inFlight = CLIENT.sendAsync(
                java.net.http.HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/slow")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(entered.await(5, TimeUnit.SECONDS)).isTrue();

        CompletableFuture<Void> stopping = CompletableFuture.runAsync(() -> server.stop(Duration.ofSeconds(5)));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (server.isListening() && System.nanoTime() < deadline) {
            Thread.onSpinWait(); // stop() has begun once the listener is gone
        }
        assertThat(server.isListening()).isFalse();
        assertThat(stopping).as("stop waits for the in-flight request").isNotDone();
        release.countDown();
        HttpResponse<String> r = inFlight.get(5, TimeUnit.SECONDS);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("finished");
        assertThat(r.headers().firstValue("connection")).hasValue("close");
        stopping.get(5, TimeUnit.SECONDS);
        assertThat(server.openConnections()).isZero();
    }

    @Test
    void manyConnectionsAreSpreadOverTheWorkers() throws Exception {
        java.util.Set<Integer> workers = java.util.concurrent.ConcurrentHashMap.newKeySet();
        int port = start(s -> s.get("/w", ctx -> {
            workers.add(Worker.current().id());
            return Task.completed(Response.text("w"));
        }));
        for (int i = 0; i < 16 && workers.size() < 2; i++) {
            try (RawClient c = new RawClient(port)) {
                c.send("GET /w HTTP/1.1\r\nHost: x\r\n\r\n").read();
            }
        }
        assertThat(workers).containsExactlyInAnyOrder(0, 1);
    }
}
