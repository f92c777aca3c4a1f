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
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The server's behaviour over real sockets; subclassed per backend. */
abstract class ServerSuite extends ServerTestBase {

    record User(int id, String name) {
    }

    @Test
    void routesWithPathAndQueryParameters() throws Exception {
        int port = start(s -> s.get("/users/{id}/posts/{post}", ctx -> Task.completed(Response.text(
                ctx.paramInt("id") * 2 + ":" + ctx.param("post") + ":" + ctx.query("sort").orElse("none")
                        + ":" + ctx.query("limit", int.class, 10)))));

        HttpResponse<String> r = get(port, "/users/21/posts/hello%20world?sort=asc&limit=5");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("42:hello world:asc:5");
        assertThat(get(port, "/users/1/posts/x").body()).isEqualTo("2:x:none:10");
    }

    @Test
    void badTypedParameterIs400NotA500() throws Exception {
        int port = start(s -> s.get("/users/{id}", ctx -> Task.completed(Response.text("id " + ctx.param("id", int.class))))
                .get("/q", ctx -> Task.completed(Response.text("n " + ctx.query("n", long.class, 0L)))));

        HttpResponse<String> r = get(port, "/users/abc");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("path parameter 'id'");
        assertThat(get(port, "/q?n=x").statusCode()).isEqualTo(400);
        assertThat(get(port, "/users/7").body()).isEqualTo("id 7");
        assertThat(lastServer().errorCount()).isZero();
    }

    @Test
    void unknownPathIs404AndWrongMethodIs405WithAllow() throws Exception {
        int port = start(s -> s.get("/items", ctx -> Task.completed(Response.text("list")))
                .post("/items", ctx -> Task.completed(Response.of(201))));

        assertThat(get(port, "/nothing").statusCode()).isEqualTo(404);
        HttpResponse<String> r = send(port, "DELETE", "/items", null, null);
        assertThat(r.statusCode()).isEqualTo(405);
        assertThat(r.headers().firstValue("allow")).hasValue("GET, HEAD, POST, OPTIONS");
        assertThat(send(port, "POST", "/items", "x", "text/plain").statusCode()).isEqualTo(201);
    }

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
    void handlerExceptionIsA500WithAGenericBodyAndTheServerKeepsServing() throws Exception {
        int port = start(s -> s.get("/boom", ctx -> {
            throw new IllegalStateException("secret database password");
        }).get("/async-boom", ctx -> Task.sleep(Duration.ofMillis(5)).map(v -> {
            throw new IllegalStateException("secret token");
        })).get("/ok", ctx -> Task.completed(Response.text("ok"))));

        for (String path : List.of("/boom", "/async-boom")) {
            HttpResponse<String> r = get(port, path);
            assertThat(r.statusCode()).isEqualTo(500);
            assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
            assertThat(r.body()).contains("Internal Server Error").contains("requestId").doesNotContain("secret");
        }
        assertThat(get(port, "/ok").body()).isEqualTo("ok");
        assertThat(lastServer().errorCount()).isEqualTo(2);
    }

    @Test
    void blockingHandlersRunOnVirtualThreadsAndAsyncOnesOnTheWorker() throws Exception {
        CompletableFuture<Thread> blocking = new CompletableFuture<>();
        CompletableFuture<Worker> async = new CompletableFuture<>();
        int port = start(s -> s.getBlocking("/blocking", ctx -> {
            blocking.complete(Thread.currentThread());
            return Response.text("virtual=" + Thread.currentThread().isVirtual());
        }).get("/async", ctx -> {
            async.complete(Worker.current());
            return Task.completed(Response.text("async"));
        }).get("/explicit", Handler.blocking(ctx -> Response.text("virtual=" + Thread.currentThread().isVirtual()))));

        assertThat(get(port, "/blocking").body()).isEqualTo("virtual=true");
        assertThat(get(port, "/explicit").body()).isEqualTo("virtual=true");
        assertThat(blocking.get(5, TimeUnit.SECONDS).isVirtual()).isTrue();
        assertThat(get(port, "/async").body()).isEqualTo("async");
        assertThat(async.get(5, TimeUnit.SECONDS)).as("async handler ran on a worker").isNotNull();
    }

