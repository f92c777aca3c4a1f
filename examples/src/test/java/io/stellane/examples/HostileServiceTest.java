package io.stellane.examples;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The example service, as {@code ./stellane serve} runs it with its default limits, in a child JVM,
 * against the clients that used to take it down: ten thousand stalled connections, one address
 * hogging connections, a pipelining client that never reads, three hundred 4 MiB uploads at once.
 * Each test prints what it measured; loopback only (clients bind 127.0.0.2 and up to look like other
 * hosts), bounded in count and time.
 */
class HostileServiceTest {
    private static final Pattern METRIC = Pattern.compile("^([a-z_]+)(\\{[^}]*})? ([0-9.eE+-]+)$");

    @TempDir
    Path tmp;
    private ChildApp child;
    private int port;
    private int management;

    /**
     * A fixed heap, touched at start, as servers run in production: what is measured is then the
     * server's memory and workers. (CI runs in a virtual machine where first-touching fresh memory
     * runs at a few hundred MB/s: a heap that grows under load stalls every thread of the process,
     * which says nothing about the server.)
     */
    private static final List<String> JVM = List.of("-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch");

    @BeforeEach
    void startService() throws Exception {
        child = ChildApp.withJvmOptions(JVM, tmp.resolve("child-tmp"), "--host", "127.0.0.1", "--port", "0", "--management-port", "0",
                "--data-dir", tmp.resolve("data").toString());
        port = child.port();
        management = child.managementPort();
    }

    @AfterEach
    void stopService() throws Exception {
        child.kill();
    }

    // ---------------------------------------------------------------- connections

    @Test
    void tenThousandStalledConnectionsFromTenAddressesDoNotKeepOthersFromBeingServed() throws Exception {
        List<SocketChannel> stalled = new ArrayList<>();
        try {
            long start = System.nanoTime();
            for (int i = 0; i < 10_000; i++) {
                SocketChannel c = connectFrom("127.0.0." + (2 + i % 10));
                // half a slowloris head, half a POST whose declared body never comes
                c.write(ByteBuffer.wrap((i % 2 == 0 ? "GET /plaintext HTTP/1.1\r\nHost: x\r\n"
                        : "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n").getBytes(StandardCharsets.US_ASCII)));
                stalled.add(c);
            }
            long opened = (System.nanoTime() - start) / 1_000_000;
            Probe probe = probe(50);
            Map<String, Double> m = metrics();
            System.out.printf("hostile service: 10,000 stalled connections opened in %d ms from 10 addresses; "
                            + "%d of 50 probes served (slowest %d ms); server: %.0f open, %.0f shed, %.0f refused%n",
                    opened, probe.served, probe.slowestMillis, m.getOrDefault("stellane_http_server_connections_active", 0.0),
                    limit(m, "connection_shed"), limit(m, "connections"));
            assertThat(probe.served).as("probes served while the stalled connections are held").isEqualTo(50);
        } finally {
            closeAll(stalled);
        }
    }

    @Test
    void oneAddressGetsItsShareOfConnectionsAndNoMore() throws Exception {
        List<SocketChannel> hog = new ArrayList<>();
        try {
            for (int i = 0; i < 10_000; i++) {
                hog.add(connectFrom("127.0.0.2"));
            }
            Probe probe = probe(20);
            Map<String, Double> m = metrics();
            double open = m.getOrDefault("stellane_http_server_connections_active", 0.0);
            System.out.printf("hostile service: one address opened 10,000 connections: %.0f kept, %.0f refused; "
                    + "%d of 20 probes from another address served%n", open, limit(m, "connections_per_address"), probe.served);
            assertThat(probe.served).isEqualTo(20);
            assertThat(open).as("connections kept from one address (the probe's own may still be counted)")
                    .isLessThanOrEqualTo(1_001);
            assertThat(limit(m, "connections_per_address")).isGreaterThanOrEqualTo(9_000);
        } finally {
            closeAll(hog);
        }
    }

