package io.stellane.server;

import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Clients that misbehave on purpose: they pipeline and never read, read too slowly, trickle bodies,
 * send bodies that never come, hog connections from one address or fill the connection cap. Each
 * test shows the bound that holds them (with the numbers it saw, printed) and that the server keeps
 * serving others. Loopback only, every client bounded in bytes and time. Subclassed per backend.
 */
abstract class HostileClientSuite extends ServerTestBase {
    private static final byte[] KIB = "x".repeat(1024).getBytes(StandardCharsets.US_ASCII);

    private void routes(Server s) {
        s.get("/ok", ctx -> Task.completed(Response.text("ok")));
        s.get("/kib", ctx -> Task.completed(Response.ok(KIB, "text/plain")));
        s.get("/mib", ctx -> Task.completed(Response.ok(new byte[1 << 20], "application/octet-stream")));
        s.post("/echo", ctx -> Task.completed(Response.ok(ctx.request().body(), "application/octet-stream")));
    }

    private void report(String what, Object... values) {
        System.out.printf("hostile [%s] " + what + "%n", prepend(backend(), values));
    }

    private static Object[] prepend(Object first, Object[] rest) {
        Object[] all = new Object[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    // ---------------------------------------------------------------- responses nobody reads

    @Test
    void aClientThatPipelinesAndNeverReadsCostsABoundedAmountOfMemory() throws Exception {
        int port = start(this::routes);
        Server server = lastServer();
        Pipeliner flood = Pipeliner.connect(port, "GET /kib HTTP/1.1\r\nHost: x\r\n\r\n");
        try {
            long sent = flood.sendUntilStalled(Duration.ofSeconds(1), Duration.ofSeconds(8));
            long held = heldBytes(server);
            long answered = server.requestCount();
            report("pipelined without reading: %,d requests sent (%,d bytes), %,d decoded, server holds %,d bytes for it",
                    sent / flood.requestBytes(), sent, answered, held);
            assertThat(held).as("bytes the server holds for a client that reads nothing").isLessThan(256 * 1024);
            assertThat(answered).as("requests decoded").isLessThan(sent / flood.requestBytes());
            assertThat(server.limitCount(ServerLimit.WRITE_BACKPRESSURE)).isPositive();
        } finally {
            flood.close();
        }
        assertStillServes(port);
    }

    @Test
    void aClientThatReadsNoneOfItsResponsesIsResetAfterTheWriteTimeout() throws Exception {
        int port = start(ServerConfig.builder().writeTimeout(Duration.ofMillis(300)).build(), this::routes);
        Server server = lastServer();
        try (Pipeliner flood = Pipeliner.connect(port, "GET /kib HTTP/1.1\r\nHost: x\r\n\r\n")) {
            flood.sendUntilStalled(Duration.ofMillis(500), Duration.ofSeconds(8));
            long start = System.nanoTime();
            awaitTrue(() -> server.limitCount(ServerLimit.WRITE_TIMEOUT) == 1 && server.openConnections() == 0,
                    Duration.ofSeconds(10), "the stalled connection is reset");
            report("write timeout 300 ms: connection reset %d ms after the client stalled",
                    (System.nanoTime() - start) / 1_000_000);
        }
        assertStillServes(port);
    }

    @Test
    void aSlowButSteadyReaderIsNotCutOff() throws Exception {
        int port = start(ServerConfig.builder().writeTimeout(Duration.ofMillis(300)).build(), this::routes);
        Server server = lastServer();
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET /mib HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2)
                    + "GET /mib HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            // 64 KiB every 20 ms until the server closes after the third response: slower than the server
            // writes (its outbound buffer stays full for longer than the write timeout), but never 300 ms
            // without taking something
            InputStream in = s.getInputStream();
            byte[] buf = new byte[64 * 1024];
            long total = 0;
            long started = System.nanoTime();
            for (int n; (n = in.read(buf)) >= 0; ) {
                total += n;
                TimeUnit.MILLISECONDS.sleep(20); // the slow reader under test, not a wait for a condition
            }
            report("slow reader: %,d bytes read in %d ms with a 300 ms write timeout", total,
                    (System.nanoTime() - started) / 1_000_000);
            assertThat(total).isGreaterThan(3L << 20);
        }
        assertThat(server.limitCount(ServerLimit.WRITE_TIMEOUT)).isZero();
    }