    @Test
    void filtersRunInOrderAndCanShortCircuit() throws Exception {
        List<String> trace = new CopyOnWriteArrayList<>();
        int port = start(s -> s
                .filter((ctx, next) -> {
                    trace.add("outer-before");
                    return next.handle(ctx).map(r -> {
                        trace.add("outer-after");
                        return r.header("X-Outer", "1");
                    });
                })
                .filter(Filter.before(ctx -> ctx.request().header("X-Deny") != null ? Response.of(403) : null))
                .filter((ctx, next) -> {
                    trace.add("inner-before");
                    ctx.attribute("user", "ann");
                    return next.handle(ctx);
                })
                .get("/hello", ctx -> {
                    trace.add("handler");
                    return Task.completed(Response.text("hello " + ctx.attribute("user")));
                }));

        HttpResponse<String> r = get(port, "/hello");
        assertThat(r.body()).isEqualTo("hello ann");
        assertThat(r.headers().firstValue("x-outer")).hasValue("1");
        assertThat(trace).containsExactly("outer-before", "inner-before", "handler", "outer-after");

        trace.clear();
        HttpResponse<String> denied = CLIENT.send(java.net.http.HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + port + "/hello")).header("X-Deny", "1").build(), HttpResponse.BodyHandlers.ofString());
        assertThat(denied.statusCode()).isEqualTo(403);
        assertThat(trace).containsExactly("outer-before", "outer-after");
    }

    static final class NotFoundException extends RuntimeException {
        NotFoundException(String message) {
            super(message);
        }
    }

    @Test
    void errorMapperTurnsExceptionsIntoResponses() throws Exception {
        int port = start(s -> s
                .onError(NotFoundException.class, (e, ctx) -> Response.error(404, "no such user"))
                .onError(RuntimeException.class, (e, ctx) -> Response.error(503, "try later"))
                .get("/users/{id}", ctx -> {
                    throw new NotFoundException("user " + ctx.param("id"));
                })
                .get("/other", ctx -> Task.failed(new IllegalStateException("x"))));

        HttpResponse<String> r = get(port, "/users/9");
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.body()).contains("no such user");
        assertThat(get(port, "/other").statusCode()).isEqualTo(503);
        assertThat(lastServer().errorCount()).isZero();
    }

    @Test
    void jsonBodiesRoundTripAndMalformedJsonIs400() throws Exception {
        int port = start(s -> s.post("/users", ctx -> {
            User u = ctx.request().json(User.class);
            return Task.completed(Response.created(new User(u.id() + 1, u.name().toUpperCase())));
        }));

        HttpResponse<String> ok = send(port, "POST", "/users", "{\"id\":1,\"name\":\"ann\"}", "application/json");
        assertThat(ok.statusCode()).isEqualTo(201);
        assertThat(ok.body()).isEqualTo("{\"id\":2,\"name\":\"ANN\"}");
        HttpResponse<String> bad = send(port, "POST", "/users", "{\"id\":", "application/json");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains("malformed JSON");
        assertThat(lastServer().errorCount()).isZero();
    }

    @Test
    void eachRequestHasItsOwnIdAndLogger() throws Exception {
        List<String> ids = new CopyOnWriteArrayList<>();
        int port = start(s -> s.get("/id", ctx -> {
            ctx.logger().info("handling {}", ctx.request().path());
            ids.add(ctx.requestId());
            return Task.completed(Response.text(ctx.requestId()));
        }));
        String a = get(port, "/id").body();
        String b = get(port, "/id").body();
        assertThat(a).isNotBlank().isNotEqualTo(b);
        assertThat(ids).containsExactly(a, b);
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
    void severalServersShareOneRuntime() throws Exception {
        int a = start(s -> s.get("/who", ctx -> Task.completed(Response.text("a"))));
        int b = start(s -> s.get("/who", ctx -> Task.completed(Response.text("b"))));
        assertThat(a).isNotEqualTo(b);
        assertThat(get(a, "/who").body()).isEqualTo("a");
        assertThat(get(b, "/who").body()).isEqualTo("b");
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
