package io.stellane.server;

import io.stellane.config.ConfigException;
import io.stellane.server.testing.TestPki;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * HTTPS end to end, subclassed per TLS engine: real clients (the JDK's {@code HttpClient}, curl, raw
 * TLS sockets), client certificates, certificate rotation under load, the handshake timeout, and
 * journaled requests. Certificates are made per class by {@link TestPki}.
 */
abstract class TlsSuite extends ServerTestBase {
    static TestPki.Issued ca;
    static TestPki.Issued otherCa;

    @TempDir
    Path dir;

    private final List<AutoCloseable> closeAfter = new ArrayList<>();

    /** The engine this suite runs on. */
    abstract TlsConfig.Engine engine();

    /** The engine's name as the server reports it. */
    abstract String engineName();

    @Override
    String backend() {
        return "auto";
    }

    @BeforeAll
    static void makeCas() {
        ca = TestPki.ca("Stellane test CA");
        otherCa = TestPki.ca("Another CA");
    }

    @AfterEach
    void closeClients() throws Exception {
        for (AutoCloseable c : closeAfter) {
            c.close();
        }
    }

    // ---------------------------------------------------------------- helpers

    /** TLS with a fresh server certificate from {@link #ca}, on this suite's engine. */
    TlsConfig.Builder tls(TestPki.Issued server) {
        return TlsConfig.of(server.writeCert(dir.resolve("server.pem")), server.writeKey(dir.resolve("server.key")))
                .toBuilder().engine(engine());
    }

    int startTls(TlsConfig tls, java.util.function.Consumer<Server> routes) {
        return start(ServerConfig.builder().tls(tls).build(), routes);
    }

    static void hello(Server s) {
        s.get("/hello", ctx -> Task.completed(Response.text("hello")));
        s.get("/protocol", ctx -> Task.completed(Response.text(ctx.request().protocol())));
        s.post("/echo", ctx -> Task.completed(Response.text(ctx.request().bodyString())));
    }

    HttpClient client(SSLContext ssl, HttpClient.Version version) {
        HttpClient c = HttpClient.newBuilder().sslContext(ssl).version(version).connectTimeout(Duration.ofSeconds(5)).build();
        closeAfter.add(c);
        return c;
    }

    static HttpResponse<String> get(HttpClient c, int port, String path) throws IOException, InterruptedException {
        return c.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static BigInteger servedSerial(HttpResponse<?> r) throws IOException {
        return ((X509Certificate) r.sslSession().orElseThrow().getPeerCertificates()[0]).getSerialNumber();
    }

    SSLSocket tlsSocket(int port, SSLContext ssl) throws IOException {
        SSLSocket s = (SSLSocket) ssl.getSocketFactory().createSocket("127.0.0.1", port);
        s.setSoTimeout(10_000);
        closeAfter.add(s);
        return s;
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            Thread.sleep(10);
        }
    }