    // ---------------------------------------------------------------- memory

    @Test
    void clientsThatPipelineAndNeverReadLeaveTheServersMemoryBounded() throws Exception {
        for (int i = 0; i < 200; i++) { // /users?limit=1000 then answers ~20 KiB of JSON
            assertThat(UsersServiceTest.call(port, "POST", "/users",
                    "{\"name\":\"user " + i + "\",\"email\":\"u" + i + "@example.com\"}").statusCode()).isEqualTo(201);
        }
        long before = rssAnonKiB();
        List<Thread> floods = new ArrayList<>();
        long[] sent = new long[4];
        for (int i = 0; i < sent.length; i++) {
            String path = i % 2 == 0 ? "/plaintext" : "/users?limit=1000";
            int n = i;
            floods.add(Thread.ofPlatform().start(() -> sent[n] = flood(path, Duration.ofSeconds(10))));
        }
        Probe probe = probe(20);
        for (Thread t : floods) {
            t.join();
        }
        long after = rssAnonKiB();
        long total = 0;
        for (long s : sent) {
            total += s;
        }
        System.out.printf("hostile service: 4 clients pipelined %,d bytes of requests for 10 s and read nothing; "
                        + "server anonymous memory %,d KiB -> %,d KiB; %d of 20 probes served meanwhile%n",
                total, before, after, probe.served);
        assertThat(probe.served).isEqualTo(20);
        assertThat(after - before).as("anonymous memory the floods cost the server, KiB").isLessThan(256 * 1024);
    }

