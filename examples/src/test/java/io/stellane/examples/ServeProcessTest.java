package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import io.stellane.server.testing.TestPki;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * What {@code ./stellane serve} does, in a child JVM (the same java binary, the test classpath, the
 * launcher's JVM flags): it starts, prints the banner with both URLs, answers, and stops gracefully on SIGTERM.
 */
class ServeProcessTest {
    @TempDir
    Path tmp;
    private ChildApp child;

    @AfterEach
    void killChild() throws Exception {
        if (child != null) {
            child.kill();
        }
    }

    @Test
    void serveStartsAnswersAndStopsGracefullyOnSigterm() throws Exception {
        Path config = tmp.resolve("stellane.toml");
        Files.writeString(config, """
                [runtime]
                worker_threads = 2
                [runtime.recovery]
                enabled = true
                backend = "mmap"
                [server]
                host = "127.0.0.1"
                port = 8080
                """);
        Path dataDir = tmp.resolve("data");
        child = new ChildApp(tmp.resolve("child-tmp"), "--config", config.toString(), "--port", "0",
                "--management-port", "0", "--backend", "nio", "--data-dir", dataDir.toString());

        int port = child.port();
        int managementPort = child.managementPort();
        child.awaitLine(Pattern.compile("recovery mmap at " + Pattern.quote(dataDir.resolve("journal").toString())
                + ", 0 request\\(s\\) recovered"), 5);

        HttpResponse<String> missing = UsersServiceTest.call(port, "GET", "/users/1", null);
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(UsersServiceTest.json(missing).path("error").asText()).isNotBlank();

        HttpResponse<String> created = UsersServiceTest.call(port, "POST", "/users",
                "{\"name\":\"Child\",\"email\":\"child@example.com\"}");
        assertThat(created.statusCode()).isEqualTo(201);
        JsonNode user = UsersServiceTest.json(created);
        assertThat(UsersServiceTest.call(port, "GET", "/users/" + user.path("id").asLong(), null).statusCode()).isEqualTo(200);
        assertThat(dataDir.resolve("users.mv.db")).isRegularFile();
        assertThat(UsersServiceTest.call(managementPort, "GET", "/health", null).body())
                .isEqualTo("{\"status\":\"UP\",\"database\":\"UP\",\"journal\":\"UP\"}");

        child.process.toHandle().destroy(); // SIGTERM (Process.destroy() would also close our end of its output): the shutdown hook drains, stops the runtime and closes the database
        child.awaitLine(Pattern.compile("\\bstopped$"), 30);
        assertThat(child.process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(child.process.exitValue()).isEqualTo(143); // 128 + SIGTERM, after the hooks ran
    }

    @Test
    void serveWithTlsFlagsAnswersOverHttpsAndReloadsARenewedCertificate() throws Exception {
        TestPki.Issued ca = TestPki.ca("serve CA");
        TestPki.Issued first = TestPki.server(ca);
        Path cert = first.writeCert(tmp.resolve("cert.pem"));
        Path key = first.writeKey(tmp.resolve("key.pem"));
        Path config = tmp.resolve("stellane.toml");
        Files.writeString(config, """
                [runtime]
                worker_threads = 2
                [server]
                host = "127.0.0.1"
                [server.tls]
                certificate = "ignored: the flags win"
                private_key = "ignored: the flags win"
                reload_interval = "100ms"
                """);
        child = new ChildApp(tmp.resolve("child-tmp"), "--config", config.toString(), "--port", "0",
                "--management-port", "0", "--backend", "nio", "--data-dir", tmp.resolve("data").toString(),
                "--tls-cert", cert.toString(), "--tls-key", key.toString());
        child.awaitLine(Pattern.compile("TLS on: engine openssl .*" + Pattern.quote(cert.toString())), 30);
        int port = child.port();
        assertThat(child.output).anyMatch(l -> l.contains("serving https://127.0.0.1:" + port + "/"));

        try (HttpClient https = HttpClient.newBuilder().sslContext(TestPki.clientContext(ca, null)).build()) {
            HttpResponse<String> created = https.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/users"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"Tls\",\"email\":\"tls@example.com\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(created.statusCode()).isEqualTo(201);
            assertThat(((X509Certificate) created.sslSession().orElseThrow().getPeerCertificates()[0]).getSerialNumber())
                    .isEqualTo(first.serial());
        }
        // the management listener has no [management.tls]: cleartext
        assertThat(UsersServiceTest.call(child.managementPort(), "GET", "/health", null).statusCode()).isEqualTo(200);

        TestPki.Issued renewed = TestPki.server(ca);
        renewed.writeKey(key);
        renewed.writeCert(cert);
        child.awaitLine(Pattern.compile("TLS certificate reloaded from .*serial " + renewed.serial().toString(16)), 30);
        try (HttpClient https = HttpClient.newBuilder().sslContext(TestPki.clientContext(ca, null)).build()) {
            HttpResponse<String> r = https.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/users/1")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(((X509Certificate) r.sslSession().orElseThrow().getPeerCertificates()[0]).getSerialNumber())
                    .isEqualTo(renewed.serial());
        }
    }
}
