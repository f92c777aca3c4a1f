package io.stellane.server;

import io.netty.handler.codec.http2.Http2Error;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** HTTP/2 with prior knowledge (h2c) on the same server, routes and limits as HTTP/1.1. */
class Http2Test extends ServerTestBase {

    @Override
    String backend() {
        return "nio";
    }

    private static void routes(Server s) {
        s.get("/protocol", cx -> Task.completed(Response.text(cx.request().protocol())));
        s.post("/echo", cx -> Task.completed(Response.text("got " + cx.request().bodyString())
                .header("X-Seen-Host", String.valueOf(cx.request().header("host")))));
        s.get("/n/{n}", cx -> Task.completed(Response.text("stream " + cx.param("n"))));
        s.get("/boom", cx -> {
            throw new IllegalStateException("this handler fails");
        });
        s.get("/stream", cx -> Task.completed(Response.stream("text/plain", out -> {
            out.write("one,");
            out.write("two");
            out.close();
        })));
    }

    @Test
    void aGetWithPriorKnowledgeIsServedAndTheRequestSaysHttp2() throws Exception {
        int port = start(Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            H2RawClient.Reply r = c.request("GET", "/protocol", null);
            assertThat(r.status).isEqualTo(200);
            assertThat(r.body.toString()).isEqualTo("HTTP/2.0");
            assertThat(r.headers.get("content-length").toString()).isEqualTo("8");
            assertThat(r.headers.get("server").toString()).isEqualTo("stellane");
        }
        assertThat(get(port, "/protocol").body()).isEqualTo("HTTP/1.1");
    }

    @Test
    void aPostBodyReachesTheHandlerAndItsHeadersComeBackLowercase() throws Exception {
        int port = start(Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            int id = c.start("POST", "/echo", false);
            c.data(id, "hello ", false);
            c.data(id, "there", true);
            c.send();
            c.readUntil(() -> c.reply(id).finished());
            H2RawClient.Reply r = c.reply(id);
            assertThat(r.status).isEqualTo(200);
            assertThat(r.body.toString()).isEqualTo("got hello there");
            assertThat(r.headers.get("x-seen-host").toString()).isEqualTo("127.0.0.1:" + port);
        }
    }