    @Test
    void threeHundredConcurrentLargeBodiesStayWithinTheBudgetAndNoWorkerBlocks() throws Exception {
        byte[] body = new byte[4 << 20];
        long before = rssAnonKiB();
        Map<Integer, Integer> statuses = new TreeMap<>();
        List<String> retryAfter = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
             HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(threads)
                     .connectTimeout(Duration.ofSeconds(10)).build()) {
            List<CompletableFuture<HttpResponse<Void>>> calls = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                calls.add(client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/echo"))
                        .timeout(Duration.ofSeconds(60))
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.discarding()));
            }
            for (CompletableFuture<HttpResponse<Void>> call : calls) {
                int status;
                try {
                    HttpResponse<Void> r = call.get(90, TimeUnit.SECONDS);
                    status = r.statusCode();
                    if (status == 503) {
                        retryAfter.add(r.headers().firstValue("Retry-After").orElse(""));
                    }
                } catch (java.util.concurrent.ExecutionException e) {
                    status = -1; // no answer at all: the connection was reset under the client
                }
                statuses.merge(status, 1, Integer::sum);
            }
        }
        long after = rssAnonKiB();
        Map<String, Double> m = metrics();
        double blocked = m.entrySet().stream().filter(e -> e.getKey().startsWith("stellane_workers_blocked_total"))
                .mapToDouble(Map.Entry::getValue).sum();
        String reports = blockedReports();
        System.out.printf("hostile service: 300 concurrent 4 MiB POST /echo: statuses %s; %.0f over the body budget; "
                        + "server anonymous memory %,d KiB -> %,d KiB; "
                        + "blocked-worker episodes %.0f%s%n",
                statuses, limit(m, "body_budget"), before, after, blocked, reports.isEmpty() ? "" : ":\n" + reports);
        assertThat(statuses.keySet()).as("answers: the echo, or 503 over the budget (never a reset)").isSubsetOf(200, 503);
        assertThat(statuses.getOrDefault(200, 0)).isPositive();
        assertThat(retryAfter).containsOnly("1");
        // what used to hold the workers for seconds: journal appends of the bodies, and waits for direct
        // memory. A worker late by a second under this storm on two shared CPUs is reported too, so the
        // check is on where the workers were, not on whether they were ever late
        assertThat(reports).as("workers held by the journal or by memory").doesNotContain("io.stellane.recovery",
                "Bits.reserveMemory");
        assertThat(after - before).as("anonymous memory the uploads cost the server, KiB").isLessThan(2L * 1024 * 1024);
        assertThat(UsersServiceTest.call(port, "GET", "/plaintext", null).statusCode()).isEqualTo(200);
    }

    // ---------------------------------------------------------------- helpers

    /** The child's blocked-worker reports with their stacks. */
    private String blockedReports() {
        StringBuilder sb = new StringBuilder();
        boolean in = false;
        for (String line : child.outputSoFar()) {
            if (line.contains("has been blocked")) {
                in = true;
            } else if (in && !line.startsWith("\t") && !line.startsWith("  ")) {
                in = false;
            }
            if (in) {
                sb.append(line).append('\n');
            }
        }
        return sb.toString();
    }

    private record Probe(int served, long slowestMillis) {
    }

    /** {@code n} requests on fresh connections from 127.0.0.1, each with a 10 s read timeout. */
    private Probe probe(int n) {
        int served = 0;
        long slowest = 0;
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.setSoTimeout(10_000);
                s.getOutputStream().write("GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
                if (answer.startsWith("HTTP/1.1 200") && answer.endsWith("Hello, World!")) {
                    served++;
                }
            } catch (IOException e) {
                // not served
            }
            slowest = Math.max(slowest, (System.nanoTime() - t0) / 1_000_000);
        }
        return new Probe(served, slowest);
    }

    /** Pipelines {@code path} as fast as the server takes it for {@code time}, reading nothing; returns bytes sent. */
    private long flood(String path, Duration time) {
        byte[] one = ("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        ByteBuffer batch = ByteBuffer.allocate(one.length * (16 * 1024 / one.length));
        while (batch.remaining() >= one.length) {
            batch.put(one);
        }
        batch.flip();
        long sent = 0;
        try (SocketChannel c = SocketChannel.open()) {
            c.socket().setReceiveBufferSize(4096);
            c.connect(new InetSocketAddress("127.0.0.1", port));
            c.configureBlocking(false);
            long end = System.nanoTime() + time.toNanos();
            while (System.nanoTime() < end) {
                if (!batch.hasRemaining()) {
                    batch.rewind();
                }
                int n = c.write(batch);
                if (n == 0) {
                    TimeUnit.MILLISECONDS.sleep(5); // the server stopped taking bytes: poll again shortly
                }
                sent += n;
            }
        } catch (IOException e) {
            // reset by the server: the flood is over
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return sent;
    }

    private SocketChannel connectFrom(String address) throws IOException {
        SocketChannel c = SocketChannel.open();
        c.bind(new InetSocketAddress(address, 0));
        c.connect(new InetSocketAddress("127.0.0.1", port));
        return c;
    }

    private static void closeAll(List<SocketChannel> channels) {
        for (SocketChannel c : channels) {
            try {
                c.close();
            } catch (IOException ignored) {
                // closing a socket the server reset
            }
        }
    }

    /** The child's anonymous resident memory (heap, direct buffers, thread stacks; not mapped journal files). */
    private long rssAnonKiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(child.process.pid()), "status"))) {
            if (line.startsWith("RssAnon:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        throw new IOException("no RssAnon in /proc/" + child.process.pid() + "/status");
    }

    /** The management port's Prometheus text as name{labels} -> value. */
    private Map<String, Double> metrics() throws Exception {
        Map<String, Double> out = new TreeMap<>();
        String text = UsersServiceTest.call(management, "GET", "/metrics", null).body();
        for (String line : text.split("\n")) {
            Matcher m = METRIC.matcher(line);
            if (m.matches()) {
                out.put(m.group(1) + (m.group(2) == null ? "" : m.group(2)), Double.parseDouble(m.group(3)));
            }
        }
        return out;
    }

    private static double limit(Map<String, Double> metrics, String label) {
        return metrics.getOrDefault("stellane_http_server_limits_total{limit=\"" + label + "\"}", 0.0);
    }
}