    @Test
    void pipelinedRequestsWaitUndecodedWhileAHandlerIsBusy() throws Exception {
        CompletableFuture<Response> slow = new CompletableFuture<>();
        CountDownLatch handling = new CountDownLatch(1);
        int port = start(s -> {
            routes(s);
            s.get("/slow", ctx -> {
                handling.countDown();
                return Task.from(slow);
            });
        });
        Server server = lastServer();
        try (RawClient c = new RawClient(port)) {
            c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50));
            assertThat(handling.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(server.requestCount()).as("only the busy request was decoded").isEqualTo(1);
            slow.complete(Response.text("slow"));
            assertThat(c.read().body()).isEqualTo("slow");
            for (int i = 0; i < 50; i++) {
                assertThat(c.read().body()).isEqualTo("ok");
            }
        }
        assertThat(server.requestCount()).isEqualTo(51);
    }

    @Test
    void aStreamProducerOnAVirtualThreadWaitsForItsClientAndGivesUpAfterTheWriteTimeout() throws Exception {
        AtomicLong written = new AtomicLong();
        CountDownLatch ended = new CountDownLatch(1);
        byte[] chunk = new byte[16 * 1024];
        int port = start(ServerConfig.builder().writeTimeout(Duration.ofMillis(300)).build(), s -> {
            routes(s);
            s.get("/firehose", ctx -> Task.completed(Response.stream("application/octet-stream", out ->
                    Thread.ofVirtual().start(() -> {
                        while (out.isOpen() && written.get() < 64L << 20) { // writes as fast as write() returns
                            out.write(chunk);
                            written.addAndGet(chunk.length);
                        }
                        ended.countDown();
                    }))));
        });
        Server server = lastServer();
        try (Socket s = new Socket()) {
            s.setReceiveBufferSize(4096);
            s.connect(new InetSocketAddress("127.0.0.1", port));
            s.getOutputStream().write("GET /firehose HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(ended.await(10, TimeUnit.SECONDS)).isTrue();
        }
        report("stream to a client that reads nothing: the producer waited, then was stopped after %,d bytes", written.get());
        assertThat(written.get()).as("what the producer got to write before it was stopped").isLessThan(16L << 20);
        assertThat(server.limitCount(ServerLimit.WRITE_TIMEOUT)).isEqualTo(1);
        assertThat(server.limitCount(ServerLimit.RESPONSE_QUEUE)).isZero();
        assertStillServes(port);
    }

    @Test
    void aStreamProducerOnAVirtualThreadKeepsPaceWithASlowReaderWithoutBeingCut() throws Exception {
        long total = 2L << 20;
        byte[] chunk = new byte[16 * 1024];
        int port = start(ServerConfig.builder().writeTimeout(Duration.ofMillis(300)).maxQueuedResponseBytes(128 * 1024)
                .build(), s -> s.get("/stream", ctx -> Task.completed(Response.stream("application/octet-stream", out ->
                Thread.ofVirtual().start(() -> {
                    for (long sent = 0; sent < total && out.isOpen(); sent += chunk.length) {
                        out.write(chunk);
                    }
                    out.close();
                })))));
        Server server = lastServer();
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            byte[] buf = new byte[64 * 1024];
            long read = 0;
            for (int n; (n = in.read(buf)) >= 0; ) {
                read += n;
                TimeUnit.MILLISECONDS.sleep(10); // the slow reader under test
            }
            assertThat(read).isGreaterThan(total);
        }
        assertThat(server.limitCount(ServerLimit.WRITE_TIMEOUT)).isZero();
        assertThat(server.limitCount(ServerLimit.RESPONSE_QUEUE)).isZero();
    }

    @Test
    void aStreamProducerOnTheWorkerThatIgnoresBackpressureIsAbortedAtTheQueueCap() throws Exception {
        AtomicLong written = new AtomicLong();
        AtomicBoolean sawUnwritable = new AtomicBoolean();
        byte[] chunk = new byte[16 * 1024];
        int port = start(ServerConfig.builder().maxQueuedResponseBytes(256 * 1024).build(), s -> {
            routes(s);
            s.get("/firehose", ctx -> Task.completed(Response.stream("application/octet-stream", out -> {
                for (int i = 0; i < 2048 && out.isOpen(); i++) { // up to 32 MiB on the worker, in one go
                    sawUnwritable.compareAndSet(false, !out.isWritable());
                    out.write(chunk);
                    written.addAndGet(chunk.length);
                }
            })));
        });
        Server server = lastServer();
        try (RawClient c = new RawClient(port)) {
            c.send("GET /firehose HTTP/1.1\r\nHost: x\r\n\r\n");
            awaitTrue(() -> server.limitCount(ServerLimit.RESPONSE_QUEUE) == 1, Duration.ofSeconds(5), "the stream is aborted");
        }
        report("stream producer on the worker ignoring a client that reads nothing: aborted after %,d bytes (cap 256 KiB)",
                written.get());
        assertThat(sawUnwritable).as("the producer could have seen the client was behind").isTrue();
        assertThat(written.get()).as("what the kernel's buffers took plus the cap").isLessThan(16L << 20);
        assertStillServes(port);
    }

    // ---------------------------------------------------------------- slow and missing bodies

    @Test
    void aBodyTrickledBelowTheMinimumRateIsAnswered408() throws Exception {
        int port = start(ServerConfig.builder().minBodyRate(1000).bodyRateGracePeriod(Duration.ofMillis(200)).build(),
                this::routes);
        Server server = lastServer();
        try (RawClient c = new RawClient(port)) {
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
            long start = System.nanoTime();
            RawClient.Resp r = null;
            for (int i = 0; i < 200 && r == null; i++) { // one byte every 50 ms: 20 B/s against 1000 B/s
                try {
                    c.send("a");
                } catch (SocketException closed) {
                    break;
                }
                if (c.available() > 0) {
                    r = c.read();
                }
                TimeUnit.MILLISECONDS.sleep(50); // the trickle under test, not a wait for a condition
            }
            if (r == null) {
                r = c.read();
            }
            report("trickled body (20 B/s, minimum 1000 B/s after 200 ms): %d after %d ms", r.status(),
                    (System.nanoTime() - start) / 1_000_000);
            assertThat(r.status()).isEqualTo(408);
            assertThat(r.body()).contains("too slowly");
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(server.limitCount(ServerLimit.BODY_RATE)).isEqualTo(1);
        assertThat(server.bufferedBodyBytes()).isZero();
        assertStillServes(port);
    }

    @Test
    void aDeclaredBodyThatNeverComesIsAnswered408() throws Exception {
        int port = start(ServerConfig.builder().bodyRateGracePeriod(Duration.ofMillis(200)).build(), this::routes);
        Server server = lastServer();
        for (String head : List.of("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n")) {
            try (RawClient c = new RawClient(port)) {
                long start = System.nanoTime();
                RawClient.Resp r = c.send(head).read();
                report("body never sent (%s): %d after %d ms", head.contains("chunked") ? "chunked 7fffffff" : "Content-Length 100",
                        r.status(), (System.nanoTime() - start) / 1_000_000);
                assertThat(r.status()).isEqualTo(408);
                assertThat(c.closedByServer()).isTrue();
            }
        }
        assertThat(server.limitCount(ServerLimit.BODY_RATE)).isEqualTo(2);
        assertStillServes(port);
    }

    @Test
    void aBodyFastEnoughButPastTheRequestDeadlineIsAnswered408() throws Exception {
        int port = start(ServerConfig.builder().minBodyRate(0).requestReadTimeout(Duration.ofMillis(500)).build(),
                this::routes);
        Server server = lastServer();
        try (RawClient c = new RawClient(port)) {
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
            RawClient.Resp r = null;
            for (int i = 0; i < 100 && r == null; i++) { // 10 bytes every 50 ms: would take 5 s
                try {
                    c.send("0123456789");
                } catch (SocketException closed) {
                    break;
                }
                if (c.available() > 0) {
                    r = c.read();
                }
                TimeUnit.MILLISECONDS.sleep(50); // the slow body under test
            }
            if (r == null) {
                r = c.read();
            }
            assertThat(r.status()).isEqualTo(408);
        }
        assertThat(server.limitCount(ServerLimit.REQUEST_TIMEOUT)).isEqualTo(1);
    }

    @Test
    void aSteadyBodyAboveTheMinimumRateIsServed() throws Exception {
        int port = start(ServerConfig.builder().minBodyRate(1000).bodyRateGracePeriod(Duration.ofMillis(200)).build(),
                this::routes);
        Server server = lastServer();
        try (RawClient c = new RawClient(port)) {
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n");
            for (int i = 0; i < 10; i++) { // 200 bytes every 50 ms: 4000 B/s
                c.send("y".repeat(200));
                TimeUnit.MILLISECONDS.sleep(50); // the steady sender under test
            }
            RawClient.Resp r = c.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).hasSize(2000);
        }
        assertThat(server.limitCount(ServerLimit.BODY_RATE)).isZero();
    }

    // ---------------------------------------------------------------- the body budget

    @Test
    void bodiesBeyondTheBudgetGet503WithRetryAfterAndTheBudgetComesBack() throws Exception {
        int port = start(ServerConfig.builder().maxBufferedBodyBytes(256 * 1024).maxBodySize(200 * 1024).build(),
                this::routes);
        Server server = lastServer();
        try (RawClient holder = new RawClient(port)) {
            holder.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 204800\r\n\r\n" + "a".repeat(1000));
            awaitTrue(() -> server.bufferedBodyBytes() == 204800, Duration.ofSeconds(5), "the first body is budgeted");
            try (RawClient second = new RawClient(port)) {
                RawClient.Resp r = second.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 102400\r\n\r\n").read();
                assertThat(r.status()).isEqualTo(503);
                assertThat(r.header("retry-after")).isEqualTo("1");
                assertThat(second.closedByServer()).isTrue();
            }
            try (RawClient chunked = new RawClient(port)) {
                String chunk = Integer.toHexString(30_000) + "\r\n" + "c".repeat(30_000) + "\r\n";
                RawClient.Resp r = chunked.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + chunk.repeat(3)).read();
                assertThat(r.status()).as("a chunked body growing past the budget").isEqualTo(503);
            }
            holder.send("a".repeat(204800 - 1000));
            assertThat(holder.read().status()).isEqualTo(200);
        }
        awaitTrue(() -> server.bufferedBodyBytes() == 0, Duration.ofSeconds(5), "the budget is whole again");
        assertThat(send(port, "POST", "/echo", "b".repeat(102400), "text/plain").statusCode()).isEqualTo(200);
        assertThat(server.limitCount(ServerLimit.BODY_BUDGET)).isEqualTo(2);
        assertThat(server.bufferedBodyBytes()).isZero();
    }

    // ---------------------------------------------------------------- connections

    @Test
    void oneAddressCannotHoldMoreThanItsShareOfConnections() throws Exception {
        int port = start(ServerConfig.builder().maxConnections(100).maxConnectionsPerAddress(5).build(), this::routes);
        Server server = lastServer();
        List<SocketChannel> hog = new ArrayList<>();
        try {
            for (int i = 0; i < 5; i++) {
                hog.add(connectFrom("127.0.0.2", port));
            }
            awaitTrue(() -> server.openConnections() == 5, Duration.ofSeconds(5), "five connections open");
            try (SocketChannel sixth = connectFrom("127.0.0.2", port)) {
                assertThat(closedByServer(sixth)).isTrue();
            }
            assertStillServes(port); // from 127.0.0.1
            assertThat(server.limitCount(ServerLimit.CONNECTIONS_PER_ADDRESS)).isEqualTo(1);
        } finally {
            for (SocketChannel c : hog) {
                c.close();
            }
        }
        awaitTrue(() -> server.openConnections() == 0, Duration.ofSeconds(5), "the hog's connections closed");
        try (SocketChannel again = connectFrom("127.0.0.2", port)) {
            again.write(ByteBuffer.wrap("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
            assertThat(readSome(again)).startsWith("HTTP/1.1 200");
        }
    }

    @Test
    void atTheConnectionCapStalledConnectionsAreShedSoOthersAreServed() throws Exception {
        int cap = 40;
        int port = start(ServerConfig.builder().maxConnections(cap).build(), this::routes);
        Server server = lastServer();
        List<SocketChannel> stalled = new ArrayList<>();
        try {
            for (int i = 0; i < cap; i++) { // slowloris: a head that never ends
                SocketChannel c = connectFrom("127.0.0." + (2 + i % 4), port);
                c.write(ByteBuffer.wrap("GET /ok HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII)));
                stalled.add(c);
            }
            awaitTrue(() -> server.openConnections() == cap, Duration.ofSeconds(5), "the cap is full");
            for (int i = 0; i < 5; i++) {
                assertStillServes(port);
            }
            // shed connections are counted and closed on their own loops, a moment after the newcomer got in
            awaitTrue(() -> server.limitCount(ServerLimit.CONNECTION_SHED) > 0, Duration.ofSeconds(5), "a connection shed");
            awaitTrue(() -> server.openConnections() <= cap, Duration.ofSeconds(5), "back within the cap");
            report("connection cap %d full of stalled heads: 5 of 5 new clients served, %d shed, %d refused",
                    cap, server.limitCount(ServerLimit.CONNECTION_SHED), server.limitCount(ServerLimit.CONNECTIONS));
        } finally {
            for (SocketChannel c : stalled) {
                c.close();
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    /** What every connection of {@code server} holds in memory now (read on each connection's loop). */
    static long heldBytes(Server server) throws Exception {
        long sum = 0;
        for (Http1Connection c : server.connections.open()) {
            sum += c.executor().submit(c::heldBytes).get(5, TimeUnit.SECONDS);
        }
        return sum;
    }

    static void awaitTrue(BooleanSupplier condition, Duration limit, String what) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting until " + what);
            }
            TimeUnit.MILLISECONDS.sleep(10);
        }
    }

    static SocketChannel connectFrom(String localAddress, int port) throws IOException {
        SocketChannel c = SocketChannel.open();
        c.bind(new InetSocketAddress(localAddress, 0));
        c.connect(new InetSocketAddress("127.0.0.1", port));
        return c;
    }

    /** Whether the server closed the connection within 5 s (EOF or reset). */
    static boolean closedByServer(SocketChannel c) throws IOException {
        c.socket().setSoTimeout(5000);
        try {
            return c.socket().getInputStream().read() == -1;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (SocketException e) {
            return true;
        }
    }

    static String readSome(SocketChannel c) throws IOException {
        c.socket().setSoTimeout(5000);
        byte[] buf = new byte[4096];
        int n = c.socket().getInputStream().read(buf);
        return n <= 0 ? "" : new String(buf, 0, n, StandardCharsets.ISO_8859_1);
    }

    /** A client that writes pipelined requests as fast as the server takes them and never reads. */
    static final class Pipeliner implements AutoCloseable {
        private final SocketChannel channel;
        private final ByteBuffer batch;
        private final int requestBytes;

        private Pipeliner(SocketChannel channel, String request) {
            this.channel = channel;
            byte[] one = request.getBytes(StandardCharsets.US_ASCII);
            this.requestBytes = one.length;
            int n = 64 * 1024 / one.length;
            ByteBuffer b = ByteBuffer.allocate(n * one.length);
            for (int i = 0; i < n; i++) {
                b.put(one);
            }
            this.batch = b.flip();
        }

        static Pipeliner connect(int port, String request) throws IOException {
            SocketChannel c = SocketChannel.open();
            c.socket().setReceiveBufferSize(4096); // a small window: the server's sends back up sooner
            c.connect(new InetSocketAddress("127.0.0.1", port));
            c.configureBlocking(false);
            return new Pipeliner(c, request);
        }

        int requestBytes() {
            return requestBytes;
        }

        /** Writes until the server took nothing for {@code quiet}, or {@code limit} passed; returns the bytes sent. */
        long sendUntilStalled(Duration quiet, Duration limit) throws IOException, InterruptedException {
            long sent = 0;
            long start = System.nanoTime();
            long lastProgress = start;
            while (System.nanoTime() - start < limit.toNanos()) {
                if (!batch.hasRemaining()) {
                    batch.rewind();
                }
                int n;
                try {
                    n = channel.write(batch);
                } catch (IOException reset) {
                    break; // the server gave up on us first: as stalled as it gets
                }
                long now = System.nanoTime();
                if (n > 0) {
                    sent += n;
                    lastProgress = now;
                } else if (now - lastProgress > quiet.toNanos()) {
                    break;
                } else {
                    TimeUnit.MILLISECONDS.sleep(5); // the socket is full: poll it again shortly
                }
            }
            return sent;
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
