package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.server.testing.TestPki;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The service's config file edited while a load runs: what can change live does (workers, loop
 * limits, the public server's limits), what cannot is reported, an invalid file changes nothing,
 * SIGHUP reloads too, and no request of the load fails on the way.
 */
class ConfigReloadTest {
    @TempDir
    Path tmp;
    private ChildApp child;

    @AfterEach
    void kill() throws Exception {
        if (child != null) {
            child.kill();
        }
    }

    /** {@code port} and {@code reuse_port} stand for what only a restart changes. */
    private static String config(int workers, String maxBody, int port) {
        return """
                [runtime]
                worker_threads = %d
                max_tasks_per_loop = 500
                [server]
                host = "127.0.0.1"
                port = %d
                max_body_size = "%s"
                reuse_port = %b
                """.formatted(workers, port, maxBody, port != 0);
    }

    @Test
    void anEditedFileIsAppliedLiveWhileALoadRunsAndABadOneChangesNothing() throws Exception {
        Path file = tmp.resolve("stellane.toml");
        Files.writeString(file, config(2, "1KiB", 0));
        child = new ChildApp(tmp.resolve("child-tmp"), "--config", file.toString(), "--management-port", "0",
                "--data-dir", tmp.resolve("data").toString());
        int port = child.port();
        int management = child.managementPort();
        String twoKib = "x".repeat(2048);
        assertThat(UsersServiceTest.call(port, "POST", "/echo", twoKib).statusCode()).isEqualTo(413);

        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger ok = new AtomicInteger();
        List<String> failures = new CopyOnWriteArrayList<>();
        Thread load = Thread.ofPlatform().start(() -> {
            try (HttpClient client = HttpClient.newHttpClient()) {
                while (running.get()) {
                    try {
                        HttpResponse<String> r = client.send(HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + port + "/plaintext")).timeout(Duration.ofSeconds(10)).build(),
                                HttpResponse.BodyHandlers.ofString());
                        if (r.statusCode() == 200) {
                            ok.incrementAndGet();
                        } else {
                            failures.add("status " + r.statusCode());
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                }
            }
        });
        int expectedNoChange = 1;
        try {
            Files.writeString(file, config(1, "4KiB", 9999)); // 9999: a port only a restart could change
            child.awaitLine(Pattern.compile("config reloaded from .*applied \\[runtime\\.worker_threads 2 -> 1, "
                    + ".*server\\.max_body_size 1024 -> 4096.*needs a restart: \\[server\\.reuse_port false -> true, server\\.port 0 -> 9999\\]"), 20);
            assertThat(UsersServiceTest.call(port, "POST", "/echo", twoKib).statusCode()).as("the new limit").isEqualTo(200);
            awaitWorkers(management, 1);

            Files.writeString(file, config(1, "lots", 9999));
            child.awaitLine(Pattern.compile("config reload refused, nothing changed: invalid config server\\.max_body_size"), 20);
            assertThat(UsersServiceTest.call(port, "POST", "/echo", twoKib).statusCode()).isEqualTo(200);

            Files.writeString(file, config(2, "4KiB", 9999));
            child.awaitLine(Pattern.compile("config reloaded from .*applied \\[runtime\\.worker_threads 1 -> 2\\]"), 20);
            awaitWorkers(management, 2);

            if (child.outputSoFar().stream().anyMatch(l -> l.contains("SIGHUP is ignored in this process"))) {
                // started under nohup (the test run was): the JVM cannot take SIGHUP, and says so at start
                expectedNoChange = 0;
            } else {
                new ProcessBuilder("kill", "-HUP", Long.toString(child.process.pid())).start().waitFor(10, TimeUnit.SECONDS);
                child.awaitLine(Pattern.compile("config reloaded from .*nothing changed"), 20);
            }
        } finally {
            running.set(false);
            load.join();
        }
        String metrics = UsersServiceTest.call(management, "GET", "/metrics", null).body();
        assertThat(metrics).contains("stellane_config_reloads_total{result=\"applied\"} 2.0")
                .contains("stellane_config_reloads_total{result=\"rejected\"} 1.0")
                .contains("stellane_config_reloads_total{result=\"unchanged\"} " + expectedNoChange + ".0");
        System.out.printf("config reload: %d requests served during three reloads, %d failed%n", ok.get(), failures.size());
        assertThat(ok.get()).isPositive();
        assertThat(failures).as("requests of the load that failed during the reloads").isEmpty();
    }

    private static void awaitWorkers(int management, int count) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            JsonNode stats = UsersServiceTest.json(UsersServiceTest.call(management, "GET", "/stats", null));
            if (stats.path("runtime").path("workerCount").asInt() == count) {
                return;
            }
            assertThat(System.nanoTime() < deadline).as("%d workers", count).isTrue();
            TimeUnit.MILLISECONDS.sleep(50);
        }
    }

    @Test
    void tlsSettingsChangeLiveFilesThatDoNotLoadAreRefusedAndTurningTlsOffWaitsForARestart() throws Exception {
        TestPki.Issued ca = TestPki.ca("reload CA");
        TestPki.Issued cert = TestPki.server(ca);
        Path pem = cert.writeCert(tmp.resolve("cert.pem"));
        Path key = cert.writeKey(tmp.resolve("key.pem"));
        String tls = """
                [server]
                host = "127.0.0.1"
                port = 0
                [server.tls]
                certificate = "%s"
                private_key = "%s"
                handshake_timeout = "%s"
                """;
        Path file = tmp.resolve("stellane.toml");
        Files.writeString(file, tls.formatted(pem, key, "10s"));
        child = new ChildApp(tmp.resolve("child-tmp"), "--config", file.toString(), "--management-port", "0",
                "--backend", "nio", "--data-dir", tmp.resolve("data").toString());
        int port = child.port();

        Files.writeString(file, tls.formatted(pem, key, "3s"));
        child.awaitLine(Pattern.compile("config reloaded from .*applied \\[server\\.tls\\.handshake_timeout \"10s\" -> \"3s\"\\]"), 20);

        Files.writeString(file, tls.formatted(tmp.resolve("gone.pem"), key, "3s"));
        child.awaitLine(Pattern.compile("config reload refused, nothing changed: invalid config tls\\.certificate: "
                + Pattern.quote(tmp.resolve("gone.pem").toString()) + ": cannot be read"), 20);

        Files.writeString(file, "[server]\nhost = \"127.0.0.1\"\nport = 0\n");
        child.awaitLine(Pattern.compile("config reloaded from .*nothing changed; not applied, needs a restart: \\[server\\.tls"), 20);

        try (HttpClient https = HttpClient.newBuilder().sslContext(TestPki.clientContext(ca, null)).build()) {
            HttpResponse<String> r = https.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/plaintext"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as("still HTTPS after all three reloads").isEqualTo(200);
        }
    }
}