    @Test
    void manyStreamsOnOneConnectionAreEachAnswered() throws Exception {
        int port = start(Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                ids.add(c.start("GET", "/n/" + i, true));
            }
            c.send();
            c.readUntil(() -> ids.stream().allMatch(id -> c.reply(id).finished()));
            for (int i = 0; i < ids.size(); i++) {
                H2RawClient.Reply r = c.reply(ids.get(i));
                assertThat(r.status).isEqualTo(200);
                assertThat(r.body.toString()).isEqualTo("stream " + i);
            }
        }
    }

    @Test
    void aHandlerFailureAnswers500OnItsStreamOnlyAndTheConnectionGoesOn() throws Exception {
        int port = start(Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            int boom = c.start("GET", "/boom", true);
            int ok = c.start("GET", "/n/1", true);
            c.send();
            c.readUntil(() -> c.reply(boom).finished() && c.reply(ok).finished());
            assertThat(c.reply(boom).status).isEqualTo(500);
            assertThat(c.reply(ok).status).isEqualTo(200);
            assertThat(c.request("GET", "/n/2", null).body.toString()).isEqualTo("stream 2");
            assertThat(c.goAway).isEqualTo(-1);
        }
        assertThat(lastServer().errorCount()).isEqualTo(1);
    }

    @Test
    void aStreamingResponseArrivesAsDataFrames() throws Exception {
        int port = start(Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            H2RawClient.Reply r = c.request("GET", "/stream", null);
            assertThat(r.status).isEqualTo(200);
            assertThat(r.body.toString()).isEqualTo("one,two");
        }
    }

    @Test
    void aBodyOverMaxBodySizeIsRefused413OnItsStream() throws Exception {
        int port = start(ServerConfig.builder().maxBodySize(10).build(), Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            H2RawClient.Reply r = c.request("POST", "/echo", "x".repeat(100));
            assertThat(r.status).isEqualTo(413);
            assertThat(c.request("GET", "/n/3", null).status).isEqualTo(200);
        }
    }

    @Test
    void aMalformedRequestIsAnswered4xxNot500() throws Exception {
        int port = start(Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            assertThat(c.request("GET", "no-slash", null).status).isEqualTo(400);
            assertThat(c.request("GET", "/missing", null).status).isEqualTo(404);
        }
    }

    @Test
    void streamsPastMaxConcurrentStreamsAreRefused() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        int port = start(ServerConfig.builder().http2MaxConcurrentStreams(2).build(), s -> s.getBlocking("/wait", cx -> {
            release.await(10, TimeUnit.SECONDS);
            return Response.text("done");
        }));
        try (H2RawClient c = new H2RawClient(port)) {
            int a = c.start("GET", "/wait", true);
            int b = c.start("GET", "/wait", true);
            int third = c.start("GET", "/wait", true);
            c.send();
            c.readUntil(() -> c.reply(third).finished());
            assertThat(c.reply(third).reset).isEqualTo(Http2Error.REFUSED_STREAM.code());
            release.countDown();
            c.readUntil(() -> c.reply(a).finished() && c.reply(b).finished());
            assertThat(c.reply(a).status).isEqualTo(200);
            assertThat(c.reply(b).status).isEqualTo(200);
        }
    }

    @Test
    void rapidResetEndsThatConnectionWithGoAwayAndSparesTheOthers() throws Exception {
        int port = start(ServerConfig.builder().http2MaxResets(10).build(), Http2Test::routes);
        try (H2RawClient bystander = new H2RawClient(port); H2RawClient attacker = new H2RawClient(port)) {
            assertThat(bystander.request("GET", "/n/1", null).status).isEqualTo(200);
            for (int i = 0; i < 50; i++) {
                int id = attacker.start("GET", "/n/" + i, false);
                attacker.reset(id);
            }
            attacker.send();
            attacker.readUntil(() -> attacker.goAway >= 0);
            assertThat(attacker.goAway).isEqualTo(Http2Error.ENHANCE_YOUR_CALM.code());
            assertThat(lastServer().limitCount(ServerLimit.HTTP2_RESETS)).isEqualTo(1);
            assertThat(bystander.request("GET", "/n/2", null).body.toString()).isEqualTo("stream 2");
        }
        assertThat(get(port, "/protocol").body()).isEqualTo("HTTP/1.1");
    }

    @Test
    void anIdleConnectionIsClosedWithGoAway() throws Exception {
        int port = start(ServerConfig.builder().idleTimeout(Duration.ofMillis(300)).build(), Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            assertThat(c.request("GET", "/n/1", null).status).isEqualTo(200);
            c.readUntil(() -> false);
            assertThat(c.goAway).isEqualTo(Http2Error.NO_ERROR.code());
            assertThat(c.closed).isTrue();
        }
    }

    @Test
    void pingsDoNotKeepAConnectionWithoutStreamsPastItsIdleTimeout() throws Exception {
        int port = start(ServerConfig.builder().idleTimeout(Duration.ofMillis(300)).build(), Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            assertThat(c.request("GET", "/n/1", null).status).isEqualTo(200);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            for (long i = 0; c.goAway < 0 && !c.closed && System.nanoTime() < deadline; i++) {
                c.ping(i);
                try {
                    c.send();
                } catch (java.io.IOException closedMeanwhile) {
                    break;
                }
                Thread.sleep(50); // a ping every 50 ms: the connection is never quiet for 300
                c.poll();
            }
            c.readUntil(() -> false);
            assertThat(c.closed).as("closed by the server").isTrue();
            // a ping racing the close can make the server's kernel reset, losing the GOAWAY before it is read
            assertThat(c.goAway).isIn(-1L, (long) Http2Error.NO_ERROR.code());
        }
    }

    @Test
    void aStreamWhoseBodyNeverEndsIsAnswered408AndTheConnectionGoesOn() throws Exception {
        int port = start(ServerConfig.builder().requestReadTimeout(Duration.ofMillis(400)).build(), Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            int slow = c.start("POST", "/echo", false);
            c.data(slow, "the start of a body that never ends", false);
            c.send();
            c.readUntil(() -> c.reply(slow).finished());
            assertThat(c.reply(slow).status).isEqualTo(408);
            assertThat(c.request("GET", "/n/2", null).body.toString()).isEqualTo("stream 2");
            assertThat(c.goAway).isEqualTo(-1);
        }
        assertThat(lastServer().limitCount(ServerLimit.REQUEST_TIMEOUT)).isEqualTo(1);
        assertThat(lastServer().bufferedBodyBytes()).isZero();
    }

    @Test
    void stoppingTheServerSendsGoAwayAndLetsTheStreamInFlightFinish() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        int port = start(s -> s.getBlocking("/wait", cx -> {
            entered.countDown();
            release.await(10, TimeUnit.SECONDS);
            return Response.text("finished");
        }).get("/n/{n}", cx -> Task.completed(Response.text("stream " + cx.param("n")))));
        try (H2RawClient c = new H2RawClient(port)) {
            int id = c.start("GET", "/wait", true);
            c.send();
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
            Server server = lastServer();
            Thread stopper = Thread.ofVirtual().start(() -> server.stop(Duration.ofSeconds(10)));
            c.readUntil(() -> c.goAway >= 0);
            assertThat(c.goAway).isEqualTo(Http2Error.NO_ERROR.code());
            // the first GOAWAY still admits every stream: one the client sent before reading it is served
            assertThat(c.goAwayLastStreams).containsExactly(Integer.MAX_VALUE);
            int late = c.start("GET", "/n/5", true);
            c.send();
            c.readUntil(() -> c.reply(late).finished());
            assertThat(c.reply(late).status).isEqualTo(200);
            release.countDown();
            c.readUntil(() -> c.reply(id).finished());
            assertThat(c.reply(id).status).isEqualTo(200);
            assertThat(c.reply(id).body.toString()).isEqualTo("finished");
            stopper.join(Duration.ofSeconds(15));
            assertThat(stopper.isAlive()).isFalse();
            c.readUntil(() -> c.closed);
            assertThat(c.goAwayLastStreams).as("then the final one, naming the last stream taken")
                    .containsExactly(Integer.MAX_VALUE, late);
        }
    }

    @Test
    void theJdkClientUpgradesToH2cAndGoesOnOverHttp2() throws Exception {
        int port = start(Http2Test::routes);
        HttpClient h2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        try {
            // the first request asks for the upgrade (Upgrade: h2c) and is answered on stream 1
            HttpResponse<String> r = h2.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/protocol")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
            assertThat(r.body()).isEqualTo("HTTP/2.0");
            // later ones, bodies included, are streams on the same connection
            List<CompletableFuture<HttpResponse<String>>> echoes = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                echoes.add(h2.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/echo"))
                        .POST(HttpRequest.BodyPublishers.ofString("n" + i)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            for (int i = 0; i < 5; i++) {
                HttpResponse<String> e = echoes.get(i).get(20, TimeUnit.SECONDS);
                assertThat(e.version()).isEqualTo(HttpClient.Version.HTTP_2);
                assertThat(e.body()).isEqualTo("got n" + i);
            }
            assertThat(lastServer().openConnections()).isEqualTo(1);
        } finally {
            h2.close();
        }
    }

    @Test
    void anUpgradeOnTheWireIsAnswered101ThenOverHttp2OnStream1() throws Exception {
        int port = start(Http2Test::routes);
        try (H2RawClient c = H2RawClient.upgrading(port, "/protocol")) {
            assertThat(c.upgradeResponse).startsWith("HTTP/1.1 101 Switching Protocols\r\n")
                    .containsIgnoringCase("upgrade: h2c").containsIgnoringCase("connection: upgrade");
            c.readUntil(() -> c.reply(1).finished());
            assertThat(c.reply(1).status).isEqualTo(200);
            assertThat(c.reply(1).body.toString()).isEqualTo("HTTP/2.0");
            assertThat(c.request("GET", "/n/3", null).body.toString()).isEqualTo("stream 3");
        }
    }

    @Test
    void anUpgradeWithBadSettingsIsServedOverHttp11() throws Exception {
        int port = start(Http2Test::routes);
        for (String settings : List.of("not base64 !", "AAMAAA", "AAIAAAAC")) { // not base64; 4 bytes; ENABLE_PUSH=2
            try (RawClient c = new RawClient(port)) {
                RawClient.Resp r = c.send("GET /protocol HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                        + "Upgrade: h2c\r\nHTTP2-Settings: " + settings + "\r\n\r\n").read();
                assertThat(r.status()).as(settings).isEqualTo(200);
                assertThat(r.body()).isEqualTo("HTTP/1.1");
            }
        }
    }

    @Test
    void requestsInFlightCountsTheStreamsOfAnHttp2Connection() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        int port = start(s -> s.getBlocking("/wait", cx -> {
            release.await();
            return Response.text("done");
        }));
        try (H2RawClient c = new H2RawClient(port)) {
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                ids.add(c.start("GET", "/wait", true));
            }
            c.send();
            awaitInFlight(3);
            release.countDown();
            c.readUntil(() -> ids.stream().allMatch(id -> c.reply(id).finished()));
            awaitInFlight(0); // the answer can reach the client a moment before its stream counts it done
        }
    }

    private void awaitInFlight(long n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (lastServer().requestsInFlight() != n && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(lastServer().requestsInFlight()).isEqualTo(n);
    }

    @Test
    void anUpgradeWithABodyIsServedOverHttp11Too() throws Exception {
        int port = start(Http2Test::routes);
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                    + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 2\r\n\r\nhi").read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("got hi");
        }
    }

    @Test
    void aFloodOfEmptyDataFramesEndsTheConnectionAndIsCounted() throws Exception {
        int port = start(Http2Test::routes);
        try (H2RawClient c = new H2RawClient(port)) {
            int id = c.start("POST", "/echo", false);
            for (int i = 0; i < 10; i++) {
                c.data(id, "", false);
            }
            c.send();
            c.readUntil(() -> c.goAway >= 0);
            assertThat(c.goAway).isEqualTo(Http2Error.ENHANCE_YOUR_CALM.code());
        }
        assertThat(lastServer().limitCount(ServerLimit.HTTP2_FLOOD)).isEqualTo(1);
    }

    @Test
    void http2KeysAreReadFromTomlAndABadOneIsNamed() throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper m = new com.fasterxml.jackson.databind.ObjectMapper();
        ServerConfig c = ServerConfig.fromToml("server", m.readTree(
                "{\"http2_max_concurrent_streams\": 7, \"http2_initial_window_size\": \"1MiB\", \"http2_max_resets\": 50}"),
                ServerConfig.defaults(), java.util.Set.of());
        assertThat(c.http2MaxConcurrentStreams()).isEqualTo(7);
        assertThat(c.http2InitialWindowSize()).isEqualTo(1 << 20);
        assertThat(c.http2MaxResets()).isEqualTo(50);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ServerConfig.fromToml("server",
                        m.readTree("{\"http2_max_concurrent_streams\": 0}"), ServerConfig.defaults(), java.util.Set.of()))
                .hasMessageContaining("server.http2_max_concurrent_streams").hasMessageContaining("an integer from 1");
    }
}