    /** Whether the peer closed the connection (EOF or reset) before {@code socket}'s read timeout. */
    static boolean closedByPeer(Socket socket) throws IOException {
        try {
            InputStream in = socket.getInputStream();
            return in.read() == -1;
        } catch (SocketException e) {
            return true;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (javax.net.ssl.SSLException e) {
            return true; // an alert, then the close
        }
    }

    // ---------------------------------------------------------------- clients

    @Test
    void theJdkClientGetsHttpsAndAlpnSettlesOnH2() throws Exception {
        TestPki.Issued cert = TestPki.server(ca);
        int port = startTls(tls(cert).build(), TlsSuite::hello);
        assertThat(lastServer().tlsContext().engine()).isEqualTo(engineName());

        HttpClient c = client(TestPki.clientContext(ca, null), HttpClient.Version.HTTP_2);
        HttpResponse<String> r = get(c, port, "/protocol");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
        assertThat(r.body()).isEqualTo("HTTP/2.0");
        assertThat(servedSerial(r)).isEqualTo(cert.serial());
        // a body bigger than the stream's initial window, and several streams at once on the one connection
        List<CompletableFuture<HttpResponse<String>>> echoes = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            echoes.add(c.sendAsync(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/echo"))
                    .POST(HttpRequest.BodyPublishers.ofString(i + "x".repeat(100_000))).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < 8; i++) {
            HttpResponse<String> echo = echoes.get(i).get(20, TimeUnit.SECONDS);
            assertThat(echo.version()).isEqualTo(HttpClient.Version.HTTP_2);
            assertThat(echo.body()).hasSize(100_001).startsWith(Integer.toString(i));
        }
        assertThat(lastServer().openConnections()).as("one connection carried every stream").isEqualTo(1);
    }

    @Test
    void aClientOfferingOnlyHttp11GetsHttp11() throws Exception {
        int port = startTls(tls(TestPki.server(ca)).build(), TlsSuite::hello);
        HttpResponse<String> r = get(client(TestPki.clientContext(ca, null), HttpClient.Version.HTTP_1_1), port, "/protocol");
        assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
        assertThat(r.body()).isEqualTo("HTTP/1.1");
    }

    @Test
    void curlGetsHttpsWithHttp11AndWithH2NegotiatedOverAlpn() throws Exception {
        TestPki.Issued cert = TestPki.server(ca);
        int port = startTls(tls(cert).build(), TlsSuite::hello);
        Path caFile = ca.writeCert(dir.resolve("ca.pem"));

        assertThat(curl("--http1.1", caFile, port)).as("curl's output").isEqualTo("from curl\n1.1 0");
        assertThat(curl("--http2", caFile, port)).as("curl's output").isEqualTo("from curl\n2 0");
    }

    private static String curl(String version, Path caFile, int port) throws Exception {
        Process p = new ProcessBuilder("curl", "-sS", version, "--max-time", "20", "--cacert", caFile.toString(),
                "-w", "\n%{http_version} %{ssl_verify_result}", "-d", "from curl",
                "https://127.0.0.1:" + port + "/echo").redirectErrorStream(true).start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    @Test
    void pipelinedRequestsOverOneTlsConnectionAreAnsweredInOrder() throws Exception {
        int port = startTls(tls(TestPki.server(ca)).build(), s -> s.get("/n/{n}",
                ctx -> Task.completed(Response.text("r" + ctx.paramInt("n")))));
        try (RawClient c = new RawClient(tlsSocket(port, TestPki.clientContext(ca, null)))) {
            StringBuilder batch = new StringBuilder();
            for (int i = 0; i < 8; i++) {
                batch.append("GET /n/").append(i).append(" HTTP/1.1\r\nHost: x\r\n\r\n");
            }
            c.send(batch.toString());
            for (int i = 0; i < 8; i++) {
                assertThat(c.read().body()).isEqualTo("r" + i);
            }
        }
    }

    @Test
    void onlyTlsConnectionsCarryTlsHandlersAndTheHandshakeWatchLeavesOnceItIsDone() throws Exception {
        int cleartext = start(TlsSuite::hello);
        Server plain = lastServer();
        int port = startTls(tls(TestPki.server(ca)).build(), TlsSuite::hello);
        Server secure = lastServer();
        try (RawClient c = new RawClient(cleartext);
             RawClient t = new RawClient(tlsSocket(port, TestPki.clientContext(ca, null)))) {
            assertThat(c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").read().body()).isEqualTo("hello");
            assertThat(t.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").read().body()).isEqualTo("hello");
            List<Class<?>> plainHandlers = onLoop(plain.connections.open().iterator().next());
            assertThat(plainHandlers).containsExactly(RequestDecoder.class,
                    io.netty.handler.codec.http.HttpResponseEncoder.class, Http1Connection.class);
            List<Class<?>> tlsHandlers = onLoop(secure.connections.open().iterator().next());
            assertThat(tlsHandlers).containsExactly(io.netty.handler.ssl.SslHandler.class, RequestDecoder.class,
                    io.netty.handler.codec.http.HttpResponseEncoder.class, Http1Connection.class);
        }
    }

    private static List<Class<?>> onLoop(Http1Connection c) throws Exception {
        return c.executor().submit(c::handlerTypes).get(10, TimeUnit.SECONDS);
    }

    @Test
    void aPlainHttpRequestToATlsListenerIsNotServed() throws Exception {
        int port = startTls(tls(TestPki.server(ca)).build(), TlsSuite::hello);
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            byte[] answer = s.getInputStream().readNBytes(5);
            assertThat(new String(answer, StandardCharsets.US_ASCII)).doesNotStartWith("HTTP/");
        } catch (SocketException reset) {
            // closed without a word: also not served
        }
        assertThat(lastServer().requestCount()).isZero();
    }

    // ---------------------------------------------------------------- client certificates

    @Test
    void requiredClientCertificatesAdmitClientsOfTheCaAndRefuseTheOthers() throws Exception {
        Path caFile = ca.writeCert(dir.resolve("client-ca.pem"));
        TlsConfig tls = tls(TestPki.server(ca)).clientAuth(TlsConfig.ClientAuth.REQUIRED, caFile).build();
        int port = startTls(tls, TlsSuite::hello);

        HttpClient good = client(TestPki.clientContext(ca, TestPki.client(ca, "alice")), HttpClient.Version.HTTP_1_1);
        assertThat(get(good, port, "/hello").body()).isEqualTo("hello");

        HttpClient none = client(TestPki.clientContext(ca, null), HttpClient.Version.HTTP_1_1);
        assertThatThrownBy(() -> get(none, port, "/hello")).as("no client certificate").isInstanceOf(IOException.class);

        HttpClient stranger = client(TestPki.clientContext(ca, TestPki.client(otherCa, "mallory")), HttpClient.Version.HTTP_1_1);
        assertThatThrownBy(() -> get(stranger, port, "/hello")).as("a certificate of another CA").isInstanceOf(IOException.class);

        assertThat(lastServer().requestCount()).isEqualTo(1);
    }

    @Test
    void curlWithAClientCertificateIsServedWhereOneIsRequired() throws Exception {
        Path caFile = ca.writeCert(dir.resolve("client-ca.pem"));
        int port = startTls(tls(TestPki.server(ca)).clientAuth(TlsConfig.ClientAuth.REQUIRED, caFile).build(), TlsSuite::hello);
        TestPki.Issued alice = TestPki.client(ca, "alice");
        Path cert = alice.writeCert(dir.resolve("alice.pem"));
        Path key = alice.writeKey(dir.resolve("alice.key"));

        Process with = new ProcessBuilder("curl", "-sS", "--max-time", "20", "--cacert", caFile.toString(), "--cert",
                cert.toString(), "--key", key.toString(), "https://127.0.0.1:" + port + "/hello").redirectErrorStream(true).start();
        assertThat(with.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(new String(with.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("hello");

        Process without = new ProcessBuilder("curl", "-sS", "--max-time", "20", "--cacert", caFile.toString(),
                "https://127.0.0.1:" + port + "/hello").redirectErrorStream(true).start();
        assertThat(without.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(without.exitValue()).as("curl without a client certificate").isNotZero();
    }

    @Test
    void optionalClientCertificatesServeClientsWithoutOneButNotWithAForeignOne() throws Exception {
        Path caFile = ca.writeCert(dir.resolve("client-ca.pem"));
        int port = startTls(tls(TestPki.server(ca)).clientAuth(TlsConfig.ClientAuth.OPTIONAL, caFile).build(), TlsSuite::hello);

        assertThat(get(client(TestPki.clientContext(ca, null), HttpClient.Version.HTTP_1_1), port, "/hello").body())
                .isEqualTo("hello");
        assertThat(get(client(TestPki.clientContext(ca, TestPki.client(ca, "bob")), HttpClient.Version.HTTP_1_1), port,
                "/hello").body()).isEqualTo("hello");
        HttpClient stranger = client(TestPki.clientContext(ca, TestPki.client(otherCa, "mallory")), HttpClient.Version.HTTP_1_1);
        assertThatThrownBy(() -> get(stranger, port, "/hello")).isInstanceOf(IOException.class);
    }

    @Test
    void updateConfigAppliesNewTlsSettingsToNewHandshakesAndABadFileChangesNothing() throws Exception {
        TlsConfig open = tls(TestPki.server(ca)).build();
        int port = startTls(open, TlsSuite::hello);
        Server server = lastServer();
        HttpClient anonymous = client(TestPki.clientContext(ca, null), HttpClient.Version.HTTP_1_1);
        assertThat(get(anonymous, port, "/hello").statusCode()).isEqualTo(200);

        ServerConfig broken = server.config().toBuilder()
                .tls(open.toBuilder().certificate(dir.resolve("missing.pem")).build()).build();
        assertThatThrownBy(() -> server.updateConfig(broken)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("missing.pem").hasMessageContaining("cannot be read");
        assertThat(server.config().tls()).isEqualTo(open);

        Path caFile = ca.writeCert(dir.resolve("client-ca.pem"));
        ServerConfig required = server.config().toBuilder()
                .tls(open.toBuilder().clientAuth(TlsConfig.ClientAuth.REQUIRED, caFile).build()).build();
        assertThat(server.updateConfig(required)).extracting(c -> c.key())
                .containsExactly("server.tls.client_auth", "server.tls.client_ca");

        HttpClient stillAnonymous = client(TestPki.clientContext(ca, null), HttpClient.Version.HTTP_1_1);
        assertThatThrownBy(() -> get(stillAnonymous, port, "/hello")).isInstanceOf(IOException.class);
        HttpClient carol = client(TestPki.clientContext(ca, TestPki.client(ca, "carol")), HttpClient.Version.HTTP_1_1);
        assertThat(get(carol, port, "/hello").statusCode()).isEqualTo(200);
    }

    // ---------------------------------------------------------------- rotation

    @Test
    void aRotatedCertificateReachesNewConnectionsWhileALoadRunsWithoutAFailedRequest() throws Exception {
        TestPki.Issued first = TestPki.server(ca);
        TlsConfig tls = tls(first).reloadInterval(Duration.ofMillis(50)).build();
        int port = startTls(tls, TlsSuite::hello);
        Server server = lastServer();
        SSLContext trust = TestPki.clientContext(ca, null);

        HttpClient kept = client(trust, HttpClient.Version.HTTP_1_1);
        assertThat(servedSerial(get(kept, port, "/hello"))).isEqualTo(first.serial());

        Set<BigInteger> seen = ConcurrentHashMap.newKeySet();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicReference<BigInteger> lastSeen = new AtomicReference<>();
        List<Thread> load = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            load.add(Thread.ofVirtual().start(() -> {
                while (running.get()) {
                    // a new client per request: a new connection, a new handshake
                    try (HttpClient c = HttpClient.newBuilder().sslContext(trust).version(HttpClient.Version.HTTP_1_1).build()) {
                        HttpResponse<String> r = get(c, port, "/hello");
                        if (r.statusCode() != 200) {
                            failures.add(new AssertionError("status " + r.statusCode()));
                        }
                        BigInteger serial = servedSerial(r);
                        seen.add(serial);
                        lastSeen.set(serial);
                    } catch (Exception e) {
                        failures.add(e);
                    }
                }
            }));
        }
        await("load on the first certificate", () -> seen.contains(first.serial()) && failures.isEmpty());

        TestPki.Issued second = TestPki.server(ca);
        second.writeKey(tls.privateKey()); // the key first: the reload in between fails and keeps the old pair
        Thread.sleep(120);
        second.writeCert(tls.certificate());
        await("the new certificate in use", () -> server.tlsContext().certificate().getSerialNumber().equals(second.serial()));
        await("new connections served with the new certificate", () -> second.serial().equals(lastSeen.get()));
        running.set(false);
        for (Thread t : load) {
            t.join(TimeUnit.SECONDS.toMillis(20));
        }

        assertThat(failures).as("requests of the load that failed").isEmpty();
        assertThat(seen).contains(first.serial(), second.serial());
        // the connection opened before the rotation keeps its session
        assertThat(servedSerial(get(kept, port, "/hello"))).isEqualTo(first.serial());
        assertThat(servedSerial(get(client(trust, HttpClient.Version.HTTP_1_1), port, "/hello"))).isEqualTo(second.serial());
    }

    @Test
    void anExpiredCertificateWrittenOverTheFilesIsNotLoaded() throws Exception {
        TestPki.Issued first = TestPki.server(ca);
        TlsConfig tls = tls(first).reloadInterval(Duration.ofMillis(50)).build();
        int port = startTls(tls, TlsSuite::hello);
        Server server = lastServer();

        var keys = TestPki.ecKeys();
        TestPki.Issued expired = TestPki.server(ca, TestPki.serial(), Instant.now().minus(Duration.ofDays(3)),
                Instant.now().minus(Duration.ofDays(1)), keys);
        expired.writeKey(tls.privateKey());
        expired.writeCert(tls.certificate());
        // a later good pair shows the watcher looked at the bad one and went on
        Thread.sleep(300);
        assertThat(server.tlsContext().certificate().getSerialNumber()).isEqualTo(first.serial());
        assertThat(servedSerial(get(client(TestPki.clientContext(ca, null), HttpClient.Version.HTTP_1_1), port, "/hello")))
                .isEqualTo(first.serial());

        TestPki.Issued third = TestPki.server(ca);
        third.writeKey(tls.privateKey());
        third.writeCert(tls.certificate());
        await("the valid certificate after the expired one", () ->
                server.tlsContext().certificate().getSerialNumber().equals(third.serial()));
    }

    // ---------------------------------------------------------------- limits

    @Test
    void aClientThatNeverFinishesItsHandshakeIsClosedAndCounted() throws Exception {
        TlsConfig tls = tls(TestPki.server(ca)).handshakeTimeout(Duration.ofMillis(300)).build();
        int port = start(ServerConfig.builder().tls(tls).headerReadTimeout(Duration.ofSeconds(60)).build(), TlsSuite::hello);
        long before = System.nanoTime();
        try (Socket silent = new Socket("127.0.0.1", port)) {
            silent.setSoTimeout(10_000);
            assertThat(closedByPeer(silent)).isTrue();
        }
        assertThat(System.nanoTime() - before).as("closed by the handshake timeout, not the header timeout")
                .isLessThan(TimeUnit.SECONDS.toNanos(30));
        await("the limit counted", () -> lastServer().limitCount(ServerLimit.TLS_HANDSHAKE_TIMEOUT) == 1);
        assertThat(lastServer().limitCount(ServerLimit.HEADER_TIMEOUT)).isZero();
        await("the connection released", () -> lastServer().openConnections() == 0);
    }

    @Test
    void afterTheHandshakeTheHeaderTimeoutApplies() throws Exception {
        TlsConfig tls = tls(TestPki.server(ca)).handshakeTimeout(Duration.ofSeconds(60)).build();
        int port = start(ServerConfig.builder().tls(tls).headerReadTimeout(Duration.ofMillis(300)).build(), TlsSuite::hello);
        SSLSocket s = tlsSocket(port, TestPki.clientContext(ca, null));
        s.startHandshake();
        assertThat(closedByPeer(s)).isTrue();
        await("the limit counted", () -> lastServer().limitCount(ServerLimit.HEADER_TIMEOUT) == 1);
        assertThat(lastServer().limitCount(ServerLimit.TLS_HANDSHAKE_TIMEOUT)).isZero();
    }

    @Test
    void aSlowButFinishedHandshakeIsServed() throws Exception {
        // the handshake timeout bounds the handshake only: a request sent well after it is not cut off by it
        TlsConfig tls = tls(TestPki.server(ca)).handshakeTimeout(Duration.ofMillis(300)).build();
        int port = startTls(tls, TlsSuite::hello);
        SSLSocket s = tlsSocket(port, TestPki.clientContext(ca, null));
        SSLParameters p = s.getSSLParameters();
        p.setApplicationProtocols(new String[]{"http/1.1"});
        s.setSSLParameters(p);
        s.startHandshake();
        assertThat(s.getApplicationProtocol()).isEqualTo("http/1.1");
        Thread.sleep(600);
        try (RawClient c = new RawClient(s)) {
            assertThat(c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").read().body()).isEqualTo("hello");
        }
        assertThat(lastServer().limitCount(ServerLimit.TLS_HANDSHAKE_TIMEOUT)).isZero();
    }

    // ---------------------------------------------------------------- request recovery

    @Test
    void requestsOverHttpsAreJournaledAsOverHttp() throws Exception {
        RecoveryManager m = new RecoveryManager(RecoveryStores.create("mmap",
                RecoveryStoreConfig.defaults(dir.resolve("journal")).withSegmentSize(1 << 20)));
        closeAfter.add(m::close);
        AtomicReference<PendingRequest> seen = new AtomicReference<>();
        int port = startTls(tls(TestPki.server(ca)).build(), s -> s.enableRequestRecovery(m)
                .postBlocking("/orders", ctx -> {
                    seen.set(m.store().pending().stream()
                            .filter(p -> p.requestId().equals(ctx.requestId())).findFirst().orElse(null));
                    return Response.ok(ctx.requestId());
                }));
        HttpClient c = client(TestPki.clientContext(ca, null), HttpClient.Version.HTTP_1_1);
        HttpResponse<String> r = c.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/orders?x=1"))
                .header("Idempotency-Key", "k-1").POST(HttpRequest.BodyPublishers.ofString("order-1")).build(),
                HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).isEqualTo(200);
        PendingRequest p = seen.get();
        assertThat(p).as("the request pending in the journal while its handler ran").isNotNull();
        assertThat(p.requestId()).isEqualTo(r.body());
        assertThat(p.request().target()).isEqualTo("/orders?x=1");
        assertThat(p.request().body()).isEqualTo("order-1".getBytes(StandardCharsets.UTF_8));
        assertThat(p.request().idempotencyKey()).isEqualTo("k-1");
        await("completed in the journal", () -> m.store().pending().isEmpty());
    }
}
